/* SPDX-License-Identifier: MIT */
/* ShareableList: a fixed-length list of int, float, bool, str, bytes and None in a named
 * shared memory block, in the layout of Python's multiprocessing.shared_memory.ShareableList
 * (3.8-3.13), so either side can create the list and the other open it by name:
 *
 *   8 bytes          n, the number of items (int64, native order)
 *   (n + 1) * 8      offsets of the items from the start of the data area (the last: its end)
 *   data             the items, each in its slot (8 bytes, or 8 * (len / 8 + 1) for str/bytes)
 *   n * 8            each item's struct format, NUL-padded: "q", "d", "xxxxxxx?" (bool),
 *                    "xxxxxx?x" (None) or "<slot>s" (str, bytes)
 *   n                each item's back transform: 0 as is, 1 str, 2 bytes, 3 None
 *
 * The block is writable by other processes, so every read checks the offsets, the format and
 * the code it finds against the block's size before touching data; nothing is trusted. As in
 * Python there is no lock: concurrent writers of one item race. */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "args.h"
#include "internal.h"
#include "mproc.h"
#include "pickle_int.h"

enum { SL_AS_IS = 0, SL_STR = 1, SL_BYTES = 2, SL_NONE = 3 };

static const char FMT_BOOL[] = "xxxxxxx?", FMT_NONE[] = "xxxxxx?x";

struct mproc_shareable_list {
  mproc_shared_memory_t *shm;
  unsigned char *buf;
  size_t size;
  size_t n; /* read once at open: Python never changes a list's length */
};

static int64_t ld64(const unsigned char *p) {
  int64_t v;
  memcpy(&v, p, 8);
  return v;
}

static void st64(unsigned char *p, int64_t v) { memcpy(p, &v, 8); }

/* --- layout ----------------------------------------------------------------------------------- */

static size_t data_start(size_t n) { return (n + 2) * 8; }

/* The data area's length (the last offset) fits the block with the formats and codes after
 * it. Every access checks it: another process may have written anything there. */
static int area_ok(const mproc_shareable_list_t *l) {
  int64_t end = ld64(l->buf + 8 + l->n * 8);
  return end >= 0 && (uint64_t)end <= l->size - data_start(l->n) - l->n * 9;
}

/* Item i's slot [*off, *off + *len) in the block, checked against its size. */
static int slot(const mproc_shareable_list_t *l, size_t i, size_t *off, size_t *len) {
  int64_t a = ld64(l->buf + 8 + i * 8), b = ld64(l->buf + 8 + (i + 1) * 8);
  int64_t end = ld64(l->buf + 8 + l->n * 8);
  if (!area_ok(l) || a < 0 || b < a || end < b)
    return MPROC_EPROTO;
  *off = data_start(l->n) + (size_t)a;
  *len = (size_t)(b - a);
  return 0;
}

static unsigned char *format_at(const mproc_shareable_list_t *l, size_t i) {
  return l->buf + data_start(l->n) + (size_t)ld64(l->buf + 8 + l->n * 8) + i * 8;
}

static unsigned char *code_at(const mproc_shareable_list_t *l, size_t i) {
  return format_at(l, l->n) + i;
}

/* The whole header is consistent with the block's size (offsets ascending, area in range). */
static int check_header(const mproc_shareable_list_t *l) {
  if (l->size < 8)
    return MPROC_EPROTO;
  int64_t n = ld64(l->buf);
  if (n < 0 || (uint64_t)n > (l->size - 8) / 17)
    return MPROC_EPROTO;
  mproc_shareable_list_t t = *l;
  t.n = (size_t)n;
  if (data_start(t.n) + t.n * 9 > l->size)
    return MPROC_EPROTO;
  size_t off, len;
  for (size_t i = 0; i < t.n; i++)
    if (slot(&t, i, &off, &len) != 0)
      return MPROC_EPROTO;
  return t.n == 0 && ld64(l->buf + 8) != 0 ? MPROC_EPROTO : 0;
}

/* --- formats ---------------------------------------------------------------------------------- */

enum { K_INT, K_DOUBLE, K_BOOL, K_NONE, K_BYTES };

/* Reads item i's format: its kind and, for "<N>s", N. */
static int read_format(const mproc_shareable_list_t *l, size_t i, int *kind, size_t *width) {
  char f[9];
  memcpy(f, format_at(l, i), 8);
  f[8] = '\0';
  *width = 8;
  if (strcmp(f, "q") == 0)
    *kind = K_INT;
  else if (strcmp(f, "d") == 0)
    *kind = K_DOUBLE;
  else if (strcmp(f, FMT_BOOL) == 0)
    *kind = K_BOOL;
  else if (strcmp(f, FMT_NONE) == 0)
    *kind = K_NONE;
  else {
    size_t k = strlen(f), w = 0;
    if (k < 2 || f[k - 1] != 's')
      return MPROC_EPROTO;
    for (size_t j = 0; j + 1 < k; j++) {
      if (f[j] < '0' || f[j] > '9')
        return MPROC_EPROTO;
      w = w * 10 + (size_t)(f[j] - '0');
    }
    *kind = K_BYTES;
    *width = w;
  }
  return 0;
}

static void write_format(mproc_shareable_list_t *l, size_t i, const char *f) {
  unsigned char *p = format_at(l, i);
  memset(p, 0, 8);
  memcpy(p, f, strlen(f));
}

/* --- values ----------------------------------------------------------------------------------- */

static int corrupt(size_t i) {
  mproc__set_error_message("ShareableList item %zu: the block holds an unknown format or "
                           "transform code", i);
  return MPROC_EPROTO;
}

/* Bytes up to the last non-NUL, as Python's rstrip(b'\x00'). */
static size_t rstrip_nul(const unsigned char *p, size_t n) {
  while (n > 0 && p[n - 1] == 0)
    n--;
  return n;
}

static int add_text(mproc_args_t *out, const unsigned char *p, size_t n) {
  if (!mproc__pickle_utf8_ok(p, n))
    return MPROC_EPROTO;
  unsigned char *s = mproc__malloc(n + 1);
  if (s == NULL)
    return MPROC_ENOMEM;
  memcpy(s, p, n);
  s[n] = '\0';
  int rc = mproc__args_add_raw(out, MPROC_ARG_STR, s, n + 1);
  mproc__free(s);
  return rc;
}

/* Appends item i to out, as Python's __getitem__ reads it. */
static int read_item(const mproc_shareable_list_t *l, size_t i, mproc_args_t *out) {
  size_t off, len, width;
  int kind;
  if (slot(l, i, &off, &len) != 0 || read_format(l, i, &kind, &width) != 0 || width > len)
    return corrupt(i);
  const unsigned char *p = l->buf + off;
  int code = *code_at(l, i);
  if (kind == K_BYTES && (code == SL_STR || code == SL_BYTES || code == SL_AS_IS)) {
    size_t n = code == SL_AS_IS ? width : rstrip_nul(p, width);
    return code == SL_STR ? add_text(out, p, n) : mproc_args_add_bytes(out, p, n);
  }
  if (kind == K_NONE && code == SL_NONE)
    return mproc_args_add_none(out);
  if (code != SL_AS_IS || kind == K_NONE)
    return corrupt(i);
  if (kind == K_BOOL)
    return mproc_args_add_bool(out, p[7] != 0);
  if (kind == K_DOUBLE) {
    double d;
    memcpy(&d, p, 8);
    return mproc_args_add_double(out, d);
  }
  return mproc_args_add_int(out, ld64(p));
}

/* What an item of v will be stored as: its format and code, and for str/bytes its bytes. */
typedef struct sl_val {
  int kind, code;
  const unsigned char *p;
  size_t n;
} sl_val;

static int classify(const mproc_args_t *v, size_t j, sl_val *out) {
  uint8_t type;
  int rc = mproc__args_item(v, j, &type, &out->p, &out->n);
  if (rc != 0)
    return rc;
  out->code = SL_AS_IS;
  switch (type) {
  case MPROC_ARG_INT: out->kind = K_INT; return 0;
  case MPROC_ARG_DOUBLE: out->kind = K_DOUBLE; return 0;
  case MPROC_ARG_BOOL: out->kind = K_BOOL; return 0;
  case MPROC_ARG_NONE: out->kind = K_NONE; out->code = SL_NONE; return 0;
  case MPROC_ARG_BYTES: out->kind = K_BYTES; out->code = SL_BYTES; return 0;
  case MPROC_ARG_STR:
    out->kind = K_BYTES;
    out->code = SL_STR;
    out->n--; /* the payload's terminating NUL */
    if (!mproc__pickle_utf8_ok(out->p, out->n)) {
      mproc__set_error_message("ShareableList: a str item is not UTF-8");
      return MPROC_EINVAL;
    }
    return 0;
  case MPROC_ARG_BIGINT:
    mproc__set_error_message("ShareableList: int item %zu does not fit in 64 bits", j);
    return MPROC_ERANGE;
  default:
    mproc__set_error_message("ShareableList: item %zu is a %s; only int, float, bool, str, "
                             "bytes and None can be stored", j, mproc_arg_type_name(type));
    return MPROC_ETYPE;
  }
}

/* The slot Python gives a new item: 8 bytes, or 8 * (len / 8 + 1) for str and bytes. */
static size_t slot_for(const sl_val *v) { return v->kind == K_BYTES ? 8 * (v->n / 8 + 1) : 8; }

/* Writes v into item i whose slot is len bytes, format first, as Python's __setitem__. */
static int store(mproc_shareable_list_t *l, size_t i, size_t off, size_t len, const sl_val *v) {
  unsigned char *p = l->buf + off;
  if (v->kind == K_BYTES) {
    if (v->n > len) {
      mproc__set_error_message("ShareableList: a %zu-byte item exceeds its %zu-byte slot",
                               v->n, len);
      return MPROC_EMSGSIZE;
    }
    char f[24];
    int cur;
    size_t width;
    if (read_format(l, i, &cur, &width) != 0 || cur != K_BYTES || width > len)
      width = len; /* a slot that held another kind (or nothing yet) */
    snprintf(f, sizeof f, "%zus", width);
    if (strlen(f) > 8)
      return MPROC_EMSGSIZE;
    write_format(l, i, f);
    *code_at(l, i) = (unsigned char)v->code;
    memset(p, 0, width);
    memcpy(p, v->p, v->n);
    return 0;
  }
  write_format(l, i, v->kind == K_INT ? "q" : v->kind == K_DOUBLE ? "d"
                     : v->kind == K_BOOL ? FMT_BOOL : FMT_NONE);
  *code_at(l, i) = (unsigned char)v->code;
  memset(p, 0, 8);
  if (v->kind == K_INT || v->kind == K_DOUBLE)
    memcpy(p, v->p, 8);
  else if (v->kind == K_BOOL)
    p[7] = v->p[0];
  return 0;
}

/* --- public ----------------------------------------------------------------------------------- */

static int wrap(mproc_shared_memory_t *shm, mproc_shareable_list_t **out) {
  mproc_shareable_list_t *l = mproc__calloc(1, sizeof *l);
  if (l == NULL)
    return MPROC_ENOMEM;
  l->shm = shm;
  l->buf = mproc_shared_memory_buf(shm);
  l->size = mproc_shared_memory_size(shm);
  *out = l;
  return 0;
}

/* Sizes the block for items and classifies them into vals (n of them). */
static int plan(const mproc_args_t *items, sl_val *vals, size_t n, size_t *size) {
  size_t data = 0;
  for (size_t j = 0; j < n; j++) {
    int rc = classify(items, j, &vals[j]);
    if (rc != 0)
      return rc;
    data += slot_for(&vals[j]);
    if (vals[j].kind == K_BYTES && slot_for(&vals[j]) >= 10000000) /* "<N>s" fits 8 bytes */
      return MPROC_EMSGSIZE;
  }
  *size = data_start(n) + data + n * 9;
  return 0;
}

static void fill(mproc_shareable_list_t *l, const sl_val *vals) {
  st64(l->buf, (int64_t)l->n);
  size_t off = 0;
  for (size_t j = 0; j <= l->n; j++) {
    st64(l->buf + 8 + j * 8, (int64_t)off);
    if (j < l->n)
      off += slot_for(&vals[j]);
  }
  for (size_t j = 0; j < l->n; j++) {
    size_t o = 0, len = 0;
    (void)slot(l, j, &o, &len);
    memset(format_at(l, j), 0, 8); /* no stale format: store reads it for str/bytes */
    (void)store(l, j, o, len, &vals[j]);
  }
}

int mproc_shareable_list_new(mproc_shareable_list_t **out, const mproc_args_t *items,
                             const char *name) {
  if (out == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  size_t n = items ? mproc_args_count(items) : 0, size;
  sl_val *vals = mproc__calloc(n ? n : 1, sizeof *vals);
  if (vals == NULL)
    return MPROC_ENOMEM;
  mproc_shared_memory_t *shm = NULL;
  int rc = plan(items, vals, n, &size);
  if (rc == 0)
    rc = mproc_shared_memory_create(&shm, name, size);
  if (rc == 0 && (rc = wrap(shm, out)) == 0) {
    (*out)->n = n;
    fill(*out, vals);
  }
  if (rc != 0 && shm != NULL) {
    mproc_shared_memory_unlink(shm);
    mproc_shared_memory_free(shm);
  }
  mproc__free(vals);
  return rc;
}

int mproc_shareable_list_attach(mproc_shareable_list_t **out, const char *name) {
  if (out == NULL || name == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  mproc_shared_memory_t *shm;
  int rc = mproc_shared_memory_attach(&shm, name);
  if (rc != 0)
    return rc;
  if ((rc = wrap(shm, out)) == 0 && (rc = check_header(*out)) == 0) {
    (*out)->n = (size_t)ld64((*out)->buf);
    return 0;
  }
  if (rc == MPROC_EPROTO)
    mproc__set_error_message("shared memory '%s' does not hold a ShareableList", name);
  mproc__free(*out);
  *out = NULL;
  mproc_shared_memory_free(shm);
  return rc;
}

/* MPROC_ECLOSED once the block was closed through mproc_shareable_list_shm. */
static int usable(const mproc_shareable_list_t *l) {
  if (l == NULL)
    return MPROC_EINVAL;
  return mproc_shared_memory_buf(l->shm) == NULL ? MPROC_ECLOSED : 0;
}

/* Python's index rules: negative counts from the end. */
static int position(const mproc_shareable_list_t *l, int64_t i, size_t *at) {
  int rc = usable(l);
  if (rc != 0)
    return rc;
  if (i < 0)
    i += (int64_t)l->n;
  if (i < 0 || (uint64_t)i >= l->n)
    return MPROC_ERANGE;
  *at = (size_t)i;
  return 0;
}

size_t mproc_shareable_list_len(const mproc_shareable_list_t *l) { return l ? l->n : 0; }

int mproc_shareable_list_get(const mproc_shareable_list_t *l, int64_t i, mproc_args_t *out) {
  size_t at;
  int rc = position(l, i, &at);
  if (rc != 0 || out == NULL)
    return rc != 0 ? rc : MPROC_EINVAL;
  return read_item(l, at, out);
}

int mproc_shareable_list_set(mproc_shareable_list_t *l, int64_t i, const mproc_args_t *v,
                             size_t j) {
  size_t at, off, len;
  sl_val val;
  int rc = position(l, i, &at);
  if (rc == 0)
    rc = v == NULL ? MPROC_EINVAL : classify(v, j, &val);
  if (rc == 0 && slot(l, at, &off, &len) != 0)
    rc = corrupt(at);
  return rc != 0 ? rc : store(l, at, off, len, &val);
}

/* Every item read into one list (the list's repr, count and index work on it). */
static int read_all(const mproc_shareable_list_t *l, mproc_args_t **out) {
  if (out == NULL)
    return MPROC_EINVAL;
  int rc = usable(l);
  if (rc != 0)
    return rc;
  rc = mproc_args_new(out);
  for (size_t i = 0; rc == 0 && i < l->n; i++)
    rc = read_item(l, i, *out);
  if (rc != 0) {
    mproc_args_free(*out);
    *out = NULL;
  }
  return rc;
}

int mproc_shareable_list_items(const mproc_shareable_list_t *l, mproc_args_t **out) {
  return read_all(l, out);
}

int mproc_shareable_list_index(const mproc_shareable_list_t *l, const mproc_args_t *v, size_t j,
                               size_t *count, int64_t *first) {
  mproc_args_t *all;
  mp_val x, y;
  if (v == NULL || mproc__args_item(v, j, &x.type, &x.p, &x.n) != 0)
    return MPROC_EINVAL;
  int rc = read_all(l, &all);
  if (rc != 0)
    return rc;
  size_t c = 0;
  int64_t at = -1;
  for (size_t i = 0; i < l->n; i++) {
    (void)mproc__args_item(all, i, &y.type, &y.p, &y.n);
    if (mproc__value_eq(&x, &y)) {
      at = at < 0 ? (int64_t)i : at;
      c++;
    }
  }
  mproc_args_free(all);
  if (count != NULL)
    *count = c;
  if (first != NULL)
    *first = at;
  return 0;
}

int mproc_shareable_list_format(const mproc_shareable_list_t *l, char *buf, size_t cap) {
  int rc = usable(l);
  if (rc != 0 || (buf == NULL && cap > 0))
    return rc != 0 ? rc : MPROC_EINVAL;
  if (!area_ok(l))
    return corrupt(0);
  size_t k = 0;
  for (size_t i = 0; i < l->n; i++) {
    char f[9];
    memcpy(f, format_at(l, i), 8);
    f[8] = '\0';
    size_t m = strlen(f);
    if (k + m < cap)
      memcpy(buf + k, f, m);
    k += m;
  }
  if (cap > 0)
    buf[k < cap ? k : cap - 1] = '\0';
  return k > (size_t)INT32_MAX ? MPROC_EMSGSIZE : (int)k;
}

int mproc_shareable_list_repr(const mproc_shareable_list_t *l, char *buf, size_t cap) {
  mproc_args_t *all = NULL, *wrapped = NULL;
  int rc = read_all(l, &all);
  if (rc == 0 && (rc = mproc_args_new(&wrapped)) == 0 && (rc = mproc_args_add_list(wrapped, all)) == 0) {
    char *items = NULL;
    int n = mproc_args_repr_item(wrapped, 0, NULL, 0);
    if (n >= 0 && (items = mproc__malloc((size_t)n + 1)) == NULL)
      n = MPROC_ENOMEM;
    if (n >= 0) {
      mproc_args_repr_item(wrapped, 0, items, (size_t)n + 1);
      n = snprintf(buf, cap, "ShareableList(%s, name='%s')", items,
                   mproc_shared_memory_name(l->shm));
    }
    mproc__free(items);
    rc = n;
  }
  mproc_args_free(all);
  mproc_args_free(wrapped);
  return rc;
}

mproc_shared_memory_t *mproc_shareable_list_shm(const mproc_shareable_list_t *l) {
  return l ? l->shm : NULL;
}

const char *mproc_shareable_list_name(const mproc_shareable_list_t *l) {
  return l ? mproc_shared_memory_name(l->shm) : NULL;
}

void mproc_shareable_list_free(mproc_shareable_list_t *l) {
  if (l == NULL)
    return;
  mproc_shared_memory_free(l->shm);
  mproc__free(l);
}
