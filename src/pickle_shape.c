/* SPDX-License-Identifier: MIT */
/* The fixed whitelist of object shapes a pickle may hold (docs/manager.md): which globals may
 * be called, and the exact arguments and state each takes. Both the decoder (on what arrived)
 * and the encoder (before writing) apply it, so neither side ever hands a peer something
 * outside it. */
#include <string.h>

#include "pickle.h"
#include "pickle_int.h"

static const char *const exceptions[] = {
  "KeyError", "IndexError", "AttributeError", "ValueError", "TypeError", "RuntimeError",
  "LookupError", "ZeroDivisionError", "OverflowError", "NotImplementedError", "AssertionError",
  "EOFError", "OSError", "BrokenPipeError", "ConnectionError", "ConnectionResetError",
  "TimeoutError", "StopIteration", "Exception", NULL};

/* Shapes, by the global called. */
enum { S_NONE, S_EXCEPTION, S_BYTEARRAY, S_SLICE, S_SEQ, S_ARRAY, S_ARRAY_BYTES, S_TOKEN, S_PROXY,
       S_NAMESPACE, S_VALUE };

static int eq(const unsigned char *p, size_t n, const char *s) {
  return n == strlen(s) && memcmp(p, s, n) == 0;
}

static int builtin_shape(const unsigned char *name, size_t n) {
  for (int i = 0; exceptions[i]; i++)
    if (eq(name, n, exceptions[i]))
      return S_EXCEPTION;
  if (eq(name, n, "bytearray"))
    return S_BYTEARRAY;
  if (eq(name, n, "slice"))
    return S_SLICE;
  if (eq(name, n, "list") || eq(name, n, "set") || eq(name, n, "frozenset"))
    return S_SEQ;
  return S_NONE;
}

static int shape_of(const unsigned char *mod, size_t nm, const unsigned char *name, size_t nn,
                    int kind) {
  if (kind == MP_PY_NEWOBJ && eq(mod, nm, "multiprocessing.managers"))
    return eq(name, nn, "Token")       ? S_TOKEN
           : eq(name, nn, "Namespace") ? S_NAMESPACE
           : eq(name, nn, "Value")     ? S_VALUE
                                       : S_NONE;
  if (kind == MP_PY_NEWOBJ)
    return S_NONE;
  if (eq(mod, nm, "builtins"))
    return builtin_shape(name, nn);
  if ((eq(mod, nm, "_queue") && eq(name, nn, "Empty")) ||
      (eq(mod, nm, "queue") &&
       (eq(name, nn, "Empty") || eq(name, nn, "Full") || eq(name, nn, "ShutDown"))) ||
      (eq(mod, nm, "threading") && eq(name, nn, "BrokenBarrierError")))
    return S_EXCEPTION;
  if (eq(mod, nm, "array") && eq(name, nn, "_array_reconstructor"))
    return S_ARRAY;
  if (eq(mod, nm, "array") && eq(name, nn, "array")) /* managers.reduce_array's form */
    return S_ARRAY_BYTES;
  if (eq(mod, nm, "multiprocessing.managers") && eq(name, nn, "RebuildProxy"))
    return S_PROXY;
  return S_NONE;
}

int mproc__pickle_callable_ok(const unsigned char *mod, size_t nmod, const unsigned char *name,
                              size_t nname, int kind, int flags) {
  if (shape_of(mod, nmod, name, nname, kind) != S_NONE)
    return 1;
  return kind == MP_PY_REDUCE && (flags & MP_PICKLE_ANY_CALL);
}

/* --- checking a decoded (or to be encoded) value ------------------------------------------- */

typedef struct obj {
  mp_val mod, name, kind, args, state;
  mp_val a[5]; /* the first items of args */
  uint32_t nargs;
} obj;

static int open_obj(const mp_val *v, obj *o) {
  mp_rd r;
  uint32_t n;
  if (mproc__value_open(&r, v->p, v->n, &n) != 0 || n != 5)
    return MPROC_EPROTO;
  mp_val *f[5] = {&o->mod, &o->name, &o->kind, &o->args, &o->state};
  for (int i = 0; i < 5; i++)
    if (mproc__value_next(&r, f[i]) != 0)
      return MPROC_EPROTO;
  o->nargs = 0;
  if (o->args.type != MPROC_ARG_TUPLE)
    return 0;
  if (mproc__value_open(&r, o->args.p, o->args.n, &o->nargs) != 0)
    return MPROC_EPROTO;
  for (uint32_t i = 0; i < o->nargs && i < 5; i++)
    if (mproc__value_next(&r, &o->a[i]) != 0)
      return MPROC_EPROTO;
  return 0;
}

static int is_str(const mp_val *v, const char *s) {
  return v->type == MPROC_ARG_STR && v->n == strlen(s) + 1 && memcmp(v->p, s, v->n - 1) == 0;
}

static int is_int(const mp_val *v) {
  return v->type == MPROC_ARG_INT || v->type == MPROC_ARG_BIGINT;
}

static int kind_of(const obj *o) {
  return o->kind.type == MPROC_ARG_INT && o->kind.n == 8 ? o->kind.p[0] : -1;
}

/* A bare global named module.name. */
static int is_global(const mp_val *v, const char *mod, const char *name) {
  obj o;
  if (v->type != MPROC_ARG_PYOBJECT || open_obj(v, &o) != 0 || kind_of(&o) != MP_PY_GLOBAL)
    return 0;
  return (mod == NULL || is_str(&o.mod, mod)) && (name == NULL || is_str(&o.name, name));
}

static int only_strs(const mp_val *t) {
  mp_rd r;
  uint32_t n;
  if (t->type != MPROC_ARG_TUPLE || mproc__value_open(&r, t->p, t->n, &n) != 0)
    return 0;
  for (uint32_t i = 0; i < n; i++) {
    mp_val v;
    if (mproc__value_next(&r, &v) != 0 || v.type != MPROC_ARG_STR)
      return 0;
  }
  return 1;
}

/* (typeid, address, id): address a str (path, pipe) or (host, port). */
static int token_ok(const obj *o) {
  mp_rd r;
  uint32_t n;
  mp_val f[3], host, port;
  if (o->nargs != 0 || o->state.type != MPROC_ARG_TUPLE ||
      mproc__value_open(&r, o->state.p, o->state.n, &n) != 0 || n != 3)
    return 0;
  for (int i = 0; i < 3; i++)
    if (mproc__value_next(&r, &f[i]) != 0)
      return 0;
  if (f[0].type != MPROC_ARG_STR || f[2].type != MPROC_ARG_STR)
    return 0;
  if (f[1].type == MPROC_ARG_STR)
    return 1;
  if (f[1].type != MPROC_ARG_TUPLE || mproc__value_open(&r, f[1].p, f[1].n, &n) != 0 || n != 2)
    return 0;
  return mproc__value_next(&r, &host) == 0 && mproc__value_next(&r, &port) == 0 &&
         host.type == MPROC_ARG_STR && port.type == MPROC_ARG_INT;
}

static int token_value_ok(const mp_val *v) {
  obj o;
  return v->type == MPROC_ARG_PYOBJECT && open_obj(v, &o) == 0 && kind_of(&o) == MP_PY_NEWOBJ &&
         is_str(&o.mod, "multiprocessing.managers") && is_str(&o.name, "Token") && token_ok(&o);
}

/* kwds of RebuildProxy: a subset of {'exposed': tuple of str, 'incref': bool,
 * 'manager_owned': bool} (never 'authkey'). */
static int proxy_kwds_ok(const mp_val *d) {
  mp_rd r;
  uint32_t n;
  if (d->type != MPROC_ARG_DICT || mproc__value_open(&r, d->p, d->n, &n) != 0)
    return 0;
  for (uint32_t i = 0; i < n; i += 2) {
    mp_val k, v;
    if (mproc__value_next(&r, &k) != 0 || mproc__value_next(&r, &v) != 0)
      return 0;
    int ok = (is_str(&k, "exposed") && only_strs(&v)) ||
             ((is_str(&k, "incref") || is_str(&k, "manager_owned")) &&
              v.type == MPROC_ARG_BOOL);
    if (!ok)
      return 0;
  }
  return 1;
}

/* Namespace state: None or a dict of str keys; Value state: exactly
 * {'_typecode': str, '_value': any}. */
static int attrs_ok(const mp_val *d, int value) {
  mp_rd r;
  uint32_t n;
  if (!value && d->type == MPROC_ARG_NONE)
    return 1;
  if (d->type != MPROC_ARG_DICT || mproc__value_open(&r, d->p, d->n, &n) != 0)
    return 0;
  if (value && n != 4)
    return 0;
  for (uint32_t i = 0; i < n; i += 2) {
    mp_val k, v;
    if (mproc__value_next(&r, &k) != 0 || mproc__value_next(&r, &v) != 0 ||
        k.type != MPROC_ARG_STR)
      return 0;
    if (value && !(i == 0 ? is_str(&k, "_typecode") && v.type == MPROC_ARG_STR
                          : is_str(&k, "_value")))
      return 0;
  }
  return 1;
}

static int slice_part(const mp_val *v) { return is_int(v) || v->type == MPROC_ARG_NONE; }

static int shape_ok(int shape, const obj *o) {
  switch (shape) {
  case S_EXCEPTION:
    return o->state.type == MPROC_ARG_NONE || o->state.type == MPROC_ARG_DICT;
  case S_BYTEARRAY:
    return o->nargs == 1 && o->a[0].type == MPROC_ARG_BYTES && o->state.type == MPROC_ARG_NONE;
  case S_SLICE:
    return o->nargs == 3 && slice_part(&o->a[0]) && slice_part(&o->a[1]) &&
           slice_part(&o->a[2]) && o->state.type == MPROC_ARG_NONE;
  case S_SEQ: /* sets (lists never stay objects) */
    return o->nargs == 1 && o->a[0].type == MPROC_ARG_LIST && o->state.type == MPROC_ARG_NONE &&
           !is_str(&o->name, "list");
  case S_ARRAY: /* (array.array, typecode, machine format code, bytes) */
    return o->nargs == 4 && is_global(&o->a[0], "array", "array") &&
           o->a[1].type == MPROC_ARG_STR && o->a[1].n == 2 && o->a[2].type == MPROC_ARG_INT &&
           o->a[3].type == MPROC_ARG_BYTES && o->state.type == MPROC_ARG_NONE;
  case S_ARRAY_BYTES: /* (typecode, bytes in the sender's machine layout) */
    return o->nargs == 2 && o->a[0].type == MPROC_ARG_STR && o->a[0].n == 2 &&
           o->a[1].type == MPROC_ARG_BYTES && o->state.type == MPROC_ARG_NONE;
  case S_TOKEN:
    return token_ok(o);
  case S_NAMESPACE:
  case S_VALUE:
    return o->nargs == 0 && attrs_ok(&o->state, shape == S_VALUE);
  case S_PROXY: /* (proxy type, token, 'pickle', kwds) */
    return o->nargs == 4 && is_global(&o->a[0], NULL, NULL) && token_value_ok(&o->a[1]) &&
           is_str(&o->a[2], "pickle") && proxy_kwds_ok(&o->a[3]) &&
           o->state.type == MPROC_ARG_NONE;
  default:
    return 0;
  }
}

static int reject(const obj *o, const char *why) {
  mproc__set_error_message("pickle: %s '%.*s.%.*s'", why, (int)(o->mod.n ? o->mod.n - 1 : 0),
                           (const char *)o->mod.p, (int)(o->name.n ? o->name.n - 1 : 0),
                           (const char *)o->name.p);
  return MPROC_EPROTO;
}

static int check_items(const mp_val *v, int flags, int skip_first);

static int check_object(const mp_val *v, int flags) {
  obj o;
  if (open_obj(v, &o) != 0 || o.mod.type != MPROC_ARG_STR || o.name.type != MPROC_ARG_STR)
    return MPROC_EPROTO;
  int kind = kind_of(&o);
  if (kind == MP_PY_GLOBAL)
    return reject(&o, "a bare global is only allowed as a proxy type:");
  int shape = shape_of(o.mod.p, o.mod.n - 1, o.name.p, o.name.n - 1, kind);
  if (shape == S_NONE && kind == MP_PY_REDUCE && (flags & MP_PICKLE_ANY_CALL))
    shape = S_EXCEPTION; /* any class, called with data, maybe a state dict */
  if (shape == S_NONE || o.args.type != MPROC_ARG_TUPLE)
    return reject(&o, "global");
  if (!shape_ok(shape, &o))
    return reject(&o, "arguments or state do not fit");
  /* what the shape holds must itself be allowed (bare globals where the shape names them) */
  int skip = shape == S_PROXY || shape == S_ARRAY;
  int rc = check_items(&o.args, flags, skip);
  if (rc == 0 && o.state.type != MPROC_ARG_NONE)
    rc = mproc__pickle_check_tree(&o.state, flags);
  return rc;
}

static int check_items(const mp_val *v, int flags, int skip_first) {
  mp_rd r;
  uint32_t n;
  if (mproc__value_open(&r, v->p, v->n, &n) != 0)
    return MPROC_EPROTO;
  for (uint32_t i = 0; i < n; i++) {
    mp_val it;
    int rc = mproc__value_next(&r, &it);
    if (rc == 0 && !(skip_first && i == 0))
      rc = mproc__pickle_check_tree(&it, flags);
    if (rc != 0)
      return rc;
  }
  return 0;
}

int mproc__pickle_check_tree(const mp_val *v, int flags) {
  if (v->type == MPROC_ARG_PYOBJECT)
    return check_object(v, flags);
  if (v->type == MPROC_ARG_TUPLE || v->type == MPROC_ARG_LIST || v->type == MPROC_ARG_DICT)
    return check_items(v, flags, 0);
  return 0;
}

int mproc__pickle_utf8_ok(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned c = p[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || len > n - i)
      return 0;
    unsigned cp = len == 1 ? c : c & (0x7f >> len);
    for (size_t k = 1; k < len; k++) {
      if ((p[i + k] & 0xc0) != 0x80)
        return 0;
      cp = (cp << 6) | (p[i + k] & 0x3f);
    }
    static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff)
      return 0;
    i += len;
  }
  return 1;
}

void mproc__pickle_patch_u64(mp_buf *b, size_t at, uint64_t v) {
  if (b->err || at + 8 > b->len)
    return;
  for (int i = 0; i < 8; i++)
    b->data[at + i] = (unsigned char)(v >> (8 * i));
}
