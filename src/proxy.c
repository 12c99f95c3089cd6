/* SPDX-License-Identifier: MIT */
/* Proxies: creating objects on a manager, calling their methods, references (Python's
 * BaseProxy: the create's own reference is the proxy's; a copy increfs, freeing decrefs), and
 * what a reply means for the caller: a value, a new proxy, or a remote exception mapped to a
 * code with its text in mproc_last_error_message(). */
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "proxy.h"

/* --- replies --------------------------------------------------------------------------------- */

static int exception_code(const char *module, const char *name) {
#define X(mod, cls, code)                                                                     \
  if (strcmp(module, mod) == 0 && strcmp(name, cls) == 0)                                     \
    return code;
  MP_MGR_EXCEPTIONS(X)
#undef X
  return MPROC_EREMOTE;
}

/* str(exc) as Python prints it after "Name: ": nothing for no arguments, the argument itself
 * for one (KeyError shows its repr), the repr of the tuple for more. */
static void exception_text(const mproc_args_t *o, const char *qual, const char *name) {
  mproc_args_t *args = NULL;
  char text[400] = "";
  const char *s;
  if (mproc_args_get_tuple(o, 3, &args) == 0) {
    size_t n = mproc_args_count(args);
    if (n == 1 && strcmp(name, "KeyError") != 0 && mproc_args_get_str(args, 0, &s) == 0)
      snprintf(text, sizeof text, "%s", s);
    else if (n == 1)
      mproc_args_repr_item(args, 0, text, sizeof text);
    else if (n > 1)
      mproc_args_repr_item(o, 3, text, sizeof text);
  }
  mproc_args_free(args);
  if (text[0])
    mproc__set_error_message("%s: %s", qual, text);
  else
    mproc__set_error_message("%s", qual);
}

static int remote_exception(const mproc_args_t *reply) {
  mproc_args_t *o = NULL;
  const char *module, *name;
  if (mproc_args_get_pyobject(reply, 1, &o) != 0 || mproc_args_parse(o, "ss", &module, &name)) {
    mproc_args_free(o);
    mproc__set_error_message("manager reply: '#ERROR' without an exception");
    return MPROC_EPROTO;
  }
  char qual[160];
  if (strcmp(module, "builtins") == 0)
    snprintf(qual, sizeof qual, "%s", name);
  else
    snprintf(qual, sizeof qual, "%s.%s", module, name);
  exception_text(o, qual, name);
  int code = exception_code(module, name);
  mproc_args_free(o);
  return code;
}

/* '#TRACEBACK' / '#UNSERIALIZABLE': Python's formatted traceback; its last line names the
 * exception, and that is what the message keeps. */
static int remote_traceback(const mproc_args_t *reply, const char *prefix) {
  const char *s = "";
  mproc_args_get_str(reply, 1, &s);
  size_t end = strlen(s);
  while (end > 0 && (s[end - 1] == '\n' || s[end - 1] == '\r' || s[end - 1] == ' '))
    end--;
  size_t start = end;
  while (start > 0 && s[start - 1] != '\n')
    start--;
  mproc__set_error_message("%s%.*s", prefix, (int)(end - start), s + start);
  return MPROC_EREMOTE;
}

int mproc__mgr_result(const mproc_args_t *reply, mproc_args_t **result) {
  const char *kind = "";
  mproc_args_get_str(reply, 0, &kind);
  *result = NULL;
  if (strcmp(kind, MP_MGR_RETURN) == 0) {
    int rc = mproc_args_new(result);
    return rc ? rc : mproc__args_extend(*result, reply, 1);
  }
  if (strcmp(kind, MP_MGR_PROXY) == 0) {
    int rc = mproc_args_get_tuple(reply, 1, result);
    if (rc == 0 && mproc_args_count(*result) == 2)
      return 1;
    mproc_args_free(*result);
    *result = NULL;
    mproc__set_error_message("manager reply: '#PROXY' without (exposed, token)");
    return rc == MPROC_ENOMEM ? rc : MPROC_EPROTO;
  }
  if (strcmp(kind, MP_MGR_ERROR) == 0)
    return remote_exception(reply);
  if (strcmp(kind, MP_MGR_TRACEBACK) == 0)
    return remote_traceback(reply, "");
  if (strcmp(kind, MP_MGR_UNSERIALIZABLE) == 0)
    return remote_traceback(reply, "Unserializable message: ");
  mproc__set_error_message("manager reply: unrecognized message type '%s'", kind);
  return MPROC_EPROTO;
}

/* --- proxy records --------------------------------------------------------------------------- */

const char *mproc__proxy_type_for(const char *typeid) {
  static const char *const map[][2] = {
      {"dict", "DictProxy"},           {"list", "ListProxy"},
      {"Namespace", "NamespaceProxy"}, {"Value", "ValueProxy"},
      {"Array", "ArrayProxy"},         {"Lock", "AcquirerProxy"},
      {"RLock", "AcquirerProxy"},      {"Semaphore", "AcquirerProxy"},
      {"BoundedSemaphore", "AcquirerProxy"}, {"Condition", "ConditionProxy"},
      {"Event", "EventProxy"},         {"Barrier", "BarrierProxy"},
      {"Pool", "PoolProxy"},           {"Iterator", "IteratorProxy"},
  };
  for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
    if (strcmp(map[i][0], typeid) == 0)
      return map[i][1];
  return "AutoProxy";
}

static void proxy_release(mproc_proxy_t *p) {
  mproc__free(p->typeid);
  mproc__free(p->id);
  mproc__free(p->proxytype);
  mproc_args_free(p->exposed);
  mproc__mgr_client_unref(p->c);
  mproc__free(p);
}

/* Takes a session reference of its own. */
int mproc__proxy_new(mp_mgr_client *c, const char *typeid, const char *id,
                     const char *proxytype, const mproc_args_t *exposed, mproc_proxy_t **out) {
  mproc_proxy_t *p = mproc__calloc(1, sizeof *p);
  if (p == NULL)
    return MPROC_ENOMEM;
  mproc__mgr_client_ref(c);
  p->c = c;
  p->typeid = mproc__strdup(typeid);
  p->id = mproc__strdup(id);
  p->proxytype = mproc__strdup(proxytype ? proxytype : mproc__proxy_type_for(typeid));
  int rc = p->typeid && p->id && p->proxytype ? mproc_args_new(&p->exposed) : MPROC_ENOMEM;
  if (rc == 0 && exposed)
    rc = mproc__args_extend(p->exposed, exposed, 0);
  if (rc != 0) {
    proxy_release(p);
    return rc;
  }
  *out = p;
  return 0;
}

int mproc__proxy_from_reply(mp_mgr_client *c, const mproc_args_t *res, mproc_proxy_t **out) {
  mproc_args_t *exposed = NULL, *tok = NULL, *st = NULL;
  const char *typeid, *id;
  int rc = mproc_args_get_tuple(res, 0, &exposed);
  if (rc == 0)
    rc = mproc_args_get_pyobject(res, 1, &tok);
  if (rc == 0)
    rc = mproc_args_get_tuple(tok, 4, &st);
  if (rc == 0 && mproc_args_count(st) == 3 && mproc_args_get_str(st, 0, &typeid) == 0 &&
      mproc_args_get_str(st, 2, &id) == 0)
    rc = mproc__proxy_new(c, typeid, id, NULL, exposed, out); /* the server's own reference */
  else if (rc == 0)
    rc = MPROC_EPROTO;
  mproc_args_free(exposed);
  mproc_args_free(tok);
  mproc_args_free(st);
  return rc;
}

/* --- public ---------------------------------------------------------------------------------- */

int mproc_manager_create(mproc_manager_t *m, const char *typeid, const mproc_args_t *args,
                         const mproc_args_t *kwargs, int64_t timeout_ms, mproc_proxy_t **out) {
  if (m == NULL || m->client == NULL || typeid == NULL || out == NULL)
    return MPROC_EINVAL;
  mproc__clear_error_message();
  mproc_args_t *a = NULL, *r = NULL, *ident = NULL, *wire = NULL;
  const char *id;
  int rc = mproc__proxy_wire_args(args, &wire); /* e.g. Condition(lock): no key on the wire */
  if (rc == 0)
    rc = mproc_args_build(&a, "s", typeid);
  if (rc == 0 && args)
    rc = mproc__args_extend(a, wire ? wire : args, 0);
  if (rc == 0)
    rc = mproc__mgr_server_call(m->client, "create", a, kwargs,
                                mproc__mgr_deadline(m->client, timeout_ms), &r);
  if (rc == 0 && (rc = mproc_args_get_tuple(r, 0, &ident)) == 0 &&
      (rc = mproc_args_get_str(ident, 0, &id)) == 0) {
    mproc_args_t *exposed = NULL;
    mproc_args_get_tuple(ident, 1, &exposed);
    rc = mproc__proxy_new(m->client, typeid, id, NULL, exposed, out); /* create's reference */
    mproc_args_free(exposed);
  }
  mproc_args_free(wire);
  mproc_args_free(a);
  mproc_args_free(r);
  mproc_args_free(ident);
  return rc;
}

/* The call itself: 0 with *result, 1 with the (exposed, token) of a '#PROXY', or a code. */
static int call(mproc_proxy_t *p, const char *method, const mproc_args_t *args,
                const mproc_args_t *kwargs, int64_t timeout_ms, mproc_args_t **result) {
  if (p == NULL || method == NULL)
    return MPROC_EINVAL;
  mproc__clear_error_message();
  mproc_args_t *wire = NULL, *reply = NULL;
  int rc = mproc__proxy_wire_args(args, &wire);
  if (rc == 0)
    rc = mproc__mgr_object_call(p->c, p->id, method, wire ? wire : args, kwargs,
                                mproc__mgr_deadline(p->c, timeout_ms), &reply);
  if (rc == 0)
    rc = mproc__mgr_result(reply, result);
  mproc_args_free(wire);
  mproc_args_free(reply);
  return rc;
}

int mproc_proxy_call(mproc_proxy_t *p, const char *method, const mproc_args_t *args,
                     const mproc_args_t *kwargs, int64_t timeout_ms, mproc_args_t **result) {
  mproc_args_t *r = NULL;
  int rc = call(p, method, args, kwargs, timeout_ms, &r);
  if (rc == 1) { /* the server made a new object: take the reference, then drop it */
    mproc_proxy_t *np = NULL;
    if (mproc__proxy_from_reply(p->c, r, &np) == 0)
      mproc_proxy_free(np);
    mproc__set_error_message("method '%s' returns a proxy: use mproc_proxy_call_proxy", method);
    rc = MPROC_ETYPE;
  }
  if (rc == 0 && result)
    *result = r;
  else
    mproc_args_free(r);
  return rc;
}

int mproc_proxy_call_proxy(mproc_proxy_t *p, const char *method, const mproc_args_t *args,
                           const mproc_args_t *kwargs, int64_t timeout_ms, mproc_proxy_t **out) {
  if (out == NULL)
    return MPROC_EINVAL;
  mproc_args_t *r = NULL;
  int rc = call(p, method, args, kwargs, timeout_ms, &r);
  if (rc == 1)
    rc = mproc__proxy_from_reply(p->c, r, out);
  else if (rc == 0)
    rc = mproc_args_get_proxy(r, 0, out);
  mproc_args_free(r);
  return rc;
}

int mproc_proxy_getvalue(mproc_proxy_t *p, int64_t timeout_ms, mproc_args_t **value) {
  return mproc_proxy_call(p, "#GETVALUE", NULL, NULL, timeout_ms, value);
}

const char *mproc_proxy_typeid(const mproc_proxy_t *p) { return p ? p->typeid : NULL; }

const char *mproc_proxy_id(const mproc_proxy_t *p) { return p ? p->id : NULL; }

int mproc_proxy_dup(mproc_proxy_t *p, mproc_proxy_t **out) {
  if (p == NULL || out == NULL)
    return MPROC_EINVAL;
  mproc__clear_error_message();
  mproc_args_t *a = NULL;
  int rc = mproc_args_build(&a, "s", p->id);
  if (rc == 0)
    rc = mproc__mgr_server_call(p->c, "incref", a, NULL, mproc__mgr_deadline(p->c, 0), NULL);
  if (rc == 0)
    rc = mproc__proxy_new(p->c, p->typeid, p->id, p->proxytype, p->exposed, out);
  mproc_args_free(a);
  return rc;
}

void mproc_proxy_free(mproc_proxy_t *p) {
  if (p == NULL)
    return;
  char keep[512]; /* the caller may still want the message of its last failure */
  snprintf(keep, sizeof keep, "%s", mproc_last_error_message());
  mproc_args_t *a = NULL;
  if (mproc_args_build(&a, "s", p->id) == 0) /* nobody waits for its reply */
    mproc__mgr_server_post(p->c, "decref", a);
  mproc_args_free(a);
  proxy_release(p);
  mproc__set_error_message("%s", keep);
}
