/* SPDX-License-Identifier: MIT */
/* The pickle encoder: protocol 4 laid out as Python's pickler lays it out for the same data
 * (MEMOIZE after strings, bytes, containers and globals, APPENDS / SETITEMS in batches of
 * 1000, one FRAME around the body), so a Python peer reads it with plain pickle.loads. Objects
 * (MPROC_ARG_PYOBJECT) are written only in the whitelisted shapes. */
#include <string.h>

#include "pickle.h"
#include "pickle_int.h"

#define BATCH 1000

typedef struct penc {
  mp_buf *b;
  int flags;
} penc;

static void op(penc *e, int code) { mproc__put_u8(e->b, (uint8_t)code); }

static void le_n(penc *e, uint64_t v, int k) {
  for (int i = 0; i < k; i++)
    mproc__put_u8(e->b, (uint8_t)(v >> (8 * i)));
}

static int enc(penc *e, const mp_val *v);

static void put_int(penc *e, int64_t v) {
  if (v >= 0 && v < 256) {
    op(e, OP_BININT1), le_n(e, (uint64_t)v, 1);
  } else if (v >= 0 && v < 65536) {
    op(e, OP_BININT2), le_n(e, (uint64_t)v, 2);
  } else if (v >= INT32_MIN && v <= INT32_MAX) {
    op(e, OP_BININT), le_n(e, (uint64_t)v, 4);
  } else {
    unsigned char t[8];
    for (int i = 0; i < 8; i++)
      t[i] = (unsigned char)((uint64_t)v >> (8 * i));
    size_t n = mproc__bigint_trim(t, 8);
    op(e, OP_LONG1), le_n(e, n, 1);
    mproc__put(e->b, t, n);
  }
}

static void put_bigint(penc *e, const unsigned char *p, size_t n) {
  if (n < 256)
    op(e, OP_LONG1), le_n(e, n, 1);
  else
    op(e, OP_LONG4), le_n(e, n, 4);
  mproc__put(e->b, p, n);
}

static void put_double(penc *e, const unsigned char *p) {
  op(e, OP_BINFLOAT);
  for (int i = 7; i >= 0; i--)
    mproc__put_u8(e->b, p[i]); /* big-endian on the wire */
}

/* str (short / 4-byte / 8-byte length) or bytes, then MEMOIZE. */
static void put_blob(penc *e, int str, const unsigned char *p, size_t n) {
  if (n < 256)
    op(e, str ? OP_SHORT_BINUNICODE : OP_SHORT_BINBYTES), le_n(e, n, 1);
  else if (n <= UINT32_MAX)
    op(e, str ? OP_BINUNICODE : OP_BINBYTES), le_n(e, n, 4);
  else
    op(e, str ? OP_BINUNICODE8 : OP_BINBYTES8), le_n(e, n, 8);
  mproc__put(e->b, p, n);
  op(e, OP_MEMOIZE);
}

static int put_str(penc *e, const mp_val *v) {
  if (!mproc__pickle_utf8_ok(v->p, v->n - 1)) {
    mproc__set_error_message("pickle: a str that is not UTF-8 cannot go to Python");
    return MPROC_EINVAL;
  }
  put_blob(e, 1, v->p, v->n - 1);
  return 0;
}

/* Items [from, count) of a container payload, each encoded. */
static int items(penc *e, const mp_val *c, uint32_t from, uint32_t to) {
  mp_rd r;
  uint32_t n;
  mproc__value_open(&r, c->p, c->n, &n);
  for (uint32_t i = 0; i < to; i++) {
    mp_val it;
    int rc = mproc__value_next(&r, &it);
    if (rc == 0 && i >= from)
      rc = enc(e, &it);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static uint32_t count_of(const mp_val *c) {
  mp_rd r;
  uint32_t n;
  return mproc__value_open(&r, c->p, c->n, &n) == 0 ? n : 0;
}

static int put_tuple(penc *e, const mp_val *v) {
  static const int small[] = {OP_EMPTY_TUPLE, OP_TUPLE1, OP_TUPLE2, OP_TUPLE3};
  uint32_t n = count_of(v);
  if (n == 0) {
    op(e, OP_EMPTY_TUPLE);
    return 0;
  }
  if (n > 3)
    op(e, OP_MARK);
  int rc = items(e, v, 0, n);
  op(e, n > 3 ? OP_TUPLE : small[n]);
  op(e, OP_MEMOIZE);
  return rc;
}

/* list: EMPTY_LIST MEMOIZE, then APPEND for a single item or MARK ... APPENDS per batch;
 * dict the same with SETITEM / SETITEMS over pairs. */
static int put_seq(penc *e, const mp_val *v, int dict) {
  uint32_t n = count_of(v), step = dict ? 2 : 1;
  op(e, dict ? OP_EMPTY_DICT : OP_EMPTY_LIST);
  op(e, OP_MEMOIZE);
  for (uint32_t i = 0; i < n; i += BATCH * step) {
    uint32_t end = n - i > BATCH * step ? i + BATCH * step : n;
    int single = end - i == step;
    if (!single)
      op(e, OP_MARK);
    int rc = items(e, v, i, end);
    if (rc != 0)
      return rc;
    op(e, single ? (dict ? OP_SETITEM : OP_APPEND) : (dict ? OP_SETITEMS : OP_APPENDS));
  }
  return 0;
}

/* --- objects -------------------------------------------------------------------------------- */

static int fields(const mp_val *v, mp_val *f) {
  mp_rd r;
  uint32_t n;
  if (mproc__value_open(&r, v->p, v->n, &n) != 0 || n != 5)
    return MPROC_EINVAL;
  for (int i = 0; i < 5; i++)
    if (mproc__value_next(&r, &f[i]) != 0)
      return MPROC_EINVAL;
  return 0;
}

static int put_global(penc *e, const mp_val *mod, const mp_val *name) {
  int rc = put_str(e, mod);
  if (rc == 0)
    rc = put_str(e, name);
  op(e, OP_STACK_GLOBAL);
  op(e, OP_MEMOIZE);
  return rc;
}

/* A set as Python writes it: EMPTY_SET MEMOIZE MARK ... ADDITEMS, or MARK ... FROZENSET. */
static int put_set(penc *e, const mp_val *args, int frozen) {
  mp_rd r;
  uint32_t n;
  mp_val list;
  mproc__value_open(&r, args->p, args->n, &n);
  mproc__value_next(&r, &list);
  uint32_t k = count_of(&list);
  int rc = 0;
  if (!frozen)
    op(e, OP_EMPTY_SET), op(e, OP_MEMOIZE);
  uint32_t batch = frozen ? (k ? k : 1) : BATCH; /* FROZENSET takes everything at once */
  for (uint32_t i = 0; rc == 0 && (i < k || (frozen && i == 0)); i += batch) {
    op(e, OP_MARK);
    rc = items(e, &list, i, k - i > batch ? i + batch : k);
    op(e, frozen ? OP_FROZENSET : OP_ADDITEMS);
  }
  if (frozen)
    op(e, OP_MEMOIZE);
  return rc;
}

static int put_object(penc *e, const mp_val *v) {
  mp_val f[5];
  int rc = fields(v, f);
  if (rc != 0)
    return rc;
  int kind = f[2].p[0];
  if (kind == MP_PY_GLOBAL)
    return put_global(e, &f[0], &f[1]);
  int builtin = f[0].n == 9 && memcmp(f[0].p, "builtins", 9) == 0;
  if (builtin && f[1].n == 4 && memcmp(f[1].p, "set", 4) == 0)
    return put_set(e, &f[3], 0);
  if (builtin && f[1].n == 10 && memcmp(f[1].p, "frozenset", 10) == 0)
    return put_set(e, &f[3], 1);
  if ((rc = put_global(e, &f[0], &f[1])) == 0)
    rc = put_tuple(e, &f[3]);
  op(e, kind == MP_PY_NEWOBJ ? OP_NEWOBJ : OP_REDUCE);
  op(e, OP_MEMOIZE);
  if (rc == 0 && f[4].type != MPROC_ARG_NONE) {
    rc = enc(e, &f[4]);
    op(e, OP_BUILD);
  }
  return rc;
}

static int enc(penc *e, const mp_val *v) {
  switch (v->type) {
  case MPROC_ARG_NONE: op(e, OP_NONE); return 0;
  case MPROC_ARG_BOOL: op(e, v->p[0] ? OP_NEWTRUE : OP_NEWFALSE); return 0;
  case MPROC_ARG_INT: put_int(e, (int64_t)mproc__load_uint(v->p, 8)); return 0;
  case MPROC_ARG_BIGINT: put_bigint(e, v->p, v->n); return 0;
  case MPROC_ARG_DOUBLE: put_double(e, v->p); return 0;
  case MPROC_ARG_STR: return put_str(e, v);
  case MPROC_ARG_BYTES: put_blob(e, 0, v->p, v->n); return 0;
  case MPROC_ARG_TUPLE: return put_tuple(e, v);
  case MPROC_ARG_LIST: return put_seq(e, v, 0);
  case MPROC_ARG_DICT: return put_seq(e, v, 1);
  case MPROC_ARG_PYOBJECT: return put_object(e, v);
  default:
    mproc__set_error_message("pickle: a %s is not data", mproc_arg_type_name(v->type));
    return MPROC_ETYPE;
  }
}

int mproc__pickle_encode(const mproc_args_t *a, size_t i, int flags, mp_buf *b) {
  static const unsigned char empty[1];
  mp_val v;
  if (a == NULL || b == NULL || mproc__args_item(a, i, &v.type, &v.p, &v.n) != 0)
    return MPROC_EINVAL;
  if (v.n == 0)
    v.p = empty;
  if (!mproc__value_is_data(v.type)) {
    mproc__set_error_message("pickle: a %s is not data", mproc_arg_type_name(v.type));
    return MPROC_ETYPE;
  }
  if (mproc__pickle_check_tree(&v, flags) != 0)
    return MPROC_EINVAL; /* the message names the global */
  size_t start = b->len;
  penc e = {b, flags};
  mproc__put_u8(b, OP_PROTO);
  mproc__put_u8(b, 4);
  mproc__put_u8(b, OP_FRAME);
  mproc__put_u64(b, 0);
  size_t body = b->len;
  int rc = enc(&e, &v);
  op(&e, OP_STOP);
  if (rc == 0 && b->err)
    rc = b->err;
  if (rc == 0 && b->len - body < 4) { /* Python frames only bodies of 4 bytes or more */
    memmove(b->data + start + 2, b->data + body, b->len - body);
    b->len -= 9;
  } else if (rc == 0) {
    mproc__pickle_patch_u64(b, body - 8, b->len - body);
  }
  if (rc != 0)
    b->len = start;
  return rc;
}
