/* SPDX-License-Identifier: MIT */
/* What the pickle decoder, encoder and whitelist share: opcodes and helpers. */
#ifndef MPROC_PICKLE_INT_H
#define MPROC_PICKLE_INT_H

#include "args.h"

enum {
  OP_MARK = '(', OP_STOP = '.', OP_POP = '0', OP_POP_MARK = '1', OP_BININT = 'J',
  OP_BININT1 = 'K', OP_BININT2 = 'M', OP_NONE = 'N', OP_REDUCE = 'R', OP_BINUNICODE = 'X',
  OP_APPEND = 'a', OP_BUILD = 'b', OP_GLOBAL = 'c', OP_APPENDS = 'e', OP_BINGET = 'h',
  OP_LONG_BINGET = 'j', OP_EMPTY_LIST = ']', OP_BINPUT = 'q', OP_LONG_BINPUT = 'r',
  OP_SETITEM = 's', OP_TUPLE = 't', OP_EMPTY_TUPLE = ')', OP_SETITEMS = 'u', OP_BINFLOAT = 'G',
  OP_EMPTY_DICT = '}', OP_BINBYTES = 'B', OP_SHORT_BINBYTES = 'C',
  OP_PROTO = 0x80, OP_NEWOBJ = 0x81, OP_TUPLE1 = 0x85, OP_TUPLE2 = 0x86, OP_TUPLE3 = 0x87,
  OP_NEWTRUE = 0x88, OP_NEWFALSE = 0x89, OP_LONG1 = 0x8a, OP_LONG4 = 0x8b,
  OP_SHORT_BINUNICODE = 0x8c, OP_BINUNICODE8 = 0x8d, OP_BINBYTES8 = 0x8e, OP_EMPTY_SET = 0x8f,
  OP_ADDITEMS = 0x90, OP_FROZENSET = 0x91, OP_STACK_GLOBAL = 0x93, OP_MEMOIZE = 0x94,
  OP_FRAME = 0x95, OP_BYTEARRAY8 = 0x96
};

/* Decoder-only node types for sets (written out as builtins.set / frozenset objects). */
enum { N_SET = 200, N_FROZENSET = 201 };

/* 1 if p[0..n) is UTF-8 as Python's pickle reads it ('surrogatepass': lone surrogates are
 * allowed in their 3-byte form). */
int mproc__pickle_utf8_ok(const unsigned char *p, size_t n);
/* 1 if module.name may be called with REDUCE (kind MP_PY_REDUCE) or NEWOBJ. */
int mproc__pickle_callable_ok(const unsigned char *mod, size_t nmod, const unsigned char *name,
                              size_t nname, int kind, int flags);
/* Walks a data value: every MPROC_ARG_PYOBJECT inside must have a whitelisted shape
 * (MPROC_EPROTO with a message otherwise). */
int mproc__pickle_check_tree(const mp_val *v, int flags);
/* Overwrites 8 little-endian bytes at b->data + at. */
void mproc__pickle_patch_u64(mp_buf *b, size_t at, uint64_t v);

#endif /* MPROC_PICKLE_INT_H */
