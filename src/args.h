/* SPDX-License-Identifier: MIT */
/* The argument list's layout, for the few places that need its fast paths inline (the pool
 * worker's per-item loop). Everything else goes through the functions in args.c. */
#ifndef MPROC_ARGS_H
#define MPROC_ARGS_H

#include "internal.h"

typedef struct mp_item {
  uint8_t type;
  size_t off;         /* payload offset in enc */
  size_t len;         /* payload length (strings include their NUL) */
  mproc_conn_t *conn; /* MPROC_ARG_CONN: the connection (owned in a child) */
  void *obj;          /* a shared object (lock, ...): borrowed in a parent, owned in a child */
  int owned;
} mp_item;

struct mproc_args {
  mp_buf enc; /* concatenated payloads */
  mp_item *items; /* unused while uniform */
  size_t count, cap;
  uint8_t utype;  /* uniform form: every item is of this type (INT or DOUBLE), 8 bytes each */
  int borrowed;   /* enc.data points at memory the list does not own (mproc__args_view) */
  void *self; /* bound state, child side */
  size_t self_size;
};

/* --- raw access for the pool's fast paths ---------------------------------------------------- */
int mproc__args_uniform_type(const mproc_args_t *a); /* the uniform form's type, or 0 */
const unsigned char *mproc__args_payload(const mproc_args_t *a);
int mproc__args_item(const mproc_args_t *a, size_t i, uint8_t *type, const unsigned char **p,
                 size_t *len);
/* Appends one plain value (int, double, bytes, str, None) given as its encoded payload. */
int mproc__args_add_raw(mproc_args_t *a, uint8_t type, const void *p, size_t len);
/* Appends n INT or DOUBLE values stored as 8 little-endian bytes each. */
int mproc__args_add_run(mproc_args_t *a, uint8_t type, const void *p, size_t n);
/* Makes the empty list a the n INT or DOUBLE values at data (8 little-endian bytes each), a
 * malloc'd block it now owns. */
void mproc__args_adopt_run(mproc_args_t *a, uint8_t type, void *data, size_t n);
void mproc__args_reset(mproc_args_t *a);
/* Makes v a one-item list whose payload is p (not copied, not owned). */
int mproc__args_view(mproc_args_t *v, uint8_t type, const void *p, size_t len);
/* Appends src's items [from, count) to dst; connections and objects stay src's (borrowed). */
int mproc__args_extend(mproc_args_t *dst, const mproc_args_t *src, size_t from);

/* Item i's payload when it is of the given type; else the getters' codes and messages. */
int mproc__args_typed(const mproc_args_t *a, size_t i, uint8_t type, const unsigned char **p,
                      size_t *n);

/* --- args_value.c: Python data (bool, big ints, tuple, list, dict) ------------------------- */
/* One item of a container payload: its type and payload (pointing into the container). */
typedef struct mp_val {
  uint8_t type;
  const unsigned char *p;
  size_t n;
} mp_val;
/* MPROC_ARG_PYOBJECT's kind item: the global itself, called (REDUCE), created (NEWOBJ). */
enum { MP_PY_GLOBAL = 0, MP_PY_REDUCE = 1, MP_PY_NEWOBJ = 2 };
/* 1 for the item types that are plain data (no handles, no functions): what containers hold. */
int mproc__value_is_data(uint8_t type);
/* 1 if the payload is well formed for its type; containers are checked all the way down, at
 * most MPROC_ARGS_MAX_DEPTH - depth levels deep, dicts for hashable and distinct keys. */
int mproc__value_valid(uint8_t type, const unsigned char *p, size_t n, int depth);
/* Starts reading a container payload: *count items follow (checked against the size). */
int mproc__value_open(mp_rd *r, const unsigned char *p, size_t n, uint32_t *count);
/* The next item of a container payload (valid payloads only need no further checks). */
int mproc__value_next(mp_rd *r, mp_val *v);
/* Python's rules for dict keys: hashable, equal (1 == 1.0 == True, nan never), hash. */
int mproc__value_hashable(const mp_val *v);
int mproc__value_eq(const mp_val *a, const mp_val *b);
uint64_t mproc__value_hash(const mp_val *v);
/* The container payload at b->data + start (to the end of b) made a dict (stride 2: key,
 * value pairs) or a set (stride 1) as Python builds them: keys checked hashable (MPROC_ETYPE),
 * equal keys merged (first key, last value). Rewrites the region in place. */
int mproc__value_merge_region(mp_buf *b, size_t start, int stride);
/* Minimal two's-complement length of n little-endian bytes. */
size_t mproc__bigint_trim(const unsigned char *p, size_t n);

/* A list holding one 8-byte value of a uniform type (mproc__args_view did the set-up): point it
 * at the next value. */
static inline void mp_args_view_move(mproc_args_t *v, const unsigned char *p) {
  v->enc.data = (unsigned char *)p;
}

/* Empties a list that holds no connections or objects (a task's result list in the fast path). */
static inline int mp_args_reset_plain(mproc_args_t *a) {
  if (a->utype == 0 && a->count > 0)
    return 0; /* may own handles: use mproc__args_reset */
  a->enc.len = 0;
  a->count = 0;
  a->utype = 0;
  return 1;
}

/* The 8 payload bytes of a list that is exactly one INT or DOUBLE, else NULL. */
static inline const unsigned char *mp_args_single_word(const mproc_args_t *a, uint8_t *type) {
  if (a->count != 1 || a->utype == 0)
    return NULL;
  *type = a->utype;
  return a->enc.data;
}

#endif /* MPROC_ARGS_H */
