/* SPDX-License-Identifier: MIT */
/* Slices through a manager proxy: Python's slice objects as argument values, and a list's
 * l[a:b:c], l[a:b:c] = items and del l[a:b:c] (ListProxy's __getitem__, __setitem__ and
 * __delitem__ with a slice). */
#include "proxy.h"
#include "manager_server.h"

int mproc_args_add_slice(mproc_args_t *args, int64_t start, int64_t stop, int64_t step) {
  const int64_t part[3] = {start, stop, step};
  mproc_args_t *t;
  if (args == NULL)
    return MPROC_EINVAL;
  int rc = mproc_args_new(&t);
  for (int k = 0; rc == 0 && k < 3; k++)
    rc = part[k] == MPROC_SLICE_NONE ? mproc_args_add_none(t) : mproc_args_add_int(t, part[k]);
  if (rc == 0)
    rc = mproc__mgr_pyobject(args, "builtins", "slice", MP_PY_REDUCE, t, NULL, 0);
  mproc_args_free(t);
  return rc;
}

/* method(slice, [items]) on l (items NULL: no second argument). */
static int slice_call(mproc_proxy_t *l, const char *method, const int64_t part[3],
                      const mproc_args_t *items, mproc_args_t **result) {
  mproc_args_t *a;
  int rc = mproc_args_new(&a);
  if (rc == 0)
    rc = mproc_args_add_slice(a, part[0], part[1], part[2]);
  if (rc == 0 && items != NULL)
    rc = mproc_args_add_list(a, items);
  if (rc == 0)
    rc = mproc_proxy_call(l, method, a, NULL, 0, result);
  mproc_args_free(a);
  return rc;
}

int mproc_list_get_slice(mproc_proxy_t *l, int64_t start, int64_t stop, int64_t step,
                         mproc_args_t **items) {
  const int64_t part[3] = {start, stop, step};
  mproc_args_t *r = NULL;
  if (items == NULL)
    return MPROC_EINVAL;
  int rc = slice_call(l, "__getitem__", part, NULL, &r);
  if (rc == 0)
    rc = mproc_args_get_list(r, 0, items);
  mproc_args_free(r);
  return rc;
}

int mproc_list_set_slice(mproc_proxy_t *l, int64_t start, int64_t stop, int64_t step,
                         const mproc_args_t *items) {
  const int64_t part[3] = {start, stop, step};
  if (items == NULL)
    return MPROC_EINVAL;
  return slice_call(l, "__setitem__", part, items, NULL);
}

int mproc_list_del_slice(mproc_proxy_t *l, int64_t start, int64_t stop, int64_t step) {
  const int64_t part[3] = {start, stop, step};
  return slice_call(l, "__delitem__", part, NULL, NULL);
}
