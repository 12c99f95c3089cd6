/* SPDX-License-Identifier: MIT */
/* The client side of a manager session, in Python's connection pattern: every server function
 * (create, incref, decref, ...) on a fresh authenticated connection that serves that one
 * request, and object calls on 'accept_connection' connections kept in a pool — a call takes
 * one nobody is using (or opens one) and gives it back only when its reply was read whole, so
 * a call abandoned at its deadline never leaves a reply behind for the next caller. Against an
 * mproc server (it answers the pool's accept_connection(MP_MGR_SESSION) in kind) server
 * functions go through the pool too: a create or a decref is then one round trip. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "atomics.h"
#include "conn.h"
#include "os.h"
#include "pickle.h"
#include "proxy.h"

#define DEFAULT_CALL_TIMEOUT_MS 30000
#define DEFAULT_MAX_MESSAGE ((size_t)64 << 20)

/* --- the module lock: the session list, references and idle pools (a few instructions) ---- */

/* The holder's pid, 0 when free. The word is private memory, so a pid other than ours can
 * only be a copy a fork child made while a thread of its parent held the lock: that holder
 * does not exist here, and the child takes the lock over instead of waiting forever. */
static int64_t g_lock;
static mp_mgr_client *g_sessions;

static void lock(void) {
  int64_t me = mproc__os_getpid();
  unsigned spins = 0;
  for (;;) {
    int64_t seen = 0;
    if (MPROC__ATOMIC_COMPARE_EXCHANGE(&g_lock, &seen, me, 0, MPROC__ATOMIC_ACQUIRE,
                                       MPROC__ATOMIC_RELAXED))
      return;
    if (seen != me && MPROC__ATOMIC_COMPARE_EXCHANGE(&g_lock, &seen, me, 0,
                                                     MPROC__ATOMIC_ACQUIRE,
                                                     MPROC__ATOMIC_RELAXED))
      return; /* inherited from the parent across fork */
    if (++spins % 1024 == 0)
      mproc__os_sleep_ms(1);
  }
}

static void unlock(void) { MPROC__ATOMIC_STORE(&g_lock, 0, MPROC__ATOMIC_RELEASE); }

/* --- deadlines and transport errors ---------------------------------------------------------- */

int64_t mproc__mgr_deadline(const mp_mgr_client *c, int64_t op_ms) {
  int64_t call = MPROC__ATOMIC_LOAD(&c->call_timeout_ms, MPROC__ATOMIC_RELAXED);
  if (op_ms == MPROC_FOREVER || call == MPROC_FOREVER)
    return OS_NO_DEADLINE;
  return mproc__os_deadline((op_ms > 0 ? op_ms : 0) + call);
}

static int64_t remaining_ms(int64_t deadline) {
  if (deadline == OS_NO_DEADLINE)
    return MPROC_FOREVER;
  int64_t left = (deadline - mproc__os_now_ns()) / 1000000;
  return left > 0 ? left : 0;
}

static int is_dead(const mp_mgr_client *c) {
  return MPROC__ATOMIC_LOAD(&c->dead, MPROC__ATOMIC_ACQUIRE) != 0;
}

/* End of stream, a reset or a refused connect once the session is up: the server is gone, and
 * every later call says so at once. */
static int gone(mp_mgr_client *c, int rc) {
  if (rc == MPROC_EEOF || rc == MPROC_EPEERGONE || rc == MPROC_ENOENT || rc == MPROC_EOS ||
      rc == MPROC_ECLOSED) {
    MPROC__ATOMIC_STORE(&c->dead, 1, MPROC__ATOMIC_RELEASE);
    mproc__set_error_message("manager at %s: connection lost (%s)", c->address,
                             mproc_errname(rc));
    return MPROC_EPEERGONE;
  }
  return rc;
}

/* --- messages -------------------------------------------------------------------------------- */

static int encode_request(const char *ident, const char *method, const mproc_args_t *args,
                          const mproc_args_t *kwargs, mp_buf *b) {
  mproc_args_t *t = NULL, *outer = NULL;
  int rc = mproc_args_new(&t);
  if (rc == 0)
    rc = ident ? mproc_args_add_str(t, ident) : mproc_args_add_none(t);
  if (rc == 0)
    rc = mproc_args_add_str(t, method);
  if (rc == 0)
    rc = mproc_args_add_tuple(t, args);
  if (rc == 0)
    rc = mproc_args_add_dict(t, kwargs);
  if (rc == 0)
    rc = mproc_args_new(&outer);
  if (rc == 0)
    rc = mproc_args_add_tuple(outer, t);
  if (rc == 0)
    rc = mproc__pickle_encode(outer, 0, 0, b);
  mproc_args_free(t);
  mproc_args_free(outer);
  return rc;
}

/* A reply is data; an exception of a user class (any module.Name) only in an '#ERROR'. */
static int decode_reply(const void *p, size_t n, mproc_args_t **reply) {
  mproc_args_t *v = NULL;
  int rc = mproc_args_new(&v);
  if (rc == 0)
    rc = mproc__pickle_decode(p, n, NULL, v);
  if (rc == MPROC_EPROTO) {
    char why[256];
    snprintf(why, sizeof why, "%s", mproc_last_error_message());
    mproc_args_free(v);
    v = NULL;
    mp_pickle_limits lim = {0, 0, MP_PICKLE_ANY_CALL};
    const char *kind = NULL;
    mproc_args_t *t = NULL;
    int ok = mproc_args_new(&v) == 0 && mproc__pickle_decode(p, n, &lim, v) == 0 &&
             mproc_args_get_tuple(v, 0, &t) == 0 && mproc_args_get_str(t, 0, &kind) == 0 &&
             strcmp(kind, MP_MGR_ERROR) == 0;
    mproc_args_free(t);
    if (!ok)
      mproc__set_error_message("manager reply: %s", why);
    rc = ok ? 0 : MPROC_EPROTO;
  }
  if (rc == 0 && (rc = mproc_args_get_tuple(v, 0, reply)) == 0 &&
      (mproc_args_count(*reply) != 2 || mproc_args_type(*reply, 0) != MPROC_ARG_STR)) {
    mproc_args_free(*reply);
    *reply = NULL;
    mproc__set_error_message("manager reply: not a (kind, result) pair");
    rc = MPROC_EPROTO;
  }
  mproc_args_free(v);
  return rc;
}

/* Reads the replies conn owes (their content is nobody's business: a decref's). */
static int drain_owed(mp_mgr_client *c, mproc_conn_t *conn, uint32_t owed, int64_t deadline) {
  for (; owed > 0; owed--) {
    void *msg = NULL;
    size_t n = 0;
    int rc = mproc__conn_recv_msg(conn, c->max_message, deadline, &msg, &n);
    mproc__free(msg);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* One request and its reply on conn, after the owed replies of requests sent before it (the
 * server answers in order, so they were on their way while this one went out). */
static int exchange_after(mp_mgr_client *c, mproc_conn_t *conn, uint32_t owed,
                          const mp_buf *req, int64_t deadline, mproc_args_t **reply) {
  int rc = mproc__conn_send_msg(conn, req->data, req->len, deadline);
  void *msg = NULL;
  size_t n = 0;
  if (rc == 0)
    rc = drain_owed(c, conn, owed, deadline);
  if (rc == 0)
    rc = mproc__conn_recv_msg(conn, c->max_message, deadline, &msg, &n);
  if (rc != 0)
    return gone(c, rc);
  rc = decode_reply(msg, n, reply);
  mproc__free(msg);
  return rc;
}

static int exchange(mp_mgr_client *c, mproc_conn_t *conn, const mp_buf *req, int64_t deadline,
                    mproc_args_t **reply) {
  return exchange_after(c, conn, 0, req, deadline, reply);
}

/* A reply is awaited in recv a second at a time; a call with less than that left polls. */
#define CLIENT_READ_SLICE_MS 1000

static int open_conn(mp_mgr_client *c, int64_t deadline, mproc_conn_t **out) {
  if (is_dead(c)) {
    mproc__set_error_message("manager at %s is gone", c->address);
    return MPROC_EPEERGONE;
  }
  int64_t left = remaining_ms(deadline);
  if (left == 0)
    return MPROC_ETIMEDOUT;
  int rc = mproc_client(c->address, c->key, c->keylen, left, out);
  if (rc == 0) /* replies are awaited in recv itself (ENOTSUP: Windows waits in one call) */
    (void)mproc__conn_read_slice(*out, CLIENT_READ_SLICE_MS);
  return rc == MPROC_EAUTH || rc == MPROC_ETIMEDOUT ? rc : gone(c, rc);
}

/* --- server functions ------------------------------------------------------------------------ */

static int expect_return(mproc_args_t *reply, mproc_args_t **result) {
  mproc_args_t *r = NULL;
  int rc = mproc__mgr_result(reply, &r);
  if (rc == 1) { /* a server function never answers '#PROXY' */
    mproc__set_error_message("manager reply: unexpected '#PROXY'");
    rc = MPROC_EPROTO;
  }
  if (rc == 0 && result)
    *result = r;
  else
    mproc_args_free(r);
  return rc;
}

static int pooled_exchange(mp_mgr_client *c, const mp_buf *req, int64_t deadline,
                           mproc_args_t **reply);
static int session_native(mp_mgr_client *c, int64_t deadline);

int mproc__mgr_server_call(mp_mgr_client *c, const char *fn, const mproc_args_t *args,
                           const mproc_args_t *kwargs, int64_t deadline, mproc_args_t **result) {
  mp_buf req;
  mproc__buf_init(&req);
  mproc_conn_t *conn = NULL;
  mproc_args_t *reply = NULL;
  int rc = encode_request(NULL, fn, args, kwargs, &req);
  int pooled = rc == 0 && strcmp(fn, "dummy") != 0 && session_native(c, deadline) == 1;
  if (pooled)
    rc = pooled_exchange(c, &req, deadline, &reply);
  else if (rc == 0 && (rc = open_conn(c, deadline, &conn)) == 0)
    rc = exchange(c, conn, &req, deadline, &reply);
  mproc_conn_free(conn);
  mproc__buf_free(&req);
  if (rc == 0)
    rc = expect_return(reply, result);
  mproc_args_free(reply);
  return rc;
}

/* --- object calls ---------------------------------------------------------------------------- */

static mproc_conn_t *take_idle(mp_mgr_client *c, uint32_t *owed) {
  mproc_conn_t *conn = NULL;
  *owed = 0;
  lock();
  if (c->nidle > 0) {
    struct mgr_idle *e = &c->idle[--c->nidle];
    conn = e->conn;
    *owed = e->owed;
  }
  unlock();
  return conn;
}

static void give_back(mp_mgr_client *c, mproc_conn_t *conn, uint32_t owed) {
  lock();
  if (c->nidle == c->capidle) {
    size_t cap = c->capidle ? 2 * c->capidle : 4;
    struct mgr_idle *p = mproc__realloc(c->idle, cap * sizeof *p);
    if (p) {
      c->idle = p;
      c->capidle = cap;
    }
  }
  int kept = c->nidle < c->capidle;
  if (kept)
    c->idle[c->nidle++] = (struct mgr_idle){conn, owed};
  unlock();
  if (!kept)
    mproc_conn_free(conn);
}

/* accept_connection(MP_MGR_SESSION): an mproc server answers the name back (native), Python's
 * None. */
static int open_object_conn(mp_mgr_client *c, int64_t deadline, mproc_conn_t **out) {
  mp_buf req;
  mproc__buf_init(&req);
  mproc_args_t *args = NULL, *reply = NULL, *r = NULL;
  int rc = mproc_args_build(&args, "s", MP_MGR_SESSION);
  if (rc == 0)
    rc = encode_request(NULL, "accept_connection", args, NULL, &req);
  if (rc == 0)
    rc = open_conn(c, deadline, out);
  if (rc == 0 && (rc = exchange(c, *out, &req, deadline, &reply)) == 0)
    rc = expect_return(reply, &r);
  if (rc == 0) {
    const char *name = NULL;
    int native = mproc_args_get_str(r, 0, &name) == 0 && strcmp(name, MP_MGR_SESSION) == 0;
    MPROC__ATOMIC_STORE(&c->native, native ? 1 : -1, MPROC__ATOMIC_RELEASE);
  }
  mproc_args_free(r);
  if (rc != 0 && *out) {
    mproc_conn_free(*out);
    *out = NULL;
  }
  mproc_args_free(args);
  mproc_args_free(reply);
  mproc__buf_free(&req);
  return rc;
}

/* One request on a pooled connection: taken idle (or opened), given back once its reply was
 * read whole, closed otherwise. */
static int pooled_exchange(mp_mgr_client *c, const mp_buf *req, int64_t deadline,
                           mproc_args_t **reply) {
  mproc_conn_t *conn = NULL;
  int rc = 0;
  if (is_dead(c)) {
    mproc__set_error_message("manager at %s is gone", c->address);
    rc = MPROC_EPEERGONE;
  }
  uint32_t owed = 0;
  if (rc == 0 && (conn = take_idle(c, &owed)) == NULL)
    rc = open_object_conn(c, deadline, &conn);
  if (rc == 0)
    rc = exchange_after(c, conn, owed, req, deadline, reply);
  if (rc == 0)
    give_back(c, conn, 0);
  else
    mproc_conn_free(conn); /* abandoned or broken: never reused */
  return rc;
}

/* Replies a connection may owe before the next post reads them: far below what the socket
 * buffers hold, so the server never blocks sending them while the client sends on. */
#define OWED_MAX 32

void mproc__mgr_server_post(mp_mgr_client *c, const char *fn, const mproc_args_t *args) {
  uint32_t owed = 0;
  mproc_conn_t *conn = NULL;
  int64_t deadline = mproc__mgr_deadline(c, 0);
  if (MPROC__ATOMIC_LOAD(&c->native, MPROC__ATOMIC_ACQUIRE) != 1 || is_dead(c) ||
      (conn = take_idle(c, &owed)) == NULL) {
    (void)mproc__mgr_server_call(c, fn, args, NULL, deadline, NULL);
    return;
  }
  mp_buf req;
  mproc__buf_init(&req);
  int rc = encode_request(NULL, fn, args, NULL, &req);
  if (rc == 0)
    rc = mproc__conn_send_msg(conn, req.data, req.len, deadline);
  if (rc == 0 && owed >= OWED_MAX && (rc = drain_owed(c, conn, owed, deadline)) == 0)
    owed = 0;
  mproc__buf_free(&req);
  if (rc == 0) {
    give_back(c, conn, owed + 1);
    return;
  }
  mproc_conn_free(conn);
  if (rc != MPROC_ENOMEM)
    (void)gone(c, rc);
}

/* 1 when the server serves server functions on pooled connections; the first call finds out
 * by opening the pool's first connection (which object calls would open anyway). */
static int session_native(mp_mgr_client *c, int64_t deadline) {
  int n = MPROC__ATOMIC_LOAD(&c->native, MPROC__ATOMIC_ACQUIRE);
  mproc_conn_t *conn = NULL;
  if (n == 0 && !is_dead(c) && open_object_conn(c, deadline, &conn) == 0) {
    give_back(c, conn, 0);
    n = MPROC__ATOMIC_LOAD(&c->native, MPROC__ATOMIC_ACQUIRE);
  }
  return n;
}

int mproc__mgr_object_call(mp_mgr_client *c, const char *ident, const char *method,
                           const mproc_args_t *args, const mproc_args_t *kwargs,
                           int64_t deadline, mproc_args_t **reply) {
  mp_buf req;
  mproc__buf_init(&req);
  int rc = encode_request(ident, method, args, kwargs, &req);
  if (rc == 0)
    rc = pooled_exchange(c, &req, deadline, reply);
  mproc__buf_free(&req);
  return rc;
}

/* --- sessions -------------------------------------------------------------------------------- */

static void session_free(mp_mgr_client *c) {
  for (size_t i = 0; i < c->nidle; i++)
    mproc_conn_free(c->idle[i].conn); /* a decref still owed a reply was sent: it is served */
  mproc__free(c->idle);
  mproc__free(c->address);
  mproc__free(c->key);
  mproc__free(c);
}

void mproc__mgr_client_ref(mp_mgr_client *c) {
  lock();
  c->refs++;
  unlock();
}

void mproc__mgr_client_unref(mp_mgr_client *c) {
  if (c == NULL)
    return;
  lock();
  int last = --c->refs == 0;
  if (last)
    for (mp_mgr_client **pp = &g_sessions; *pp; pp = &(*pp)->next)
      if (*pp == c) {
        *pp = c->next;
        break;
      }
  unlock();
  if (last)
    session_free(c);
}

static int session_new(const char *address, const void *key, size_t keylen,
                       const mproc_manager_options *o, mp_mgr_client **out) {
  mp_mgr_client *c = mproc__calloc(1, sizeof *c);
  if (c == NULL)
    return MPROC_ENOMEM;
  c->address = mproc__strdup(address);
  c->key = key ? mproc__malloc(keylen ? keylen : 1) : NULL;
  if (c->address == NULL || (key && c->key == NULL)) {
    session_free(c);
    return MPROC_ENOMEM;
  }
  if (key && keylen)
    memcpy(c->key, key, keylen);
  c->keylen = keylen;
  c->call_timeout_ms = o && o->call_timeout_ms ? o->call_timeout_ms : DEFAULT_CALL_TIMEOUT_MS;
  c->max_message = o && o->max_message ? o->max_message : DEFAULT_MAX_MESSAGE;
  c->pid = mproc__os_getpid();
  c->refs = 1;
  *out = c;
  return 0;
}

static void publish(mp_mgr_client *c) {
  lock();
  c->next = g_sessions;
  g_sessions = c;
  unlock();
}

int mproc__mgr_client_open(const char *address, const void *authkey, size_t keylen,
                           const mproc_manager_options *o, int64_t timeout_ms,
                           mp_mgr_client **out) {
  if (address == NULL || out == NULL)
    return MPROC_EINVAL;
  mp_mgr_client *c;
  int rc = session_new(address, authkey, keylen, o, &c);
  if (rc != 0)
    return rc;
  /* BaseManager.connect(): a 'dummy' ping proves the address and the key. */
  mproc_conn_t *conn = NULL;
  int64_t deadline = mproc__os_deadline(timeout_ms);
  mp_buf req;
  mproc__buf_init(&req);
  mproc_args_t *reply = NULL;
  rc = encode_request(NULL, "dummy", NULL, NULL, &req);
  if (rc == 0)
    rc = mproc_client(address, authkey, keylen, timeout_ms, &conn);
  if (rc == 0 && (rc = exchange(c, conn, &req, deadline, &reply)) == 0)
    rc = expect_return(reply, NULL);
  mproc_conn_free(conn);
  mproc_args_free(reply);
  mproc__buf_free(&req);
  if (rc != 0) {
    session_free(c);
    return rc;
  }
  publish(c);
  *out = c;
  return 0;
}

void mproc__mgr_client_free(mp_mgr_client *c) { mproc__mgr_client_unref(c); }

static int same_key(const mp_mgr_client *c, const void *key, size_t keylen, int any_key) {
  if (any_key)
    return 1;
  if (key == NULL || c->key == NULL)
    return key == NULL && c->key == NULL;
  return c->keylen == keylen && (keylen == 0 || memcmp(c->key, key, keylen) == 0);
}

int mproc__mgr_client_find(const char *address, const void *key, size_t keylen, int any_key,
                           mp_mgr_client **out) {
  int64_t pid = mproc__os_getpid();
  mp_mgr_client *found = NULL;
  lock();
  for (mp_mgr_client *c = g_sessions; c && !found; c = c->next)
    if (c->pid == pid && !is_dead(c) && strcmp(c->address, address) == 0 &&
        same_key(c, key, keylen, any_key)) {
      found = c;
      c->refs++;
    }
  unlock();
  if (found) {
    *out = found;
    return 0;
  }
  if (any_key) { /* only a key that came with the proxy itself is ever used to dial */
    mproc__set_error_message("no manager connected at %s in this process", address);
    return MPROC_ENOENT;
  }
  mp_mgr_client *c;
  int rc = session_new(address, key, keylen, NULL, &c);
  if (rc != 0)
    return rc;
  publish(c);
  *out = c;
  return 0;
}

/* --- addresses as Python writes them in a Token --------------------------------------------- */

int mproc__mgr_py_address(const char *address, mproc_args_t *a) {
  if (strncmp(address, "unix:@", 6) == 0) { /* Linux abstract name: Python's '\0name' */
    size_t n = strlen(address + 6);
    char *s = mproc__malloc(n + 2);
    if (s == NULL)
      return MPROC_ENOMEM;
    s[0] = '\0';
    memcpy(s + 1, address + 6, n + 1);
    int rc = mproc__args_add_raw(a, MPROC_ARG_STR, s, n + 2);
    mproc__free(s);
    return rc;
  }
  if (strncmp(address, "unix:", 5) == 0 || strncmp(address, "pipe:", 5) == 0)
    return mproc_args_add_str(a, address + 5);
  if (strncmp(address, "tcp:", 4) != 0)
    return MPROC_EINVAL;
  const char *host = address + 4, *colon = strrchr(host, ':');
  if (colon == NULL)
    return MPROC_EINVAL;
  size_t hl = (size_t)(colon - host);
  if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
    host++;
    hl -= 2;
  }
  char h[512];
  if (hl >= sizeof h)
    return MPROC_EINVAL;
  memcpy(h, host, hl);
  h[hl] = '\0';
  mproc_args_t *t = NULL;
  int rc = mproc_args_build(&t, "sl", h, (int64_t)strtoll(colon + 1, NULL, 10));
  if (rc == 0)
    rc = mproc_args_add_tuple(a, t);
  mproc_args_free(t);
  return rc;
}

int mproc__mgr_mp_address(const mproc_args_t *a, size_t i, char *buf, size_t cap) {
  const unsigned char *p;
  size_t n;
  uint8_t type;
  int rc = mproc__args_item(a, i, &type, &p, &n);
  if (rc != 0)
    return rc;
  int w;
  if (type == MPROC_ARG_STR && n >= 2 && p[0] == '\0')
    w = snprintf(buf, cap, "unix:@%s", (const char *)p + 1);
  else if (type == MPROC_ARG_STR)
    w = snprintf(buf, cap, "%s%s",
                 strncmp((const char *)p, "\\\\.\\pipe\\", 9) == 0 ? "pipe:" : "unix:",
                 (const char *)p);
  else {
    mproc_args_t *t = NULL;
    const char *host;
    int64_t port;
    rc = mproc_args_get_tuple(a, i, &t);
    if (rc == 0)
      rc = mproc_args_parse(t, "sl", &host, &port);
    w = rc != 0 ? -1
        : strchr(host, ':') ? snprintf(buf, cap, "tcp:[%s]:%lld", host, (long long)port)
                            : snprintf(buf, cap, "tcp:%s:%lld", host, (long long)port);
    mproc_args_free(t);
  }
  return w < 0 || (size_t)w >= cap ? MPROC_EINVAL : 0;
}

/* --- public: connecting and the server functions --------------------------------------------- */

int mproc_manager_connect(mproc_manager_t **out, const char *address, const void *authkey,
                          size_t keylen, int64_t timeout_ms) {
  if (out == NULL || address == NULL)
    return MPROC_EINVAL;
  mproc__clear_error_message();
  mproc_manager_t *m = mproc__calloc(1, sizeof *m);
  if (m == NULL)
    return MPROC_ENOMEM;
  int rc = mproc__mgr_client_open(address, authkey, keylen, NULL, timeout_ms, &m->client);
  if (rc != 0) {
    mproc__free(m);
    return rc;
  }
  *out = m;
  return 0;
}

int mproc_manager_set_call_timeout(mproc_manager_t *m, int64_t timeout_ms) {
  if (m == NULL || m->client == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  MPROC__ATOMIC_STORE(&m->client->call_timeout_ms,
                      timeout_ms == 0 ? DEFAULT_CALL_TIMEOUT_MS : timeout_ms,
                      MPROC__ATOMIC_RELAXED);
  return 0;
}

static int simple_call(mproc_manager_t *m, const char *fn, mproc_args_t **result) {
  if (m == NULL || m->client == NULL)
    return MPROC_EINVAL;
  mproc__clear_error_message();
  return mproc__mgr_server_call(m->client, fn, NULL, NULL, mproc__mgr_deadline(m->client, 0),
                                result);
}

int mproc_manager_number_of_objects(mproc_manager_t *m, size_t *n) {
  mproc_args_t *r = NULL;
  int64_t v = 0;
  int rc = n ? simple_call(m, "number_of_objects", &r) : MPROC_EINVAL;
  if (rc == 0 && (rc = mproc_args_get_int(r, 0, &v)) == 0)
    *n = (size_t)v;
  mproc_args_free(r);
  return rc;
}

int mproc_manager_debug_info(mproc_manager_t *m, char **text) {
  mproc_args_t *r = NULL;
  const char *s = NULL;
  int rc = text ? simple_call(m, "debug_info", &r) : MPROC_EINVAL;
  if (rc == 0 && (rc = mproc_args_get_str(r, 0, &s)) == 0 &&
      (*text = mproc__strdup(s)) == NULL)
    rc = MPROC_ENOMEM;
  mproc_args_free(r);
  return rc;
}

int mproc_manager_remote_shutdown(mproc_manager_t *m) {
  return simple_call(m, "shutdown", NULL);
}
