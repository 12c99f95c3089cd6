/* SPDX-License-Identifier: MIT */
/* Python data beyond flat lists: bool, integers of any size, tuples, lists and dicts as items
 * of an argument list. A container item's payload is the wire form of a plain list (u32 count,
 * then u8 type + u64 length + payload per item), so containers travel through every path that
 * carries argument lists without a second encoding, and are checked (shape, depth, dict keys)
 * wherever a list is decoded. A dict's payload holds its key, value pairs in insertion order,
 * keys unique under Python's equality (1 == 1.0 == True). */
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "alloc.h"

/* --- item kinds ----------------------------------------------------------------------------- */

int mproc__value_is_data(uint8_t type) {
  switch (type) {
  case MPROC_ARG_INT: case MPROC_ARG_DOUBLE: case MPROC_ARG_BYTES: case MPROC_ARG_STR:
  case MPROC_ARG_NONE: case MPROC_ARG_BOOL: case MPROC_ARG_BIGINT: case MPROC_ARG_TUPLE:
  case MPROC_ARG_LIST: case MPROC_ARG_DICT: case MPROC_ARG_PYOBJECT:
    return 1;
  default:
    return 0;
  }
}

static int is_container(uint8_t type) {
  return type == MPROC_ARG_TUPLE || type == MPROC_ARG_LIST || type == MPROC_ARG_DICT ||
         type == MPROC_ARG_PYOBJECT;
}

/* (module str, name str, kind int, args tuple or None, state or None); a bare global has
 * neither args nor state, the others have args. */
static int pyobject_fields_ok(const mp_val *f) {
  if (f[0].type != MPROC_ARG_STR || f[1].type != MPROC_ARG_STR || f[2].type != MPROC_ARG_INT)
    return 0;
  uint64_t kind = 0;
  for (int i = 0; i < 8; i++)
    kind |= (uint64_t)f[2].p[i] << (8 * i);
  if (kind == MP_PY_GLOBAL)
    return f[3].type == MPROC_ARG_NONE && f[4].type == MPROC_ARG_NONE;
  return (kind == MP_PY_REDUCE || kind == MP_PY_NEWOBJ) && f[3].type == MPROC_ARG_TUPLE;
}

/* Minimal two's-complement length of n little-endian bytes (at least 1). */
size_t mproc__bigint_trim(const unsigned char *p, size_t n) {
  while (n > 1 && ((p[n - 1] == 0x00 && !(p[n - 2] & 0x80)) ||
                   (p[n - 1] == 0xff && (p[n - 2] & 0x80))))
    n--;
  return n;
}

/* --- reading a container payload ------------------------------------------------------------ */

int mproc__value_open(mp_rd *r, const unsigned char *p, size_t n, uint32_t *count) {
  mproc__rd_init(r, p, n);
  *count = mproc__get_u32(r);
  /* every item takes at least 9 bytes: a count beyond that is a lie, caught before any use */
  if (r->err || *count > (n - 4) / 9)
    return MPROC_EPROTO;
  return 0;
}

int mproc__value_next(mp_rd *r, mp_val *v) {
  v->type = mproc__get_u8(r);
  v->p = mproc__get_blob(r, &v->n);
  return r->err ? r->err : 0;
}

static int dict_unique(const unsigned char *p, size_t n, uint32_t count);

static int valid_container(uint8_t type, const unsigned char *p, size_t n, int depth) {
  mp_rd r;
  uint32_t count;
  if (depth >= MPROC_ARGS_MAX_DEPTH || mproc__value_open(&r, p, n, &count) != 0)
    return 0;
  if ((type == MPROC_ARG_DICT && count % 2 != 0) || (type == MPROC_ARG_PYOBJECT && count != 5))
    return 0;
  mp_val f[5];
  for (uint32_t i = 0; i < count; i++) {
    mp_val v;
    if (mproc__value_next(&r, &v) != 0 || !mproc__value_is_data(v.type) ||
        !mproc__value_valid(v.type, v.p, v.n, depth + 1))
      return 0;
    if (type == MPROC_ARG_DICT && i % 2 == 0 && !mproc__value_hashable(&v))
      return 0;
    if (type == MPROC_ARG_PYOBJECT)
      f[i] = v;
  }
  if (r.pos != n || (type == MPROC_ARG_PYOBJECT && !pyobject_fields_ok(f)))
    return 0;
  return type != MPROC_ARG_DICT || dict_unique(p, n, count) == 0;
}

int mproc__value_valid(uint8_t type, const unsigned char *p, size_t n, int depth) {
  switch (type) {
  case MPROC_ARG_INT:
  case MPROC_ARG_DOUBLE:
    return n == 8;
  case MPROC_ARG_BYTES:
    return 1;
  case MPROC_ARG_STR:
    return n >= 1 && p[n - 1] == '\0';
  case MPROC_ARG_NONE:
    return n == 0;
  case MPROC_ARG_BOOL:
    return n == 1 && p[0] <= 1;
  case MPROC_ARG_BIGINT: /* canonical, and only for values int64 cannot hold */
    return n > 8 && mproc__bigint_trim(p, n) == n;
  default:
    return is_container(type) && valid_container(type, p, n, depth);
  }
}

/* --- Python equality and hashing of dict keys ------------------------------------------------ */

int mproc__value_hashable(const mp_val *v) {
  if (v->type == MPROC_ARG_LIST || v->type == MPROC_ARG_DICT || v->type == MPROC_ARG_PYOBJECT)
    return 0;
  if (v->type != MPROC_ARG_TUPLE)
    return 1;
  mp_rd r;
  uint32_t count;
  if (mproc__value_open(&r, v->p, v->n, &count) != 0)
    return 0;
  for (uint32_t i = 0; i < count; i++) {
    mp_val it;
    if (mproc__value_next(&r, &it) != 0 || !mproc__value_hashable(&it))
      return 0;
  }
  return 1;
}

/* A number reduced to one of three forms so that equal numbers compare byte for byte:
 * an int64 (ints, bools and integral doubles in range), a canonical big integer (bigints and
 * integral doubles beyond int64), or a non-integral double (and inf, nan). */
enum { NUM_NONE, NUM_I64, NUM_BIG, NUM_FLOAT };
typedef struct num {
  int kind;
  int64_t i;
  double d;
  const unsigned char *big;
  size_t bign;
  unsigned char buf[160]; /* |double| < 2^1024: 129 bytes with the sign */
} num;

static uint64_t load64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static void negate(unsigned char *p, size_t n) {
  unsigned carry = 1;
  for (size_t i = 0; i < n; i++) {
    unsigned x = (unsigned)(unsigned char)~p[i] + carry;
    p[i] = (unsigned char)x;
    carry = x >> 8;
  }
}

/* A double from its bits: |d| = mant * 2^shift (mant has 53 significant bits). */
static int double_parts(uint64_t bits, uint64_t *mant, int *shift) {
  int e = (int)((bits >> 52) & 0x7ff);
  *mant = bits & (((uint64_t)1 << 52) - 1);
  if (e != 0)
    *mant |= (uint64_t)1 << 52;
  *shift = (e ? e : 1) - 1075;
  return e;
}

/* 1 for finite doubles without a fractional part. */
static int integral(uint64_t bits) {
  uint64_t mant;
  int shift;
  if (double_parts(bits, &mant, &shift) == 0x7ff)
    return 0;
  return shift >= 0 || shift <= -64 ? (shift >= 0 || mant == 0)
                                    : (mant & (((uint64_t)1 << -shift) - 1)) == 0;
}

/* An integral double outside int64 as canonical two's-complement bytes. */
static void double_to_big(uint64_t bits, num *x) {
  uint64_t mant;
  int shift;
  double_parts(bits, &mant, &shift); /* shift >= 11 here */
  memset(x->buf, 0, sizeof x->buf);
  for (int b = 0; b < 53; b++)
    if ((mant >> b) & 1)
      x->buf[(b + shift) / 8] |= (unsigned char)(1u << ((b + shift) % 8));
  size_t n = (size_t)(shift + 53) / 8 + 1; /* room for a sign bit */
  if (bits >> 63)
    negate(x->buf, n);
  x->big = x->buf;
  x->bign = mproc__bigint_trim(x->buf, n);
}

static void to_num(const mp_val *v, num *x) {
  x->kind = NUM_NONE;
  if (v->type == MPROC_ARG_INT || v->type == MPROC_ARG_BOOL) {
    x->kind = NUM_I64;
    x->i = v->type == MPROC_ARG_BOOL ? v->p[0] : (int64_t)load64(v->p);
  } else if (v->type == MPROC_ARG_BIGINT) {
    x->kind = NUM_BIG;
    x->big = v->p;
    x->bign = v->n;
  } else if (v->type == MPROC_ARG_DOUBLE) {
    uint64_t bits = load64(v->p);
    memcpy(&x->d, &bits, sizeof x->d);
    if (!integral(bits)) {
      x->kind = NUM_FLOAT;
    } else if (x->d >= -9223372036854775808.0 && x->d < 9223372036854775808.0) {
      x->kind = NUM_I64;
      x->i = (int64_t)x->d;
    } else {
      x->kind = NUM_BIG;
      double_to_big(bits, x);
    }
  }
}

static uint64_t mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  return h ^ (h >> 33);
}

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

uint64_t mproc__value_hash(const mp_val *v) {
  num x;
  to_num(v, &x);
  if (x.kind == NUM_I64)
    return mix((uint64_t)x.i);
  if (x.kind == NUM_BIG)
    return fnv(0xcbf29ce484222325ULL, x.big, x.bign);
  if (x.kind == NUM_FLOAT)
    return mix(load64(v->p) ^ 0x5555);
  if (v->type != MPROC_ARG_TUPLE)
    return fnv(0xcbf29ce484222325ULL ^ v->type, v->p, v->n);
  mp_rd r;
  uint32_t count;
  uint64_t h = 0x7475706c65ULL;
  if (mproc__value_open(&r, v->p, v->n, &count) != 0)
    return h;
  for (uint32_t i = 0; i < count; i++) {
    mp_val it;
    if (mproc__value_next(&r, &it) != 0)
      break;
    h = mix(h ^ mproc__value_hash(&it)) + i;
  }
  return h;
}

static int tuple_eq(const mp_val *a, const mp_val *b) {
  mp_rd ra, rb;
  uint32_t na, nb;
  if (mproc__value_open(&ra, a->p, a->n, &na) != 0 ||
      mproc__value_open(&rb, b->p, b->n, &nb) != 0 || na != nb)
    return 0;
  for (uint32_t i = 0; i < na; i++) {
    mp_val x, y;
    if (mproc__value_next(&ra, &x) != 0 || mproc__value_next(&rb, &y) != 0 ||
        !mproc__value_eq(&x, &y))
      return 0;
  }
  return 1;
}

int mproc__value_eq(const mp_val *a, const mp_val *b) {
  num x, y;
  to_num(a, &x);
  to_num(b, &y);
  if (x.kind != NUM_NONE || y.kind != NUM_NONE) {
    if (x.kind != y.kind)
      return 0;
    if (x.kind == NUM_I64)
      return x.i == y.i;
    if (x.kind == NUM_FLOAT)
      return x.d == y.d; /* nan != nan, as Python compares two different nan objects */
    return x.bign == y.bign && memcmp(x.big, y.big, x.bign) == 0;
  }
  if (a->type != b->type)
    return 0;
  if (a->type == MPROC_ARG_TUPLE)
    return tuple_eq(a, b);
  return a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0);
}

/* --- dict keys: first[k] = the first of keys[0..n) equal to keys[k] ---------------------- */

static int dedup(const mp_val *keys, size_t n, size_t *first) {
  size_t cap = 16;
  while (cap < 2 * n)
    cap *= 2;
  size_t *slot = mproc__calloc(cap, sizeof *slot); /* index + 1, 0 = empty */
  if (slot == NULL)
    return MPROC_ENOMEM;
  for (size_t k = 0; k < n; k++) {
    size_t h = (size_t)mproc__value_hash(&keys[k]) & (cap - 1);
    first[k] = k;
    while (slot[h] != 0 && !mproc__value_eq(&keys[slot[h] - 1], &keys[k]))
      h = (h + 1) & (cap - 1);
    if (slot[h] != 0)
      first[k] = slot[h] - 1;
    else
      slot[h] = k + 1;
  }
  mproc__free(slot);
  return 0;
}

/* 0 when the keys of a dict payload (already checked for shape) are distinct. */
static int dict_unique(const unsigned char *p, size_t n, uint32_t count) {
  size_t pairs = count / 2;
  mp_val *keys = mproc__malloc((pairs ? pairs : 1) * sizeof *keys);
  size_t *first = mproc__malloc((pairs ? pairs : 1) * sizeof *first);
  int rc = keys && first ? 0 : MPROC_ENOMEM;
  mp_rd r;
  mproc__value_open(&r, p, n, &count);
  for (size_t i = 0; rc == 0 && i < count; i++) {
    mp_val v;
    rc = mproc__value_next(&r, &v);
    if (i % 2 == 0)
      keys[i / 2] = v;
  }
  if (rc == 0)
    rc = dedup(keys, pairs, first);
  for (size_t k = 0; rc == 0 && k < pairs; k++)
    if (first[k] != k)
      rc = MPROC_EPROTO;
  mproc__free(keys);
  mproc__free(first);
  return rc;
}

/* --- building ------------------------------------------------------------------------------- */

static void put_val(mp_buf *b, const mp_val *v) {
  mproc__put_u8(b, v->type);
  mproc__put_blob(b, v->p, v->n);
}

/* The items of a list as values, each checked to be data that may nest one level deeper. */
static int collect(const mproc_args_t *items, const char *what, mp_val **out, size_t *n) {
  *n = mproc_args_count(items);
  *out = mproc__malloc((*n ? *n : 1) * sizeof **out);
  if (*out == NULL)
    return MPROC_ENOMEM;
  for (size_t i = 0; i < *n; i++) {
    mp_val *v = &(*out)[i];
    mproc__args_item(items, i, &v->type, &v->p, &v->n);
    if (!mproc__value_is_data(v->type)) {
      mproc__set_error_message("item %zu: a %s holds data values only, not %s", i, what,
                               mproc_arg_type_name(v->type));
      return MPROC_ETYPE;
    }
    if (!mproc__value_valid(v->type, v->p, v->n, 1)) {
      mproc__set_error_message("item %zu: a %s may nest at most %d levels deep", i, what,
                               MPROC_ARGS_MAX_DEPTH);
      return MPROC_EMSGSIZE;
    }
  }
  return 0;
}

static int add_payload(mproc_args_t *a, uint8_t type, mp_buf *b) {
  int rc = b->err ? b->err : mproc__args_add_raw(a, type, b->data, b->len);
  mproc__buf_free(b);
  return rc;
}

static int add_sequence(mproc_args_t *a, uint8_t type, const mproc_args_t *items) {
  if (a == NULL)
    return MPROC_EINVAL;
  mp_val *v;
  size_t n;
  int rc = collect(items, mproc_arg_type_name(type), &v, &n);
  mp_buf b;
  mproc__buf_init(&b);
  if (rc == 0 && n > UINT32_MAX)
    rc = MPROC_EMSGSIZE;
  if (rc == 0) {
    mproc__put_u32(&b, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
      put_val(&b, &v[i]);
    rc = add_payload(a, type, &b);
  }
  mproc__buf_free(&b);
  mproc__free(v);
  return rc;
}

int mproc_args_add_tuple(mproc_args_t *a, const mproc_args_t *items) {
  return add_sequence(a, MPROC_ARG_TUPLE, items);
}

int mproc_args_add_list(mproc_args_t *a, const mproc_args_t *items) {
  return add_sequence(a, MPROC_ARG_LIST, items);
}

/* Keys checked hashable; entries with equal keys merged as Python's dict display does: the
 * first key and its position stay, the last value wins. An entry is stride values: a key and
 * its value (a dict), or a key alone (a set). */
static int merge(const mp_val *v, size_t entries, size_t stride, mp_buf *b) {
  mp_val *keys = mproc__malloc((entries ? entries : 1) * sizeof *keys);
  size_t *first = mproc__malloc((entries ? entries : 1) * 2 * sizeof *first);
  int rc = keys && first ? 0 : MPROC_ENOMEM;
  for (size_t k = 0; rc == 0 && k < entries; k++) {
    keys[k] = v[stride * k];
    if (!mproc__value_hashable(&keys[k])) {
      mproc__set_error_message("%s %zu: unhashable type: '%s'", stride == 2 ? "dict key" : "item",
                               k, mproc_arg_type_name(keys[k].type));
      rc = MPROC_ETYPE;
    }
  }
  if (rc == 0)
    rc = dedup(keys, entries, first);
  size_t *last = first + entries, unique = 0;
  for (size_t k = 0; rc == 0 && k < entries; k++) {
    last[first[k]] = k;
    unique += first[k] == k;
  }
  if (rc == 0)
    mproc__put_u32(b, (uint32_t)(stride * unique));
  for (size_t k = 0; rc == 0 && k < entries; k++)
    if (first[k] == k) {
      put_val(b, &v[stride * k]);
      if (stride == 2)
        put_val(b, &v[stride * last[k] + 1]);
    }
  mproc__free(keys);
  mproc__free(first);
  return rc;
}

int mproc__value_merge_region(mp_buf *b, size_t start, int stride) {
  mp_rd r;
  uint32_t count;
  if (b->err)
    return b->err;
  if (mproc__value_open(&r, b->data + start, b->len - start, &count) != 0)
    return MPROC_EPROTO;
  mp_val *v = mproc__malloc((count ? count : 1) * sizeof *v);
  int rc = v ? 0 : MPROC_ENOMEM;
  for (uint32_t i = 0; rc == 0 && i < count; i++)
    rc = mproc__value_next(&r, &v[i]);
  mp_buf out;
  mproc__buf_init(&out);
  if (rc == 0 && (rc = merge(v, count / (uint32_t)stride, (size_t)stride, &out)) == 0)
    rc = out.err;
  if (rc == 0) {
    b->len = start; /* the merged form is never longer */
    mproc__put(b, out.data, out.len);
    rc = b->err;
  }
  mproc__buf_free(&out);
  mproc__free(v);
  return rc;
}

int mproc_args_add_dict(mproc_args_t *a, const mproc_args_t *kv) {
  if (a == NULL)
    return MPROC_EINVAL;
  if (mproc_args_count(kv) % 2 != 0) {
    mproc__set_error_message("a dict is built from key, value pairs: %zu items",
                             mproc_args_count(kv));
    return MPROC_EINVAL;
  }
  mp_val *v;
  size_t n;
  int rc = collect(kv, "dict", &v, &n);
  mp_buf b;
  mproc__buf_init(&b);
  if (rc == 0 && n > UINT32_MAX)
    rc = MPROC_EMSGSIZE;
  if (rc == 0 && (rc = merge(v, n / 2, 2, &b)) == 0)
    rc = add_payload(a, MPROC_ARG_DICT, &b);
  mproc__buf_free(&b);
  mproc__free(v);
  return rc;
}

int mproc_args_add_bool(mproc_args_t *a, int value) {
  unsigned char p = value != 0;
  return mproc__args_add_raw(a, MPROC_ARG_BOOL, &p, 1);
}

int mproc_args_add_bigint(mproc_args_t *a, const void *data, size_t size) {
  if (a == NULL || data == NULL || size == 0)
    return MPROC_EINVAL;
  size_t n = mproc__bigint_trim(data, size);
  if (n > 8)
    return mproc__args_add_raw(a, MPROC_ARG_BIGINT, data, n);
  const unsigned char *p = data;
  uint64_t v = (p[n - 1] & 0x80) ? ~(uint64_t)0 : 0; /* sign-extend to 64 bits */
  for (size_t i = 0; i < n; i++) {
    v &= ~((uint64_t)0xff << (8 * i));
    v |= (uint64_t)p[i] << (8 * i);
  }
  return mproc_args_add_int(a, (int64_t)v);
}

/* --- reading -------------------------------------------------------------------------------- */

int mproc_args_get_bool(const mproc_args_t *a, size_t i, int *out) {
  const unsigned char *p;
  size_t n;
  int rc = mproc__args_typed(a, i, MPROC_ARG_BOOL, &p, &n);
  if (rc == 0 && out == NULL)
    return MPROC_EINVAL;
  if (rc == 0)
    *out = p[0];
  return rc;
}

int mproc_args_get_bigint(const mproc_args_t *a, size_t i, const void **data, size_t *size) {
  const unsigned char *p;
  size_t n;
  int rc = mproc_args_type(a, i) == MPROC_ARG_INT
               ? mproc__args_typed(a, i, MPROC_ARG_INT, &p, &n)
               : mproc__args_typed(a, i, MPROC_ARG_BIGINT, &p, &n);
  if (rc == 0 && (data == NULL || size == NULL))
    return MPROC_EINVAL;
  if (rc == 0) {
    *data = p;
    *size = n;
  }
  return rc;
}

static int get_container(const mproc_args_t *a, size_t i, uint8_t type, mproc_args_t **out) {
  const unsigned char *p;
  size_t n;
  int rc = mproc__args_typed(a, i, type, &p, &n);
  if (rc == 0 && out == NULL)
    return MPROC_EINVAL;
  if (rc != 0)
    return rc;
  mp_rd r;
  mproc__rd_init(&r, p, n);
  return mproc__args_decode(&r, out, MP_ARGS_PLAIN, NULL, 0);
}

int mproc_args_get_tuple(const mproc_args_t *a, size_t i, mproc_args_t **out) {
  return get_container(a, i, MPROC_ARG_TUPLE, out);
}

int mproc_args_get_list(const mproc_args_t *a, size_t i, mproc_args_t **out) {
  return get_container(a, i, MPROC_ARG_LIST, out);
}

int mproc_args_get_dict(const mproc_args_t *a, size_t i, mproc_args_t **out) {
  return get_container(a, i, MPROC_ARG_DICT, out);
}

int mproc_args_get_pyobject(const mproc_args_t *a, size_t i, mproc_args_t **out) {
  return get_container(a, i, MPROC_ARG_PYOBJECT, out);
}
