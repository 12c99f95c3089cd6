/* SPDX-License-Identifier: MIT */
/* Built-in typeids dict, list, Namespace and Iterator (what dict.__iter__ returns), with
 * Python's method names, argument conventions and exceptions. A dict keeps insertion order and
 * finds keys by the value model's hashing and equality (1, 1.0 and True are one key). */
#include <stdio.h>
#include <string.h>

#include "manager_server.h"
#include "alloc.h"

/* --- a sequence of values (list storage, dict entries) ------------------------------------- */

typedef struct vec {
  mgr_val *v;
  size_t n, cap;
} vec;

static int vec_reserve(vec *x, size_t extra) {
  if (x->n + extra <= x->cap)
    return 0;
  size_t cap = x->cap ? x->cap : 8;
  while (cap < x->n + extra)
    cap *= 2;
  mgr_val *v = mproc__realloc(x->v, cap * sizeof *v);
  if (v == NULL)
    return MPROC_ENOMEM;
  x->v = v;
  x->cap = cap;
  return 0;
}

static void vec_clear(vec *x) {
  for (size_t i = 0; i < x->n; i++)
    mproc__mgr_val_free(&x->v[i]);
  x->n = 0;
}

static int vec_insert(vec *x, size_t at, const mgr_val *src) {
  mgr_val c;
  int rc = vec_reserve(x, 1);
  if (rc == 0)
    rc = mproc__mgr_val_from(&c, src);
  if (rc != 0)
    return rc;
  memmove(&x->v[at + 1], &x->v[at], (x->n - at) * sizeof *x->v);
  x->v[at] = c;
  x->n++;
  return 0;
}

static void vec_remove(vec *x, size_t at) {
  mproc__mgr_val_free(&x->v[at]);
  memmove(&x->v[at], &x->v[at + 1], (x->n - at - 1) * sizeof *x->v);
  x->n--;
}

/* Appends the values as a list (or tuple) item to res. */
static int add_seq(mproc_args_t *res, uint8_t type, const mgr_val *v, size_t n, size_t stride) {
  mproc_args_t *t;
  int rc = mproc_args_new(&t);
  for (size_t i = 0; rc == 0 && i < n; i += stride)
    rc = mproc__mgr_val_add(t, &v[i]);
  if (rc == 0)
    rc = type == MPROC_ARG_TUPLE ? mproc_args_add_tuple(res, t) : mproc_args_add_list(res, t);
  mproc_args_free(t);
  return rc;
}

/* The items of a list, tuple (or dict: its keys) argument as views into it. */
static int items_of(const mgr_val *v, mgr_val **out, size_t *n) {
  mp_rd r;
  uint32_t count;
  *out = NULL;
  *n = 0;
  if (v->type != MPROC_ARG_LIST && v->type != MPROC_ARG_TUPLE && v->type != MPROC_ARG_DICT)
    return MPROC_ETYPE;
  if (mproc__value_open(&r, v->p, v->n, &count) != 0)
    return MPROC_EPROTO;
  mgr_val *it = mproc__calloc(count ? count : 1, sizeof *it);
  if (it == NULL)
    return MPROC_ENOMEM;
  for (uint32_t i = 0; i < count; i++) {
    mp_val m;
    mproc__value_next(&r, &m);
    it[i].type = m.type;
    it[i].p = (unsigned char *)m.p;
    it[i].n = m.n;
  }
  *out = it;
  *n = count;
  return 0;
}

static int eq(const mgr_val *x, const mgr_val *y) {
  mp_val a = mgr_view(x), b = mgr_view(y);
  return mproc__value_eq(&a, &b);
}

/* --- dict ---------------------------------------------------------------------------------- */

typedef struct mdict {
  vec kv;       /* key, value, key, value ... ; a removed entry's key has type 0 */
  size_t live;  /* entries in use */
  size_t *idx;  /* open addressing: entry number + 1, 0 empty */
  size_t icap;
} mdict;

static uint64_t hash_of(const mgr_val *k) {
  mp_val m = mgr_view(k);
  return mproc__value_hash(&m);
}

/* Entry number of key, or (size_t)-1; *slot_out: where it is, or the first empty slot. */
static size_t d_find(const mdict *d, const mgr_val *key, size_t *slot_out) {
  if (d->icap == 0)
    return (size_t)-1;
  size_t s = (size_t)hash_of(key) & (d->icap - 1);
  for (;; s = (s + 1) & (d->icap - 1)) {
    size_t e = d->idx[s];
    if (e == 0)
      break;
    const mgr_val *k = &d->kv.v[2 * (e - 1)];
    if (k->type != 0 && eq(k, key)) {
      if (slot_out)
        *slot_out = s;
      return e - 1;
    }
  }
  if (slot_out)
    *slot_out = s;
  return (size_t)-1;
}

/* Drops removed entries and rebuilds the index with room for one more. */
static int d_rebuild(mdict *d) {
  size_t w = 0;
  for (size_t r = 0; r < d->kv.n; r += 2)
    if (d->kv.v[r].type != 0) {
      d->kv.v[w] = d->kv.v[r];
      d->kv.v[w + 1] = d->kv.v[r + 1];
      w += 2;
    }
  d->kv.n = w;
  size_t cap = 16;
  while (cap < 2 * (w / 2 + 1) + 2)
    cap *= 2;
  size_t *idx = mproc__calloc(cap, sizeof *idx);
  if (idx == NULL)
    return MPROC_ENOMEM;
  mproc__free(d->idx);
  d->idx = idx;
  d->icap = cap;
  for (size_t e = 0; e < w / 2; e++) {
    size_t s = (size_t)hash_of(&d->kv.v[2 * e]) & (cap - 1);
    while (idx[s] != 0)
      s = (s + 1) & (cap - 1);
    idx[s] = e + 1;
  }
  return 0;
}

static int unhashable(mproc_args_t *res, const mgr_val *k) {
  mp_val m = mgr_view(k);
  if (mproc__value_hashable(&m))
    return 0;
  char msg[64];
  snprintf(msg, sizeof msg, "unhashable type: '%s'",
           k->type == MPROC_ARG_LIST ? "list" : k->type == MPROC_ARG_DICT ? "dict" : "object");
  return mproc_manager_raise(res, "builtins", "TypeError", msg);
}

static int d_set(mdict *d, const mgr_val *k, const mgr_val *v) {
  size_t e = d_find(d, k, NULL);
  mgr_val c;
  int rc = mproc__mgr_val_from(&c, v);
  if (rc != 0)
    return rc;
  if (e != (size_t)-1) {
    mproc__mgr_val_free(&d->kv.v[2 * e + 1]);
    d->kv.v[2 * e + 1] = c;
    return 0;
  }
  if ((d->kv.n / 2 + 1) * 2 > d->icap && (rc = d_rebuild(d)) != 0) {
    mproc__mgr_val_free(&c);
    return rc;
  }
  size_t s;
  d_find(d, k, &s);
  if ((rc = vec_insert(&d->kv, d->kv.n, k)) != 0) {
    mproc__mgr_val_free(&c);
    return rc;
  }
  if ((rc = vec_reserve(&d->kv, 1)) != 0) {
    vec_remove(&d->kv, d->kv.n - 1);
    mproc__mgr_val_free(&c);
    return rc;
  }
  d->kv.v[d->kv.n++] = c;
  d->idx[s] = d->kv.n / 2;
  d->live++;
  return 0;
}

static void d_del(mdict *d, size_t e) {
  mproc__mgr_val_free(&d->kv.v[2 * e]);
  mproc__mgr_val_free(&d->kv.v[2 * e + 1]);
  d->kv.v[2 * e].type = 0;
  d->live--;
}

static int d_create(const mproc_args_t *a, const mproc_args_t *kw, void **obj, void *ctx);

static void d_destroy(void *obj, void *ctx) {
  (void)ctx;
  mdict *d = obj;
  for (size_t i = 0; i < d->kv.n; i += 2)
    if (d->kv.v[i].type != 0) {
      mproc__mgr_val_free(&d->kv.v[i]);
      mproc__mgr_val_free(&d->kv.v[i + 1]);
    }
  mproc__free(d->kv.v);
  mproc__free(d->idx);
  mproc__free(d);
}

/* The dict's value: key, value pairs of live entries appended to res as a dict. */
static int d_value(const mdict *d, mproc_args_t *res) {
  mproc_args_t *t;
  int rc = mproc_args_new(&t);
  for (size_t i = 0; rc == 0 && i < d->kv.n; i += 2)
    if (d->kv.v[i].type != 0 && (rc = mproc__mgr_val_add(t, &d->kv.v[i])) == 0)
      rc = mproc__mgr_val_add(t, &d->kv.v[i + 1]);
  if (rc == 0)
    rc = mproc_args_add_dict(res, t);
  mproc_args_free(t);
  return rc;
}

static int d_getvalue(void *obj, mproc_args_t *out, void *ctx) {
  MGR_LOCK(ctx);
  int rc = d_value(obj, out);
  MGR_UNLOCK(ctx);
  return rc;
}

/* repr of the value a getvalue function gives. */
static int repr_via(int (*get)(void *, mproc_args_t *, void *), void *obj, char **text,
                    void *ctx) {
  mproc_args_t *v;
  int rc = mproc_args_new(&v);
  if (rc == 0 && (rc = get(obj, v, ctx)) == 0) {
    int n = mproc_args_repr_item(v, 0, NULL, 0);
    if (n < 0)
      rc = n;
    else if ((*text = mproc__malloc((size_t)n + 1)) == NULL)
      rc = MPROC_ENOMEM;
    else
      mproc_args_repr_item(v, 0, *text, (size_t)n + 1);
  }
  mproc_args_free(v);
  return rc;
}

static int d_repr(void *obj, char **text, void *ctx) {
  return repr_via(d_getvalue, obj, text, ctx);
}

/* Adds the pairs of a dict, or of a list/tuple of 2-item pairs, to d. */
static int d_update_from(mdict *d, const mgr_val *src, mproc_args_t *res) {
  mgr_val *it;
  size_t n;
  int rc = items_of(src, &it, &n);
  if (rc != 0)
    return mproc_manager_raise(res, "builtins", "TypeError", "update() needs a dict or pairs");
  for (size_t i = 0; rc == 0 && i < n; i += src->type == MPROC_ARG_DICT ? 2 : 1) {
    if (src->type == MPROC_ARG_DICT) {
      rc = d_set(d, &it[i], &it[i + 1]);
      continue;
    }
    mgr_val *p;
    size_t np;
    if (items_of(&it[i], &p, &np) != 0 || np != 2 || it[i].type == MPROC_ARG_DICT) {
      mproc__free(p);
      rc = mproc_manager_raise(res, "builtins", "ValueError",
                               "dictionary update sequence element has the wrong length");
      break;
    }
    rc = unhashable(res, &p[0]);
    if (rc == 0)
      rc = d_set(d, &p[0], &p[1]);
    mproc__free(p);
  }
  mproc__free(it);
  return rc;
}

static int d_create(const mproc_args_t *a, const mproc_args_t *kw, void **obj, void *ctx) {
  (void)ctx;
  mdict *d = mproc__calloc(1, sizeof *d);
  if (d == NULL)
    return MPROC_ENOMEM;
  mgr_val src;
  int rc = d_rebuild(d);
  mproc_args_t *err = NULL;
  if (rc == 0 && (rc = mproc_args_new(&err)) == 0 && mproc__mgr_arg(a, NULL, 0, NULL, &src))
    rc = d_update_from(d, &src, err) == 0 ? 0 : MPROC_ETYPE;
  for (size_t i = 0; rc == 0 && kw && i + 1 < mproc_args_count(kw); i += 2) {
    mgr_val k, v;
    mproc__mgr_arg(kw, NULL, i, NULL, &k);
    mproc__mgr_arg(kw, NULL, i + 1, NULL, &v);
    rc = d_set(d, &k, &v);
  }
  mproc_args_free(err);
  if (rc != 0) {
    d_destroy(d, NULL);
    return rc;
  }
  *obj = d;
  return 0;
}

/* The key argument, checked hashable; 0 when there is none or it raised. */
static int key_arg(const mproc_args_t *a, mgr_val *k, mproc_args_t *res, int *rc) {
  if (!mproc__mgr_arg(a, NULL, 0, NULL, k)) {
    *rc = mproc_manager_raise(res, "builtins", "TypeError", "expected at least 1 argument");
    return 0;
  }
  *rc = unhashable(res, k);
  return *rc == 0;
}

MGR_METHOD(d_getitem) {
  mdict *d = obj;
  mgr_val k;
  int rc;
  if (!key_arg(a, &k, res, &rc))
    return rc;
  (void)kw;
  MGR_LOCK(ctx);
  size_t e = d_find(d, &k, NULL);
  rc = e == (size_t)-1 ? mproc__mgr_raise_val(res, "KeyError", &k)
                       : mproc__mgr_val_add(res, &d->kv.v[2 * e + 1]);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(d_get) {
  mdict *d = obj;
  mgr_val k, def;
  int rc;
  if (!key_arg(a, &k, res, &rc))
    return rc;
  int has_def = mproc__mgr_arg(a, kw, 1, "default", &def);
  MGR_LOCK(ctx);
  size_t e = d_find(d, &k, NULL);
  if (e != (size_t)-1)
    rc = mproc__mgr_val_add(res, &d->kv.v[2 * e + 1]);
  else
    rc = has_def ? mproc__mgr_val_add(res, &def) : mproc_args_add_none(res);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(d_setitem) {
  mdict *d = obj;
  mgr_val k, v;
  int rc;
  if (!key_arg(a, &k, res, &rc))
    return rc;
  (void)kw;
  if (!mproc__mgr_arg(a, NULL, 1, NULL, &v))
    return mproc_manager_raise(res, "builtins", "TypeError", "expected 2 arguments");
  MGR_LOCK(ctx);
  rc = d_set(d, &k, &v);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(d_delitem) {
  mdict *d = obj;
  mgr_val k;
  int rc;
  if (!key_arg(a, &k, res, &rc))
    return rc;
  (void)kw;
  MGR_LOCK(ctx);
  size_t e = d_find(d, &k, NULL);
  if (e == (size_t)-1)
    rc = mproc__mgr_raise_val(res, "KeyError", &k);
  else
    d_del(d, e);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(d_contains) {
  mdict *d = obj;
  mgr_val k;
  int rc;
  if (!key_arg(a, &k, res, &rc))
    return rc;
  (void)kw;
  MGR_LOCK(ctx);
  rc = mproc_args_add_bool(res, d_find(d, &k, NULL) != (size_t)-1);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(d_len) {
  (void)a, (void)kw;
  MGR_LOCK(ctx);
  int rc = mproc_args_add_int(res, (int64_t)((mdict *)obj)->live);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(d_clear) {
  mdict *d = obj;
  (void)a, (void)kw, (void)res;
  MGR_LOCK(ctx);
  for (size_t e = 0; e < d->kv.n / 2; e++)
    if (d->kv.v[2 * e].type != 0)
      d_del(d, e);
  int rc = d_rebuild(d);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(d_copy) {
  (void)a, (void)kw;
  return d_getvalue(obj, res, ctx);
}

/* keys (what 0), values (1), items (2) as a list, as Python pickles dict views. */
static int d_view(mdict *d, mproc_args_t *res, int what, void *ctx) {
  mproc_args_t *t;
  int rc = mproc_args_new(&t);
  MGR_LOCK(ctx);
  for (size_t i = 0; rc == 0 && i < d->kv.n; i += 2) {
    if (d->kv.v[i].type == 0)
      continue;
    if (what == 2)
      rc = add_seq(t, MPROC_ARG_TUPLE, &d->kv.v[i], 2, 1);
    else
      rc = mproc__mgr_val_add(t, &d->kv.v[i + (size_t)what]);
  }
  MGR_UNLOCK(ctx);
  if (rc == 0)
    rc = mproc_args_add_list(res, t);
  mproc_args_free(t);
  return rc;
}

MGR_METHOD(d_keys) { (void)a, (void)kw; return d_view(obj, res, 0, ctx); }
MGR_METHOD(d_values) { (void)a, (void)kw; return d_view(obj, res, 1, ctx); }
MGR_METHOD(d_items) { (void)a, (void)kw; return d_view(obj, res, 2, ctx); }
MGR_METHOD(d_iter) { (void)a, (void)kw; return d_view(obj, res, 0, ctx); }

MGR_METHOD(d_pop) {
  mdict *d = obj;
  mgr_val k, def;
  int rc;
  if (!key_arg(a, &k, res, &rc))
    return rc;
  int has_def = mproc__mgr_arg(a, kw, 1, "default", &def);
  MGR_LOCK(ctx);
  size_t e = d_find(d, &k, NULL);
  if (e != (size_t)-1) {
    rc = mproc__mgr_val_add(res, &d->kv.v[2 * e + 1]);
    if (rc == 0)
      d_del(d, e);
  } else {
    rc = has_def ? mproc__mgr_val_add(res, &def) : mproc__mgr_raise_val(res, "KeyError", &k);
  }
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(d_popitem) {
  mdict *d = obj;
  (void)a, (void)kw;
  MGR_LOCK(ctx);
  int rc = mproc_manager_raise(res, "builtins", "KeyError", "popitem(): dictionary is empty");
  for (size_t e = d->kv.n / 2; e-- > 0;)
    if (d->kv.v[2 * e].type != 0) {
      mproc__args_reset(res);
      if ((rc = add_seq(res, MPROC_ARG_TUPLE, &d->kv.v[2 * e], 2, 1)) == 0)
        d_del(d, e);
      break;
    }
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(d_setdefault) {
  mdict *d = obj;
  mgr_val k, def = {MPROC_ARG_NONE, (unsigned char *)"", 0};
  int rc;
  if (!key_arg(a, &k, res, &rc))
    return rc;
  mproc__mgr_arg(a, kw, 1, "default", &def);
  MGR_LOCK(ctx);
  size_t e = d_find(d, &k, NULL);
  if (e == (size_t)-1 && (rc = d_set(d, &k, &def)) == 0)
    e = d_find(d, &k, NULL);
  if (rc == 0)
    rc = mproc__mgr_val_add(res, &d->kv.v[2 * e + 1]);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(d_update) {
  mdict *d = obj;
  mgr_val src;
  int rc = 0;
  MGR_LOCK(ctx);
  if (mproc__mgr_arg(a, NULL, 0, NULL, &src))
    rc = d_update_from(d, &src, res);
  for (size_t i = 0; rc == 0 && kw && i + 1 < mproc_args_count(kw); i += 2) {
    mgr_val k, v;
    mproc__mgr_arg(kw, NULL, i, NULL, &k);
    mproc__mgr_arg(kw, NULL, i + 1, NULL, &v);
    rc = d_set(d, &k, &v);
  }
  MGR_UNLOCK(ctx);
  return rc;
}

static const mproc_manager_method dict_methods[] = {
    {"__contains__", d_contains, NULL, 0}, {"__delitem__", d_delitem, NULL, 0},
    {"__getitem__", d_getitem, NULL, 0},   {"__iter__", d_iter, "Iterator", 0},
    {"__len__", d_len, NULL, 0},           {"__setitem__", d_setitem, NULL, 0},
    {"clear", d_clear, NULL, 0},           {"copy", d_copy, NULL, 0},
    {"get", d_get, NULL, 0},               {"items", d_items, NULL, 0},
    {"keys", d_keys, NULL, 0},             {"pop", d_pop, NULL, 0},
    {"popitem", d_popitem, NULL, 0},       {"setdefault", d_setdefault, NULL, 0},
    {"update", d_update, NULL, 0},         {"values", d_values, NULL, 0}};

/* --- Iterator: a snapshot list and a position ---------------------------------------------- */

typedef struct miter {
  vec items;
  size_t pos;
} miter;

static int it_create(const mproc_args_t *a, const mproc_args_t *kw, void **obj, void *ctx) {
  (void)kw, (void)ctx;
  mgr_val src, *it = NULL;
  size_t n = 0;
  miter *x = mproc__calloc(1, sizeof *x);
  if (x == NULL)
    return MPROC_ENOMEM;
  int rc = mproc__mgr_arg(a, NULL, 0, NULL, &src) ? items_of(&src, &it, &n) : 0;
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = vec_insert(&x->items, x->items.n, &it[i]);
  mproc__free(it);
  if (rc != 0) {
    vec_clear(&x->items);
    mproc__free(x->items.v);
    mproc__free(x);
    return rc;
  }
  *obj = x;
  return 0;
}

static void it_destroy(void *obj, void *ctx) {
  (void)ctx;
  miter *x = obj;
  vec_clear(&x->items);
  mproc__free(x->items.v);
  mproc__free(x);
}

MGR_METHOD(it_next) {
  miter *x = obj;
  (void)a, (void)kw;
  MGR_LOCK(ctx);
  int rc = x->pos < x->items.n ? mproc__mgr_val_add(res, &x->items.v[x->pos++])
                               : mproc_manager_raise(res, "builtins", "StopIteration", NULL);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(it_close) {
  miter *x = obj;
  (void)a, (void)kw, (void)res;
  MGR_LOCK(ctx);
  x->pos = x->items.n;
  MGR_UNLOCK(ctx);
  return 0;
}

static const mproc_manager_method iter_methods[] = {
    {"__next__", it_next, NULL, 0}, {"send", it_next, NULL, 0}, {"close", it_close, NULL, 0}};

/* --- list ------------------------------------------------------------------------------------ */

typedef struct mlist {
  vec x;
} mlist;

static void l_destroy(void *obj, void *ctx) {
  (void)ctx;
  mlist *l = obj;
  vec_clear(&l->x);
  mproc__free(l->x.v);
  mproc__free(l);
}

static int l_extend_from(mlist *l, const mgr_val *src) {
  mgr_val *it;
  size_t n;
  int rc = items_of(src, &it, &n);
  for (size_t i = 0; rc == 0 && i < n; i += src->type == MPROC_ARG_DICT ? 2 : 1)
    rc = vec_insert(&l->x, l->x.n, &it[i]);
  mproc__free(it);
  return rc;
}

static int l_create(const mproc_args_t *a, const mproc_args_t *kw, void **obj, void *ctx) {
  (void)kw, (void)ctx;
  mlist *l = mproc__calloc(1, sizeof *l);
  if (l == NULL)
    return MPROC_ENOMEM;
  mgr_val src;
  int rc = mproc__mgr_arg(a, NULL, 0, NULL, &src) ? l_extend_from(l, &src) : 0;
  if (rc != 0) {
    l_destroy(l, NULL);
    return rc;
  }
  *obj = l;
  return 0;
}

static int l_getvalue(void *obj, mproc_args_t *out, void *ctx) {
  mlist *l = obj;
  MGR_LOCK(ctx);
  int rc = add_seq(out, MPROC_ARG_LIST, l->x.v, l->x.n, 1);
  MGR_UNLOCK(ctx);
  return rc;
}

static int l_repr(void *obj, char **text, void *ctx) {
  return repr_via(l_getvalue, obj, text, ctx);
}

/* Python's index rules: negative counts from the end; 1 and *at when inside [0, n). */
static int l_index(const mgr_val *v, size_t n, size_t *at, int *type_ok) {
  int64_t i;
  *type_ok = mproc__mgr_val_int(v, &i) == 0;
  if (!*type_ok)
    return 0;
  if (i < 0)
    i += (int64_t)n;
  if (i < 0 || (uint64_t)i >= n)
    return 0;
  *at = (size_t)i;
  return 1;
}

/* list[slice]. */
static int l_slice(mlist *l, mgr_slice *sl, mproc_args_t *res) {
  if (mproc__mgr_slice_indices(sl, l->x.n) != 0)
    return mproc__mgr_slice_step_zero(res);
  mproc_args_t *t;
  int rc = mproc_args_new(&t);
  for (size_t k = 0; rc == 0 && k < sl->len; k++)
    rc = mproc__mgr_val_add(t, &l->x.v[sl->start + (int64_t)k * sl->step]);
  if (rc == 0)
    rc = mproc_args_add_list(res, t);
  mproc_args_free(t);
  return rc;
}

/* Copies of n values (all or none). */
static int copy_vals(const mgr_val *src, size_t n, mgr_val **out) {
  mgr_val *c = mproc__calloc(n ? n : 1, sizeof *c);
  if (c == NULL)
    return MPROC_ENOMEM;
  for (size_t i = 0; i < n; i++)
    if (mproc__mgr_val_from(&c[i], &src[i]) != 0) {
      while (i-- > 0)
        mproc__mgr_val_free(&c[i]);
      mproc__free(c);
      return MPROC_ENOMEM;
    }
  *out = c;
  return 0;
}

/* del l[start:stop] (step 1), keeping the order of the rest. */
static void l_cut(mlist *l, size_t at, size_t count) {
  for (size_t k = 0; k < count; k++)
    mproc__mgr_val_free(&l->x.v[at + k]);
  memmove(&l->x.v[at], &l->x.v[at + count], (l->x.n - at - count) * sizeof *l->x.v);
  l->x.n -= count;
}

/* l[start:stop] = c[0..n) for a step of 1: the slice is replaced, the list may change size. */
static int l_splice(mlist *l, const mgr_slice *sl, mgr_val *c, size_t n) {
  size_t at = (size_t)sl->start, gone = sl->stop > sl->start ? (size_t)(sl->stop - sl->start) : 0;
  if (n > gone && vec_reserve(&l->x, n - gone) != 0)
    return MPROC_ENOMEM;
  for (size_t k = 0; k < gone; k++)
    mproc__mgr_val_free(&l->x.v[at + k]);
  memmove(&l->x.v[at + n], &l->x.v[at + gone], (l->x.n - at - gone) * sizeof *l->x.v);
  memcpy(&l->x.v[at], c, n * sizeof *c);
  l->x.n = l->x.n - gone + n;
  return 0;
}

/* l[slice] = value, as Python's list does (value a list, tuple or dict: its keys). */
static int l_assign_slice(mlist *l, mgr_slice *sl, const mgr_val *v, mproc_args_t *res) {
  mgr_val *it, *c = NULL;
  size_t n;
  if (mproc__mgr_slice_indices(sl, l->x.n) != 0)
    return mproc__mgr_slice_step_zero(res);
  int rc = items_of(v, &it, &n), simple = sl->step == 1;
  if (rc == MPROC_ETYPE)
    return mproc_manager_raise(res, "builtins", "TypeError",
                               simple ? "can only assign an iterable"
                                      : "must assign iterable to extended slice");
  if (rc == 0 && v->type == MPROC_ARG_DICT) /* keys: every other item */
    for (size_t k = 0; k < n / 2; k++)
      it[k] = it[2 * k];
  n = v->type == MPROC_ARG_DICT ? n / 2 : n;
  if (rc == 0 && !simple && n != sl->len) {
    char msg[120];
    snprintf(msg, sizeof msg, "attempt to assign sequence of size %zu to extended slice of size %zu",
             n, sl->len);
    rc = mproc_manager_raise(res, "builtins", "ValueError", msg);
  }
  if (rc == 0)
    rc = copy_vals(it, n, &c);
  mproc__free(it);
  if (rc != 0)
    return rc;
  if (simple)
    rc = l_splice(l, sl, c, n);
  for (size_t k = 0; !simple && k < n; k++) {
    mgr_val *dst = &l->x.v[sl->start + (int64_t)k * sl->step];
    mproc__mgr_val_free(dst);
    *dst = c[k];
  }
  if (rc != 0)
    for (size_t k = 0; k < n; k++)
      mproc__mgr_val_free(&c[k]);
  mproc__free(c);
  return rc;
}

/* del l[slice]. */
static int l_delete_slice(mlist *l, mgr_slice *sl, mproc_args_t *res) {
  if (mproc__mgr_slice_indices(sl, l->x.n) != 0)
    return mproc__mgr_slice_step_zero(res);
  if (sl->len == 0)
    return 0;
  int64_t step = sl->step, first = sl->start;
  if (step < 0) { /* the same items, walked upwards */
    first += step * (int64_t)(sl->len - 1);
    step = -step;
  }
  if (step == 1) {
    l_cut(l, (size_t)first, sl->len);
    return 0;
  }
  size_t out = (size_t)first, k = 0;
  for (size_t i = (size_t)first; i < l->x.n; i++) {
    if (k < sl->len && i == (size_t)(first + (int64_t)k * step)) {
      mproc__mgr_val_free(&l->x.v[i]);
      k++;
    } else {
      l->x.v[out++] = l->x.v[i];
    }
  }
  l->x.n = out;
  return 0;
}

static int index_error(mproc_args_t *res, int type_ok, const char *msg) {
  return type_ok ? mproc_manager_raise(res, "builtins", "IndexError", msg)
                 : mproc_manager_raise(res, "builtins", "TypeError",
                                       "list indices must be integers or slices");
}

MGR_METHOD(l_getitem) {
  mlist *l = obj;
  mgr_val i;
  (void)kw;
  if (!mproc__mgr_arg(a, NULL, 0, NULL, &i))
    return MPROC_EINVAL;
  mgr_slice sl;
  int ok;
  size_t at;
  MGR_LOCK(ctx);
  int rc;
  if (mproc__mgr_slice_of(&i, &sl))
    rc = l_slice(l, &sl, res);
  else if (l_index(&i, l->x.n, &at, &ok))
    rc = mproc__mgr_val_add(res, &l->x.v[at]);
  else
    rc = index_error(res, ok, "list index out of range");
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(l_setitem) {
  mlist *l = obj;
  mgr_val i, v, c;
  (void)kw;
  if (!mproc__mgr_arg(a, NULL, 0, NULL, &i) || !mproc__mgr_arg(a, NULL, 1, NULL, &v))
    return MPROC_EINVAL;
  size_t at;
  int ok, rc;
  mgr_slice sl;
  MGR_LOCK(ctx);
  if (mproc__mgr_slice_of(&i, &sl))
    rc = l_assign_slice(l, &sl, &v, res);
  else if (!l_index(&i, l->x.n, &at, &ok))
    rc = index_error(res, ok, "list assignment index out of range");
  else if ((rc = mproc__mgr_val_from(&c, &v)) == 0) {
    mproc__mgr_val_free(&l->x.v[at]);
    l->x.v[at] = c;
  }
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(l_delitem) {
  mlist *l = obj;
  mgr_val i;
  (void)kw;
  if (!mproc__mgr_arg(a, NULL, 0, NULL, &i))
    return MPROC_EINVAL;
  size_t at;
  int ok, rc = 0;
  mgr_slice sl;
  MGR_LOCK(ctx);
  if (mproc__mgr_slice_of(&i, &sl))
    rc = l_delete_slice(l, &sl, res);
  else if (l_index(&i, l->x.n, &at, &ok))
    vec_remove(&l->x, at);
  else
    rc = index_error(res, ok, "list assignment index out of range");
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(l_len) {
  (void)a, (void)kw;
  MGR_LOCK(ctx);
  int rc = mproc_args_add_int(res, (int64_t)((mlist *)obj)->x.n);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(l_append) {
  mgr_val v;
  (void)kw, (void)res;
  if (!mproc__mgr_arg(a, NULL, 0, NULL, &v))
    return MPROC_EINVAL;
  MGR_LOCK(ctx);
  int rc = vec_insert(&((mlist *)obj)->x, ((mlist *)obj)->x.n, &v);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(l_extend) {
  mgr_val v;
  (void)kw;
  if (!mproc__mgr_arg(a, NULL, 0, NULL, &v))
    return MPROC_EINVAL;
  MGR_LOCK(ctx);
  int rc = l_extend_from(obj, &v);
  MGR_UNLOCK(ctx);
  if (rc == MPROC_ETYPE)
    return mproc_manager_raise(res, "builtins", "TypeError", "object is not iterable");
  return rc;
}

MGR_METHOD(l_insert) {
  mlist *l = obj;
  mgr_val i, v;
  int64_t at;
  (void)kw;
  if (!mproc__mgr_arg(a, NULL, 0, NULL, &i) || !mproc__mgr_arg(a, NULL, 1, NULL, &v) ||
      mproc__mgr_val_int(&i, &at) != 0)
    return mproc_manager_raise(res, "builtins", "TypeError",
                               "insert expected an index and a value");
  MGR_LOCK(ctx);
  int64_t n = (int64_t)l->x.n;
  at = at < 0 ? (at + n < 0 ? 0 : at + n) : (at > n ? n : at);
  int rc = vec_insert(&l->x, (size_t)at, &v);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(l_pop) {
  mlist *l = obj;
  mgr_val i;
  int64_t idx = -1;
  (void)kw;
  if (mproc__mgr_arg(a, NULL, 0, NULL, &i) && mproc__mgr_val_int(&i, &idx) != 0)
    return mproc_manager_raise(res, "builtins", "TypeError", "an integer is required");
  MGR_LOCK(ctx);
  int rc;
  int64_t n = (int64_t)l->x.n;
  if (n == 0)
    rc = mproc_manager_raise(res, "builtins", "IndexError", "pop from empty list");
  else if ((idx < 0 ? idx + n : idx) < 0 || (idx < 0 ? idx + n : idx) >= n)
    rc = mproc_manager_raise(res, "builtins", "IndexError", "pop index out of range");
  else {
    size_t at = (size_t)(idx < 0 ? idx + n : idx);
    if ((rc = mproc__mgr_val_add(res, &l->x.v[at])) == 0)
      vec_remove(&l->x, at);
  }
  MGR_UNLOCK(ctx);
  return rc;
}

/* Position of the first item equal to v, or (size_t)-1. */
static size_t l_find(const mlist *l, const mgr_val *v) {
  for (size_t k = 0; k < l->x.n; k++)
    if (eq(&l->x.v[k], v))
      return k;
  return (size_t)-1;
}

MGR_METHOD(l_contains) {
  mgr_val v;
  (void)kw;
  if (!mproc__mgr_arg(a, NULL, 0, NULL, &v))
    return MPROC_EINVAL;
  MGR_LOCK(ctx);
  int rc = mproc_args_add_bool(res, l_find(obj, &v) != (size_t)-1);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(l_count) {
  mlist *l = obj;
  mgr_val v;
  (void)kw;
  if (!mproc__mgr_arg(a, NULL, 0, NULL, &v))
    return MPROC_EINVAL;
  MGR_LOCK(ctx);
  int64_t n = 0;
  for (size_t k = 0; k < l->x.n; k++)
    n += eq(&l->x.v[k], &v);
  int rc = mproc_args_add_int(res, n);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(l_index_of) {
  mgr_val v;
  (void)kw;
  if (!mproc__mgr_arg(a, NULL, 0, NULL, &v))
    return MPROC_EINVAL;
  MGR_LOCK(ctx);
  size_t at = l_find(obj, &v);
  int rc;
  if (at != (size_t)-1) {
    rc = mproc_args_add_int(res, (int64_t)at);
  } else {
    mproc_args_t *one;
    char text[200] = "value";
    if (mproc_args_new(&one) == 0 && mproc__mgr_val_add(one, &v) == 0)
      mproc_args_repr_item(one, 0, text, 150);
    mproc_args_free(one);
    strcat(text, " is not in list");
    rc = mproc_manager_raise(res, "builtins", "ValueError", text);
  }
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(l_remove) {
  mgr_val v;
  (void)kw;
  if (!mproc__mgr_arg(a, NULL, 0, NULL, &v))
    return MPROC_EINVAL;
  MGR_LOCK(ctx);
  size_t at = l_find(obj, &v);
  int rc = 0;
  if (at != (size_t)-1)
    vec_remove(&((mlist *)obj)->x, at);
  else
    rc = mproc_manager_raise(res, "builtins", "ValueError", "list.remove(x): x not in list");
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(l_reverse) {
  mlist *l = obj;
  (void)a, (void)kw, (void)res;
  MGR_LOCK(ctx);
  for (size_t i = 0, j = l->x.n; i + 1 < j; i++, j--) {
    mgr_val t = l->x.v[i];
    l->x.v[i] = l->x.v[j - 1];
    l->x.v[j - 1] = t;
  }
  MGR_UNLOCK(ctx);
  return 0;
}

/* list * n as a new list value (Python's __mul__ / __rmul__). */
static int l_times(mlist *l, const mproc_args_t *a, mproc_args_t *res, void *ctx, int in_place) {
  mgr_val v;
  int64_t times;
  if (!mproc__mgr_arg(a, NULL, 0, NULL, &v) || mproc__mgr_val_int(&v, &times) != 0)
    return mproc_manager_raise(res, "builtins", "TypeError",
                               "can't multiply sequence by non-int");
  MGR_LOCK(ctx);
  size_t n = l->x.n;
  int rc = 0;
  if (in_place) {
    for (int64_t t = 1; rc == 0 && t < times; t++)
      for (size_t k = 0; rc == 0 && k < n; k++)
        rc = vec_insert(&l->x, l->x.n, &l->x.v[k]);
    while (times <= 0 && l->x.n > 0)
      vec_remove(&l->x, l->x.n - 1);
    if (rc == 0)
      rc = add_seq(res, MPROC_ARG_LIST, l->x.v, l->x.n, 1);
  } else {
    mproc_args_t *t;
    rc = mproc_args_new(&t);
    for (int64_t k = 0; rc == 0 && k < times; k++)
      for (size_t j = 0; rc == 0 && j < n; j++)
        rc = mproc__mgr_val_add(t, &l->x.v[j]);
    if (rc == 0)
      rc = mproc_args_add_list(res, t);
    mproc_args_free(t);
  }
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(l_mul) { (void)kw; return l_times(obj, a, res, ctx, 0); }
MGR_METHOD(l_imul) { (void)kw; return l_times(obj, a, res, ctx, 1); }

MGR_METHOD(l_add) {
  mlist *l = obj;
  mgr_val v, *it = NULL;
  size_t n = 0;
  (void)kw;
  if (!mproc__mgr_arg(a, NULL, 0, NULL, &v) || v.type != MPROC_ARG_LIST ||
      items_of(&v, &it, &n) != 0)
    return mproc_manager_raise(res, "builtins", "TypeError",
                               "can only concatenate list to list");
  mproc_args_t *t;
  int rc = mproc_args_new(&t);
  MGR_LOCK(ctx);
  for (size_t k = 0; rc == 0 && k < l->x.n; k++)
    rc = mproc__mgr_val_add(t, &l->x.v[k]);
  MGR_UNLOCK(ctx);
  for (size_t k = 0; rc == 0 && k < n; k++)
    rc = mproc__mgr_val_add(t, &it[k]);
  if (rc == 0)
    rc = mproc_args_add_list(res, t);
  mproc_args_free(t);
  mproc__free(it);
  return rc;
}

MGR_METHOD(l_reversed) {
  mlist *l = obj;
  (void)a, (void)kw;
  mproc_args_t *t;
  int rc = mproc_args_new(&t);
  MGR_LOCK(ctx);
  for (size_t k = l->x.n; rc == 0 && k-- > 0;)
    rc = mproc__mgr_val_add(t, &l->x.v[k]);
  MGR_UNLOCK(ctx);
  if (rc == 0)
    rc = mproc_args_add_list(res, t);
  mproc_args_free(t);
  return rc;
}

/* Python's order for numbers and for str / bytes of one kind; 2 when not comparable. */
static int cmp(const mgr_val *x, const mgr_val *y) {
  int nx = x->type == MPROC_ARG_INT || x->type == MPROC_ARG_DOUBLE || x->type == MPROC_ARG_BOOL;
  int ny = y->type == MPROC_ARG_INT || y->type == MPROC_ARG_DOUBLE || y->type == MPROC_ARG_BOOL;
  if (nx && ny) {
    double a, b;
    int64_t i, j;
    if (mproc__mgr_val_int(x, &i) == 0 && mproc__mgr_val_int(y, &j) == 0)
      return i < j ? -1 : i > j;
    if (mproc__mgr_val_int(x, &i) == 0) a = (double)i; else memcpy(&a, x->p, 8);
    if (mproc__mgr_val_int(y, &j) == 0) b = (double)j; else memcpy(&b, y->p, 8);
    return a < b ? -1 : a > b;
  }
  if (x->type != y->type || (x->type != MPROC_ARG_STR && x->type != MPROC_ARG_BYTES))
    return 2;
  size_t n = x->n < y->n ? x->n : y->n;
  int c = memcmp(x->p, y->p, n);
  return c != 0 ? (c < 0 ? -1 : 1) : (x->n < y->n ? -1 : x->n > y->n);
}

MGR_METHOD(l_sort) {
  mlist *l = obj;
  mgr_val key, rev;
  if (mproc__mgr_arg(NULL, kw, 0, "key", &key) && key.type != MPROC_ARG_NONE)
    return mproc_manager_raise(res, "builtins", "TypeError", "sort(key=...) is not supported");
  int reverse = mproc__mgr_arg(NULL, kw, 0, "reverse", &rev) && mproc__mgr_truth(&rev);
  (void)a;
  MGR_LOCK(ctx);
  int rc = 0;
  for (size_t i = 1; rc == 0 && i < l->x.n; i++) { /* stable insertion sort */
    mgr_val t = l->x.v[i];
    size_t j = i;
    while (j > 0) {
      int c = cmp(&l->x.v[j - 1], &t);
      if (c == 2) {
        rc = mproc_manager_raise(res, "builtins", "TypeError", "'<' not supported between these");
        break;
      }
      if (reverse ? c >= 0 : c <= 0)
        break;
      l->x.v[j] = l->x.v[j - 1];
      j--;
    }
    l->x.v[j] = t;
  }
  MGR_UNLOCK(ctx);
  return rc;
}

static const mproc_manager_method list_methods[] = {
    {"__add__", l_add, NULL, 0},           {"__contains__", l_contains, NULL, 0},
    {"__delitem__", l_delitem, NULL, 0},   {"__getitem__", l_getitem, NULL, 0},
    {"__len__", l_len, NULL, 0},           {"__mul__", l_mul, NULL, 0},
    {"__reversed__", l_reversed, NULL, 0}, {"__rmul__", l_mul, NULL, 0},
    {"__setitem__", l_setitem, NULL, 0},   {"append", l_append, NULL, 0},
    {"count", l_count, NULL, 0},           {"extend", l_extend, NULL, 0},
    {"index", l_index_of, NULL, 0},        {"insert", l_insert, NULL, 0},
    {"pop", l_pop, NULL, 0},               {"remove", l_remove, NULL, 0},
    {"reverse", l_reverse, NULL, 0},       {"sort", l_sort, NULL, 0},
    {"__imul__", l_imul, NULL, 0}};

/* --- Namespace: a dict of str keys --------------------------------------------------------- */

static int ns_create(const mproc_args_t *a, const mproc_args_t *kw, void **obj, void *ctx) {
  (void)a;
  return d_create(NULL, kw, obj, ctx);
}

static int ns_missing(mproc_args_t *res, const char *name) {
  char msg[200];
  snprintf(msg, sizeof msg, "'Namespace' object has no attribute '%.150s'", name);
  return mproc_manager_raise(res, "builtins", "AttributeError", msg);
}

/* The attribute name argument; 0 when it raised. */
static int ns_name(const mproc_args_t *a, mgr_val *k, const char **name, mproc_args_t *res,
                   int *rc) {
  if (!mproc__mgr_arg(a, NULL, 0, NULL, k) || mproc_args_get_str(a, 0, name) != 0) {
    *rc = mproc_manager_raise(res, "builtins", "TypeError", "attribute name must be string");
    return 0;
  }
  return 1;
}

MGR_METHOD(ns_get) {
  mdict *d = obj;
  mgr_val k;
  const char *name;
  int rc = 0;
  (void)kw;
  if (!ns_name(a, &k, &name, res, &rc))
    return rc;
  MGR_LOCK(ctx);
  size_t e = d_find(d, &k, NULL);
  rc = e == (size_t)-1 ? ns_missing(res, name) : mproc__mgr_val_add(res, &d->kv.v[2 * e + 1]);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(ns_set) {
  mgr_val k, v;
  const char *name;
  int rc = 0;
  (void)kw;
  if (!ns_name(a, &k, &name, res, &rc))
    return rc;
  if (!mproc__mgr_arg(a, NULL, 1, NULL, &v))
    return MPROC_EINVAL;
  MGR_LOCK(ctx);
  rc = d_set(obj, &k, &v);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(ns_del) {
  mdict *d = obj;
  mgr_val k;
  const char *name;
  int rc = 0;
  (void)kw;
  if (!ns_name(a, &k, &name, res, &rc))
    return rc;
  MGR_LOCK(ctx);
  size_t e = d_find(d, &k, NULL);
  if (e == (size_t)-1)
    rc = ns_missing(res, name);
  else
    d_del(d, e);
  MGR_UNLOCK(ctx);
  return rc;
}

/* Namespace(a=1, b='x'): public names, sorted, as managers.Namespace.__repr__. */
static int ns_repr(void *obj, char **text, void *ctx) {
  mdict *d = obj;
  mp_buf b;
  mproc__buf_init(&b);
  MGR_LOCK(ctx);
  size_t n = d->kv.n / 2, k = 0;
  char **parts = mproc__calloc(n ? n : 1, sizeof *parts);
  for (size_t e = 0; parts && e < n; e++) {
    const mgr_val *key = &d->kv.v[2 * e];
    if (key->type != MPROC_ARG_STR || key->p[0] == '_')
      continue;
    mproc_args_t *one;
    char val[400];
    if (mproc_args_new(&one) == 0 && mproc__mgr_val_add(one, &d->kv.v[2 * e + 1]) == 0)
      mproc_args_repr_item(one, 0, val, sizeof val);
    mproc_args_free(one);
    size_t len = strlen((const char *)key->p) + strlen(val) + 2;
    if ((parts[k] = mproc__malloc(len)) != NULL)
      snprintf(parts[k++], len, "%s=%s", (const char *)key->p, val);
  }
  MGR_UNLOCK(ctx);
  for (size_t i = 1; i < k; i++) /* sorted, as the repr sorts its parts */
    for (size_t j = i; j > 0 && strcmp(parts[j - 1], parts[j]) > 0; j--) {
      char *t = parts[j];
      parts[j] = parts[j - 1];
      parts[j - 1] = t;
    }
  mproc__put(&b, "Namespace(", 10);
  for (size_t i = 0; i < k; i++) {
    if (i)
      mproc__put(&b, ", ", 2);
    mproc__put(&b, parts[i], strlen(parts[i]));
    mproc__free(parts[i]);
  }
  mproc__put(&b, ")", 2);
  mproc__free(parts);
  if (b.err) {
    mproc__buf_free(&b);
    return MPROC_ENOMEM;
  }
  *text = (char *)b.data;
  return 0;
}

/* A Namespace as Python pickles one: NEWOBJ(managers.Namespace, ()) with its attributes as the
 * state dict (no state when it has none). */
static int ns_getvalue(void *obj, mproc_args_t *out, void *ctx) {
  mdict *d = obj;
  mproc_args_t *st, *none = NULL;
  int rc = mproc_args_new(&st);
  MGR_LOCK(ctx);
  int empty = d->live == 0;
  if (rc == 0)
    rc = d_value(d, st);
  MGR_UNLOCK(ctx);
  if (rc == 0 && (rc = mproc_args_new(&none)) == 0)
    rc = mproc__mgr_pyobject(out, "multiprocessing.managers", "Namespace", MP_PY_NEWOBJ, none,
                             empty ? NULL : st, 0);
  mproc_args_free(none);
  mproc_args_free(st);
  return rc;
}

static const mproc_manager_method ns_methods[] = {{"__getattribute__", ns_get, NULL, 0},
                                                  {"__setattr__", ns_set, NULL, 0},
                                                  {"__delattr__", ns_del, NULL, 0}};

#define N(x) (sizeof(x) / sizeof((x)[0]))

const mproc_manager_type mproc__mgr_containers[] = {
    {"dict", d_create, d_destroy, d_repr, d_getvalue, dict_methods, N(dict_methods), NULL, NULL,
     0},
    {"list", l_create, l_destroy, l_repr, l_getvalue, list_methods, N(list_methods), NULL, NULL,
     0},
    {"Namespace", ns_create, d_destroy, ns_repr, ns_getvalue, ns_methods, N(ns_methods), NULL, NULL, 0},
    {"Iterator", it_create, it_destroy, NULL, NULL, iter_methods, N(iter_methods), NULL, NULL, 0}};
const size_t mproc__mgr_ncontainers = N(mproc__mgr_containers);
