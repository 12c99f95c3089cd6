/* SPDX-License-Identifier: MIT */
/*
 * Value and Array (Python's sharedctypes): elements in a block of the shared heap, an optional
 * lock (a new RLock, the caller's lock, or none), lock-taking copy helpers and lock-free
 * atomics. A Value is an Array of one element with its own type name, so the C compiler keeps
 * the two apart while one implementation serves both.
 *
 * In transit: the array's record, then its lock's record when it has one, then the element
 * type (typecode, size, alignment) and length.
 */
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "atomics.h"
#include "alloc.h"

struct mproc_array {
  mp_shobj o;
  unsigned char *data;
  size_t elem, len;
  char tc; /* 0: record */
  const struct ctype *type; /* NULL: record */
  mproc_lock_t *lock;
  int own_lock;
};

struct mproc_value {
  struct mproc_array a;
};

/* --- element types ----------------------------------------------------------------------- */

struct ctype {
  char tc;
  unsigned char size, is_int, is_signed;
};
typedef struct ctype ctype;

static const ctype g_types[] = {
    {'c', 1, 1, 0}, {'?', 1, 1, 0}, {'b', 1, 1, 1}, {'B', 1, 1, 0},
    {'h', 2, 1, 1}, {'H', 2, 1, 0}, {'i', 4, 1, 1}, {'I', 4, 1, 0},
    {'l', sizeof(long), 1, 1}, {'L', sizeof(unsigned long), 1, 0},
    {'q', 8, 1, 1}, {'Q', 8, 1, 0}, {'f', sizeof(float), 0, 1}, {'d', sizeof(double), 0, 1},
};

static const ctype *find_type(char tc) {
  for (size_t i = 0; i < sizeof g_types / sizeof g_types[0]; i++)
    if (g_types[i].tc == tc)
      return &g_types[i];
  return NULL;
}

/* --- construction ------------------------------------------------------------------------ */

static int attach_lock(mproc_array_t *a, mproc_lock_t *lock) {
  if (lock == MPROC_LOCK_NONE)
    return 0;
  if (lock != MPROC_LOCK_NEW) {
    a->lock = lock;
    return 0;
  }
  int rc = mproc_rlock_new(&a->lock);
  a->own_lock = rc == 0;
  return rc;
}

static int array_create(mproc_array_t **out, char tc, size_t elem, size_t align, size_t len,
                        const void *init, mproc_lock_t *lock) {
  if (out == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  /* Length 0 is valid, as in Python (Array('i', 0)): every index is out of range. */
  if (elem == 0 || align == 0 || align > 64 || (align & (align - 1)) != 0)
    return MPROC_EINVAL;
  if (len > SIZE_MAX / elem)
    return MPROC_ENOMEM;
  mproc_array_t *a = mproc__calloc(1, sizeof *a); /* also a Value: the same size */
  if (a == NULL)
    return MPROC_ENOMEM;
  a->tc = tc;
  a->type = find_type(tc);
  a->elem = elem;
  a->len = len;
  /* An empty array still gets a block (the smallest), so its pointer is real and unique and
   * it travels to children like any other. */
  int rc = mproc__shobj_create(&a->o, len ? elem * len : 1);
  if (rc == 0) {
    a->data = a->o.blk.p;
    if (init != NULL && len > 0)
      memcpy(a->data, init, elem * len);
    rc = attach_lock(a, lock);
  }
  if (rc != 0) {
    mproc_array_free(a);
    return rc;
  }
  *out = a;
  return 0;
}

static int typed_create(mproc_array_t **out, char tc, size_t len, const void *init,
                        mproc_lock_t *lock) {
  const ctype *t = find_type(tc);
  if (t == NULL)
    return out ? (*out = NULL, MPROC_EINVAL) : MPROC_EINVAL;
  return array_create(out, tc, t->size, t->size, len, init, lock);
}

void mproc_array_free(mproc_array_t *a) {
  if (a == NULL || a->o.list_owned)
    return;
  if (a->own_lock)
    mproc_lock_free(a->lock);
  mproc__shobj_release(&a->o);
  mproc__free(a);
}

int mproc_array_new(mproc_array_t **out, char typecode, size_t length, const void *init,
                    mproc_lock_t *lock) {
  return typed_create(out, typecode, length, init, lock);
}

int mproc_array_new_record(mproc_array_t **out, size_t size, size_t align, size_t length,
                           const void *init, mproc_lock_t *lock) {
  return array_create(out, 0, size, align, length, init, lock);
}

int mproc_raw_array_new(mproc_array_t **out, char typecode, size_t length, const void *init) {
  return typed_create(out, typecode, length, init, MPROC_LOCK_NONE);
}

int mproc_value_new(mproc_value_t **out, char typecode, const void *init, mproc_lock_t *lock) {
  return typed_create((mproc_array_t **)out, typecode, 1, init, lock);
}

int mproc_value_new_record(mproc_value_t **out, size_t size, size_t align, const void *init,
                           mproc_lock_t *lock) {
  return array_create((mproc_array_t **)out, 0, size, align, 1, init, lock);
}

int mproc_raw_value_new(mproc_value_t **out, char typecode, const void *init) {
  return typed_create((mproc_array_t **)out, typecode, 1, init, MPROC_LOCK_NONE);
}

void mproc_value_free(mproc_value_t *v) {
  if (v != NULL)
    mproc_array_free(&v->a);
}

/* --- access ---------------------------------------------------------------------------------- */

void *mproc_array_ptr(const mproc_array_t *a) { return a ? a->data : NULL; }
size_t mproc_array_length(const mproc_array_t *a) { return a ? a->len : 0; }
size_t mproc_array_elem_size(const mproc_array_t *a) { return a ? a->elem : 0; }
char mproc_array_typecode(const mproc_array_t *a) { return a ? a->tc : 0; }
mproc_lock_t *mproc_array_get_lock(const mproc_array_t *a) { return a ? a->lock : NULL; }

/* One copy between the shared elements and the caller, under the lock if there is one. A
 * lock whose holder died is still taken (the copy happens) and the code passed on. */
static int copy_locked(const mproc_array_t *a, size_t start, size_t n, void *buf, int to_shared) {
  if (a == NULL || buf == NULL)
    return MPROC_EINVAL;
  if (start > a->len || n > a->len - start)
    return MPROC_ERANGE;
  int rc = a->lock ? mproc_lock_acquire(a->lock, MPROC_FOREVER) : 0;
  if (rc != 0 && rc != MPROC_EOWNERDEAD)
    return rc;
  unsigned char *p = a->data + start * a->elem;
  if (to_shared)
    memcpy(p, buf, n * a->elem);
  else
    memcpy(buf, p, n * a->elem);
  /* A holder died mid-update: the caller cannot repair anything inside this call, so the lock
   * stays usable and the code tells it the elements may be half-written. */
  if (rc == MPROC_EOWNERDEAD)
    mproc_lock_consistent(a->lock);
  if (a->lock)
    mproc_lock_release(a->lock);
  return rc;
}

int mproc_array_get(const mproc_array_t *a, size_t i, void *out) {
  return copy_locked(a, i, 1, out, 0);
}
int mproc_array_set(mproc_array_t *a, size_t i, const void *in) {
  return copy_locked(a, i, 1, (void *)in, 1);
}
int mproc_array_get_slice(const mproc_array_t *a, size_t start, size_t n, void *out) {
  return copy_locked(a, start, n, out, 0);
}
int mproc_array_set_slice(mproc_array_t *a, size_t start, size_t n, const void *in) {
  return copy_locked(a, start, n, (void *)in, 1);
}

void *mproc_value_ptr(const mproc_value_t *v) { return v ? v->a.data : NULL; }
mproc_lock_t *mproc_value_get_lock(const mproc_value_t *v) { return v ? v->a.lock : NULL; }
int mproc_value_get(const mproc_value_t *v, void *out) {
  return v ? copy_locked(&v->a, 0, 1, out, 0) : MPROC_EINVAL;
}
int mproc_value_set(mproc_value_t *v, const void *in) {
  return v ? copy_locked(&v->a, 0, 1, (void *)in, 1) : MPROC_EINVAL;
}
char mproc_value_typecode(const mproc_value_t *v) { return v ? v->a.tc : 0; }
size_t mproc_value_size(const mproc_value_t *v) { return v ? v->a.elem : 0; }

/* --- atomics ---------------------------------------------------------------------------------- */

enum { AT_LOAD, AT_STORE, AT_ADD, AT_CAS };

/* Widens a raw element to int64_t the way the element's type reads. */
static int64_t widen(const ctype *t, uint64_t raw) {
  int bits = t->size * 8;
  if (bits == 64)
    return (int64_t)raw;
  raw &= ((uint64_t)1 << bits) - 1;
  if (t->is_signed && (raw >> (bits - 1)))
    raw |= ~(((uint64_t)1 << bits) - 1);
  return (int64_t)raw;
}

#define AT_CASE(T)                                                                           \
  {                                                                                          \
    T *q = (T *)p;                                                                           \
    T e = (T)*io;                                                                            \
    switch (op) {                                                                            \
    case AT_LOAD:                                                                            \
      old = MPROC__ATOMIC_LOAD(q, MPROC__ATOMIC_SEQ_CST);                                          \
      break;                                                                                 \
    case AT_STORE:                                                                           \
      MPROC__ATOMIC_STORE(q, (T)v, MPROC__ATOMIC_SEQ_CST);                                         \
      break;                                                                                 \
    case AT_ADD:                                                                             \
      old = MPROC__ATOMIC_FETCH_ADD(q, (T)v, MPROC__ATOMIC_SEQ_CST);                               \
      break;                                                                                 \
    default:                                                                                 \
      ok = MPROC__ATOMIC_COMPARE_EXCHANGE(q, &e, (T)v, 0, MPROC__ATOMIC_SEQ_CST,                   \
                                          MPROC__ATOMIC_SEQ_CST);                                  \
      old = e;                                                                               \
    }                                                                                        \
    break;                                                                                   \
  }

/* op on element i: v is the operand; *io is the result (load, add: old value; cas: in the
 * expected value, out the value found). Returns 0, or 1/0 for cas, or an error. */
static int atomic_op(const mproc_array_t *a, size_t i, int op, uint64_t v, int64_t *io) {
  if (a == NULL)
    return MPROC_EINVAL;
  const ctype *t = a->type;
  if (t == NULL || !t->is_int)
    return MPROC_ETYPE;
  if (i >= a->len)
    return MPROC_ERANGE;
  void *p = a->data + i * a->elem;
  uint64_t old = 0;
  int ok = 0;
  int64_t zero = 0;
  if (io == NULL)
    io = &zero;
  switch (t->size) {
  case 1:
    AT_CASE(uint8_t)
  case 2:
    AT_CASE(uint16_t)
  case 4:
    AT_CASE(uint32_t)
  default:
    AT_CASE(uint64_t)
  }
  if (op != AT_STORE)
    *io = widen(t, old);
  return op == AT_CAS ? ok : 0;
}

int mproc_array_load(const mproc_array_t *a, size_t i, int64_t *out) {
  return out ? atomic_op(a, i, AT_LOAD, 0, out) : MPROC_EINVAL;
}
int mproc_array_store(mproc_array_t *a, size_t i, int64_t value) {
  return atomic_op(a, i, AT_STORE, (uint64_t)value, NULL);
}
int mproc_array_add(mproc_array_t *a, size_t i, int64_t delta, int64_t *old) {
  return atomic_op(a, i, AT_ADD, (uint64_t)delta, old);
}
int mproc_array_cas(mproc_array_t *a, size_t i, int64_t *expected, int64_t desired) {
  return expected ? atomic_op(a, i, AT_CAS, (uint64_t)desired, expected) : MPROC_EINVAL;
}
int mproc_value_load(const mproc_value_t *v, int64_t *out) {
  return v ? mproc_array_load(&v->a, 0, out) : MPROC_EINVAL;
}
int mproc_value_store(mproc_value_t *v, int64_t value) {
  return v ? mproc_array_store(&v->a, 0, value) : MPROC_EINVAL;
}
int mproc_value_add(mproc_value_t *v, int64_t delta, int64_t *old) {
  return v ? mproc_array_add(&v->a, 0, delta, old) : MPROC_EINVAL;
}
int mproc_value_cas(mproc_value_t *v, int64_t *expected, int64_t desired) {
  return v ? mproc_array_cas(&v->a, 0, expected, desired) : MPROC_EINVAL;
}

/* --- typed accessors -------------------------------------------------------------------------- */

enum { OP_GET, OP_SET, OP_ADD };

/* The element kind the call needs (integer or floating) against the typecode, and i. */
static int check_typed(const mproc_array_t *a, size_t i, int want_int) {
  if (a == NULL)
    return MPROC_EINVAL;
  if (a->type == NULL) {
    mproc__set_error_message("a record has no typed accessors: use its pointer");
    return MPROC_ETYPE;
  }
  if (a->type->is_int != want_int) {
    mproc__set_error_message("typecode '%c' holds %s: use the %s accessors", a->tc,
                             want_int ? "floating-point numbers" : "integers",
                             want_int ? "_double" : "_int");
    return MPROC_ETYPE;
  }
  if (i >= a->len) {
    mproc__set_error_message("index %zu out of range (length %zu)", i, a->len);
    return MPROC_ERANGE;
  }
  return 0;
}

/* 1 if v fits the integer type t ('?' holds 0 and 1 only). */
static int int_fits(const ctype *t, int64_t v) {
  int bits = t->size * 8;
  if (t->tc == '?')
    return v == 0 || v == 1;
  if (t->is_signed)
    return bits == 64 || (v >= -((int64_t)1 << (bits - 1)) && v < ((int64_t)1 << (bits - 1)));
  return v >= 0 && (bits == 64 || v < ((int64_t)1 << bits));
}

static int range_error(const ctype *t, int64_t v) {
  mproc__set_error_message("%lld does not fit typecode '%c'", (long long)v, t->tc);
  return MPROC_ERANGE;
}

/* An integer element of the host's C type (1, 2, 4 or 8 bytes), zero-extended. */
uint64_t mproc__load_uint(const unsigned char *p, size_t size) {
  uint8_t b;
  uint16_t h;
  uint32_t w;
  uint64_t q;
  switch (size) {
  case 1: memcpy(&b, p, 1); return b;
  case 2: memcpy(&h, p, 2); return h;
  case 4: memcpy(&w, p, 4); return w;
  default: memcpy(&q, p, 8); return q;
  }
}

static void store_raw(unsigned char *p, size_t size, uint64_t v) {
  uint8_t b = (uint8_t)v;
  uint16_t h = (uint16_t)v;
  uint32_t w = (uint32_t)v;
  switch (size) {
  case 1: memcpy(p, &b, 1); break;
  case 2: memcpy(p, &h, 2); break;
  case 4: memcpy(p, &w, 4); break;
  default: memcpy(p, &v, 8);
  }
}

/* Lock held: get, set or add on integer element p. */
static int int_op_locked(const ctype *t, unsigned char *p, int op, int64_t in, int64_t *cur) {
  uint64_t raw = mproc__load_uint(p, t->size);
  *cur = widen(t, raw);
  if (!t->is_signed && t->size == 8 && *cur < 0) {
    mproc__set_error_message("%llu does not fit int64_t", (unsigned long long)raw);
    return MPROC_ERANGE;
  }
  if (op == OP_GET)
    return 0;
  if (op == OP_ADD) {
    if ((in > 0 && *cur > INT64_MAX - in) || (in < 0 && *cur < INT64_MIN - in) ||
        !int_fits(t, *cur + in))
      return range_error(t, (int64_t)((uint64_t)*cur + (uint64_t)in));
    in += *cur;
  }
  store_raw(p, t->size, (uint64_t)in);
  *cur = in;
  return 0;
}

static int dbl_op_locked(const ctype *t, unsigned char *p, int op, double in, double *cur) {
  float f;
  if (t->tc == 'f')
    memcpy(&f, p, sizeof f), *cur = f;
  else
    memcpy(cur, p, sizeof *cur);
  if (op == OP_GET)
    return 0;
  *cur = op == OP_ADD ? *cur + in : in;
  if (t->tc == 'f') {
    f = (float)*cur;
    memcpy(p, &f, sizeof f);
    *cur = f;
  } else {
    memcpy(p, cur, sizeof *cur);
  }
  return 0;
}

/* One typed operation on element i under the object's lock; the lock's code (0 or
 * MPROC_EOWNERDEAD, as copy_locked) unless the operation itself failed. */
static int typed_op(const mproc_array_t *a, size_t i, int op, int is_int, int64_t iv,
                    double dv, int64_t *iout, double *dout) {
  int rc = check_typed(a, i, is_int);
  if (rc != 0)
    return rc;
  if (is_int && op == OP_SET && !int_fits(a->type, iv))
    return range_error(a->type, iv);
  rc = a->lock ? mproc_lock_acquire(a->lock, MPROC_FOREVER) : 0;
  if (rc != 0 && rc != MPROC_EOWNERDEAD)
    return rc;
  int64_t icur = 0;
  double dcur = 0;
  unsigned char *p = a->data + i * a->elem;
  int orc = is_int ? int_op_locked(a->type, p, op, iv, &icur)
                   : dbl_op_locked(a->type, p, op, dv, &dcur);
  if (rc == MPROC_EOWNERDEAD)
    mproc_lock_consistent(a->lock);
  if (a->lock)
    mproc_lock_release(a->lock);
  if (orc != 0)
    return orc;
  if (iout)
    *iout = icur;
  if (dout)
    *dout = dcur;
  return rc;
}

int mproc_array_get_int(const mproc_array_t *a, size_t i, int64_t *out) {
  return out ? typed_op(a, i, OP_GET, 1, 0, 0, out, NULL) : MPROC_EINVAL;
}
int mproc_array_set_int(mproc_array_t *a, size_t i, int64_t value) {
  return typed_op(a, i, OP_SET, 1, value, 0, NULL, NULL);
}
int mproc_array_add_int(mproc_array_t *a, size_t i, int64_t delta, int64_t *result) {
  return typed_op(a, i, OP_ADD, 1, delta, 0, result, NULL);
}
int mproc_array_get_double(const mproc_array_t *a, size_t i, double *out) {
  return out ? typed_op(a, i, OP_GET, 0, 0, 0, NULL, out) : MPROC_EINVAL;
}
int mproc_array_set_double(mproc_array_t *a, size_t i, double value) {
  return typed_op(a, i, OP_SET, 0, 0, value, NULL, NULL);
}
int mproc_array_add_double(mproc_array_t *a, size_t i, double delta, double *result) {
  return typed_op(a, i, OP_ADD, 0, 0, delta, NULL, result);
}
int mproc_value_get_int(const mproc_value_t *v, int64_t *out) {
  return v ? mproc_array_get_int(&v->a, 0, out) : MPROC_EINVAL;
}
int mproc_value_set_int(mproc_value_t *v, int64_t value) {
  return v ? mproc_array_set_int(&v->a, 0, value) : MPROC_EINVAL;
}
int mproc_value_add_int(mproc_value_t *v, int64_t delta, int64_t *result) {
  return v ? mproc_array_add_int(&v->a, 0, delta, result) : MPROC_EINVAL;
}
int mproc_value_get_double(const mproc_value_t *v, double *out) {
  return v ? mproc_array_get_double(&v->a, 0, out) : MPROC_EINVAL;
}
int mproc_value_set_double(mproc_value_t *v, double value) {
  return v ? mproc_array_set_double(&v->a, 0, value) : MPROC_EINVAL;
}
int mproc_value_add_double(mproc_value_t *v, double delta, double *result) {
  return v ? mproc_array_add_double(&v->a, 0, delta, result) : MPROC_EINVAL;
}

/* --- crossing into children ------------------------------------------------------------------- */

int mproc__array_encode(const mproc_array_t *a, mp_buf *b) {
  mproc__put_u8(b, a->lock ? 2 : 1);
  mproc__shobj_encode(&a->o, b);
  if (a->lock)
    mproc__shobj_encode(mproc__lock_shobj(a->lock), b);
  mproc__put_u8(b, (uint8_t)a->tc);
  mproc__put_u64(b, a->elem);
  mproc__put_u64(b, a->len);
  return b->err;
}

int mproc__array_adopt(mp_rd *r, mp_hmap *hm, mproc_array_t **out) {
  uint8_t nrec = mproc__get_u8(r);
  if (nrec != 1 && nrec != 2)
    return MPROC_EPROTO;
  mproc_array_t *a = mproc__calloc(1, sizeof *a);
  if (a == NULL)
    return MPROC_ENOMEM;
  int rc = mproc__shobj_decode(r, hm, &a->o);
  if (rc == 0 && nrec == 2) {
    rc = mproc__lock_adopt_record(r, hm, &a->lock);
    a->own_lock = rc == 0;
  }
  if (rc == 0) {
    a->tc = (char)mproc__get_u8(r);
    a->type = find_type(a->tc);
    a->elem = (size_t)mproc__get_u64(r);
    a->len = (size_t)mproc__get_u64(r);
    a->data = a->o.blk.p;
    if (r->err || a->elem == 0 || a->len > a->o.blk.size / a->elem ||
        (a->tc != 0 && (find_type(a->tc) == NULL || find_type(a->tc)->size != a->elem)))
      rc = MPROC_EPROTO;
  }
  if (rc != 0) {
    mproc_array_free(a);
    return rc;
  }
  *out = a;
  return 0;
}
