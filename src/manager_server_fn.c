/* SPDX-License-Identifier: MIT */
/* The manager server's registry and object table, and the dispatch of one request: Python's
 * server functions (dummy, create, incref, decref, accept_connection, get_methods, debug_info,
 * number_of_objects, shutdown) and object calls with the fallbacks __repr__, __str__ and
 * #GETVALUE. Ids are hex strings of a 64-bit counter, never reused. Refcounts follow Python:
 * create counts one reference, decref to 0 drops the object (destroyed once no call is using
 * it any more). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "manager_server.h"
#include "alloc.h"

/* --- registry ------------------------------------------------------------------------------ */

static mgr_type *find_type(mgr_srv *s, const char *typeid) {
  for (size_t i = 0; i < s->ntypes; i++)
    if (strcmp(s->types[i].t.typeid, typeid) == 0)
      return &s->types[i];
  return NULL;
}

static void inherit(mproc_manager_type *t, const mproc_manager_type *b) {
  if (t->create == NULL) { /* the base's behaviour, whole */
    const char *typeid = t->typeid;
    int singleton = t->singleton;
    *t = *b;
    t->typeid = typeid;
    t->singleton = singleton;
    return;
  }
  if (t->destroy == NULL)
    t->destroy = b->destroy;
  if (t->repr == NULL)
    t->repr = b->repr;
  if (t->getvalue == NULL)
    t->getvalue = b->getvalue;
  if (t->methods == NULL) {
    t->methods = b->methods;
    t->n_methods = b->n_methods;
  }
}

int mproc__mgr_register(mgr_srv *s, const mproc_manager_type *t) {
  if (t == NULL || t->typeid == NULL || (t->create == NULL && t->base_typeid == NULL) ||
      (t->n_methods > 0 && t->methods == NULL))
    return MPROC_EINVAL;
  if (find_type(s, t->typeid) != NULL)
    return MPROC_EEXIST;
  mgr_type nt;
  memset(&nt, 0, sizeof nt);
  nt.t = *t;
  if (t->base_typeid != NULL) {
    mgr_type *b = find_type(s, t->base_typeid);
    if (b == NULL)
      return MPROC_ENOENT;
    inherit(&nt.t, &b->t);
  }
  mgr_type *n = mproc__realloc(s->types, (s->ntypes + 1) * sizeof *n);
  if (n == NULL)
    return MPROC_ENOMEM;
  s->types = n;
  s->types[s->ntypes++] = nt;
  return 0;
}

int mproc__mgr_register_builtins(mgr_srv *s) {
  const mproc_manager_type *tabs[] = {mproc__mgr_containers, mproc__mgr_queues, mproc__mgr_syncs,
                                      mproc__mgr_values, mproc__mgr_arrays};
  const size_t ns[] = {mproc__mgr_ncontainers, mproc__mgr_nqueues, mproc__mgr_nsyncs,
                       mproc__mgr_nvalues, mproc__mgr_narrays};
  for (size_t k = 0; k < 5; k++)
    for (size_t i = 0; i < ns[k]; i++) {
      mproc_manager_type t = tabs[k][i];
      t.ctx = s;
      int rc = mproc__mgr_register(s, &t);
      if (rc != 0)
        return rc;
    }
  return 0;
}

/* --- object table (s->lock held) ---------------------------------------------------------- */

static size_t slot(const mgr_srv *s, uint64_t num) {
  return (size_t)((num * 0x9e3779b97f4a7c15ull) >> 20) & (s->tcap - 1);
}

static mgr_obj *find_obj(mgr_srv *s, const char *id) {
  if (s->tcap == 0)
    return NULL;
  char *end;
  unsigned long long num = strtoull(id, &end, 16);
  if (*id == '\0' || *end != '\0')
    return NULL;
  for (mgr_obj *o = s->table[slot(s, num)]; o; o = o->next)
    if (strcmp(o->id, id) == 0)
      return o;
  return NULL;
}

static int table_grow(mgr_srv *s) {
  size_t cap = s->tcap ? s->tcap * 2 : 64;
  mgr_obj **t = mproc__calloc(cap, sizeof *t);
  if (t == NULL)
    return MPROC_ENOMEM;
  mgr_obj **old = s->table;
  size_t ocap = s->tcap;
  s->table = t;
  s->tcap = cap;
  for (size_t i = 0; i < ocap; i++)
    for (mgr_obj *o = old[i], *next; o; o = next) {
      next = o->next;
      size_t k = slot(s, o->num);
      o->next = t[k];
      t[k] = o;
    }
  mproc__free(old);
  return 0;
}

static int table_add(mgr_srv *s, mgr_obj *o) {
  if (s->nobjs >= s->max_objects)
    return MPROC_ENOSPC;
  if (s->nobjs + 1 > s->tcap / 2) {
    int rc = table_grow(s);
    if (rc != 0)
      return rc;
  }
  size_t k = slot(s, o->num);
  o->next = s->table[k];
  s->table[k] = o;
  s->nobjs++;
  return 0;
}

static void table_remove(mgr_srv *s, mgr_obj *o) {
  for (mgr_obj **pp = &s->table[slot(s, o->num)]; *pp; pp = &(*pp)->next)
    if (*pp == o) {
      *pp = o->next;
      s->nobjs--;
      return;
    }
}

/* The object itself goes unless it is a singleton (kept until the server stops). */
static void obj_release(mgr_obj *o) {
  if (o->type->single != o->obj && o->type->t.destroy)
    o->type->t.destroy(o->obj, o->type->t.ctx);
  mproc__free(o->owners);
  mproc__free(o);
}

/* --- references per client process (s->lock held) --------------------------------------- */

static void watch_peer(mgr_srv *s, int64_t pid) {
  for (size_t i = 0; i < s->npeers; i++)
    if (s->peers[i].pid == pid)
      return;
  struct mgr_peer *p = mproc__realloc(s->peers, (s->npeers + 1) * sizeof *p);
  if (p == NULL)
    return; /* unwatched: its references stay until decref, as in Python */
  s->peers = p;
  s->peers[s->npeers].pid = pid;
  s->peers[s->npeers++].birth = mproc__os_pid_birth(pid);
}

/* Counts delta references of process pid on o (pid 0: unknown, nothing counted). */
static void attribute(mgr_srv *s, mgr_obj *o, int64_t pid, int64_t delta) {
  if (pid <= 0)
    return;
  size_t i = 0;
  while (i < o->nowners && o->owners[i].pid != pid)
    i++;
  if (i == o->nowners) {
    if (delta < 0)
      return;
    mgr_owner *w = mproc__realloc(o->owners, (o->nowners + 1) * sizeof *w);
    if (w == NULL)
      return;
    o->owners = w;
    o->owners[o->nowners].pid = pid;
    o->owners[o->nowners++].n = 0;
    watch_peer(s, pid);
  }
  o->owners[i].n += delta;
  if (o->owners[i].n <= 0)
    o->owners[i] = o->owners[--o->nowners];
}

/* Whether a decref from pid has a reference to take. A process found dead has had its
 * references dropped already (mproc__mgr_reap_peers); a decref it sent just before exiting
 * may be read after that and must not take a reference another process still holds. A
 * peer whose pid is unknown (0) takes from the object's total, as in Python. */
static int counted(const mgr_obj *o, int64_t pid) {
  if (pid <= 0)
    return 1;
  for (size_t i = 0; i < o->nowners; i++)
    if (o->owners[i].pid == pid)
      return 1;
  return 0;
}

static void unpin(mgr_srv *s, mgr_obj *o) {
  mproc__os_tlock_acquire(s->lock);
  int gone = --o->pins == 0 && o->refs <= 0 && !o->kept;
  mproc__os_tlock_release(s->lock);
  if (gone)
    obj_release(o);
}

void mproc__mgr_destroy_all(mgr_srv *s) {
  for (size_t i = 0; i < s->tcap; i++)
    for (mgr_obj *o = s->table[i], *next; o; o = next) {
      next = o->next;
      obj_release(o);
    }
  mproc__free(s->table);
  s->table = NULL;
  s->tcap = s->nobjs = 0;
  for (size_t i = 0; i < s->ntypes; i++)
    if (s->types[i].single && s->types[i].t.destroy)
      s->types[i].t.destroy(s->types[i].single, s->types[i].t.ctx);
}

/* --- create -------------------------------------------------------------------------------- */

static int exposed_tuple(const mgr_type *t, mproc_args_t *out) {
  mproc_args_t *names;
  int rc = mproc_args_new(&names);
  for (size_t i = 0; rc == 0 && i < t->t.n_methods; i++)
    rc = mproc_args_add_str(names, t->t.methods[i].name);
  if (rc == 0)
    rc = mproc_args_add_tuple(out, names);
  mproc_args_free(names);
  return rc;
}

/* A new entry with one reference for obj (or one more reference to the singleton's entry). */
static int enter(mgr_srv *s, mgr_type *t, void *obj, char id[24], int64_t pid) {
  mproc__os_tlock_acquire(s->lock);
  int rc = 0;
  mgr_obj *o = t->single_id[0] ? find_obj(s, t->single_id) : NULL;
  if (o != NULL) {
    o->refs++;
  } else if ((o = mproc__calloc(1, sizeof *o)) == NULL) {
    rc = MPROC_ENOMEM;
  } else {
    o->num = t->single_id[0] ? strtoull(t->single_id, NULL, 16) : s->next_id++;
    snprintf(o->id, sizeof o->id, "%llx", (unsigned long long)o->num);
    o->type = t;
    o->obj = obj;
    o->refs = 1;
    if ((rc = table_add(s, o)) != 0)
      mproc__free(o);
    else if (t->t.singleton)
      memcpy(t->single_id, o->id, sizeof o->id);
  }
  if (rc == 0) {
    attribute(s, o, pid, 1);
    memcpy(id, o->id, 24);
  }
  mproc__os_tlock_release(s->lock);
  return rc;
}

/* Python's Server.create: 0 with id, or an error already written as a reply. */
static int create(mgr_srv *s, const char *typeid, const mproc_args_t *args,
                  const mproc_args_t *kw, mproc_args_t *reply, char id[24], mgr_type **type,
                  int64_t pid) {
  mgr_type *t = find_type(s, typeid);
  if (t == NULL && (strcmp(typeid, "Pool") == 0 || strcmp(typeid, "AsyncResult") == 0))
    mproc__mgr_reply_text(reply, MP_MGR_TRACEBACK,
                          "TypeError: typeid '%s' is not served by this mproc manager", typeid);
  else if (t == NULL)
    mproc__mgr_reply_text(reply, MP_MGR_TRACEBACK, "KeyError: '%.200s'", typeid);
  if (t == NULL)
    return MPROC_ENOENT;
  void *obj = NULL;
  mproc__clear_error_message();
  int rc;
  if (t->t.singleton) { /* made once, under the table lock so that two creates agree */
    mproc__os_tlock_acquire(s->lock);
    rc = t->single ? 0 : t->t.create(args, kw, &obj, t->t.ctx);
    if (rc == 0 && t->single == NULL)
      t->single = obj;
    obj = t->single;
    mproc__os_tlock_release(s->lock);
  } else {
    rc = t->t.create(args, kw, &obj, t->t.ctx);
  }
  if (rc == 0 && (rc = enter(s, t, obj, id, pid)) != 0 && !t->t.singleton && t->t.destroy)
    t->t.destroy(obj, t->t.ctx);
  if (rc != 0) {
    const char *m = mproc_last_error_message();
    mproc__mgr_reply_text(reply, MP_MGR_TRACEBACK, "%s: %s",
                          rc == MPROC_ETYPE ? "TypeError" : "ValueError",
                          m && *m ? m : mproc_strerror(rc));
  }
  *type = t;
  return rc;
}

static void reply_create(mgr_srv *s, const mproc_args_t *args, const mproc_args_t *kw,
                         mproc_args_t *reply, int64_t pid) {
  const char *typeid;
  mproc_args_t *rest = NULL, *pair = NULL;
  if (mproc_args_get_str(args, 0, &typeid) != 0) {
    mproc__mgr_reply_text(reply, MP_MGR_TRACEBACK, "TypeError: create() needs a typeid");
    return;
  }
  char id[24];
  mgr_type *t;
  if (mproc_args_new(&rest) != 0 || mproc__args_extend(rest, args, 1) != 0 ||
      create(s, typeid, rest, kw, reply, id, &t, pid) != 0) {
    mproc_args_free(rest);
    return;
  }
  mproc_args_free(rest);
  mproc_args_t *one = NULL;
  int rc = mproc_args_new(&pair);
  if (rc == 0 && (rc = mproc_args_add_str(pair, id)) == 0 && (rc = exposed_tuple(t, pair)) == 0 &&
      (rc = mproc_args_new(&one)) == 0 && (rc = mproc_args_add_tuple(one, pair)) == 0)
    rc = mproc__mgr_reply_item(reply, MP_MGR_RETURN, one, 0);
  mproc_args_free(one);
  mproc_args_free(pair);
  if (rc != 0)
    mproc__mgr_reply_text(reply, MP_MGR_TRACEBACK, "MemoryError: %s", mproc_strerror(rc));
}

/* --- refcounts and the other server functions --------------------------------------------- */

static void reply_ref(mgr_srv *s, const mproc_args_t *args, mproc_args_t *reply, int delta,
                      int64_t pid) {
  const char *id;
  if (mproc_args_get_str(args, 0, &id) != 0) {
    mproc__mgr_reply_text(reply, MP_MGR_TRACEBACK, "TypeError: an id is needed");
    return;
  }
  mgr_obj *gone = NULL;
  mproc__os_tlock_acquire(s->lock);
  mgr_obj *o = find_obj(s, id);
  if (o != NULL && (delta > 0 || counted(o, pid))) {
    o->refs += delta;
    attribute(s, o, pid, delta);
    if (o->refs < 0 && o->kept)
      o->refs = 0;
    if (o->refs <= 0 && !o->kept) {
      table_remove(s, o);
      gone = o->pins == 0 ? o : NULL;
    }
  }
  mproc__os_tlock_release(s->lock);
  if (gone != NULL)
    obj_release(gone);
  if (o == NULL)
    mproc__mgr_reply_text(reply, MP_MGR_TRACEBACK, "KeyError: '%.64s'", id);
  else
    mproc__mgr_reply_item(reply, MP_MGR_RETURN, NULL, 0);
}

static void reply_methods(mgr_srv *s, const mproc_args_t *args, mproc_args_t *reply) {
  mproc_args_t *tok = NULL, *st = NULL, *out = NULL;
  const char *id = NULL;
  if (mproc_args_get_pyobject(args, 0, &tok) == 0 && mproc_args_get_tuple(tok, 4, &st) == 0)
    mproc_args_get_str(st, 2, &id);
  mproc__os_tlock_acquire(s->lock);
  mgr_obj *o = id ? find_obj(s, id) : NULL;
  if (o != NULL && mproc_args_new(&out) == 0 && exposed_tuple(o->type, out) == 0)
    mproc__mgr_reply_item(reply, MP_MGR_RETURN, out, 0);
  else
    mproc__mgr_reply_text(reply, MP_MGR_TRACEBACK, "KeyError: '%.64s'", id ? id : "?");
  mproc__os_tlock_release(s->lock);
  mproc_args_free(out);
  mproc_args_free(st);
  mproc_args_free(tok);
}

static int obj_text(mgr_obj *o, char **text);

static void reply_debug(mgr_srv *s, mproc_args_t *reply) {
  mp_buf b;
  mproc__buf_init(&b);
  mproc__os_tlock_acquire(s->lock);
  for (size_t i = 0; i < s->tcap; i++)
    for (mgr_obj *o = s->table[i]; o; o = o->next) {
      char *text = NULL, line[200];
      obj_text(o, &text);
      snprintf(line, sizeof line, "%s  %s:       refcount=%lld\n    %.75s", b.len ? "\n" : "",
               o->id, (long long)o->refs, text ? text : "");
      mproc__free(text);
      mproc__put(&b, line, strlen(line));
    }
  mproc__os_tlock_release(s->lock);
  mproc__put_u8(&b, 0);
  mproc_args_t *v;
  if (b.err == 0 && mproc_args_new(&v) == 0) {
    if (mproc_args_add_str(v, (const char *)b.data) == 0)
      mproc__mgr_reply_item(reply, MP_MGR_RETURN, v, 0);
    mproc_args_free(v);
  }
  mproc__buf_free(&b);
}

/* Objects with references (kept ones at refcount 0 are not counted, as in Python). */
static void reply_count(mgr_srv *s, mproc_args_t *reply) {
  mproc_args_t *v;
  if (mproc_args_new(&v) != 0)
    return;
  int64_t n = 0;
  mproc__os_tlock_acquire(s->lock);
  for (size_t i = 0; i < s->tcap; i++)
    for (mgr_obj *o = s->table[i]; o; o = o->next)
      n += o->refs > 0;
  mproc_args_add_int(v, n);
  mproc__os_tlock_release(s->lock);
  mproc__mgr_reply_item(reply, MP_MGR_RETURN, v, 0);
  mproc_args_free(v);
}

/* accept_connection(MP_MGR_SESSION): an mproc client asking for the one-connection session
 * (server functions are served on every kept connection; the answer tells it so). */
static int session_name(const mproc_args_t *args) {
  const char *n = NULL;
  return mproc_args_count(args) == 1 && mproc_args_get_str(args, 0, &n) == 0 &&
         strcmp(n, MP_MGR_SESSION) == 0;
}

static void server_fn(mgr_srv *s, const char *name, const mproc_args_t *args,
                      const mproc_args_t *kw, mproc_args_t *reply, int *accepted, int64_t pid) {
  if (mproc__mgr_shm_fn(s, name, args, reply))
    return;
  if (strcmp(name, "create") == 0)
    reply_create(s, args, kw, reply, pid);
  else if (strcmp(name, "incref") == 0)
    reply_ref(s, args, reply, 1, pid);
  else if (strcmp(name, "decref") == 0)
    reply_ref(s, args, reply, -1, pid);
  else if (strcmp(name, "get_methods") == 0)
    reply_methods(s, args, reply);
  else if (strcmp(name, "debug_info") == 0)
    reply_debug(s, reply);
  else if (strcmp(name, "number_of_objects") == 0)
    reply_count(s, reply);
  else if (strcmp(name, "accept_connection") == 0 && session_name(args))
    *accepted = 1, mproc__mgr_reply_item(reply, MP_MGR_RETURN, args, 0);
  else if (strcmp(name, "dummy") == 0 || strcmp(name, "accept_connection") == 0 ||
           strcmp(name, "shutdown") == 0) {
    *accepted = name[0] == 'a';
    mproc__mgr_reply_item(reply, MP_MGR_RETURN, NULL, 0);
    if (name[0] == 's')
      mproc__mgr_srv_stop(s);
  } else
    mproc__mgr_reply_text(reply, MP_MGR_TRACEBACK, "AssertionError: '%.64s' unrecognized",
                          name);
}

/* --- object calls -------------------------------------------------------------------------- */

static int obj_text(mgr_obj *o, char **text) {
  const mproc_manager_type *t = &o->type->t;
  if (t->repr)
    return t->repr(o->obj, text, t->ctx);
  char buf[160];
  snprintf(buf, sizeof buf, "<%.64s object>", t->typeid);
  *text = mproc__strdup(buf);
  return *text ? 0 : MPROC_ENOMEM;
}

static void fallback(mgr_obj *o, const char *method, mproc_args_t *reply) {
  const mproc_manager_type *t = &o->type->t;
  mproc_args_t *v;
  if (mproc_args_new(&v) != 0)
    return;
  int rc = 0;
  if (strcmp(method, "#GETVALUE") == 0 && t->getvalue != NULL) {
    rc = t->getvalue(o->obj, v, t->ctx);
  } else if (strcmp(method, "__repr__") == 0 || strcmp(method, "__str__") == 0) {
    char *text = NULL;
    if ((rc = obj_text(o, &text)) == 0)
      rc = mproc_args_add_str(v, text);
    mproc__free(text);
  } else {
    mproc__mgr_reply_text(reply, MP_MGR_TRACEBACK,
                          "KeyError: '%.64s' (a method '%.64s' objects do not expose)",
                          method, t->typeid);
    mproc_args_free(v);
    return;
  }
  if (rc == 0)
    mproc__mgr_reply_item(reply, MP_MGR_RETURN, v, 0);
  else
    mproc__mgr_reply_text(reply, MP_MGR_TRACEBACK, "RuntimeError: %s", mproc_strerror(rc));
  mproc_args_free(v);
}

/* '#PROXY' (exposed, Token) for a method in method_to_typeid: its result becomes an object. */
static void reply_proxy(mgr_srv *s, const char *typeid, const mproc_args_t *res,
                        mproc_args_t *reply, int64_t pid) {
  char id[24];
  mgr_type *t;
  if (create(s, typeid, res, NULL, reply, id, &t, pid) != 0)
    return;
  mproc_args_t *pair, *one = NULL;
  int rc = mproc_args_new(&pair);
  if (rc == 0 && (rc = exposed_tuple(t, pair)) == 0 &&
      (rc = mproc__mgr_token(pair, typeid, s->address, id)) == 0 &&
      (rc = mproc_args_new(&one)) == 0 && (rc = mproc_args_add_tuple(one, pair)) == 0)
    rc = mproc__mgr_reply_item(reply, MP_MGR_PROXY, one, 0);
  mproc_args_free(one);
  mproc_args_free(pair);
}

static void call_method(mgr_srv *s, mgr_obj *o, const mproc_manager_method *m,
                        const mproc_args_t *args, const mproc_args_t *kw, mproc_args_t *reply,
                        int64_t pid) {
  mproc_args_t *res;
  if (mproc_args_new(&res) != 0)
    return;
  mproc__clear_error_message();
  int rc = m->fn(o->obj, args, kw, res, o->type->t.ctx);
  size_t n = mproc_args_count(res);
  if (rc == MPROC_MANAGER_RAISED && n > 0) {
    mproc__mgr_reply_item(reply, MP_MGR_ERROR, res, n - 1);
  } else if (rc != 0) {
    mproc_args_t *e;
    if (mproc_args_new(&e) == 0 && mproc__mgr_exception_for(e, rc) == 0)
      mproc__mgr_reply_item(reply, MP_MGR_ERROR, e, 0);
    mproc_args_free(e);
  } else if (m->returns_typeid != NULL) {
    reply_proxy(s, m->returns_typeid, res, reply, pid);
  } else {
    mproc__mgr_reply_item(reply, MP_MGR_RETURN, res, 0);
  }
  mproc_args_free(res);
}

/* --- tokens stored by clients ------------------------------------------------------------ */

static int str_is(const mp_val *v, const char *s) {
  return v->type == MPROC_ARG_STR && v->n == strlen(s) + 1 && memcmp(v->p, s, v->n) == 0;
}

/* The object a Token(typeid, address, id) names, if it is one of ours (s->lock held). */
static mgr_obj *token_target(mgr_srv *s, const mp_val *f) {
  mp_rd r;
  uint32_t count;
  mp_val st[3];
  if (!str_is(&f[0], "multiprocessing.managers") || !str_is(&f[1], "Token") ||
      f[4].type != MPROC_ARG_TUPLE || mproc__value_open(&r, f[4].p, f[4].n, &count) != 0 ||
      count != 3)
    return NULL;
  for (int i = 0; i < 3; i++)
    mproc__value_next(&r, &st[i]);
  return st[2].type == MPROC_ARG_STR ? find_obj(s, (const char *)st[2].p) : NULL;
}

/* A Token naming one of our objects marks it kept: a proxy stored in a container must outlive
 * the proxies clients hold (Python keeps such objects for good). */
static void keep_token(mgr_srv *s, const mp_val *f) {
  mgr_obj *o = token_target(s, f);
  if (o != NULL)
    o->kept = 1;
}

static int listed(const char *typeid, const char *const *typeids) {
  for (; *typeids; typeids++)
    if (strcmp(*typeids, typeid) == 0)
      return 1;
  return 0;
}

void *mproc__mgr_proxy_target(mgr_srv *s, const mgr_val *v, const char *const *typeids) {
  mp_rd r;
  uint32_t n;
  mp_val f[5], args, tok, tf[5];
  mgr_obj *o = NULL;
  if (v->type != MPROC_ARG_PYOBJECT || mproc__value_open(&r, v->p, v->n, &n) != 0 || n != 5)
    return NULL;
  for (int i = 0; i < 5; i++)
    mproc__value_next(&r, &f[i]);
  args = f[3];
  if (!str_is(&f[1], "RebuildProxy") || args.type != MPROC_ARG_TUPLE ||
      mproc__value_open(&r, args.p, args.n, &n) != 0 || n != 4 ||
      mproc__value_next(&r, &tok) != 0 || mproc__value_next(&r, &tok) != 0 ||
      tok.type != MPROC_ARG_PYOBJECT || mproc__value_open(&r, tok.p, tok.n, &n) != 0 || n != 5)
    return NULL;
  for (int i = 0; i < 5; i++)
    mproc__value_next(&r, &tf[i]);
  mproc__os_tlock_acquire(s->lock);
  if ((o = token_target(s, tf)) != NULL && !listed(o->type->t.typeid, typeids))
    o = NULL;
  if (o != NULL)
    o->kept = 1; /* the new object uses it for good, as Python's server keeps the proxy */
  mproc__os_tlock_release(s->lock);
  return o ? o->obj : NULL;
}

/* s->lock held. */
static void keep_tokens(mgr_srv *s, const mp_val *v) {
  if (v->type != MPROC_ARG_TUPLE && v->type != MPROC_ARG_LIST && v->type != MPROC_ARG_DICT &&
      v->type != MPROC_ARG_PYOBJECT)
    return;
  mp_rd r;
  uint32_t count;
  mp_val f[5];
  if (mproc__value_open(&r, v->p, v->n, &count) != 0)
    return;
  for (uint32_t i = 0; i < count; i++) {
    mp_val it;
    if (mproc__value_next(&r, &it) != 0)
      return;
    if (v->type == MPROC_ARG_PYOBJECT && i < 5)
      f[i] = it;
    keep_tokens(s, &it);
  }
  if (v->type == MPROC_ARG_PYOBJECT && count == 5)
    keep_token(s, f);
}

static void keep_stored(mgr_srv *s, const mproc_args_t *args, const mproc_args_t *kw) {
  const mproc_args_t *lists[2] = {args, kw};
  mproc__os_tlock_acquire(s->lock);
  for (int k = 0; k < 2; k++)
    for (size_t i = 0; lists[k] && i < mproc_args_count(lists[k]); i++) {
      mp_val v;
      const unsigned char *p;
      if (mproc__args_item(lists[k], i, &v.type, &p, &v.n) == 0) {
        v.p = p;
        keep_tokens(s, &v);
      }
    }
  mproc__os_tlock_release(s->lock);
}

static void object_call(mgr_srv *s, const char *id, const char *method, const mproc_args_t *args,
                        const mproc_args_t *kw, mproc_args_t *reply, int64_t pid) {
  mproc__os_tlock_acquire(s->lock);
  mgr_obj *o = find_obj(s, id);
  if (o != NULL)
    o->pins++;
  mproc__os_tlock_release(s->lock);
  if (o == NULL) {
    mproc__mgr_reply_text(reply, MP_MGR_TRACEBACK, "KeyError: '%.64s'", id);
    return;
  }
  const mproc_manager_type *t = &o->type->t;
  const mproc_manager_method *m = NULL;
  for (size_t i = 0; i < t->n_methods && m == NULL; i++)
    if (strcmp(t->methods[i].name, method) == 0)
      m = &t->methods[i];
  if (m != NULL)
    keep_stored(s, args, kw);
  if (m != NULL)
    call_method(s, o, m, args, kw, reply, pid);
  else
    fallback(o, method, reply);
  unpin(s, o);
}

/* --- one request --------------------------------------------------------------------------- */

typedef struct request {
  mproc_args_t *tuple, *args, *kw;
  const char *ident; /* NULL: a server function */
  const char *method;
} request;

static int parse(const mproc_args_t *req, request *r) {
  memset(r, 0, sizeof *r);
  if (mproc_args_get_tuple(req, 0, &r->tuple) != 0 || mproc_args_count(r->tuple) != 4)
    return MPROC_EPROTO;
  if (mproc_args_type(r->tuple, 0) != MPROC_ARG_NONE &&
      mproc_args_get_str(r->tuple, 0, &r->ident) != 0)
    return MPROC_EPROTO;
  if (mproc_args_get_str(r->tuple, 1, &r->method) != 0)
    return MPROC_EPROTO;
  if (mproc_args_get_tuple(r->tuple, 2, &r->args) != 0 &&
      mproc_args_get_list(r->tuple, 2, &r->args) != 0)
    return MPROC_EPROTO;
  if (mproc_args_get_dict(r->tuple, 3, &r->kw) != 0)
    return MPROC_EPROTO;
  return 0;
}

void mproc__mgr_handle(mgr_srv *s, const mproc_args_t *req, mproc_args_t *reply, int *accepted,
                       int64_t pid) {
  request r;
  *accepted = 0;
  if (parse(req, &r) != 0)
    mproc__mgr_reply_text(reply, MP_MGR_TRACEBACK,
                          "ValueError: a request is a tuple (ident, methodname, args, kwds)");
  else if (r.ident == NULL)
    server_fn(s, r.method, r.args, r.kw, reply, accepted, pid);
  else
    object_call(s, r.ident, r.method, r.args, r.kw, reply, pid);
  mproc_args_free(r.kw);
  mproc_args_free(r.args);
  mproc_args_free(r.tuple);
}

/* --- client processes that died ------------------------------------------------------------ */

/* Drops every reference pid held (s->lock held); objects left without references are added
 * to the list *gone (released by the caller, outside the lock). */
static void drop_peer(mgr_srv *s, int64_t pid, mgr_obj **gone) {
  for (size_t i = 0; i < s->tcap; i++)
    for (mgr_obj *o = s->table[i], *next; o; o = next) {
      next = o->next;
      for (size_t k = 0; k < o->nowners; k++)
        if (o->owners[k].pid == pid) {
          o->refs -= o->owners[k].n;
          o->owners[k] = o->owners[--o->nowners];
          break;
        }
      if (o->refs <= 0 && !o->kept) {
        table_remove(s, o);
        if (o->pins == 0) {
          o->next = *gone;
          *gone = o;
        }
      } else if (o->refs < 0) {
        o->refs = 0;
      }
    }
}

void mproc__mgr_reap_peers(mgr_srv *s) {
  mgr_obj *gone = NULL;
  mproc__os_tlock_acquire(s->lock);
  for (size_t i = 0; i < s->npeers;) {
    struct mgr_peer *p = &s->peers[i];
    uint64_t birth = mproc__os_pid_birth(p->pid);
    if (mproc__os_pid_alive(p->pid) && (birth == 0 || p->birth == 0 || birth == p->birth)) {
      i++;
      continue;
    }
    drop_peer(s, p->pid, &gone);
    s->peers[i] = s->peers[--s->npeers];
  }
  mproc__os_tlock_release(s->lock);
  while (gone != NULL) {
    mgr_obj *next = gone->next;
    obj_release(gone);
    gone = next;
  }
}
