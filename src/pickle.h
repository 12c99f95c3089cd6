/* SPDX-License-Identifier: MIT */
/* Python pickles of data values, for peers that speak Python's manager protocol. The encoder
 * writes protocol 4 as Python 3.8-3.13 do; the decoder reads protocols 2-5 but only the
 * data-only subset: it is a stack machine that never calls, imports or constructs anything.
 * Globals become inert MPROC_ARG_PYOBJECT values, and only in the shapes of a fixed whitelist
 * (docs/manager.md has the table); everything else is MPROC_EPROTO with a message naming the
 * opcode or global and its offset. */
#ifndef MPROC_PICKLE_H
#define MPROC_PICKLE_H

#include "args.h"

/* Decoder options. */
enum {
  /* REDUCE of any global with a tuple of arguments becomes an inert MPROC_ARG_PYOBJECT (a
   * remote exception of a user class, inside a '#ERROR' reply); nothing is looked up. */
  MP_PICKLE_ANY_CALL = 1
};

typedef struct mp_pickle_limits {
  size_t max_value; /* encoded size of the decoded value; 0: MPROC_ARGS_MAX_BYTES */
  size_t max_memo;  /* memo entries; 0: 1 M (never more than the input's length) */
  int flags;        /* MP_PICKLE_* */
} mp_pickle_limits;

/* Decodes the pickle p[0..n) and appends the value to out. limits may be NULL (defaults).
 * MPROC_EPROTO for anything outside the subset (message set), MPROC_EMSGSIZE past a limit. */
int mproc__pickle_decode(const void *p, size_t n, const mp_pickle_limits *limits,
                         mproc_args_t *out);

/* Appends to b the protocol-4 pickle of item i of a (a data value), as Python's
 * pickle.dumps(value, protocol=4) would write it (MEMOIZE after every string, bytes and
 * container, one FRAME). MPROC_ETYPE for items that are not data; MPROC_EINVAL for strings
 * that are not UTF-8 and MPROC_ARG_PYOBJECT values outside the whitelist (flags as above). */
int mproc__pickle_encode(const mproc_args_t *a, size_t i, int flags, mp_buf *b);

#endif /* MPROC_PICKLE_H */
