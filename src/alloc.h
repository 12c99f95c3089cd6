/* SPDX-License-Identifier: MIT */
/* The library's heap. Every malloc/calloc/realloc/free/strdup under src/ is one of these
 * (tools/alloc_convert.py rewrites new calls), so mproc_set_allocator() sees them all. */
#ifndef MPROC_ALLOC_H
#define MPROC_ALLOC_H

#include <stddef.h>

void *mproc__malloc(size_t size);
void *mproc__calloc(size_t count, size_t size);
void *mproc__realloc(void *ptr, size_t size);
void mproc__free(void *ptr);
char *mproc__strdup(const char *s);

#endif
