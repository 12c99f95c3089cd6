/* SPDX-License-Identifier: MIT */
/* Built-in typeid Array: array.array(typecode, sequence), as SyncManager serves it, with
 * __len__, __getitem__ and __setitem__ (int indexes and slices; a slice assignment takes an
 * array.array of the same typecode and may change the length, as array.array's does), str()
 * and _getvalue(). Items are checked against the typecode as array.array checks them. Slices
 * and _getvalue() travel as Python's server sends arrays: array.array(typecode, bytes). */
#include <stdio.h>
#include <string.h>

#include "manager_server.h"
#include "alloc.h"
#include "pyarray.h"

typedef struct marray {
  char tc;
  mgr_val *v;
  size_t n;
} marray;

static int tc_float(char tc) { return tc == 'f' || tc == 'd'; }

/* An item as array.array stores it: ints for integer codes, floats for 'f' and 'd'. */
static int conform(char tc, const mgr_val *in, mgr_val *out, double *dbuf) {
  int64_t i;
  if (tc_float(tc)) {
    if (in->type == MPROC_ARG_DOUBLE)
      memcpy(dbuf, in->p, 8);
    else if (in->type == MPROC_ARG_INT && mproc__mgr_val_int(in, &i) == 0)
      *dbuf = (double)i;
    else
      return MPROC_ETYPE;
    if (tc == 'f')
      *dbuf = (double)(float)*dbuf;
    out->type = MPROC_ARG_DOUBLE;
    out->p = (unsigned char *)dbuf;
    out->n = 8;
    return 0;
  }
  if (in->type != MPROC_ARG_INT)
    return MPROC_ETYPE;
  *out = *in;
  return 0;
}

static void free_vals(mgr_val *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    mproc__mgr_val_free(&v[i]);
  mproc__free(v);
}

static void a_destroy(void *obj, void *ctx) {
  (void)ctx;
  marray *x = obj;
  free_vals(x->v, x->n);
  mproc__free(x);
}

static int a_fill(marray *x, const mgr_val *seq) {
  mp_rd r;
  uint32_t count;
  if ((seq->type != MPROC_ARG_LIST && seq->type != MPROC_ARG_TUPLE) ||
      mproc__value_open(&r, seq->p, seq->n, &count) != 0)
    return MPROC_ETYPE;
  if ((x->v = mproc__calloc(count ? count : 1, sizeof *x->v)) == NULL)
    return MPROC_ENOMEM;
  for (uint32_t i = 0; i < count; i++) {
    mp_val m;
    double d;
    mproc__value_next(&r, &m);
    mgr_val in = {m.type, (unsigned char *)m.p, m.n}, ok;
    int rc = conform(x->tc, &in, &ok, &d);
    if (rc == 0)
      rc = mproc__mgr_val_from(&x->v[i], &ok);
    if (rc != 0)
      return rc;
    x->n++;
  }
  return 0;
}

static int a_create(const mproc_args_t *a, const mproc_args_t *kw, void **obj, void *ctx) {
  mgr_val t, seq;
  int rc = 0;
  (void)ctx;
  if (!mproc__mgr_arg(a, kw, 0, "typecode", &t) || t.type != MPROC_ARG_STR || t.n != 2 ||
      !mproc__pyarray_typecode_ok((char)t.p[0])) {
    mproc__set_error_message("bad typecode (must be b, B, h, H, i, I, l, L, q, Q, f or d)");
    return MPROC_EINVAL;
  }
  marray *x = mproc__calloc(1, sizeof *x);
  if (x == NULL)
    return MPROC_ENOMEM;
  x->tc = (char)t.p[0];
  if (mproc__mgr_arg(a, kw, 1, "sequence", &seq) && (rc = a_fill(x, &seq)) != 0) {
    a_destroy(x, NULL);
    return rc;
  }
  *obj = x;
  return 0;
}

/* --- array.array values (pyarray.c) ------------------------------------------------------- */

/* array(tc, items start, start+step, ... (len of them)) appended to out, in the form Python's
 * server sends: array.array(typecode, bytes). */
static int add_pyarray(mproc_args_t *out, const marray *x, int64_t start, int64_t step,
                       size_t len) {
  mp_val *v = mproc__calloc(len ? len : 1, sizeof *v);
  if (v == NULL)
    return MPROC_ENOMEM;
  for (size_t k = 0; k < len; k++)
    v[k] = mgr_view(&x->v[start + (int64_t)k * step]);
  int rc = mproc__pyarray_add(out, x->tc, v, len);
  mproc__free(v);
  return rc;
}

/* The items of an array.array value of typecode tc as owned values: 0, or MPROC_ETYPE when v
 * is not an array of that typecode. */
static int read_pyarray(const mgr_val *v, char tc, mgr_val **out, size_t *n) {
  mproc_args_t *one, *items = NULL;
  char code = 0;
  *n = 0;
  int rc = mproc_args_new(&one);
  if (rc == 0 && (rc = mproc__mgr_val_add(one, v)) == 0)
    rc = mproc__pyarray_items(one, 0, &code, &items);
  if (rc == 0 && code != tc)
    rc = MPROC_ETYPE;
  size_t count = rc == 0 ? mproc_args_count(items) : 0;
  if (rc == 0 && (*out = mproc__calloc(count ? count : 1, sizeof **out)) == NULL)
    rc = MPROC_ENOMEM;
  for (size_t k = 0; rc == 0 && k < count; k++, (*n)++)
    if ((rc = mproc__mgr_val_set(&(*out)[k], items, k)) != 0)
      free_vals(*out, k);
  mproc_args_free(items);
  mproc_args_free(one);
  return rc;
}

static int a_getvalue(void *obj, mproc_args_t *out, void *ctx) {
  marray *x = obj;
  MGR_LOCK(ctx);
  int rc = add_pyarray(out, x, 0, 1, x->n);
  MGR_UNLOCK(ctx);
  return rc;
}

/* str(array): array('i', [1, 2]), array('d') when empty. */
static int a_repr(void *obj, char **text, void *ctx) {
  marray *x = obj;
  mproc_args_t *one;
  int rc = mproc_args_new(&one);
  MGR_LOCK(ctx);
  for (size_t i = 0; rc == 0 && i < x->n; i++)
    rc = mproc__mgr_val_add(one, &x->v[i]);
  MGR_UNLOCK(ctx);
  char *items = NULL;
  size_t need = 0;
  if (rc == 0 && (rc = mproc_args_repr(one, NULL, 0)) >= 0) {
    need = (size_t)rc + 1;
    rc = (items = mproc__malloc(need)) == NULL ? MPROC_ENOMEM : 0;
  }
  if (rc == 0)
    mproc_args_repr(one, items, need);
  mproc_args_free(one);
  if (rc == 0 && (*text = mproc__malloc(need + 16)) == NULL)
    rc = MPROC_ENOMEM;
  if (rc == 0 && x->n == 0)
    snprintf(*text, need + 16, "array('%c')", x->tc);
  else if (rc == 0)
    snprintf(*text, need + 16, "array('%c', %s)", x->tc, items);
  mproc__free(items);
  return rc;
}

/* --- methods ------------------------------------------------------------------------------- */

static int a_index(marray *x, const mgr_val *v, size_t *at, mproc_args_t *res, int *rc,
                   const char *msg) {
  int64_t i;
  if (mproc__mgr_val_int(v, &i) != 0) {
    *rc = mproc_manager_raise(res, "builtins", "TypeError", "array indices must be integers");
    return 0;
  }
  if (i < 0)
    i += (int64_t)x->n;
  if (i < 0 || (uint64_t)i >= x->n) {
    *rc = mproc_manager_raise(res, "builtins", "IndexError", msg);
    return 0;
  }
  *at = (size_t)i;
  return 1;
}

MGR_METHOD(a_len) {
  (void)a, (void)kw;
  MGR_LOCK(ctx);
  int rc = mproc_args_add_int(res, (int64_t)((marray *)obj)->n);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(a_getitem) {
  marray *x = obj;
  mgr_val i;
  mgr_slice sl;
  size_t at;
  int rc = 0;
  (void)kw;
  if (!mproc__mgr_arg(a, NULL, 0, NULL, &i))
    return MPROC_ETYPE;
  MGR_LOCK(ctx);
  if (!mproc__mgr_slice_of(&i, &sl)) {
    if (a_index(x, &i, &at, res, &rc, "array index out of range"))
      rc = mproc__mgr_val_add(res, &x->v[at]);
  } else if (mproc__mgr_slice_indices(&sl, x->n) != 0) {
    rc = mproc__mgr_slice_step_zero(res);
  } else {
    rc = add_pyarray(res, x, sl.start, sl.step, sl.len);
  }
  MGR_UNLOCK(ctx);
  return rc;
}

static int item_type_error(char tc, const mgr_val *v, mproc_args_t *res) {
  char msg[120];
  const char *tn = mproc_arg_type_name(v->type);
  if (tc_float(tc))
    snprintf(msg, sizeof msg, "must be real number, not %s", tn);
  else
    snprintf(msg, sizeof msg, "'%s' object cannot be interpreted as an integer", tn);
  return mproc_manager_raise(res, "builtins", "TypeError", msg);
}

static int a_set_one(marray *x, const mgr_val *i, const mgr_val *v, mproc_args_t *res,
                     void *ctx) {
  mgr_val ok, c;
  double d;
  size_t at;
  int rc = 0;
  if (conform(x->tc, v, &ok, &d) != 0)
    return item_type_error(x->tc, v, res);
  if ((rc = mproc__mgr_val_from(&c, &ok)) != 0)
    return rc;
  MGR_LOCK(ctx);
  if (a_index(x, i, &at, res, &rc, "array assignment index out of range")) {
    mproc__mgr_val_free(&x->v[at]);
    x->v[at] = c;
    c.p = NULL;
  }
  MGR_UNLOCK(ctx);
  mproc__mgr_val_free(&c);
  return rc;
}

/* a[start:stop] = items (step 1): the slice is replaced, the length may change. */
static int a_splice(marray *x, const mgr_slice *sl, mgr_val *it, size_t n) {
  size_t at = (size_t)sl->start, gone = sl->stop > sl->start ? (size_t)(sl->stop - sl->start) : 0;
  size_t total = x->n - gone + n;
  if (n > gone) {
    mgr_val *v = mproc__realloc(x->v, (total ? total : 1) * sizeof *v);
    if (v == NULL)
      return MPROC_ENOMEM;
    x->v = v;
  }
  for (size_t k = 0; k < gone; k++)
    mproc__mgr_val_free(&x->v[at + k]);
  memmove(&x->v[at + n], &x->v[at + gone], (x->n - at - gone) * sizeof *x->v);
  memcpy(&x->v[at], it, n * sizeof *it);
  x->n = total;
  return 0;
}

static int a_set_slice(marray *x, mgr_slice *sl, const mgr_val *v, mproc_args_t *res,
                       void *ctx) {
  mgr_val *it = NULL;
  size_t n;
  char msg[120];
  int rc = read_pyarray(v, x->tc, &it, &n);
  if (rc == MPROC_ETYPE && v->type == MPROC_ARG_PYOBJECT)
    return mproc_manager_raise(res, "builtins", "TypeError",
                               "bad argument type for built-in operation");
  if (rc == MPROC_ETYPE) {
    snprintf(msg, sizeof msg, "can only assign array (not \"%s\") to array slice",
             mproc_arg_type_name(v->type));
    return mproc_manager_raise(res, "builtins", "TypeError", msg);
  }
  if (rc != 0)
    return rc;
  MGR_LOCK(ctx);
  if (mproc__mgr_slice_indices(sl, x->n) != 0) {
    rc = mproc__mgr_slice_step_zero(res);
  } else if (sl->step == 1) {
    rc = a_splice(x, sl, it, n);
  } else if (n != sl->len) {
    snprintf(msg, sizeof msg, "attempt to assign array of size %zu to extended slice of size %zu",
             n, sl->len);
    rc = mproc_manager_raise(res, "builtins", "ValueError", msg);
  } else {
    for (size_t k = 0; k < n; k++) {
      mgr_val *dst = &x->v[sl->start + (int64_t)k * sl->step];
      mproc__mgr_val_free(dst);
      *dst = it[k];
    }
  }
  MGR_UNLOCK(ctx);
  if (rc == 0)
    mproc__free(it);
  else
    free_vals(it, n);
  return rc;
}

MGR_METHOD(a_setitem) {
  mgr_val i, v;
  mgr_slice sl;
  (void)kw;
  if (!mproc__mgr_arg(a, NULL, 0, NULL, &i) || !mproc__mgr_arg(a, NULL, 1, NULL, &v))
    return MPROC_ETYPE;
  if (mproc__mgr_slice_of(&i, &sl))
    return a_set_slice(obj, &sl, &v, res, ctx);
  return a_set_one(obj, &i, &v, res, ctx);
}

static const mproc_manager_method array_methods[] = {{"__len__", a_len, NULL, 0},
                                                     {"__getitem__", a_getitem, NULL, 0},
                                                     {"__setitem__", a_setitem, NULL, 0}};

const mproc_manager_type mproc__mgr_arrays[] = {{"Array", a_create, a_destroy, a_repr, a_getvalue,
                                                 array_methods, 3, NULL, NULL, 0}};
const size_t mproc__mgr_narrays = 1;
