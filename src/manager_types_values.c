/* SPDX-License-Identifier: MIT */
/* Built-in typeids Value and Array. Value is managers.Value: a box with a typecode that is
 * not enforced (get, set). Array is array.array(typecode, sequence) with __len__, __getitem__
 * and __setitem__; items are checked against the typecode as array.array checks them. */
#include <stdio.h>
#include <string.h>

#include "manager_server.h"
#include "alloc.h"

typedef struct mvalue {
  char typecode[8];
  mgr_val v;
} mvalue;

static int typecode_of(const mproc_args_t *a, const mproc_args_t *kw, char out[8]) {
  mgr_val t;
  if (!mproc__mgr_arg(a, kw, 0, "typecode", &t) || t.type != MPROC_ARG_STR || t.n > 8)
    return MPROC_ETYPE;
  memcpy(out, t.p, t.n);
  return 0;
}

static int v_create(const mproc_args_t *a, const mproc_args_t *kw, void **obj, void *ctx) {
  mgr_val v;
  (void)ctx;
  mvalue *x = mproc__calloc(1, sizeof *x);
  if (x == NULL)
    return MPROC_ENOMEM;
  int rc = typecode_of(a, kw, x->typecode);
  if (rc == 0 && !mproc__mgr_arg(a, kw, 1, "value", &v))
    rc = MPROC_ETYPE;
  if (rc == 0)
    rc = mproc__mgr_val_from(&x->v, &v);
  if (rc != 0) {
    mproc__free(x);
    return rc;
  }
  *obj = x;
  return 0;
}

static void v_destroy(void *obj, void *ctx) {
  (void)ctx;
  mvalue *x = obj;
  mproc__mgr_val_free(&x->v);
  mproc__free(x);
}

MGR_METHOD(v_get) {
  (void)a, (void)kw;
  MGR_LOCK(ctx);
  int rc = mproc__mgr_val_add(res, &((mvalue *)obj)->v);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(v_set) {
  mvalue *x = obj;
  mgr_val v, c;
  (void)kw, (void)res;
  if (!mproc__mgr_arg(a, NULL, 0, NULL, &v))
    return MPROC_ETYPE;
  int rc = mproc__mgr_val_from(&c, &v);
  if (rc != 0)
    return rc;
  MGR_LOCK(ctx);
  mproc__mgr_val_free(&x->v);
  x->v = c;
  MGR_UNLOCK(ctx);
  return 0;
}

/* Value('i', 5), as managers.Value.__repr__. */
static int v_repr(void *obj, char **text, void *ctx) {
  mvalue *x = obj;
  mproc_args_t *one;
  char val[400] = "?", tc[40];
  int rc = mproc_args_new(&one);
  MGR_LOCK(ctx);
  if (rc == 0 && (rc = mproc__mgr_val_add(one, &x->v)) == 0)
    mproc_args_repr_item(one, 0, val, sizeof val);
  MGR_UNLOCK(ctx);
  mproc__args_reset(one);
  if (rc == 0 && (rc = mproc_args_add_str(one, x->typecode)) == 0)
    mproc_args_repr_item(one, 0, tc, sizeof tc);
  mproc_args_free(one);
  if (rc != 0)
    return rc;
  size_t n = strlen(val) + strlen(tc) + 12;
  if ((*text = mproc__malloc(n)) == NULL)
    return MPROC_ENOMEM;
  snprintf(*text, n, "Value(%s, %s)", tc, val);
  return 0;
}

static const mproc_manager_method value_methods[] = {{"get", v_get, NULL, 0},
                                                     {"set", v_set, NULL, 0}};

/* --- Array ------------------------------------------------------------------------------------ */

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
    if (in->type == MPROC_ARG_DOUBLE) {
      memcpy(dbuf, in->p, 8);
    } else if (mproc__mgr_val_int(in, &i) == 0 && in->type == MPROC_ARG_INT) {
      *dbuf = (double)i;
    } else {
      return MPROC_ETYPE;
    }
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

static void a_destroy(void *obj, void *ctx) {
  (void)ctx;
  marray *x = obj;
  for (size_t i = 0; i < x->n; i++)
    mproc__mgr_val_free(&x->v[i]);
  mproc__free(x->v);
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
  char tc[8] = {0};
  mgr_val seq;
  (void)ctx;
  int rc = typecode_of(a, kw, tc);
  if (rc != 0 || tc[1] != '\0' || strchr("bBuhHiIlLqQfd", tc[0]) == NULL || tc[0] == 'u') {
    mproc__set_error_message("bad typecode (must be b, B, h, H, i, I, l, L, q, Q, f or d)");
    return MPROC_EINVAL;
  }
  marray *x = mproc__calloc(1, sizeof *x);
  if (x == NULL)
    return MPROC_ENOMEM;
  x->tc = tc[0];
  if (mproc__mgr_arg(a, kw, 1, "sequence", &seq) && (rc = a_fill(x, &seq)) != 0) {
    a_destroy(x, NULL);
    return rc;
  }
  *obj = x;
  return 0;
}

static int a_index(marray *x, const mproc_args_t *a, size_t *at, mproc_args_t *res, int *rc,
                   const char *msg) {
  mgr_val v;
  int64_t i;
  if (!mproc__mgr_arg(a, NULL, 0, NULL, &v) || mproc__mgr_val_int(&v, &i) != 0) {
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
  size_t at;
  int rc = 0;
  (void)kw;
  MGR_LOCK(ctx);
  if (a_index(x, a, &at, res, &rc, "array index out of range"))
    rc = mproc__mgr_val_add(res, &x->v[at]);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(a_setitem) {
  marray *x = obj;
  mgr_val v, ok, c;
  double d;
  size_t at;
  int rc = 0;
  (void)kw;
  if (!mproc__mgr_arg(a, NULL, 1, NULL, &v))
    return MPROC_ETYPE;
  if (conform(x->tc, &v, &ok, &d) != 0) {
    char msg[120];
    const char *tn = mproc_arg_type_name(v.type);
    if (tc_float(x->tc))
      snprintf(msg, sizeof msg, "must be real number, not %s", tn);
    else
      snprintf(msg, sizeof msg, "'%s' object cannot be interpreted as an integer", tn);
    return mproc_manager_raise(res, "builtins", "TypeError", msg);
  }
  if ((rc = mproc__mgr_val_from(&c, &ok)) != 0)
    return rc;
  MGR_LOCK(ctx);
  if (a_index(x, a, &at, res, &rc, "array assignment index out of range")) {
    mproc__mgr_val_free(&x->v[at]);
    x->v[at] = c;
    c.p = NULL;
  }
  MGR_UNLOCK(ctx);
  mproc__mgr_val_free(&c);
  return rc;
}

static const mproc_manager_method array_methods[] = {{"__len__", a_len, NULL, 0},
                                                     {"__getitem__", a_getitem, NULL, 0},
                                                     {"__setitem__", a_setitem, NULL, 0}};

#define N(x) (sizeof(x) / sizeof((x)[0]))

const mproc_manager_type mproc__mgr_values[] = {
    {"Value", v_create, v_destroy, v_repr, NULL, value_methods, N(value_methods), NULL, NULL, 0},
    {"Array", a_create, a_destroy, NULL, NULL, array_methods, N(array_methods), NULL, NULL, 0}};
const size_t mproc__mgr_nvalues = N(mproc__mgr_values);
