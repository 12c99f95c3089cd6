/* SPDX-License-Identifier: MIT */
/* Proxies as values: Python's RebuildProxy(ProxyType, Token(typeid, address, id), 'pickle',
 * kwds). A proxy added to an argument list carries its manager's key in kwds['authkey'] so a
 * child reconnects with the right key under every start method (Python uses the child's own
 * process key there, python/cpython#139801); the key is taken out again before a proxy goes
 * on the manager wire. Reading one back makes a new proxy with its own reference (incref),
 * as unpickling a proxy does in Python. */
#include <string.h>

#include "alloc.h"
#include "proxy.h"

static const char MODULE[] = "multiprocessing.managers";

/* An MPROC_ARG_PYOBJECT from its five fields: args and state are lists whose items become a
 * tuple (NULL: None). */
static int add_object(mproc_args_t *a, const char *mod, const char *name, int kind,
                      const mproc_args_t *args, const mproc_args_t *state) {
  mproc_args_t *f = NULL, *scratch = NULL;
  int rc = mproc_args_build(&f, "ssl", mod, name, (int64_t)kind);
  if (rc == 0)
    rc = args ? mproc_args_add_tuple(f, args) : mproc_args_add_none(f);
  if (rc == 0)
    rc = state ? mproc_args_add_tuple(f, state) : mproc_args_add_none(f);
  if (rc == 0)
    rc = mproc_args_new(&scratch);
  if (rc == 0)
    rc = mproc_args_add_tuple(scratch, f); /* a tuple's payload is the object's */
  const unsigned char *p;
  size_t n;
  uint8_t type;
  if (rc == 0)
    rc = mproc__args_item(scratch, 0, &type, &p, &n);
  if (rc == 0)
    rc = mproc__args_add_raw(a, MPROC_ARG_PYOBJECT, p, n);
  mproc_args_free(f);
  mproc_args_free(scratch);
  return rc;
}

/* RebuildProxy for p; with_key: kwds also holds the manager's key (None without one). */
static int add_rebuild(mproc_args_t *a, const mproc_proxy_t *p, int with_key) {
  mproc_args_t *st = NULL, *ra = NULL, *kw = NULL, *empty = NULL;
  int rc = mproc_args_build(&st, "s", p->typeid);
  if (rc == 0)
    rc = mproc__mgr_py_address(p->c->address, st);
  if (rc == 0)
    rc = mproc_args_add_str(st, p->id);
  if (rc == 0)
    rc = mproc_args_new(&ra);
  if (rc == 0)
    rc = add_object(ra, MODULE, p->proxytype, 0, NULL, NULL);
  if (rc == 0)
    rc = mproc_args_new(&empty);
  if (rc == 0)
    rc = add_object(ra, MODULE, "Token", 2, empty, st);
  if (rc == 0)
    rc = mproc_args_add_str(ra, "pickle");
  if (rc == 0)
    rc = mproc_args_new(&kw);
  if (rc == 0 && strcmp(p->proxytype, "AutoProxy") == 0 &&
      (rc = mproc_args_add_str(kw, "exposed")) == 0)
    rc = mproc_args_add_tuple(kw, p->exposed);
  if (rc == 0 && with_key && (rc = mproc_args_add_str(kw, "authkey")) == 0)
    rc = p->c->key ? mproc_args_add_bytes(kw, p->c->key, p->c->keylen) : mproc_args_add_none(kw);
  if (rc == 0)
    rc = mproc_args_add_dict(ra, kw);
  if (rc == 0)
    rc = add_object(a, MODULE, "RebuildProxy", 1, ra, NULL);
  mproc_args_free(st);
  mproc_args_free(ra);
  mproc_args_free(kw);
  mproc_args_free(empty);
  return rc;
}

int mproc_args_add_proxy(mproc_args_t *args, const mproc_proxy_t *p) {
  if (args == NULL || p == NULL)
    return MPROC_EINVAL;
  return add_rebuild(args, p, 1);
}

/* --- reading ------------------------------------------------------------------------------- */

typedef struct ref {
  const char *proxytype, *typeid, *id;
  char address[1100];
  mproc_args_t *exposed;
  const void *key;
  size_t keylen;
  int has_key;
  int keyed; /* kwds holds 'authkey' (bytes, or None for a manager without a key) */
  mproc_args_t *hold[5]; /* lists the strings above point into */
} ref;

static void ref_free(ref *r) {
  for (int i = 0; i < 5; i++)
    mproc_args_free(r->hold[i]);
  mproc_args_free(r->exposed);
}

static int read_kwds(ref *r, const mproc_args_t *kw) {
  for (size_t i = 0; i + 1 < mproc_args_count(kw); i += 2) {
    const char *k = "";
    mproc_args_get_str(kw, i, &k);
    if (strcmp(k, "exposed") == 0 && mproc_args_get_tuple(kw, i + 1, &r->exposed) != 0)
      return MPROC_EPROTO;
    r->keyed |= strcmp(k, "authkey") == 0;
    if (strcmp(k, "authkey") == 0 && mproc_args_type(kw, i + 1) == MPROC_ARG_BYTES) {
      mproc_args_get_bytes(kw, i + 1, &r->key, &r->keylen);
      r->has_key = 1;
    }
  }
  return 0;
}

static int read_ref(const mproc_args_t *args, size_t i, ref *r) {
  memset(r, 0, sizeof *r);
  mproc_args_t **o = &r->hold[0], **ra = &r->hold[1], **g = &r->hold[2], **tok = &r->hold[3];
  const char *mod, *name, *unused;
  int rc = mproc_args_get_pyobject(args, i, o);
  if (rc != 0) /* not an object at all (or no item i): the getter's code and message */
    return rc;
  if ((mproc_args_parse(*o, "ss", &mod, &name) != 0 || strcmp(mod, MODULE) != 0 ||
                  strcmp(name, "RebuildProxy") != 0)) {
    mproc__set_error_message("argument %zu: not a proxy", i);
    return MPROC_ETYPE;
  }
  if (rc == 0 && (rc = mproc_args_get_tuple(*o, 3, ra)) == 0 &&
      (rc = mproc_args_get_pyobject(*ra, 0, g)) == 0 &&
      (rc = mproc_args_parse(*g, "ss", &unused, &r->proxytype)) == 0 &&
      (rc = mproc_args_get_pyobject(*ra, 1, tok)) == 0 &&
      (rc = mproc_args_get_tuple(*tok, 4, &r->hold[4])) == 0) {
    mproc_args_t *st = r->hold[4], *kw = NULL;
    rc = mproc_args_get_str(st, 0, &r->typeid);
    if (rc == 0)
      rc = mproc_args_get_str(st, 2, &r->id);
    if (rc == 0)
      rc = mproc__mgr_mp_address(st, 1, r->address, sizeof r->address);
    if (rc == 0 && (rc = mproc_args_get_dict(*ra, 3, &kw)) == 0)
      rc = read_kwds(r, kw);
    if (rc == 0 && r->has_key) { /* the key lives in kw: keep a copy that outlives it */
      void *copy = mproc__malloc(r->keylen + 1);
      if (copy && r->keylen)
        memcpy(copy, r->key, r->keylen);
      r->key = copy;
      rc = copy ? 0 : MPROC_ENOMEM;
    }
    if (rc != 0 || r->key == NULL)
      r->has_key = 0;
    mproc_args_free(kw);
  }
  return rc == MPROC_ETYPE || rc == MPROC_ERANGE ? MPROC_EPROTO : rc;
}

int mproc_args_get_proxy(const mproc_args_t *args, size_t i, mproc_proxy_t **out) {
  if (out == NULL)
    return MPROC_EINVAL;
  ref r;
  int rc = read_ref(args, i, &r);
  mp_mgr_client *c = NULL;
  mproc_args_t *a = NULL;
  if (rc == 0)
    rc = mproc__mgr_client_find(r.address, r.has_key ? r.key : NULL, r.keylen, !r.keyed, &c);
  if (rc == 0)
    rc = mproc_args_build(&a, "s", r.id);
  if (rc == 0) /* the new proxy's own reference */
    rc = mproc__mgr_server_call(c, "incref", a, NULL, mproc__mgr_deadline(c, 0), NULL);
  if (rc == 0)
    rc = mproc__proxy_new(c, r.typeid, r.id, r.proxytype, r.exposed, out);
  mproc__mgr_client_unref(c);
  mproc_args_free(a);
  if (r.has_key)
    mproc__free((void *)r.key);
  ref_free(&r);
  return rc;
}

/* --- the wire ------------------------------------------------------------------------------ */

static int is_keyed_proxy(const mproc_args_t *a, size_t i) {
  if (mproc_args_type(a, i) != MPROC_ARG_PYOBJECT)
    return 0;
  ref r;
  int keyed = read_ref(a, i, &r) == 0 && r.keyed;
  if (r.has_key)
    mproc__free((void *)r.key);
  ref_free(&r);
  return keyed;
}

static int copy_item(mproc_args_t *out, const mproc_args_t *in, size_t i) {
  const unsigned char *p;
  size_t n;
  uint8_t type;
  int rc = mproc__args_item(in, i, &type, &p, &n);
  if (rc == 0 && (rc = mproc__args_add_raw(out, type, p, n)) == MPROC_EPROTO) {
    mproc__set_error_message("argument %zu: a %s cannot go to a manager", i,
                             mproc_arg_type_name(type));
    rc = MPROC_ETYPE;
  }
  return rc;
}

/* The proxy in item i without its key. */
static int add_unkeyed(mproc_args_t *out, const mproc_args_t *in, size_t i) {
  ref r;
  int rc = read_ref(in, i, &r);
  mp_mgr_client session;
  mproc_proxy_t p;
  memset(&session, 0, sizeof session);
  memset(&p, 0, sizeof p);
  session.address = r.address;
  p.c = &session;
  p.typeid = (char *)r.typeid;
  p.id = (char *)r.id;
  p.proxytype = (char *)r.proxytype;
  p.exposed = r.exposed;
  if (rc == 0)
    rc = add_rebuild(out, &p, 0);
  if (r.has_key)
    mproc__free((void *)r.key);
  ref_free(&r);
  return rc;
}

int mproc__proxy_wire_args(const mproc_args_t *in, mproc_args_t **out) {
  *out = NULL;
  size_t n = mproc_args_count(in), k = 0;
  while (k < n && !is_keyed_proxy(in, k))
    k++;
  if (k == n)
    return 0; /* nothing to take out: send as it is */
  int rc = mproc_args_new(out);
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = is_keyed_proxy(in, i) ? add_unkeyed(*out, in, i) : copy_item(*out, in, i);
  if (rc != 0) {
    mproc_args_free(*out);
    *out = NULL;
  }
  return rc;
}
