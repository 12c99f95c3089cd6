/* SPDX-License-Identifier: MIT */
/* The manager server: served in this process (mproc_manager_serve) and started in a child
 * (mproc_manager_start, every start method). C cases talk to it with mproc_client and a
 * request helper (a request tuple pickled with the codec, the reply decoded), so they run
 * under Wine too; PYTHON cases run tests/py/mgr_client.py against a Python SyncManager and
 * against the C server, for every Python 3.11-3.13 found, and compare the outputs. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <unistd.h>
#endif

#include "runner.h"
#include "mproc.h"
#include "pickle.h"

/* Checks in helpers (parent side): a failure ends the case. */
#define H_OK(e)                                                                                \
  do {                                                                                         \
    int rc_ = (e);                                                                             \
    if (rc_ != 0)                                                                              \
      t_fail(__FILE__, __LINE__, "%s: %s", #e, mproc_errname(rc_));                           \
  } while (0)
#define H_TRUE(c)                                                                              \
  do {                                                                                         \
    if (!(c))                                                                                  \
      t_fail(__FILE__, __LINE__, "%s", #c);                                                    \
  } while (0)

/* --- a request helper ----------------------------------------------------------------------- */

/* Sends (ident, method, args, {}) with args built from fmt, receives the reply and returns its
 * repr in out: "('#RETURN', None)". */
static int call(mproc_conn_t *c, const char *ident, const char *method, char *out, size_t cap,
                const char *fmt, ...) {
  mproc_args_t *args, *t, *req, *rep;
  va_list ap;
  va_start(ap, fmt);
  H_OK(mproc_args_new(&args));
  if (fmt != NULL)
    H_OK(mproc_args_vadd(args, fmt, ap));
  va_end(ap);
  H_OK(mproc_args_new(&t));
  H_OK(ident ? mproc_args_add_str(t, ident) : mproc_args_add_none(t));
  H_OK(mproc_args_add_str(t, method));
  H_OK(mproc_args_add_tuple(t, args));
  H_OK(mproc_args_add_dict(t, NULL));
  H_OK(mproc_args_new(&req));
  H_OK(mproc_args_add_tuple(req, t));
  mp_buf b;
  mproc__buf_init(&b);
  H_OK(mproc__pickle_encode(req, 0, 0, &b));
  int rc = mproc_conn_send_bytes(c, b.data, b.len, 0, b.len);
  mproc__buf_free(&b);
  mproc_args_free(req);
  mproc_args_free(t);
  mproc_args_free(args);
  if (rc != 0)
    return rc;
  void *r;
  size_t n;
  if ((rc = mproc_conn_recv_bytes(c, 1 << 24, T_SLOW(20000), &r, &n)) != 0)
    return rc;
  H_OK(mproc_args_new(&rep));
  H_OK(mproc__pickle_decode(r, n, NULL, rep));
  mproc_free(r);
  mproc_args_repr_item(rep, 0, out, cap);
  mproc_args_free(rep);
  return 0;
}

static mproc_conn_t *dial(mproc_manager_t *m) {
  const void *key;
  size_t keylen;
  mproc_conn_t *c = NULL;
  H_OK(mproc_manager_authkey(m, &key, &keylen));
  H_OK(mproc_client(mproc_manager_address(m), key, keylen, T_SLOW(10000), &c));
  return c;
}

/* A one-shot server function on its own connection, as Python clients send them. */
static void server_fn(mproc_manager_t *m, const char *method, char *out, size_t cap,
                      const char *fmt, const char *arg) {
  mproc_conn_t *c = dial(m);
  H_OK(fmt ? call(c, NULL, method, out, cap, fmt, arg) : call(c, NULL, method, out, cap, NULL));
  mproc_conn_free(c);
}

/* create(typeid): the new id copied to id. */
static void create(mproc_manager_t *m, const char *typeid, char *id, size_t cap) {
  char out[2048];
  server_fn(m, "create", out, sizeof out, "s", typeid);
  const char *p = strstr(out, "('#RETURN', ('");
  H_TRUE(p != NULL);
  p += strlen("('#RETURN', ('");
  size_t n = strcspn(p, "'");
  H_TRUE(n < cap);
  memcpy(id, p, n);
  id[n] = '\0';
}

/* An object-call connection (accept_connection answered). */
static mproc_conn_t *session(mproc_manager_t *m) {
  char out[256];
  mproc_conn_t *c = dial(m);
  H_OK(call(c, NULL, "accept_connection", out, sizeof out, "s", "MainThread"));
  H_TRUE(strcmp(out, "('#RETURN', None)") == 0);
  return c;
}

#define EXPECT_REPLY(expr, want)                                                               \
  do {                                                                                         \
    char out_[2048];                                                                           \
    ASSERT_OK(call expr);                                                                      \
    if (strcmp(out_, want) != 0)                                                               \
      t_fail(__FILE__, __LINE__, "reply %s, expected %s", out_, want);                        \
  } while (0)
#define O out_, sizeof out_

/* The C-only walk: dict set/get, a missing key, Queue put/get, Empty, counting objects. */
static void exercise(mproc_manager_t *m) {
  char d[64], q[64], out[256];
  create(m, "dict", d, sizeof d);
  create(m, "Queue", q, sizeof q);
  mproc_conn_t *c = session(m);
  EXPECT_REPLY((c, d, "__setitem__", O, "si", "k", 42), "('#RETURN', None)");
  EXPECT_REPLY((c, d, "__getitem__", O, "s", "k"), "('#RETURN', 42)");
  EXPECT_REPLY((c, d, "__getitem__", O, "s", "nope"), "('#ERROR', KeyError('nope'))");
  EXPECT_REPLY((c, q, "put", O, "s", "item"), "('#RETURN', None)");
  EXPECT_REPLY((c, q, "get", O, NULL), "('#RETURN', 'item')");
  EXPECT_REPLY((c, q, "get_nowait", O, NULL), "('#ERROR', Empty())");
  EXPECT_REPLY((c, "ffff", "get", O, NULL), "('#TRACEBACK', \"KeyError: 'ffff'\")");
  mproc_conn_free(c);
  server_fn(m, "number_of_objects", out, sizeof out, NULL, NULL);
  ASSERT_TRUE(strcmp(out, "('#RETURN', 2)") == 0);
  server_fn(m, "decref", out, sizeof out, "s", d);
  server_fn(m, "number_of_objects", out, sizeof out, NULL, NULL);
  ASSERT_TRUE(strcmp(out, "('#RETURN', 1)") == 0);
  server_fn(m, "create", out, sizeof out, "s", "Pool");
  ASSERT_TRUE(strstr(out, "is not served by this mproc manager") != NULL);
}

static mproc_manager_options local_opts(void) {
  mproc_manager_options o;
  memset(&o, 0, sizeof o);
  return o;
}

TEST(serve_basic, 60, ONCE) {
  mproc_manager_options o = local_opts();
  mproc_manager_t *m;
  ASSERT_OK(mproc_manager_serve(&m, &o));
  ASSERT_TRUE(mproc_manager_address(m) != NULL);
  exercise(m);
  ASSERT_OK(mproc_manager_shutdown(m, T_SLOW(10000)));
  ASSERT_OK(mproc_manager_shutdown(m, 0)); /* again: already stopped */
  mproc_manager_free(m);
  mproc_manager_free(NULL);
}

/* TCP: an explicit key; no host binds loopback. */
TEST(serve_tcp, 60, ONCE) {
  mproc_manager_options o = local_opts();
  o.address = "tcp::0";
  o.authkey = "tcp-key";
  o.keylen = 7;
  mproc_manager_t *m;
  ASSERT_OK(mproc_manager_serve(&m, &o));
  ASSERT_TRUE(strncmp(mproc_manager_address(m), "tcp:127.0.0.1:", 14) == 0);
  exercise(m);
  mproc_manager_free(m);
}

TEST(start_basic, 120, ALL) {
  mproc_manager_options o = local_opts();
  mproc_manager_t *m;
  ASSERT_OK(mproc_manager_start(&m, &o));
  exercise(m);
  ASSERT_OK(mproc_manager_shutdown(m, T_SLOW(10000)));
  mproc_manager_free(m);
}

/* --- registered types, in the server's process ------------------------------------------- */

static int counter_create(const mproc_args_t *a, const mproc_args_t *kw, void **obj, void *ctx) {
  (void)a, (void)kw, (void)ctx;
  int64_t *n = calloc(1, sizeof *n);
  *obj = n;
  return n ? 0 : MPROC_ENOMEM;
}

static void counter_destroy(void *obj, void *ctx) {
  (void)ctx;
  free(obj);
}

static int counter_bump(void *obj, const mproc_args_t *a, const mproc_args_t *kw,
                        mproc_args_t *res, void *ctx) {
  (void)a, (void)kw, (void)ctx;
  int64_t *n = obj;
  return mproc_args_add_int(res, ++*n);
}

static int counter_fail(void *obj, const mproc_args_t *a, const mproc_args_t *kw,
                        mproc_args_t *res, void *ctx) {
  (void)obj, (void)a, (void)kw, (void)ctx;
  return mproc_manager_raise(res, "builtins", "ValueError", "g() failed");
}

static const mproc_manager_method counter_methods[] = {{"bump", counter_bump, NULL, 0},
                                                       {"fail", counter_fail, NULL, 0},
                                                       {"same", counter_bump, "Counter", 0}};

static int setup_types(mproc_manager_t *m, const mproc_args_t *args) {
  const char *tag;
  if (mproc_args_get_str(args, 0, &tag) != 0 || strcmp(tag, "types") != 0)
    return MPROC_EINVAL;
  mproc_manager_type t;
  memset(&t, 0, sizeof t);
  t.typeid = "Counter";
  t.create = counter_create;
  t.destroy = counter_destroy;
  t.methods = counter_methods;
  t.n_methods = 3;
  int rc = mproc_manager_register(m, &t);
  mproc_manager_type q;
  memset(&q, 0, sizeof q);
  q.typeid = "get_queue";
  q.base_typeid = "Queue";
  q.singleton = 1;
  return rc ? rc : mproc_manager_register(m, &q);
}

static void exercise_types(mproc_manager_t *m) {
  char k[64], q1[64], q2[64];
  create(m, "Counter", k, sizeof k);
  create(m, "get_queue", q1, sizeof q1);
  create(m, "get_queue", q2, sizeof q2);
  ASSERT_TRUE(strcmp(q1, q2) == 0); /* the same object each time */
  mproc_conn_t *c = session(m);
  EXPECT_REPLY((c, k, "bump", O, NULL), "('#RETURN', 1)");
  EXPECT_REPLY((c, k, "bump", O, NULL), "('#RETURN', 2)");
  EXPECT_REPLY((c, k, "fail", O, NULL), "('#ERROR', ValueError('g() failed'))");
  EXPECT_REPLY((c, k, "__repr__", O, NULL), "('#RETURN', '<Counter object>')");
  EXPECT_REPLY((c, q1, "put", O, "i", 7), "('#RETURN', None)");
  EXPECT_REPLY((c, q2, "get", O, NULL), "('#RETURN', 7)");
  char out[512];
  ASSERT_OK(call(c, k, "same", out, sizeof out, NULL));
  ASSERT_TRUE(strncmp(out, "('#PROXY', (('bump', 'fail', 'same'), Token(typeid='Counter'", 58) ==
              0);
  mproc_conn_free(c);
}

static mproc_manager_options typed_opts(mproc_args_t **args) {
  mproc_manager_options o = local_opts();
  H_OK(mproc_args_build(args, "s", "types"));
  o.setup = setup_types;
  o.setup_args = *args;
  return o;
}

TEST(serve_registered, 60, ONCE) {
  mproc_args_t *args;
  mproc_manager_options o = typed_opts(&args);
  mproc_manager_t *m;
  ASSERT_OK(mproc_manager_serve(&m, &o));
  exercise_types(m);
  mproc_manager_free(m);
  mproc_args_free(args);
}

TEST(start_registered, 120, ALL) {
  mproc_args_t *args;
  mproc_manager_options o = typed_opts(&args);
  mproc_manager_t *m;
  ASSERT_OK(mproc_manager_start(&m, &o));
  mproc_args_free(args);
  exercise_types(m);
  ASSERT_OK(mproc_manager_shutdown(m, T_SLOW(10000)));
  mproc_manager_free(m);
}

TEST(register_rules, 30, ONCE) {
  mproc_manager_t *m;
  ASSERT_OK(mproc_manager_serve(&m, NULL));
  mproc_manager_type t;
  memset(&t, 0, sizeof t);
  t.typeid = "Late";
  t.create = counter_create;
  ASSERT_RC(mproc_manager_register(m, &t), MPROC_ESTATE); /* serving already */
  mproc_manager_free(m);
  mproc_manager_options o = local_opts();
  o.address = "tcp:127.0.0.1:0"; /* TCP without a key */
  ASSERT_RC(mproc_manager_serve(&m, &o), MPROC_EINVAL);
  ASSERT_RC(mproc_manager_start(&m, &o), MPROC_EINVAL);
}

/* --- shutdown wakes blocked calls; hostile frames -------------------------------------------- */

typedef struct blocked {
  mproc_manager_t *m;
  const char *q;
  char out[256];
  int rc;
} blocked;

static int get_blocked(const mproc_args_t *a) {
  (void)a;
  return 0;
}

TEST(shutdown_wakes_get, 60, ONCE) {
  mproc_manager_t *m;
  ASSERT_OK(mproc_manager_serve(&m, NULL));
  char q[64], out[256];
  create(m, "Queue", q, sizeof q);
  mproc_conn_t *c = session(m);
  /* the request goes out; the reply comes only once the server stops */
  mproc_args_t *t, *req, *empty;
  H_OK(mproc_args_new(&t));
  H_OK(mproc_args_new(&empty));
  H_OK(mproc_args_add_str(t, q));
  H_OK(mproc_args_add_str(t, "get"));
  H_OK(mproc_args_add_tuple(t, empty));
  H_OK(mproc_args_add_dict(t, NULL));
  H_OK(mproc_args_new(&req));
  H_OK(mproc_args_add_tuple(req, t));
  mp_buf b;
  mproc__buf_init(&b);
  H_OK(mproc__pickle_encode(req, 0, 0, &b));
  ASSERT_OK(mproc_conn_send_bytes(c, b.data, b.len, 0, b.len));
  ASSERT_RC(mproc_conn_poll(c, 200), 0); /* blocked */
  ASSERT_OK(mproc_manager_shutdown(m, T_SLOW(10000)));
  void *r;
  size_t n;
  ASSERT_OK(mproc_conn_recv_bytes(c, 1 << 20, T_SLOW(5000), &r, &n));
  mproc_args_t *rep;
  H_OK(mproc_args_new(&rep));
  H_OK(mproc__pickle_decode(r, n, NULL, rep));
  mproc_args_repr_item(rep, 0, out, sizeof out);
  ASSERT_TRUE(strstr(out, "'#ERROR', RuntimeError('the manager is shutting down')") != NULL);
  mproc_free(r);
  mproc_args_free(rep);
  mproc__buf_free(&b);
  mproc_args_free(req);
  mproc_args_free(empty);
  mproc_args_free(t);
  mproc_conn_free(c);
  mproc_manager_free(m);
  (void)get_blocked;
}

TEST(hostile_frames, 60, ONCE) {
  mproc_manager_t *m;
  ASSERT_OK(mproc_manager_serve(&m, NULL));
  mproc_conn_t *c = session(m);
  /* garbage, os.system via REDUCE, nesting past the limit: each answered, the session lives */
  static const char garbage[] = "\x80\x04\xff\xff not a pickle";
  static const char evil[] = "\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R.";
  char deep[300];
  size_t nd = 0;
  deep[nd++] = (char)0x80;
  deep[nd++] = 4;
  for (int i = 0; i < 100; i++)
    deep[nd++] = ']';
  for (int i = 0; i < 99; i++)
    deep[nd++] = 'a';
  deep[nd++] = '.';
  static const char xml[] = "<?xml version='1.0'?><methodCall></methodCall>";
  const char *frames[] = {garbage, evil, deep, xml};
  size_t lens[] = {sizeof garbage - 1, sizeof evil - 1, nd, sizeof xml - 1};
  for (int i = 0; i < 4; i++) {
    ASSERT_OK(mproc_conn_send_bytes(c, frames[i], lens[i], 0, lens[i]));
    void *r;
    size_t n;
    ASSERT_OK(mproc_conn_recv_bytes(c, 1 << 20, T_SLOW(5000), &r, &n));
    mproc_args_t *rep;
    char out[512];
    H_OK(mproc_args_new(&rep));
    H_OK(mproc__pickle_decode(r, n, NULL, rep));
    mproc_args_repr_item(rep, 0, out, sizeof out);
    if (strncmp(out, "('#TRACEBACK', 'mproc: request refused", 38) != 0 &&
        strncmp(out, "('#TRACEBACK', \"mproc: request refused", 38) != 0)
      t_fail(__FILE__, __LINE__, "reply %s", out);
    if (i == 1)
      ASSERT_TRUE(strstr(out, "os.system") != NULL);
    mproc_free(r);
    mproc_args_free(rep);
  }
  char d[64];
  create(m, "dict", d, sizeof d);
  EXPECT_REPLY((c, d, "__len__", O, NULL), "('#RETURN', 0)"); /* still served */
  mproc_conn_free(c);
  mproc_manager_free(m);
}

/* A frame above max_message ends that connection only. */
TEST(oversized_frame, 30, ONCE) {
  mproc_manager_options o = local_opts();
  o.max_message = 1024;
  mproc_manager_t *m;
  ASSERT_OK(mproc_manager_serve(&m, &o));
  mproc_conn_t *c = session(m);
  static char big[4096];
  memset(big, 'x', sizeof big);
  int rc = mproc_conn_send_bytes(c, big, sizeof big, 0, sizeof big);
  ASSERT_TRUE(rc == 0 || rc == MPROC_EPEERGONE); /* the server may close before the body */
  void *r = NULL;
  size_t n;
  rc = mproc_conn_recv_bytes(c, 1 << 20, T_SLOW(5000), &r, &n);
  ASSERT_TRUE(rc == MPROC_EEOF || rc == MPROC_EPEERGONE);
  mproc_conn_free(c);
  char d[64];
  create(m, "dict", d, sizeof d); /* others are still served */
  mproc_manager_free(m);
}

TEST(wrong_key, 30, ONCE) {
  mproc_manager_t *m;
  ASSERT_OK(mproc_manager_serve(&m, NULL));
  mproc_conn_t *c = NULL;
  ASSERT_RC(mproc_client(mproc_manager_address(m), "wrong", 5, T_SLOW(10000), &c), MPROC_EAUTH);
  mproc_manager_free(m);
}

/* max_connections: a second client is not served while the first holds the only slot; it is
 * once the first leaves. */
TEST(max_connections, 60, ONCE) {
  mproc_manager_options o = local_opts();
  o.max_connections = 1;
  mproc_manager_t *m;
  ASSERT_OK(mproc_manager_serve(&m, &o));
  const void *key;
  size_t keylen;
  ASSERT_OK(mproc_manager_authkey(m, &key, &keylen));
  mproc_conn_t *first = session(m), *second = NULL;
  t_sleep_ms(300); /* the accepting thread is back to waiting for a free slot */
  ASSERT_TRUE(mproc_client(mproc_manager_address(m), key, keylen, 500, &second) != 0);
  mproc_conn_free(first);
  ASSERT_OK(mproc_client(mproc_manager_address(m), key, keylen, T_SLOW(10000), &second));
  mproc_conn_free(second);
  mproc_manager_free(m);
}

/* --- clients that die holding references ------------------------------------------------- */

/* A child: creates objects through one-shot connections, as Python clients do, and exits
 * without a decref. */
static int leaky_child(const mproc_args_t *a) {
  const char *address;
  const void *key;
  size_t keylen;
  C_OK(mproc_args_get_str(a, 0, &address));
  C_OK(mproc_args_get_bytes(a, 1, &key, &keylen));
  const char *types[] = {"dict", "list", "Queue"};
  for (int i = 0; i < 3; i++) {
    mproc_conn_t *c;
    char out[512];
    C_OK(mproc_client(address, key, keylen, 10000, &c));
    C_OK(call(c, NULL, "create", out, sizeof out, "s", types[i]));
    C_TRUE(strncmp(out, "('#RETURN', ('", 14) == 0);
    mproc_conn_free(c);
  }
  return 0;
}

static int64_t objects(mproc_manager_t *m) {
  char out[256];
  server_fn(m, "number_of_objects", out, sizeof out, NULL, NULL);
  H_TRUE(strncmp(out, "('#RETURN', ", 12) == 0);
  return strtoll(out + 12, NULL, 10);
}

/* number_of_objects stays flat over cycles of children that die holding references: the
 * server drops what an exited process held (unix sockets and named pipes tell the peer). */
static void dead_clients(int started) {
  mproc_manager_t *m;
  ASSERT_OK(started ? mproc_manager_start(&m, NULL) : mproc_manager_serve(&m, NULL));
  const void *key;
  size_t keylen;
  ASSERT_OK(mproc_manager_authkey(m, &key, &keylen));
  char d[64];
  create(m, "dict", d, sizeof d); /* ours: this process lives on, so it stays */
  for (int cycle = 0; cycle < 5; cycle++) {
    mproc_process_t *p;
    ASSERT_OK(mproc_process_newf(&p, leaky_child, "sy", mproc_manager_address(m), key, keylen));
    ASSERT_OK(mproc_process_allow_fork_with_threads(p, 1)); /* server threads: the child only
                                                               connects to them */
    ASSERT_OK(mproc_process_start(p));
    ASSERT_OK(mproc_process_join(p, T_SLOW(30000)));
    int code = -1;
    ASSERT_OK(mproc_process_exitcode(p, &code));
    ASSERT_EQ(code, 0);
    mproc_process_free(p);
    int64_t n = 0;
    for (int i = 0; i < T_SLOW(100) && (n = objects(m)) != 1; i++)
      t_sleep_ms(50);
    ASSERT_EQ(n, 1);
  }
  ASSERT_OK(mproc_manager_shutdown(m, T_SLOW(10000)));
  mproc_manager_free(m);
}

TEST(dead_clients_serve, 120, ALL) { dead_clients(0); }
TEST(dead_clients_start, 120, ALL) { dead_clients(1); }

/* A child: a client holding four proxies, waiting to be killed. */
static int holding_child(const mproc_args_t *a) {
  const char *address;
  const void *key;
  size_t keylen;
  mproc_manager_t *m;
  mproc_proxy_t *p[4];
  C_OK(mproc_args_get_str(a, 0, &address));
  C_OK(mproc_args_get_bytes(a, 1, &key, &keylen));
  C_OK(mproc_manager_connect(&m, address, key, keylen, 30000));
  C_OK(mproc_manager_dict(m, &p[0]));
  C_OK(mproc_manager_list(m, &p[1]));
  C_OK(mproc_manager_queue(m, 0, &p[2]));
  C_OK(mproc_manager_lock(m, &p[3]));
  C_OK(mproc_mlock_acquire(p[3], 0)); /* held when it dies, too */
  for (;;)
    t_sleep_ms(1000);
}

static int64_t objects_become(mproc_manager_t *m, int64_t want) {
  int64_t n = -1;
  for (int i = 0; i < T_SLOW(600) && (n = objects(m)) != want; i++)
    t_sleep_ms(20);
  return n;
}

/* 100 cycles of a client child that creates proxies and is killed (SIGKILL; TerminateProcess
 * on Windows) while it holds them: number_of_objects comes back to where it was every time. */
TEST(killed_clients_100, 600, ALL) {
  mproc_manager_t *m;
  ASSERT_OK(mproc_manager_start(&m, NULL));
  const void *key;
  size_t keylen;
  ASSERT_OK(mproc_manager_authkey(m, &key, &keylen));
  char d[64];
  create(m, "dict", d, sizeof d);
  for (int cycle = 0; cycle < 100; cycle++) {
    mproc_process_t *p;
    ASSERT_OK(mproc_process_newf(&p, holding_child, "sy", mproc_manager_address(m), key,
                                 keylen));
    ASSERT_OK(mproc_process_start(p));
    ASSERT_EQ(objects_become(m, 5), 5);
    ASSERT_OK(mproc_process_kill(p));
    ASSERT_OK(mproc_process_join(p, T_SLOW(30000)));
    mproc_process_free(p);
    ASSERT_EQ(objects_become(m, 1), 1);
  }
  ASSERT_OK(mproc_manager_shutdown(m, T_SLOW(10000)));
  mproc_manager_free(m);
}

/* A child: reads the list proxy it was given (an incref under its own pid), frees it (the
 * decref is sent, its reply never read) and exits at once. */
static int drop_and_exit(const mproc_args_t *a) {
  mproc_proxy_t *lst;
  C_OK(mproc_args_parse(a, "M", &lst));
  mproc_proxy_free(lst);
  return 0;
}

/* Children that free a proxy and exit at once: the server may find a child dead before it
 * reads the child's last decref; that decref must not take the reference this process
 * holds (it once did, and the list vanished under its owner). */
TEST(children_free_and_exit, 120, ALL) {
  mproc_manager_t *m;
  mproc_proxy_t *lst;
  ASSERT_OK(mproc_manager_start(&m, NULL));
  ASSERT_OK(mproc_manager_list(m, &lst));
  for (int cycle = 0; cycle < 25; cycle++) {
    mproc_process_t *p[3];
    for (int i = 0; i < 3; i++) {
      ASSERT_OK(mproc_process_newf(&p[i], drop_and_exit, "M", lst));
      ASSERT_OK(mproc_process_start(p[i]));
    }
    for (int i = 0; i < 3; i++) {
      ASSERT_OK(mproc_process_join(p[i], T_SLOW(30000)));
      int code = -1;
      ASSERT_OK(mproc_process_exitcode(p[i], &code));
      ASSERT_EQ(code, 0);
      mproc_process_free(p[i]);
    }
    size_t n = 99;
    ASSERT_OK(mproc_list_len(lst, &n));
    ASSERT_EQ(n, 0);
  }
  ASSERT_EQ(objects_become(m, 1), 1);
  mproc_proxy_free(lst);
  ASSERT_EQ(objects_become(m, 0), 0);
  ASSERT_OK(mproc_manager_shutdown(m, T_SLOW(10000)));
  mproc_manager_free(m);
}

/* --- many clients at once ------------------------------------------------------------------- */

/* A child: 50 appends to the list through its own session, and a lock held around a
 * read-modify-write of a dict counter (lost updates would show in the total). */
static int busy_child(const mproc_args_t *a) {
  const char *address, *lst, *d, *lk;
  const void *key;
  size_t keylen;
  int64_t id;
  C_OK(mproc_args_parse(a, "sysssl", &address, &key, &keylen, &lst, &d, &lk, &id));
  mproc_conn_t *c;
  char out[256];
  C_OK(mproc_client(address, key, keylen, 10000, &c));
  C_OK(call(c, NULL, "accept_connection", out, sizeof out, "s", "busy"));
  for (int i = 0; i < 50; i++) {
    C_OK(call(c, lst, "append", out, sizeof out, "l", id * 1000 + i));
    C_OK(call(c, lk, "acquire", out, sizeof out, NULL));
    C_TRUE(strcmp(out, "('#RETURN', True)") == 0);
    C_OK(call(c, d, "get", out, sizeof out, "si", "n", 0));
    int64_t n = strtoll(out + strlen("('#RETURN', "), NULL, 10);
    C_OK(call(c, d, "__setitem__", out, sizeof out, "sl", "n", n + 1));
    C_OK(call(c, lk, "release", out, sizeof out, NULL));
    C_TRUE(strcmp(out, "('#RETURN', None)") == 0);
  }
  mproc_conn_free(c);
  return 0;
}

TEST(many_clients, 180, ALL) {
  mproc_manager_t *m;
  ASSERT_OK(mproc_manager_start(&m, NULL));
  const void *key;
  size_t keylen;
  ASSERT_OK(mproc_manager_authkey(m, &key, &keylen));
  char lst[64], d[64], lk[64];
  create(m, "list", lst, sizeof lst);
  create(m, "dict", d, sizeof d);
  create(m, "Lock", lk, sizeof lk);
  enum { NPROC = 4 };
  mproc_process_t *p[NPROC];
  for (int i = 0; i < NPROC; i++) {
    ASSERT_OK(mproc_process_newf(&p[i], busy_child, "sysssl", mproc_manager_address(m), key,
                                 keylen, lst, d, lk, (int64_t)i));
    ASSERT_OK(mproc_process_start(p[i]));
  }
  for (int i = 0; i < NPROC; i++) {
    int code = -1;
    ASSERT_OK(mproc_process_join(p[i], T_SLOW(60000)));
    ASSERT_OK(mproc_process_exitcode(p[i], &code));
    ASSERT_EQ(code, 0);
    mproc_process_free(p[i]);
  }
  mproc_conn_t *c = session(m);
  EXPECT_REPLY((c, lst, "__len__", O, NULL), "('#RETURN', 200)");
  EXPECT_REPLY((c, d, "__getitem__", O, "s", "n"), "('#RETURN', 200)");
  mproc_conn_free(c);
  ASSERT_OK(mproc_manager_shutdown(m, T_SLOW(10000)));
  mproc_manager_free(m);
}

/* --- sync types across connections (runs under Wine too) -------------------------------------- */

/* A child: waits for the event, then meets the parent at the barrier; exits with its index. */
static int sync_child(const mproc_args_t *a) {
  const char *address, *ev, *bar;
  const void *key;
  size_t keylen;
  C_OK(mproc_args_parse(a, "syss", &address, &key, &keylen, &ev, &bar));
  mproc_conn_t *c;
  char out[256];
  C_OK(mproc_client(address, key, keylen, 10000, &c));
  C_OK(call(c, NULL, "accept_connection", out, sizeof out, "s", "child"));
  C_OK(call(c, ev, "wait", out, sizeof out, "d", 30.0));
  C_TRUE(strcmp(out, "('#RETURN', True)") == 0);
  C_OK(call(c, bar, "wait", out, sizeof out, "d", 30.0));
  mproc_conn_free(c);
  return strcmp(out, "('#RETURN', 0)") == 0 ? 10 : strcmp(out, "('#RETURN', 1)") == 0 ? 11 : 1;
}

TEST(sync_across_connections, 120, ALL) {
  mproc_manager_t *m;
  ASSERT_OK(mproc_manager_start(&m, NULL));
  const void *key;
  size_t keylen;
  ASSERT_OK(mproc_manager_authkey(m, &key, &keylen));
  char ev[64], bar[64], rl[64], bs[64];
  create(m, "Event", ev, sizeof ev);
  char out[256];
  server_fn(m, "create", out, sizeof out, "s", "Barrier"); /* parties missing: an error */
  ASSERT_TRUE(strncmp(out, "('#TRACEBACK', ", 15) == 0);
  mproc_conn_t *c = session(m), *c2 = session(m);
  {
    mproc_conn_t *k = dial(m);
    ASSERT_OK(call(k, NULL, "create", out, sizeof out, "si", "Barrier", 2));
    mproc_conn_free(k);
    const char *p = strstr(out, "('#RETURN', ('") + 14;
    size_t n = strcspn(p, "'");
    memcpy(bar, p, n);
    bar[n] = '\0';
  }
  mproc_process_t *p;
  ASSERT_OK(mproc_process_newf(&p, sync_child, "syss", mproc_manager_address(m), key, keylen, ev,
                               bar));
  ASSERT_OK(mproc_process_start(p));
  EXPECT_REPLY((c, ev, "is_set", O, NULL), "('#RETURN', False)");
  t_sleep_ms(100);
  EXPECT_REPLY((c, ev, "set", O, NULL), "('#RETURN', None)");
  char mine[256];
  ASSERT_OK(call(c, bar, "wait", mine, sizeof mine, "d", 30.0));
  int code = -1;
  ASSERT_OK(mproc_process_join(p, T_SLOW(30000)));
  ASSERT_OK(mproc_process_exitcode(p, &code));
  mproc_process_free(p);
  ASSERT_TRUE((code == 10 && strcmp(mine, "('#RETURN', 1)") == 0) ||
              (code == 11 && strcmp(mine, "('#RETURN', 0)") == 0));
  /* RLock: owned by the thread serving c; c2's thread may not release it */
  create(m, "RLock", rl, sizeof rl);
  EXPECT_REPLY((c, rl, "acquire", O, NULL), "('#RETURN', True)");
  EXPECT_REPLY((c2, rl, "acquire", O, "?d", 1, 0.05), "('#RETURN', False)");
  EXPECT_REPLY((c2, rl, "release", O, NULL),
               "('#ERROR', RuntimeError('cannot release un-acquired lock'))");
  EXPECT_REPLY((c, rl, "release", O, NULL), "('#RETURN', None)");
  create(m, "BoundedSemaphore", bs, sizeof bs);
  EXPECT_REPLY((c2, bs, "release", O, NULL),
               "('#ERROR', ValueError('Semaphore released too many times'))");
  mproc_conn_free(c2);
  mproc_conn_free(c);
  ASSERT_OK(mproc_manager_shutdown(m, T_SLOW(10000)));
  mproc_manager_free(m);
}

/* --- against Python ------------------------------------------------------------------------- */

#ifndef _WIN32
/* Runs the script with the arguments; its output in a malloc'd string. */
static char *run_script(const char *py, const char *args) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "%s %s %s 2>&1", py, MPROC_TEST_MGR_CLIENT, args);
  FILE *f = popen(cmd, "r");
  H_TRUE(f != NULL);
  size_t n = 0, cap = 1 << 16;
  char *buf = malloc(cap);
  size_t got;
  while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += got;
    if (n + 1 == cap)
      buf = realloc(buf, cap *= 2);
  }
  buf[n] = '\0';
  pclose(f);
  return buf;
}

static void hexkey(mproc_manager_t *m, char *out) {
  const void *key;
  size_t n;
  H_OK(mproc_manager_authkey(m, &key, &n));
  for (size_t i = 0; i < n; i++)
    sprintf(out + 2 * i, "%02x", ((const unsigned char *)key)[i]);
}

/* The first line where a and b differ, reported. */
static void same_lines(const char *want, const char *got) {
  const char *a = want, *b = got;
  int line = 1, diffs = 0;
  while (*a || *b) {
    size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
    if (la != lb || memcmp(a, b, la) != 0) {
      fprintf(stderr, "line %d differs:\n  python: %.*s\n  mproc:  %.*s\n", line, (int)la, a,
              (int)lb, b);
      diffs++;
    }
    a += la + (a[la] == '\n');
    b += lb + (b[lb] == '\n');
    line++;
  }
  if (diffs > 0)
    t_fail(__FILE__, __LINE__, "%d lines differ from Python's", diffs);
}

static void against_python(int minor, int started, const char *address) {
  char py[600];
  if (!t_find_python(minor, py, sizeof py))
    t_skip("that Python is not installed");
  char *want = run_script(py, "python");
  ASSERT_TRUE(strstr(want, "dict.setitem -> None") != NULL);
  mproc_manager_options o = local_opts();
  o.address = address;
  if (address != NULL) {
    o.authkey = "tcp-key";
    o.keylen = 7;
  }
  mproc_manager_t *m;
  ASSERT_OK(started ? mproc_manager_start(&m, &o) : mproc_manager_serve(&m, &o));
  char args[700], key[200];
  hexkey(m, key);
  snprintf(args, sizeof args, "connect '%s' %s", mproc_manager_address(m), key);
  char *got = run_script(py, args);
  same_lines(want, got);
  snprintf(args, sizeof args, "badkey '%s'", mproc_manager_address(m));
  free(got);
  got = run_script(py, args);
  ASSERT_TRUE(strstr(got, "AuthenticationError") != NULL);
  ASSERT_OK(mproc_manager_shutdown(m, T_SLOW(10000)));
  mproc_manager_free(m);
  free(got);
  free(want);
}

TEST(python311_serve, 180, PYTHON_ONCE) { against_python(11, 0, NULL); }
TEST(python312_serve, 180, PYTHON_ONCE) { against_python(12, 0, NULL); }
TEST(python313_serve, 180, PYTHON_ONCE) { against_python(13, 0, NULL); }
TEST(python311_serve_tcp, 180, PYTHON_ONCE) { against_python(11, 0, "tcp:127.0.0.1:0"); }
TEST(python311_start, 180, PYTHON_ALL) { against_python(11, 1, NULL); }
TEST(python312_start, 180, PYTHON_ALL) { against_python(12, 1, NULL); }
TEST(python313_start, 180, PYTHON_ALL) { against_python(13, 1, NULL); }
TEST(python313_serve_tcp, 180, PYTHON_ONCE) { against_python(13, 0, "tcp:127.0.0.1:0"); }

/* Python clients killed while holding proxies: their references are dropped (Python's own
 * server keeps them until it stops). */
TEST(python_killed_clients, 120, PYTHON_ONCE) {
  char py[600];
  if (!t_find_python(11, py, sizeof py))
    t_skip("python3.11 is not installed");
  mproc_manager_t *m;
  ASSERT_OK(mproc_manager_serve(&m, NULL));
  char args[700], key[200];
  hexkey(m, key);
  snprintf(args, sizeof args, "killed '%s' %s", mproc_manager_address(m), key);
  for (int cycle = 0; cycle < 5; cycle++) {
    char *out = run_script(py, args);
    ASSERT_TRUE(strstr(out, "holding 4") != NULL);
    free(out);
    int64_t n = -1;
    for (int i = 0; i < T_SLOW(100) && (n = objects(m)) != 0; i++)
      t_sleep_ms(50);
    ASSERT_EQ(n, 0);
  }
  mproc_manager_free(m);
}

/* Registered C types through Python's AutoProxy: methods, an exception, a '#PROXY' reply, the
 * get_queue singleton. */
static void python_custom(int started) {
  char py[600];
  if (!t_find_python(11, py, sizeof py))
    t_skip("python3.11 is not installed");
  mproc_args_t *sargs;
  mproc_manager_options o = typed_opts(&sargs);
  mproc_manager_t *m;
  ASSERT_OK(started ? mproc_manager_start(&m, &o) : mproc_manager_serve(&m, &o));
  mproc_args_free(sargs);
  char args[700], key[200];
  hexkey(m, key);
  snprintf(args, sizeof args, "custom '%s' %s", mproc_manager_address(m), key);
  char *out = run_script(py, args);
  same_lines("counter.bump -> (1, 2)\n"
             "counter.fail -> ValueError('g() failed',)\n"
             "counter.str -> '<Counter object>'\n"
             "counter.proxy -> ('AutoProxy[Counter]', 1, 2)\n"
             "get_queue.same -> (None, 'x')\n"
             "objects -> 3\n", /* k, other and the one queue */
             out);
  free(out);
  ASSERT_OK(mproc_manager_shutdown(m, T_SLOW(10000)));
  mproc_manager_free(m);
}

/* A Python SharedMemoryManager client of a C SharedMemoryManager server: the segments it
 * creates are tracked by the C server and unlinked when it stops. */
TEST(python_shm_client, 120, PYTHON_ONCE) {
  char py[600], key[200], args[1024];
  if (!t_find_python(11, py, sizeof py))
    t_skip("python3.11 is not installed");
  mproc_manager_t *m;
  mproc_shared_memory_t *shm;
  mproc_args_t *names = NULL;
  ASSERT_OK(mproc_shared_memory_manager_start(&m, NULL));
  hexkey(m, key);
  snprintf(args, sizeof args, "shm '%s' %s", mproc_manager_address(m), key);
  char *out = run_script(py, args);
  ASSERT_TRUE(strstr(out, "tracked True 2") != NULL);
  char seg[2][256];
  const char *p = out;
  for (int i = 0; i < 2; i++) {
    p = strstr(p, "shm ");
    ASSERT_TRUE(p != NULL && sscanf(p, "shm %255s", seg[i]) == 1);
    p += 4;
    ASSERT_OK(mproc_shared_memory_attach(&shm, seg[i])); /* alive while the server runs */
    mproc_shared_memory_free(shm);
  }
  ASSERT_OK(mproc_manager_list_segments(m, &names));
  ASSERT_EQ(mproc_args_count(names), 2);
  mproc_args_free(names);
  ASSERT_OK(mproc_manager_shutdown(m, T_SLOW(10000)));
  mproc_manager_free(m);
  for (int i = 0; i < 2; i++)
    ASSERT_RC(mproc_shared_memory_attach(&shm, seg[i]), MPROC_ENOENT);
  free(out);
}

TEST(python_custom_serve, 120, PYTHON_ONCE) { python_custom(0); }
TEST(python_custom_start, 120, PYTHON_ALL) { python_custom(1); }

/* A Python client blocked in Queue.get when the server shuts down gets an error. */
TEST(python_blocked_shutdown, 120, PYTHON_ONCE) {
  char py[600];
  if (!t_find_python(11, py, sizeof py))
    t_skip("python3.11 is not installed");
  mproc_manager_t *m;
  ASSERT_OK(mproc_manager_serve(&m, NULL));
  char cmd[2048], key[200], line[256] = "";
  hexkey(m, key);
  snprintf(cmd, sizeof cmd, "%s %s blocked '%s' %s 2>&1", py, MPROC_TEST_MGR_CLIENT,
           mproc_manager_address(m), key);
  FILE *f = popen(cmd, "r");
  ASSERT_TRUE(f != NULL);
  ASSERT_TRUE(fgets(line, sizeof line, f) != NULL);
  ASSERT_TRUE(strcmp(line, "blocking\n") == 0);
  t_sleep_ms(200);
  ASSERT_OK(mproc_manager_shutdown(m, T_SLOW(10000)));
  ASSERT_TRUE(fgets(line, sizeof line, f) != NULL);
  ASSERT_TRUE(strncmp(line, "ended with", 10) == 0);
  pclose(f);
  mproc_manager_free(m);
}
#endif
