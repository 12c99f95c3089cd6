/* SPDX-License-Identifier: MIT */
/* mproc_set_allocator() and the functions the rest of the library allocates with.
 *
 * The allocator can change only before the library's first allocation: memory from one
 * allocator must never reach another's free. "Before any other mproc call" (libuv's rule) is
 * checked as "before the first allocation", which is what makes the rule necessary. */
#include <stdlib.h>
#include <string.h>

#include "mproc.h"
#include "alloc.h"
#include "atomics.h"

/* NULL: the C library's. (Not initialised to malloc & co.: with MSVC's DLL runtime their
 * addresses are not constants a static initialiser may use.) */
static mproc_malloc_fn g_malloc;
static mproc_calloc_fn g_calloc;
static mproc_realloc_fn g_realloc;
static mproc_free_fn g_free;
static int g_used; /* set by the first allocation; the allocator is fixed from then on */

int mproc_set_allocator(mproc_malloc_fn malloc_fn, mproc_realloc_fn realloc_fn,
                        mproc_calloc_fn calloc_fn, mproc_free_fn free_fn) {
  if (malloc_fn == NULL || realloc_fn == NULL || calloc_fn == NULL || free_fn == NULL)
    return MPROC_EINVAL;
  if (MPROC__ATOMIC_LOAD(&g_used, MPROC__ATOMIC_ACQUIRE))
    return MPROC_ESTATE;
  g_malloc = malloc_fn;
  g_calloc = calloc_fn;
  g_realloc = realloc_fn;
  g_free = free_fn;
  return 0;
}

/* A relaxed look first: after the first call this is a read of a shared, unchanging line. */
static void mark_used(void) {
  if (!MPROC__ATOMIC_LOAD(&g_used, MPROC__ATOMIC_RELAXED))
    MPROC__ATOMIC_STORE(&g_used, 1, MPROC__ATOMIC_RELEASE);
}

void *mproc__malloc(size_t size) {
  mark_used();
  return g_malloc ? g_malloc(size) : malloc(size);
}

void *mproc__calloc(size_t count, size_t size) {
  mark_used();
  return g_calloc ? g_calloc(count, size) : calloc(count, size);
}

void *mproc__realloc(void *ptr, size_t size) {
  mark_used();
  return g_realloc ? g_realloc(ptr, size) : realloc(ptr, size);
}

void mproc__free(void *ptr) {
  if (ptr == NULL)
    return;
  if (g_free)
    g_free(ptr);
  else
    free(ptr);
}

char *mproc__strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = mproc__malloc(n);
  if (d != NULL)
    memcpy(d, s, n);
  return d;
}
