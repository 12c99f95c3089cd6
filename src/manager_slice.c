/* SPDX-License-Identifier: MIT */
/* Python slice objects as the manager's list and Array methods receive them (the argument of
 * __getitem__, __setitem__ and __delitem__ is builtins.slice(start, stop, step) when a client
 * writes l[1:3] or del l[::2]), and Python's rules for turning one into indices. */
#include <string.h>

#include "manager_server.h"

static int pyobject_is(const mp_val *f, const char *mod, const char *name) {
  return f[0].type == MPROC_ARG_STR && f[1].type == MPROC_ARG_STR &&
         f[0].n == strlen(mod) + 1 && memcmp(f[0].p, mod, f[0].n) == 0 &&
         f[1].n == strlen(name) + 1 && memcmp(f[1].p, name, f[1].n) == 0;
}

int mproc__mgr_slice_of(const mgr_val *v, mgr_slice *s) {
  mp_rd r;
  uint32_t n;
  mp_val f[5], part;
  memset(s, 0, sizeof *s);
  if (v->type != MPROC_ARG_PYOBJECT || mproc__value_open(&r, v->p, v->n, &n) != 0 || n != 5)
    return 0;
  for (int i = 0; i < 5; i++)
    if (mproc__value_next(&r, &f[i]) != 0)
      return 0;
  if (!pyobject_is(f, "builtins", "slice") || f[3].type != MPROC_ARG_TUPLE ||
      mproc__value_open(&r, f[3].p, f[3].n, &n) != 0 || n != 3)
    return 0;
  for (int k = 0; k < 3; k++) {
    if (mproc__value_next(&r, &part) != 0)
      return 0;
    mgr_val m = {part.type, (unsigned char *)part.p, part.n};
    s->has[k] = part.type != MPROC_ARG_NONE;
    if (s->has[k] && mproc__mgr_val_int(&m, &s->f[k]) != 0)
      return 0; /* a part beyond 64 bits: not a slice this server takes */
  }
  return 1;
}

/* One bound (start k=0, stop k=1) clamped as Python's PySlice_AdjustIndices does. */
static int64_t bound(const mgr_slice *s, int k, int64_t n) {
  int64_t step = s->step, lo = step > 0 ? 0 : -1, hi = step > 0 ? n : n - 1;
  if (!s->has[k])
    return (k == 0) == (step > 0) ? lo : hi;
  int64_t v = s->f[k] < 0 ? s->f[k] + n : s->f[k];
  return v < lo ? lo : v > hi ? hi : v;
}

int mproc__mgr_slice_indices(mgr_slice *s, size_t len) {
  int64_t n = (int64_t)len;
  s->step = s->has[2] ? s->f[2] : 1;
  if (s->step == 0)
    return MPROC_EINVAL;
  if (s->step == INT64_MIN)
    s->step = -INT64_MAX;
  s->start = bound(s, 0, n);
  s->stop = bound(s, 1, n);
  int64_t span = s->step > 0 ? s->stop - s->start : s->start - s->stop;
  int64_t step = s->step > 0 ? s->step : -s->step;
  s->len = span <= 0 ? 0 : (size_t)((span - 1) / step + 1);
  return 0;
}

int mproc__mgr_slice_step_zero(mproc_args_t *res) {
  return mproc_manager_raise(res, "builtins", "ValueError", "slice step cannot be zero");
}
