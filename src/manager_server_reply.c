/* SPDX-License-Identifier: MIT */
/* Manager replies: the (kind, result) tuples, the exception objects of '#ERROR' replies, Token
 * objects of '#PROXY' replies, and the pickle of a reply (with the '#UNSERIALIZABLE' fallback
 * Python sends when a result cannot be pickled). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager_server.h"
#include "alloc.h"
#include "pickle.h"

static int add_item_of(mproc_args_t *dst, const mproc_args_t *src, size_t i) {
  uint8_t type;
  const unsigned char *p;
  size_t n;
  int rc = mproc__args_item(src, i, &type, &p, &n);
  return rc ? rc : mproc__args_add_raw(dst, type, p, n);
}

/* Appends a tuple of the items of t to out and frees t. */
static int tuple_of(mproc_args_t *out, mproc_args_t *t, int rc) {
  if (rc == 0)
    rc = mproc_args_add_tuple(out, t);
  mproc_args_free(t);
  return rc;
}

int mproc__mgr_reply_item(mproc_args_t *reply, const char *kind, const mproc_args_t *v, size_t i) {
  mproc_args_t *t;
  int rc = mproc_args_new(&t);
  if (rc != 0)
    return rc;
  rc = mproc_args_add_str(t, kind);
  if (rc == 0)
    rc = v != NULL && i < mproc_args_count(v) ? add_item_of(t, v, i) : mproc_args_add_none(t);
  return tuple_of(reply, t, rc);
}

int mproc__mgr_reply_text(mproc_args_t *reply, const char *kind, const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  mproc_args_t *t;
  int rc = mproc_args_new(&t);
  if (rc == 0)
    rc = mproc_args_add_str(t, kind);
  if (rc == 0)
    rc = mproc_args_add_str(t, text);
  return rc ? (mproc_args_free(t), rc) : tuple_of(reply, t, 0);
}

/* A Python object reference (module, name, kind, args tuple, state) appended to out. The five
 * fields travel as a container payload, the same layout a tuple's payload has. */
int mproc__mgr_pyobject(mproc_args_t *out, const char *module, const char *name, int kind,
                        const mproc_args_t *args, const mproc_args_t *state, size_t si) {
  mproc_args_t *f, *t = NULL;
  int rc = mproc_args_new(&f);
  if (rc != 0)
    return rc;
  if ((rc = mproc_args_add_str(f, module)) == 0 && (rc = mproc_args_add_str(f, name)) == 0 &&
      (rc = mproc_args_add_int(f, kind)) == 0)
    rc = args != NULL ? mproc_args_add_tuple(f, args) : mproc_args_add_none(f);
  if (rc == 0)
    rc = state != NULL ? add_item_of(f, state, si) : mproc_args_add_none(f);
  if (rc == 0 && (rc = mproc_args_new(&t)) == 0 && (rc = mproc_args_add_tuple(t, f)) == 0) {
    uint8_t type;
    const unsigned char *p;
    size_t n;
    if ((rc = mproc__args_item(t, 0, &type, &p, &n)) == 0)
      rc = mproc__args_add_raw(out, MPROC_ARG_PYOBJECT, p, n);
  }
  mproc_args_free(t);
  mproc_args_free(f);
  return rc;
}

int mproc__mgr_exception(mproc_args_t *out, const char *module, const char *name,
                         const mproc_args_t *args) {
  return mproc__mgr_pyobject(out, module, name, MP_PY_REDUCE, args, NULL, 0);
}

int mproc_manager_raise(mproc_args_t *result, const char *module, const char *name,
                        const char *message) {
  if (result == NULL || module == NULL || name == NULL)
    return MPROC_EINVAL;
  mproc_args_t *a;
  int rc = mproc_args_new(&a);
  if (rc == 0 && message != NULL)
    rc = mproc_args_add_str(a, message);
  if (rc == 0)
    rc = mproc__mgr_exception(result, module, name, a);
  mproc_args_free(a);
  if (rc == 0) { /* only whitelisted exceptions can be sent */
    mp_buf b;
    mproc__buf_init(&b);
    rc = mproc__pickle_encode(result, mproc_args_count(result) - 1, 0, &b);
    mproc__buf_free(&b);
    if (rc != 0) {
      mproc__args_reset(result);
      return MPROC_EINVAL;
    }
  }
  return rc ? rc : MPROC_MANAGER_RAISED;
}

int mproc__mgr_exception_for(mproc_args_t *out, int code) {
  const char *msg = mproc_last_error_message();
  char text[300];
  const char *mod = "builtins", *name = "RuntimeError";
  switch (code) {
  case MPROC_ENOENT: name = "KeyError"; break;
  case MPROC_ERANGE: name = "IndexError"; break;
  case MPROC_EEMPTY: mod = "_queue"; name = "Empty"; msg = NULL; break;
  case MPROC_EFULL: mod = "queue"; name = "Full"; msg = NULL; break;
  case MPROC_EBROKEN: mod = "threading"; name = "BrokenBarrierError"; msg = NULL; break;
  case MPROC_ETYPE: name = "TypeError"; break;
  case MPROC_EINVAL: case MPROC_EOVERRELEASE: name = "ValueError"; break;
  case MPROC_ETIMEDOUT: name = "TimeoutError"; break;
  default:
    snprintf(text, sizeof text, "mproc: %s: %s", mproc_errname(code),
             msg && *msg ? msg : mproc_strerror(code));
    msg = text;
  }
  if (msg != NULL && *msg == '\0')
    msg = mproc_strerror(code);
  mproc_args_t *a;
  int rc = mproc_args_new(&a);
  if (rc == 0 && msg != NULL)
    rc = mproc_args_add_str(a, msg);
  if (rc == 0)
    rc = mproc__mgr_exception(out, mod, name, a);
  mproc_args_free(a);
  return rc;
}

int mproc__mgr_token(mproc_args_t *out, const char *typeid, const char *address, const char *id) {
  mproc_args_t *st, *none = NULL, *one = NULL;
  int rc = mproc_args_new(&st);
  if (rc != 0)
    return rc;
  if ((rc = mproc_args_add_str(st, typeid)) == 0 &&
      (rc = mproc__mgr_py_address(address, st)) == 0 && (rc = mproc_args_add_str(st, id)) == 0 &&
      (rc = mproc_args_new(&none)) == 0 && (rc = mproc_args_new(&one)) == 0 &&
      (rc = mproc_args_add_tuple(one, st)) == 0)
    rc = mproc__mgr_pyobject(out, "multiprocessing.managers", "Token", MP_PY_NEWOBJ, none, one, 0);
  mproc_args_free(one);
  mproc_args_free(none);
  mproc_args_free(st);
  return rc;
}

int mproc__mgr_encode_reply(mproc_args_t *reply, mp_buf *b) {
  int rc = mproc__pickle_encode(reply, 0, 0, b);
  if (rc == 0)
    return 0;
  const char *why = mproc_last_error_message();
  char text[300];
  snprintf(text, sizeof text, "%s", why && *why ? why : mproc_strerror(rc));
  mproc__args_reset(reply);
  b->len = 0;
  b->err = 0;
  rc = mproc__mgr_reply_text(reply, MP_MGR_UNSERIALIZABLE, "mproc: reply not encodable: %s",
                             text);
  return rc ? rc : mproc__pickle_encode(reply, 0, 0, b);
}

int mproc__mgr_raise_val(mproc_args_t *res, const char *name, const mgr_val *v) {
  mproc_args_t *a;
  int rc = mproc_args_new(&a);
  if (rc == 0 && (rc = mproc__mgr_val_add(a, v)) == 0)
    rc = mproc__mgr_exception(res, "builtins", name, a);
  mproc_args_free(a);
  return rc ? rc : MPROC_MANAGER_RAISED;
}
