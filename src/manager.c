/* SPDX-License-Identifier: MIT */
/* A manager's server side, public face: serve (threads in this process) or start (the same
 * server in a child process, under every start method), register, address, authkey, shutdown,
 * join, free. The child of mproc_manager_start runs server_child: it serves, tells the parent
 * its address through a pipe, and ends when the server stops (or dies with its parent). */
#include <stdio.h>
#include <string.h>

#include "manager_server.h"
#include "alloc.h"
#include "pickle.h"
#include "proxy.h"

struct mp_mgr_server {
  mgr_srv *srv;         /* serve: the server itself */
  mproc_process_t *proc; /* start: the server's process */
  char *address;        /* start: the child's address */
  unsigned char key[64];
  size_t keylen;
};

#define START_WAIT_MS 60000

static int new_handle(mproc_manager_t **out) {
  mproc_manager_t *m = mproc__calloc(1, sizeof *m);
  if (m == NULL || (m->server = mproc__calloc(1, sizeof *m->server)) == NULL) {
    mproc__free(m);
    return MPROC_ENOMEM;
  }
  *out = m;
  return 0;
}

static void free_handle(mproc_manager_t *m) {
  mproc__mgr_client_free(m->client);
  if (m->server != NULL) {
    mproc__mgr_srv_free(m->server->srv);
    mproc_process_free(m->server->proc);
    mproc__free(m->server->address);
    mproc__free(m->server);
  }
  mproc__free(m);
}

/* The handle's own client session with its server: proxies made through the handle (the
 * dict, list, ... of mproc_manager_dict and the rest) call through it, as a Python Manager's
 * own proxies connect to its server. */
static int open_session(mproc_manager_t *m, const mproc_manager_options *o) {
  const void *key;
  size_t keylen;
  int rc = mproc_manager_authkey(m, &key, &keylen);
  if (rc == 0)
    rc = mproc__mgr_client_open(mproc_manager_address(m), key, keylen, o, START_WAIT_MS,
                                &m->client);
  return rc;
}

/* --- serve --------------------------------------------------------------------------------- */

int mproc_manager_serve(mproc_manager_t **out, const mproc_manager_options *o) {
  if (out == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  mproc_manager_t *m;
  int rc = new_handle(&m);
  if (rc != 0)
    return rc;
  rc = mproc__mgr_srv_new(o, &m->server->srv);
  if (rc == 0 && o != NULL && o->setup != NULL)
    rc = o->setup(m, o->setup_args);
  if (rc == 0)
    rc = mproc__mgr_srv_run(m->server->srv);
  if (rc == 0)
    rc = open_session(m, o);
  if (rc != 0) {
    free_handle(m);
    return rc;
  }
  *out = m;
  return 0;
}

int mproc_manager_register(mproc_manager_t *m, const mproc_manager_type *t) {
  if (m == NULL || m->server == NULL || m->server->srv == NULL)
    return MPROC_ESTATE;
  mgr_srv *s = m->server->srv;
  if (s->listener != NULL)
    return MPROC_ESTATE;
  return mproc__mgr_register(s, t);
}

const char *mproc_manager_address(const mproc_manager_t *m) {
  if (m == NULL || m->server == NULL)
    return NULL;
  return m->server->srv ? m->server->srv->address : m->server->address;
}

int mproc_manager_authkey(const mproc_manager_t *m, const void **key, size_t *len) {
  if (m == NULL || m->server == NULL)
    return MPROC_ESTATE;
  if (key == NULL || len == NULL)
    return MPROC_EINVAL;
  *key = m->server->srv ? m->server->srv->key : m->server->key;
  *len = m->server->srv ? m->server->srv->keylen : m->server->keylen;
  return 0;
}

/* --- start: the child's side --------------------------------------------------------------- */

static int opt_int(const mproc_args_t *a, size_t i) {
  int64_t v = 0;
  mproc_args_get_int(a, i, &v);
  return (int)v;
}

/* args: address (str or None), key (bytes), max_message, max_connections, max_objects,
 * setup (function or None), setup arguments (tuple), the pipe end for the address, the
 * shared_memory flag. */
static int server_child(const mproc_args_t *a) {
  mproc_manager_options o;
  memset(&o, 0, sizeof o);
  mproc_conn_t *c = NULL;
  mproc_args_t *sargs = NULL;
  mproc_fn setup = NULL;
  int64_t v = 0;
  mproc_args_get_str(a, 0, &o.address);
  mproc_args_get_bytes(a, 1, &o.authkey, &o.keylen);
  mproc_args_get_int(a, 2, &v);
  o.max_message = (size_t)v;
  o.max_connections = (unsigned)opt_int(a, 3);
  mproc_args_get_int(a, 4, &v);
  o.max_objects = (size_t)v;
  o.shared_memory = opt_int(a, 8);
  int rc = mproc_args_get_conn(a, 7, &c);
  if (rc == 0 && mproc_args_type(a, 5) == MPROC_ARG_FUNC)
    rc = mproc_args_get_func(a, 5, &setup);
  if (rc == 0)
    rc = mproc_args_get_tuple(a, 6, &sargs);
  o.setup = (int (*)(mproc_manager_t *, const mproc_args_t *))setup;
  o.setup_args = sargs;
  mproc_manager_t *m = NULL;
  if (rc == 0)
    rc = mproc_manager_serve(&m, &o);
  if (rc == 0)
    rc = mproc_conn_sendf(c, "s", mproc_manager_address(m));
  else if (c != NULL)
    mproc_conn_sendf(c, "i", rc);
  mproc_args_free(sargs);
  if (rc == 0) {
    mproc_conn_close(c);
    rc = mproc_manager_join(m, MPROC_FOREVER);
  }
  mproc_manager_free(m);
  return rc == 0 ? 0 : 1;
}

/* --- start: the parent's side -------------------------------------------------------------- */

static int child_args(const mproc_manager_options *o, const unsigned char *key, size_t keylen,
                      mproc_conn_t *end, mproc_args_t **out) {
  mproc_args_t *a;
  int rc = mproc_args_new(&a);
  if (rc != 0)
    return rc;
  rc = o->address ? mproc_args_add_str(a, o->address) : mproc_args_add_none(a);
  if (rc == 0 && (rc = mproc_args_add_bytes(a, key, keylen)) == 0 &&
      (rc = mproc_args_add_int(a, (int64_t)o->max_message)) == 0 &&
      (rc = mproc_args_add_int(a, o->max_connections)) == 0 &&
      (rc = mproc_args_add_int(a, (int64_t)o->max_objects)) == 0)
    rc = o->setup ? mproc_args_add_func(a, MPROC_FN(o->setup)) : mproc_args_add_none(a);
  if (rc == 0 && (rc = mproc_args_add_tuple(a, o->setup_args)) == 0 &&
      (rc = mproc_args_add_conn(a, end)) == 0)
    rc = mproc_args_add_int(a, o->shared_memory != 0);
  if (rc != 0) {
    mproc_args_free(a);
    return rc;
  }
  *out = a;
  return 0;
}

static int choose_key(const mproc_manager_options *o, struct mp_mgr_server *ms) {
  if (o->authkey != NULL && o->keylen > 0) {
    if (o->keylen > sizeof ms->key)
      return MPROC_EINVAL;
    memcpy(ms->key, o->authkey, o->keylen);
    ms->keylen = o->keylen;
    return 0;
  }
  if (o->address != NULL && strncmp(o->address, "tcp:", 4) == 0) {
    mproc__set_error_message("manager: a TCP server needs an explicit authkey");
    return MPROC_EINVAL;
  }
  ms->keylen = 32;
  return mproc__os_random(ms->key, 32);
}

/* Reads the child's first message: its address, or the code its server failed with. */
static int read_address(struct mp_mgr_server *ms, mproc_conn_t *c) {
  mproc_args_t *v = NULL;
  int rc = mproc_conn_recv(c, START_WAIT_MS, &v);
  const char *addr;
  int64_t code = 0;
  if (rc == MPROC_EEOF)
    rc = MPROC_ECHILDFAILED;
  if (rc == 0 && mproc_args_get_str(v, 0, &addr) == 0)
    rc = (ms->address = mproc__strdup(addr)) ? 0 : MPROC_ENOMEM;
  else if (rc == 0)
    rc = mproc_args_get_int(v, 0, &code) == 0 && code < 0 ? (int)code : MPROC_EPROTO;
  mproc_args_free(v);
  return rc;
}

static int launch(struct mp_mgr_server *ms, const mproc_manager_options *o) {
  mproc_conn_t *rd = NULL, *wr = NULL;
  mproc_args_t *a = NULL;
  int rc = mproc_pipe(0, &rd, &wr);
  if (rc == 0)
    rc = child_args(o, ms->key, ms->keylen, wr, &a);
  if (rc == 0)
    rc = mproc_process_new(&ms->proc, server_child, a);
  mproc_args_free(a);
  if (rc == 0 && (rc = mproc_process_set_daemon(ms->proc, 1)) == 0 &&
      (rc = mproc_process_set_name(ms->proc, "SyncManager-1")) == 0 && o->start_method != 0)
    rc = mproc_process_set_start_method(ms->proc, o->start_method);
  if (rc == 0)
    rc = mproc_process_start(ms->proc);
  mproc_conn_free(wr); /* the child holds the only writer now: EOF if it dies */
  if (rc == 0)
    rc = read_address(ms, rd);
  mproc_conn_free(rd);
  if (rc != 0 && ms->proc != NULL && mproc_process_pid(ms->proc) != 0)
    mproc_process_stop(ms->proc, 1000);
  return rc;
}

int mproc_manager_start(mproc_manager_t **out, const mproc_manager_options *o) {
  if (out == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  mproc_manager_options def;
  memset(&def, 0, sizeof def);
  if (o == NULL)
    o = &def;
  mproc_manager_t *m;
  int rc = new_handle(&m);
  if (rc != 0)
    return rc;
  if ((rc = choose_key(o, m->server)) == 0)
    rc = launch(m->server, o);
  if (rc == 0 && (rc = open_session(m, o)) != 0)
    mproc_process_stop(m->server->proc, 1000);
  if (rc != 0) {
    free_handle(m);
    return rc;
  }
  *out = m;
  return 0;
}

/* --- stopping ------------------------------------------------------------------------------ */

/* Sends the 'shutdown' server function to the child's server, as Python's manager does. */
static void ask_shutdown(mproc_manager_t *m, int64_t timeout_ms) {
  mproc_args_t *r = NULL;
  if (m->client != NULL &&
      mproc__mgr_server_call(m->client, "shutdown", NULL, NULL, mproc__os_deadline(timeout_ms),
                             &r) == 0)
    mproc_args_free(r);
}

int mproc_manager_shutdown(mproc_manager_t *m, int64_t timeout_ms) {
  if (m == NULL || m->server == NULL)
    return MPROC_EINVAL;
  struct mp_mgr_server *ms = m->server;
  if (ms->srv != NULL)
    return mproc__mgr_srv_wait(ms->srv, mproc__os_deadline(timeout_ms), 1);
  if (ms->proc == NULL)
    return 0;
  if (mproc_process_is_alive(ms->proc) == 1)
    ask_shutdown(m, timeout_ms < 0 || timeout_ms > 5000 ? 5000 : timeout_ms);
  return mproc_process_join(ms->proc, timeout_ms);
}

int mproc_manager_join(mproc_manager_t *m, int64_t timeout_ms) {
  if (m == NULL || m->server == NULL)
    return MPROC_EINVAL;
  struct mp_mgr_server *ms = m->server;
  if (ms->srv != NULL)
    return mproc__mgr_srv_wait(ms->srv, mproc__os_deadline(timeout_ms), 0);
  return ms->proc ? mproc_process_join(ms->proc, timeout_ms) : 0;
}

void mproc_manager_free(mproc_manager_t *m) {
  if (m == NULL)
    return; /* a connected handle (no server) only ends its session */
  if (m->server != NULL && m->server->proc != NULL &&
      mproc_manager_shutdown(m, 5000) != 0)
    mproc_process_stop(m->server->proc, 1000);
  mproc__mgr_shm_orphans(m);
  free_handle(m);
}
