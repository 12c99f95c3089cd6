/* SPDX-License-Identifier: MIT */
/* Values the server keeps (owned copies of data items) and reading a call's arguments the way
 * Python binds them: by position or by keyword. */
#include <math.h>
#include <string.h>

#include "manager_server.h"
#include "alloc.h"

int mproc__mgr_val_set(mgr_val *v, const mproc_args_t *a, size_t i) {
  const unsigned char *p;
  int rc = mproc__args_item(a, i, &v->type, &p, &v->n);
  if (rc != 0)
    return rc;
  mgr_val view = {v->type, (unsigned char *)p, v->n};
  return mproc__mgr_val_from(v, &view);
}

int mproc__mgr_val_from(mgr_val *v, const mgr_val *src) {
  unsigned char *p = mproc__malloc(src->n ? src->n : 1);
  if (p == NULL)
    return MPROC_ENOMEM;
  if (src->n > 0)
    memcpy(p, src->p, src->n);
  v->type = src->type;
  v->n = src->n;
  v->p = p;
  return 0;
}

void mproc__mgr_val_free(mgr_val *v) {
  mproc__free(v->p);
  v->p = NULL;
  v->n = 0;
}

int mproc__mgr_val_add(mproc_args_t *a, const mgr_val *v) {
  return mproc__args_add_raw(a, v->type, v->p, v->n);
}

static int view_of(const mproc_args_t *a, size_t i, mgr_val *out) {
  const unsigned char *p;
  int rc = mproc__args_item(a, i, &out->type, &p, &out->n);
  out->p = (unsigned char *)p;
  return rc == 0;
}

int mproc__mgr_arg(const mproc_args_t *args, const mproc_args_t *kw, size_t pos,
                   const char *name, mgr_val *out) {
  if (args != NULL && pos < mproc_args_count(args))
    return view_of(args, pos, out);
  size_t n = kw ? mproc_args_count(kw) : 0;
  for (size_t i = 0; name != NULL && i + 1 < n; i += 2) {
    const char *k;
    if (mproc_args_get_str(kw, i, &k) == 0 && strcmp(k, name) == 0)
      return view_of(kw, i + 1, out);
  }
  return 0;
}

static int64_t le64(const unsigned char *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return (int64_t)v;
}

int mproc__mgr_val_int(const mgr_val *v, int64_t *out) {
  if (v->type == MPROC_ARG_INT) {
    *out = le64(v->p);
    return 0;
  }
  if (v->type == MPROC_ARG_BOOL) {
    *out = v->p[0];
    return 0;
  }
  return v->type == MPROC_ARG_BIGINT ? MPROC_ERANGE : MPROC_ETYPE;
}

int mproc__mgr_truth(const mgr_val *v) {
  switch (v->type) {
  case MPROC_ARG_NONE: return 0;
  case MPROC_ARG_BOOL: return v->p[0] != 0;
  case MPROC_ARG_INT: return le64(v->p) != 0;
  case MPROC_ARG_DOUBLE: {
    double d;
    memcpy(&d, v->p, 8);
    return d != 0.0;
  }
  case MPROC_ARG_STR: return v->n > 1;
  default: return v->n > 0;
  }
}

int mproc__mgr_timeout_ms(const mgr_val *v, int64_t *ms) {
  if (v->type == MPROC_ARG_NONE) {
    *ms = MPROC_FOREVER;
    return 0;
  }
  double d;
  if (v->type == MPROC_ARG_DOUBLE) {
    memcpy(&d, v->p, 8);
  } else {
    int64_t i;
    int rc = mproc__mgr_val_int(v, &i);
    if (rc != 0)
      return MPROC_ETYPE;
    d = (double)i;
  }
  if (isnan(d))
    return MPROC_EINVAL;
  if (d < 0)
    d = 0;
  double ms_d = d * 1000.0;
  int64_t whole = (int64_t)ms_d;
  *ms = d > 1e12 ? MPROC_FOREVER : whole + ((double)whole < ms_d); /* rounded up */
  return 0;
}

int mproc__mgr_wait(mgr_srv *s, int64_t deadline) {
  if (s->stopping)
    return MPROC_ECLOSED;
  int rc = mproc__os_tcond_wait(s->gil_cv, s->gil, deadline);
  if (s->stopping)
    return MPROC_ECLOSED;
  return rc;
}
