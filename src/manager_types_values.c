/* SPDX-License-Identifier: MIT */
/* Built-in typeid Value: managers.Value, a box with a typecode that is not enforced (get, set),
 * whose _getvalue() is a managers.Value object as Python's server sends it. Array is in
 * manager_types_array.c. */
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

/* Value(typecode, value) as Python pickles it: NEWOBJ(managers.Value, ()) with the state
 * {'_typecode': typecode, '_value': value}. */
static int v_getvalue(void *obj, mproc_args_t *out, void *ctx) {
  mvalue *x = obj;
  mproc_args_t *st, *one = NULL, *none = NULL;
  int rc = mproc_args_new(&st);
  if (rc == 0 && (rc = mproc_args_add_str(st, "_typecode")) == 0 &&
      (rc = mproc_args_add_str(st, x->typecode)) == 0 &&
      (rc = mproc_args_add_str(st, "_value")) == 0) {
    MGR_LOCK(ctx);
    rc = mproc__mgr_val_add(st, &x->v);
    MGR_UNLOCK(ctx);
  }
  if (rc == 0 && (rc = mproc_args_new(&one)) == 0 && (rc = mproc_args_add_dict(one, st)) == 0 &&
      (rc = mproc_args_new(&none)) == 0)
    rc = mproc__mgr_pyobject(out, "multiprocessing.managers", "Value", MP_PY_NEWOBJ, none, one, 0);
  mproc_args_free(none);
  mproc_args_free(one);
  mproc_args_free(st);
  return rc;
}

static const mproc_manager_method value_methods[] = {{"get", v_get, NULL, 0},
                                                     {"set", v_set, NULL, 0}};

#define N(x) (sizeof(x) / sizeof((x)[0]))

const mproc_manager_type mproc__mgr_values[] = {
    {"Value", v_create, v_destroy, v_repr, v_getvalue, value_methods, N(value_methods), NULL,
     NULL, 0}};
const size_t mproc__mgr_nvalues = N(mproc__mgr_values);
