/* SPDX-License-Identifier: MIT */
/* Typed argument lists: what a child receives. Items are kept encoded in one buffer (the same
 * bytes the bootstrap record carries), with an index of offsets so lookups are O(1).
 *
 * A list whose items are all ints (or all doubles) keeps no index at all: item i is the 8 bytes
 * at 8 * i ("uniform" form). Building, copying and chunking the long lists a Pool's map takes
 * are then plain appends and memcpy; the first item of another kind builds the index. */
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "conn.h"
#include "heap.h"
#include "alloc.h"

/* A connection item's payload: the handle value (8 bytes LE) and its direction flags. */
#define CONN_PAYLOAD 9

int mproc_args_new(mproc_args_t **out) {
  if (out == NULL)
    return MPROC_EINVAL;
  *out = mproc__calloc(1, sizeof **out);
  return *out ? 0 : MPROC_ENOMEM;
}

void mproc_args_free(mproc_args_t *a) {
  if (a == NULL)
    return;
  for (size_t i = 0; a->utype == 0 && i < a->count; i++) {
    if (!a->items[i].owned)
      continue;
    if (a->items[i].type == MPROC_ARG_CONN)
      mproc__conn_release(a->items[i].conn);
    else
      mproc__obj_release(a->items[i].type, a->items[i].obj);
  }
  if (a->borrowed)
    mproc__buf_init(&a->enc);
  mproc__buf_free(&a->enc);
  mproc__free(a->items);
  mproc__free(a->self);
  mproc__free(a);
}

static int uniform_type(uint8_t type, size_t n) {
  return (type == MPROC_ARG_INT || type == MPROC_ARG_DOUBLE) && n == 8;
}

/* Leaves the uniform form: writes the index the uniform form implied. */
static int materialize(mproc_args_t *a) {
  size_t cap = a->count < 8 ? 8 : a->count * 2;
  mp_item *it = mproc__realloc(a->items, cap * sizeof *it);
  if (it == NULL)
    return MPROC_ENOMEM;
  for (size_t i = 0; i < a->count; i++)
    it[i] = (mp_item){a->utype, 8 * i, 8, NULL, NULL, 0};
  a->items = it;
  a->cap = cap;
  a->utype = 0;
  return 0;
}

/* Appends to a uniform list (or starts one): 1 if done, 0 if the item does not fit the form,
 * or a negative code. */
static int add_uniform(mproc_args_t *a, uint8_t type, const void *p, size_t n) {
  if (!uniform_type(type, n) || (a->count > 0 && a->utype != type))
    return 0;
  mproc__put(&a->enc, p, n);
  if (a->enc.err) {
    int rc = a->enc.err;
    a->enc.err = 0;
    return rc;
  }
  a->utype = type;
  a->count++;
  return 1;
}

static int add_item(mproc_args_t *a, uint8_t type, const void *p, size_t n) {
  if (a == NULL || (p == NULL && n > 0) || a->borrowed)
    return MPROC_EINVAL;
  if (n > MPROC_ARGS_MAX_BYTES || a->enc.len + n > MPROC_ARGS_MAX_BYTES)
    return MPROC_EMSGSIZE;
  if (a->utype != 0 || a->count == 0) {
    int rc = add_uniform(a, type, p, n);
    if (rc != 0)
      return rc < 0 ? rc : 0;
    if (a->count > 0 && (rc = materialize(a)) != 0)
      return rc;
  }
  if (a->count == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 8;
    mp_item *it = mproc__realloc(a->items, cap * sizeof *it);
    if (it == NULL)
      return MPROC_ENOMEM;
    a->items = it;
    a->cap = cap;
  }
  size_t off = a->enc.len;
  mproc__put(&a->enc, p, n);
  if (a->enc.err) {
    int rc = a->enc.err;
    a->enc.err = 0; /* the list itself is still intact */
    return rc;
  }
  a->items[a->count++] = (mp_item){type, off, n, NULL, NULL, 0};
  return 0;
}

static int add_u64(mproc_args_t *a, uint8_t type, uint64_t v) {
  /* the common case of a uniform list with room: one store */
  if (a != NULL && (a->utype == type || a->count == 0) && !a->borrowed &&
      a->enc.cap - a->enc.len >= 8 && a->enc.len < MPROC_ARGS_MAX_BYTES - 8) {
    unsigned char *d = a->enc.data + a->enc.len;
    for (int i = 0; i < 8; i++)
      d[i] = (unsigned char)(v >> (8 * i));
    a->enc.len += 8;
    a->utype = type;
    a->count++;
    return 0;
  }
  unsigned char t[8];
  for (int i = 0; i < 8; i++)
    t[i] = (unsigned char)(v >> (8 * i));
  return add_item(a, type, t, 8);
}

int mproc_args_add_int(mproc_args_t *a, int64_t v) { return add_u64(a, MPROC_ARG_INT, (uint64_t)v); }

int mproc_args_add_double(mproc_args_t *a, double v) {
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  return add_u64(a, MPROC_ARG_DOUBLE, bits);
}

int mproc_args_add_bytes(mproc_args_t *a, const void *data, size_t size) {
  return add_item(a, MPROC_ARG_BYTES, data, size);
}

int mproc_args_add_none(mproc_args_t *a) { return add_item(a, MPROC_ARG_NONE, NULL, 0); }

int mproc_args_add_str(mproc_args_t *a, const char *s) {
  if (s == NULL)
    return MPROC_EINVAL;
  return add_item(a, MPROC_ARG_STR, s, strlen(s) + 1);
}

size_t mproc_args_count(const mproc_args_t *a) { return a ? a->count : 0; }

/* Item i in either form; a uniform list's items are synthesized in *tmp. */
static const mp_item *at(const mproc_args_t *a, size_t i, mp_item *tmp) {
  if (a->utype == 0)
    return &a->items[i];
  *tmp = (mp_item){a->utype, 8 * i, 8, NULL, NULL, 0};
  return tmp;
}

static const mp_item *get(const mproc_args_t *a, size_t i, uint8_t type, int *rc, mp_item *tmp) {
  *rc = 0;
  if (a == NULL) {
    *rc = MPROC_EINVAL;
  } else if (i >= a->count) {
    *rc = MPROC_ERANGE;
    mproc__set_error_message("argument %zu: the list has only %zu item%s (%s wanted)", i,
                             a->count, a->count == 1 ? "" : "s", mproc_arg_type_name(type));
  } else if (at(a, i, tmp)->type != type) {
    *rc = MPROC_ETYPE;
    mproc__set_error_message("argument %zu is %s, not %s", i,
                             mproc_arg_type_name(at(a, i, tmp)->type), mproc_arg_type_name(type));
  }
  return *rc ? NULL : at(a, i, tmp);
}

int mproc_args_type(const mproc_args_t *a, size_t i) {
  if (a == NULL)
    return MPROC_EINVAL;
  mp_item tmp;
  return i < a->count ? at(a, i, &tmp)->type : MPROC_ERANGE;
}

/* Spelled out rather than looped: compilers see the expression as one little-endian load
 * (the loop stayed eight byte loads, on the hot path of every int a pool task reads). */
static uint64_t load_u64(const unsigned char *p) {
  return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
         (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
         (uint64_t)p[7] << 56;
}

int mproc_args_get_int(const mproc_args_t *a, size_t i, int64_t *out) {
  if (a != NULL && a->utype == MPROC_ARG_INT && i < a->count && out != NULL) {
    *out = (int64_t)load_u64(a->enc.data + 8 * i);
    return 0;
  }
  int rc;
  mp_item tmp;
  if (mproc_args_type(a, i) == MPROC_ARG_BIGINT) {
    mproc__set_error_message("argument %zu: the int does not fit in 64 bits "
                             "(mproc_args_get_bigint reads it)", i);
    return MPROC_ERANGE;
  }
  const mp_item *it = get(a, i, MPROC_ARG_INT, &rc, &tmp);
  if (it == NULL || out == NULL)
    return it ? MPROC_EINVAL : rc;
  *out = (int64_t)load_u64(a->enc.data + it->off);
  return 0;
}

int mproc__args_typed(const mproc_args_t *a, size_t i, uint8_t type, const unsigned char **p,
                      size_t *n) {
  int rc;
  mp_item tmp;
  const mp_item *it = get(a, i, type, &rc, &tmp);
  if (it == NULL)
    return rc;
  *p = a->enc.data + it->off;
  *n = it->len;
  return 0;
}

int mproc_args_get_double(const mproc_args_t *a, size_t i, double *out) {
  int rc;
  mp_item tmp;
  const mp_item *it = get(a, i, MPROC_ARG_DOUBLE, &rc, &tmp);
  if (it == NULL || out == NULL)
    return it ? MPROC_EINVAL : rc;
  uint64_t bits = load_u64(a->enc.data + it->off);
  memcpy(out, &bits, sizeof *out);
  return 0;
}

int mproc_args_get_bytes(const mproc_args_t *a, size_t i, const void **data, size_t *size) {
  int rc;
  mp_item tmp;
  const mp_item *it = get(a, i, MPROC_ARG_BYTES, &rc, &tmp);
  if (it == NULL || data == NULL || size == NULL)
    return it ? MPROC_EINVAL : rc;
  static const unsigned char empty[1];
  *data = it->len ? (const void *)(a->enc.data + it->off) : (const void *)empty;
  *size = it->len;
  return 0;
}

int mproc_args_get_str(const mproc_args_t *a, size_t i, const char **out) {
  int rc;
  mp_item tmp;
  const mp_item *it = get(a, i, MPROC_ARG_STR, &rc, &tmp);
  if (it == NULL || out == NULL)
    return it ? MPROC_EINVAL : rc;
  *out = (const char *)(a->enc.data + it->off);
  return 0;
}

void *mproc_args_self(const mproc_args_t *a, size_t *size) {
  if (size)
    *size = a ? a->self_size : 0;
  return a ? a->self : NULL;
}

int mproc__args_set_self(mproc_args_t *a, const void *self, size_t size) {
  if (size == 0)
    return 0;
  void *copy = mproc__malloc(size);
  if (copy == NULL)
    return MPROC_ENOMEM;
  memcpy(copy, self, size);
  mproc__free(a->self);
  a->self = copy;
  a->self_size = size;
  return 0;
}

/* --- wire form: u32 count, then per item u8 type + blob ----------------------------------- */

size_t mproc__args_encoded_size(const mproc_args_t *a) {
  return a ? 4 + a->count * 9 + a->enc.len : 4;
}

void mproc__args_encode(const mproc_args_t *a, mp_buf *b) {
  size_t n = a ? a->count : 0;
  mproc__put_u32(b, (uint32_t)n);
  mp_item tmp;
  for (size_t i = 0; i < n; i++) {
    const mp_item *it = at(a, i, &tmp);
    mproc__put_u8(b, it->type);
    mproc__put_blob(b, a->enc.data + it->off, it->len);
  }
}

static int valid_item(uint8_t type, const unsigned char *p, size_t n) {
  switch (type) {
  case MPROC_ARG_CONN:
    return n == CONN_PAYLOAD;
  case MPROC_ARG_FUNC:
    return n >= 24 && n < 24 + MP_MODULE_MAX; /* what mproc__target_encode writes */
  default:
    if (mproc__value_is_data(type))
      return mproc__value_valid(type, p, n, 0);
    return mproc__obj_is_object(type) && n >= 1;
  }
}

/* A connection item decoded in a child: wrap its handle (by position in handles[] when the
 * handles arrived renumbered, as through the forkserver) in a connection the args own. */
static int adopt_conn(mproc_args_t *a, const unsigned char *p, mp_hmap *hm) {
  os_handle h = mproc__hmap_get(hm, (os_handle)(int64_t)load_u64(p));
  if (h == OS_INVALID)
    return MPROC_EPROTO;
  mp_item *it = &a->items[a->count - 1];
  int rc = mproc__conn_wrap(h, p[8] & (MP_CONN_READ | MP_CONN_WRITE), &it->conn);
  it->owned = rc == 0;
  if (rc == 0) {
    mproc__conn_set_list_owned(it->conn); /* a close in the target must not free it under us */
    mproc__hmap_claim(hm, h);
  }
  return rc;
}

/* An object item decoded in a child: the child's own copy of the object. */
static int adopt_obj(mproc_args_t *a, const unsigned char *p, size_t n, mp_hmap *hm) {
  mp_item *it = &a->items[a->count - 1];
  mp_rd r;
  mproc__rd_init(&r, p, n);
  int rc = mproc__obj_adopt(it->type, &r, hm, &it->obj);
  it->owned = rc == 0;
  return rc;
}

/* Whatever a child inherited is non-inheritable again: grandchildren get only what is passed
 * on to them. */
static void settle_handles(mp_hmap *hm) {
  for (size_t i = 0; i < hm->nseen; i++)
    if (hm->claimed[i])
      mproc__os_set_inheritable(hm->actual ? hm->actual[i] : hm->seen[i], 0);
  mproc__hmap_close_unclaimed(hm);
}

int mproc__args_decode(mp_rd *r, mproc_args_t **out, int mode, const os_handle *handles,
                   size_t nhandles) {
  mproc_args_t *a;
  int rc = mproc_args_new(&a);
  uint32_t n = rc ? 0 : mproc__get_u32(r);
  mp_hmap hm = {0};
  hm.actual = handles;
  hm.nactual = nhandles;
  for (uint32_t i = 0; rc == 0 && i < n; i++) {
    uint8_t type = mproc__get_u8(r);
    size_t len;
    const unsigned char *p = mproc__get_blob(r, &len);
    int carries = type == MPROC_ARG_CONN || mproc__obj_is_object(type);
    if (r->err)
      rc = r->err;
    else if (!valid_item(type, p, len) || (carries && mode == MP_ARGS_PLAIN))
      rc = MPROC_EPROTO;
    else
      rc = add_item(a, type, p, len);
    if (rc == 0 && mode == MP_ARGS_CHILD && type == MPROC_ARG_CONN)
      rc = adopt_conn(a, p, &hm);
    else if (rc == 0 && mode == MP_ARGS_CHILD && carries)
      rc = adopt_obj(a, p, len, &hm);
  }
  if (mode == MP_ARGS_CHILD)
    settle_handles(&hm);
  if (rc != 0) {
    mproc_args_free(a);
    a = NULL;
  }
  *out = a;
  return rc;
}

/* --- connections as arguments ----------------------------------------------------------------- */

int mproc_args_add_conn(mproc_args_t *a, mproc_conn_t *c) {
  if (a == NULL || c == NULL)
    return MPROC_EINVAL;
  os_handle h = mproc__conn_handle(c);
  if (h == OS_INVALID)
    return MPROC_ECLOSED;
  unsigned char p[CONN_PAYLOAD];
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char)((uint64_t)(int64_t)h >> (8 * i));
  p[8] = (unsigned char)mproc__conn_flags(c);
  int rc = add_item(a, MPROC_ARG_CONN, p, sizeof p);
  if (rc == 0)
    a->items[a->count - 1].conn = c; /* borrowed: the caller keeps its connection */
  return rc;
}

int mproc_args_get_conn(const mproc_args_t *a, size_t i, mproc_conn_t **out) {
  int rc;
  mp_item tmp;
  const mp_item *it = get(a, i, MPROC_ARG_CONN, &rc, &tmp);
  if (it == NULL || out == NULL)
    return it ? MPROC_EINVAL : rc;
  if (it->conn == NULL)
    return MPROC_ESTATE; /* a parent-side copy: the connection lives in the caller's list */
  *out = it->conn;
  return 0;
}

int mproc__args_has_handles(const mproc_args_t *a) {
  for (size_t i = 0; a && a->utype == 0 && i < a->count; i++)
    if (a->items[i].type == MPROC_ARG_CONN || mproc__obj_is_object(a->items[i].type))
      return 1;
  return 0;
}

size_t mproc__args_handles(const mproc_args_t *a, os_handle *out, size_t cap) {
  size_t k = 0;
  for (size_t i = 0; a && a->utype == 0 && i < a->count; i++) {
    const mp_item *it = &a->items[i];
    const unsigned char *p = a->enc.data + it->off;
    if (it->type == MPROC_ARG_CONN)
      k = mproc__handle_list_add(out, k, cap, (os_handle)(int64_t)load_u64(p));
    else if (mproc__obj_is_object(it->type))
      k = mproc__obj_handles(p, it->len, out, k, cap);
  }
  return k;
}

/* --- functions as values ----------------------------------------------------------------- */

int mproc_args_add_func(mproc_args_t *a, mproc_fn fn) {
  if (a == NULL || fn == NULL)
    return MPROC_EINVAL;
  mp_target_ref ref;
  int rc = mproc__target_locate((mproc_target_fn)fn, &ref);
  if (rc != 0)
    return rc;
  mp_buf b;
  mproc__buf_init(&b);
  mproc__target_encode(&ref, &b);
  rc = b.err ? b.err : add_item(a, MPROC_ARG_FUNC, b.data, b.len);
  mproc__buf_free(&b);
  return rc;
}

/* Resolved on every call, in the calling process: the same path under every start method. */
int mproc_args_get_func(const mproc_args_t *a, size_t i, mproc_fn *out) {
  int rc;
  mp_item tmp;
  const mp_item *it = get(a, i, MPROC_ARG_FUNC, &rc, &tmp);
  if (it == NULL || out == NULL)
    return it ? MPROC_EINVAL : rc;
  mp_rd r;
  mp_target_ref ref;
  mproc__rd_init(&r, a->enc.data + it->off, it->len);
  if ((rc = mproc__target_decode(&r, &ref)) != 0)
    return rc;
  mproc_target_fn fn;
  if ((rc = mproc__target_resolve(&ref, &fn)) != 0) {
    mproc__set_error_message("argument %zu: function at offset %llu of %s: %s", i,
                             (unsigned long long)ref.offset,
                             ref.module[0] ? ref.module : "the executable", mproc_strerror(rc));
    return rc;
  }
  *out = (mproc_fn)fn;
  return 0;
}

/* --- shared objects as arguments ------------------------------------------------------------ */

static int add_obj(mproc_args_t *a, uint8_t type, const void *obj) {
  if (a == NULL || obj == NULL)
    return MPROC_EINVAL;
  mp_buf b;
  mproc__buf_init(&b);
  int rc = mproc__obj_encode(type, obj, &b);
  if (rc == 0)
    rc = add_item(a, type, b.data, b.len);
  mproc__buf_free(&b);
  if (rc == 0)
    a->items[a->count - 1].obj = (void *)obj; /* borrowed: the caller keeps its object */
  return rc;
}

static int get_obj(const mproc_args_t *a, size_t i, uint8_t type, void **out) {
  int rc;
  mp_item tmp;
  const mp_item *it = get(a, i, type, &rc, &tmp);
  if (it == NULL || out == NULL)
    return it ? MPROC_EINVAL : rc;
  if (it->obj == NULL)
    return MPROC_ESTATE; /* a parent-side copy: the object lives in the caller's list */
  *out = it->obj;
  return 0;
}

int mproc_args_add_lock(mproc_args_t *a, mproc_lock_t *l) { return add_obj(a, MPROC_ARG_LOCK, l); }
int mproc_args_get_lock(const mproc_args_t *a, size_t i, mproc_lock_t **out) {
  return get_obj(a, i, MPROC_ARG_LOCK, (void **)out);
}
int mproc_args_add_semaphore(mproc_args_t *a, mproc_semaphore_t *s) {
  return add_obj(a, MPROC_ARG_SEMAPHORE, s);
}
int mproc_args_get_semaphore(const mproc_args_t *a, size_t i, mproc_semaphore_t **out) {
  return get_obj(a, i, MPROC_ARG_SEMAPHORE, (void **)out);
}
int mproc_args_add_condition(mproc_args_t *a, mproc_condition_t *c) {
  return add_obj(a, MPROC_ARG_CONDITION, c);
}
int mproc_args_get_condition(const mproc_args_t *a, size_t i, mproc_condition_t **out) {
  return get_obj(a, i, MPROC_ARG_CONDITION, (void **)out);
}
int mproc_args_add_event(mproc_args_t *a, mproc_event_t *e) {
  return add_obj(a, MPROC_ARG_EVENT, e);
}
int mproc_args_get_event(const mproc_args_t *a, size_t i, mproc_event_t **out) {
  return get_obj(a, i, MPROC_ARG_EVENT, (void **)out);
}
int mproc_args_add_barrier(mproc_args_t *a, mproc_barrier_t *b) {
  return add_obj(a, MPROC_ARG_BARRIER, b);
}
int mproc_args_get_barrier(const mproc_args_t *a, size_t i, mproc_barrier_t **out) {
  return get_obj(a, i, MPROC_ARG_BARRIER, (void **)out);
}
int mproc_args_add_value(mproc_args_t *a, mproc_value_t *v) {
  return add_obj(a, MPROC_ARG_VALUE, v);
}
int mproc_args_get_value(const mproc_args_t *a, size_t i, mproc_value_t **out) {
  return get_obj(a, i, MPROC_ARG_VALUE, (void **)out);
}
int mproc_args_add_array(mproc_args_t *a, mproc_array_t *arr) {
  return add_obj(a, MPROC_ARG_ARRAY, arr);
}
int mproc_args_get_array(const mproc_args_t *a, size_t i, mproc_array_t **out) {
  return get_obj(a, i, MPROC_ARG_ARRAY, (void **)out);
}
int mproc_args_add_queue(mproc_args_t *a, mproc_queue_t *q) {
  return add_obj(a, MPROC_ARG_QUEUE, q);
}
int mproc_args_get_queue(const mproc_args_t *a, size_t i, mproc_queue_t **out) {
  return get_obj(a, i, MPROC_ARG_QUEUE, (void **)out);
}

/* --- raw access for the pool: items as (type, bytes), views, bulk appends ------------------- */

int mproc__args_uniform_type(const mproc_args_t *a) { return a ? a->utype : 0; }

const unsigned char *mproc__args_payload(const mproc_args_t *a) { return a->enc.data; }

int mproc__args_item(const mproc_args_t *a, size_t i, uint8_t *type, const unsigned char **p,
                 size_t *len) {
  if (a == NULL || i >= a->count)
    return MPROC_ERANGE;
  mp_item tmp;
  const mp_item *it = at(a, i, &tmp);
  *type = it->type;
  *p = a->enc.data + it->off;
  *len = it->len;
  return 0;
}

static int plain_kind(uint8_t type) { return mproc__value_is_data(type); }

int mproc__args_add_raw(mproc_args_t *a, uint8_t type, const void *p, size_t len) {
  if (!plain_kind(type) || !valid_item(type, p, len))
    return MPROC_EPROTO;
  return add_item(a, type, p, len);
}

void mproc__args_adopt_run(mproc_args_t *a, uint8_t type, void *data, size_t n) {
  mproc__buf_free(&a->enc);
  a->enc.data = data;
  a->enc.len = a->enc.cap = 8 * n;
  a->utype = type;
  a->count = n;
}

int mproc__args_add_run(mproc_args_t *a, uint8_t type, const void *p, size_t n) {
  if (type != MPROC_ARG_INT && type != MPROC_ARG_DOUBLE)
    return MPROC_EPROTO;
  if (n > MPROC_ARGS_MAX_BYTES / 8 || a->enc.len + 8 * n > MPROC_ARGS_MAX_BYTES)
    return MPROC_EMSGSIZE;
  const unsigned char *b = p;
  if (n == 0 || (a->count > 0 && a->utype != type)) {
    for (size_t i = 0; i < n; i++) {
      int rc = add_item(a, type, b + 8 * i, 8);
      if (rc != 0)
        return rc;
    }
    return 0;
  }
  mproc__put(&a->enc, p, 8 * n);
  if (a->enc.err) {
    int rc = a->enc.err;
    a->enc.err = 0;
    return rc;
  }
  a->utype = type;
  a->count += n;
  return 0;
}

void mproc__args_reset(mproc_args_t *a) {
  for (size_t i = 0; a->utype == 0 && i < a->count; i++)
    if (a->items[i].owned) {
      if (a->items[i].type == MPROC_ARG_CONN)
        mproc__conn_release(a->items[i].conn);
      else
        mproc__obj_release(a->items[i].type, a->items[i].obj);
    }
  if (a->borrowed)
    mproc__buf_init(&a->enc);
  a->borrowed = 0;
  a->enc.len = 0;
  a->enc.err = 0;
  a->count = 0;
  a->utype = 0;
}

int mproc__args_view(mproc_args_t *v, uint8_t type, const void *p, size_t len) {
  if (!v->borrowed)
    mproc__buf_free(&v->enc);
  v->borrowed = 1;
  v->enc.data = (unsigned char *)p;
  v->enc.len = len;
  v->enc.cap = 0;
  v->count = 1;
  v->utype = 0;
  if (uniform_type(type, len)) {
    v->utype = type;
    return 0;
  }
  if (v->cap == 0) {
    v->items = mproc__malloc(sizeof *v->items);
    if (v->items == NULL)
      return MPROC_ENOMEM;
    v->cap = 1;
  }
  v->items[0] = (mp_item){type, 0, len, NULL, NULL, 0};
  return 0;
}

int mproc__args_extend(mproc_args_t *dst, const mproc_args_t *src, size_t from) {
  for (size_t i = from; src && i < src->count; i++) {
    mp_item tmp;
    const mp_item *it = at(src, i, &tmp);
    int rc = add_item(dst, it->type, src->enc.data + it->off, it->len);
    if (rc != 0)
      return rc;
    if (dst->utype == 0) {
      dst->items[dst->count - 1].conn = it->conn;
      dst->items[dst->count - 1].obj = it->obj;
    }
  }
  return 0;
}
