/* SPDX-License-Identifier: MIT */
/* Python's array.array as a data value (pyarray.c). */
#ifndef MPROC_PYARRAY_H
#define MPROC_PYARRAY_H

#include "args.h"

/* 1 for the typecodes b B h H i I l L q Q f d. */
int mproc__pyarray_typecode_ok(char tc);
/* Appends array.array(tc, bytes) of the n items (ints; floats or ints for 'f' and 'd'):
 * MPROC_ETYPE for an item of another kind. */
int mproc__pyarray_add(mproc_args_t *out, char tc, const mp_val *items, size_t n);
/* Item i of a, an array.array of either pickled form: its typecode and a new list of its
 * items. MPROC_ETYPE when it is not one. */
int mproc__pyarray_items(const mproc_args_t *a, size_t i, char *tc, mproc_args_t **items);

#endif /* MPROC_PYARRAY_H */
