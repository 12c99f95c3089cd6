/* SPDX-License-Identifier: MIT */
/* The manager's client side: a C client against real Python SyncManager servers (3.11, 3.12,
 * 3.13 where installed; each case skips without its interpreter), and, on every platform, the
 * parts that need no server: remote errors read from captured Python replies, and proxies
 * carried to children as arguments. */
#include "runner.h"

#include "pickle.h"
#include "proxy.h"

#ifndef _WIN32
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

static const char KEY[] = "manager-test-key";
#define KEYLEN (sizeof KEY - 1)

/* --- helpers that need no server -------------------------------------------------------------- */

static size_t unhex(const char *h, unsigned char *out) {
  size_t n = 0;
  for (; h[0] && h[1]; h += 2) {
    unsigned v;
    sscanf(h, "%2x", &v);
    out[n++] = (unsigned char)v;
  }
  return n;
}

/* mproc__mgr_result of a reply Python 3.11 pickled (hex), and the message it leaves. */
static int reply_code(const char *hex, mproc_args_t **result) {
  unsigned char buf[512];
  size_t n = unhex(hex, buf);
  mproc_args_t *v = NULL, *reply = NULL;
  mp_pickle_limits lim = {0, 0, MP_PICKLE_ANY_CALL};
  ASSERT_OK(mproc_args_new(&v));
  ASSERT_OK(mproc__pickle_decode(buf, n, &lim, v));
  ASSERT_OK(mproc_args_get_tuple(v, 0, &reply));
  int rc = mproc__mgr_result(reply, result);
  mproc_args_free(v);
  mproc_args_free(reply);
  return rc;
}

TEST(remote_errors_mapped, 30, ONCE) {
  mproc_args_t *r = NULL;
  /* ('#ERROR', KeyError('missing')) */
  ASSERT_RC(reply_code("80049532000000000000008c06234552524f52948c086275696c74696e73948c084b65"
                       "794572726f729493948c076d697373696e67948594529486942e", &r),
            MPROC_ENOENT);
  ASSERT_TRUE(strcmp(mproc_last_error_message(), "KeyError: 'missing'") == 0);
  /* ('#ERROR', IndexError('list index out of range')) */
  ASSERT_RC(reply_code("80049544000000000000008c06234552524f52948c086275696c74696e73948c0a496e"
                       "6465784572726f729493948c176c69737420696e646578206f7574206f662072616e67"
                       "65948594529486942e", &r),
            MPROC_ERANGE);
  ASSERT_TRUE(strcmp(mproc_last_error_message(), "IndexError: list index out of range") == 0);
  /* ('#ERROR', queue.Empty()) */
  ASSERT_RC(reply_code("80049522000000000000008c06234552524f52948c065f7175657565948c05456d7074"
                       "7994939429529486942e", &r),
            MPROC_EEMPTY);
  ASSERT_TRUE(strcmp(mproc_last_error_message(), "_queue.Empty") == 0);
  /* ('#ERROR', RuntimeError('release unlocked lock')): not in the table */
  ASSERT_RC(reply_code("80049544000000000000008c06234552524f52948c086275696c74696e73948c0c5275"
                       "6e74696d654572726f729493948c1572656c6561736520756e6c6f636b6564206c6f63"
                       "6b948594529486942e", &r),
            MPROC_EREMOTE);
  ASSERT_TRUE(strcmp(mproc_last_error_message(), "RuntimeError: release unlocked lock") == 0);
  /* ('#TRACEBACK', '...KeyError: \'Nope\'\n'): the last line */
  ASSERT_RC(reply_code("8004955d000000000000008c0a2354524143454241434b948c4a54726163656261636b"
                       "20286d6f737420726563656e742063616c6c206c617374293a0a202046696c65202278"
                       "2e7079222c206c696e6520310a4b65794572726f723a20274e6f7065270a9486942e",
                       &r),
            MPROC_EREMOTE);
  ASSERT_TRUE(strcmp(mproc_last_error_message(), "KeyError: 'Nope'") == 0);
  /* ('#RETURN', (1, 'a', None)) */
  ASSERT_OK(reply_code("80049516000000000000008c072352455455524e944b018c0161944e879486942e", &r));
  char text[64];
  mproc_args_repr(r, text, sizeof text);
  ASSERT_TRUE(strcmp(text, "[(1, 'a', None)]") == 0);
  mproc_args_free(r);
}

/* A proxy of a session that never connected (no server needed to encode one). */
static mproc_proxy_t *offline_proxy(const char *address, const char *typeid) {
  mp_mgr_client *c = NULL;
  mproc_proxy_t *p = NULL;
  ASSERT_OK(mproc__mgr_client_find(address, KEY, KEYLEN, 0, &c));
  ASSERT_OK(mproc__proxy_new(c, typeid, "7f01", NULL, NULL, &p));
  mproc__mgr_client_unref(c);
  return p;
}

/* The bytes under 'authkey' in the RebuildProxy kwds of item i, or NULL. */
static int proxy_key_is(const mproc_args_t *a, size_t i, const char *want) {
  mproc_args_t *o = NULL, *ra = NULL, *kw = NULL;
  int found = 0;
  if (mproc_args_get_pyobject(a, i, &o) == 0 && mproc_args_get_tuple(o, 3, &ra) == 0 &&
      mproc_args_get_dict(ra, 3, &kw) == 0)
    for (size_t k = 0; k + 1 < mproc_args_count(kw); k += 2) {
      const char *name = "";
      const void *p;
      size_t n;
      mproc_args_get_str(kw, k, &name);
      if (strcmp(name, "authkey") == 0 && mproc_args_get_bytes(kw, k + 1, &p, &n) == 0)
        found = n == strlen(want) && memcmp(p, want, n) == 0;
    }
  mproc_args_free(o);
  mproc_args_free(ra);
  mproc_args_free(kw);
  return found;
}

static int child_reads_proxy(const mproc_args_t *a) {
  char text[1024];
  mproc_args_repr_item(a, 0, text, sizeof text);
  if (strstr(text, "Token(typeid='dict', address=('127.0.0.1', 1), id='7f01')") == NULL ||
      strstr(text, "DictProxy") == NULL || strstr(text, "'authkey': <hidden>") == NULL ||
      strstr(text, KEY) != NULL || !proxy_key_is(a, 0, KEY))
    return 1;
  mproc_proxy_t *p = NULL;
  int rc = mproc_args_get_proxy(a, 0, &p); /* the incref finds nobody listening */
  return rc == MPROC_EPEERGONE && p == NULL ? 0 : 2;
}

TEST(proxy_travels_as_argument, 60, ALL) {
  mproc_proxy_t *p = offline_proxy("tcp:127.0.0.1:1", "dict");
  mproc_args_t *a = NULL, *wire = NULL;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_OK(mproc_args_add_proxy(a, p));
  ASSERT_OK(mproc_args_add_int(a, 5));
  ASSERT_EQ(t_join_code(t_start(child_reads_proxy, a)), 0);
  /* On the manager wire the key is left out; the rest is Python's RebuildProxy. */
  ASSERT_OK(mproc__proxy_wire_args(a, &wire));
  ASSERT_TRUE(wire != NULL);
  char text[1024];
  mproc_args_repr(wire, text, sizeof text);
  ASSERT_TRUE(strstr(text, KEY) == NULL);
  ASSERT_TRUE(strstr(text, "id='7f01'") != NULL);
  mp_buf b;
  mproc__buf_init(&b);
  ASSERT_OK(mproc__pickle_encode(wire, 0, 0, &b));
  ASSERT_RC(mproc__pickle_encode(a, 0, 0, &b), MPROC_EINVAL); /* never with the key */
  mproc__buf_free(&b);
  mproc_args_free(wire);
  mproc_args_free(a);
  mproc_proxy_free(p); /* its decref finds nobody: bounded, no hang */
}

TEST(py_address_forms, 30, ONCE) {
  const char *in[] = {"unix:/tmp/x.sock", "tcp:127.0.0.1:5000", "tcp:[::1]:7", "unix:@abs"};
  for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
    mproc_args_t *a = NULL;
    char back[256];
    ASSERT_OK(mproc_args_new(&a));
    ASSERT_OK(mproc__mgr_py_address(in[i], a));
    ASSERT_OK(mproc__mgr_mp_address(a, 0, back, sizeof back));
    ASSERT_TRUE(strcmp(back, in[i]) == 0);
    mproc_args_free(a);
  }
}

/* --- a scripted manager (no Python needed): canned Python replies by method name ------------- */

static const char RET_NONE[] = "8004950e000000000000008c072352455455524e944e86942e";
static const char RET_CREATE[] = "80049531000000000000008c072352455455524e948c0131948c0b5f5f6765"
                                 "746974656d5f5f948c0b5f5f7365746974656d5f5f948694869486942e";
static const char RET_7[] = "8004950f000000000000008c072352455455524e944b0786942e";
static const char RET_1[] = "8004950f000000000000008c072352455455524e944b0186942e";
static const char ERR_KEY[] = "80049532000000000000008c06234552524f52948c086275696c74696e73948c"
                              "084b65794572726f729493948c076d697373696e67948594529486942e";
/* ('#ERROR', mymod.MyError('it broke')): a user class, kept as an inert object */
static const char ERR_USER[] = "8004952f000000000000008c06234552524f52948c056d796d6f64948c074d7945"
                               "72726f729493948c0869742062726f6b65948594529486942e";
/* ('#RETURN', datetime.date(2020, 1, 2)): a global outside the subset */
static const char RET_DATE[] = "8004952c000000000000008c072352455455524e948c086461746574696d6594"
                               "8c0464617465949394430407e40102948594529486942e";
/* ('#UNSERIALIZABLE', 'Traceback ...\nTypeError: cannot pickle x\n') */
static const char UNSER[] = "80049556000000000000008c0f23554e53455249414c495a41424c45948c3e5472"
                            "6163656261636b20286d6f737420726563656e742063616c6c206c617374293a0a"
                            "547970654572726f723a2063616e6e6f74207069636b6c6520780a9486942e";

enum { FAKE_KEEP, FAKE_CLOSE, FAKE_DIE };

/* Reads one request on c and answers as Python would for the few methods the cases use;
 * 'stall' gets no answer, 'die' ends the server without one. */
static int fake_serve_one(mproc_conn_t *c) {
  void *msg = NULL;
  size_t n = 0;
  if (mproc_conn_recv_bytes(c, 1 << 20, 1000, &msg, &n) != 0)
    return FAKE_CLOSE;
  mproc_args_t *v = NULL, *req = NULL, *args = NULL;
  const char *method = "", *arg0 = "";
  mproc_args_new(&v);
  mproc__pickle_decode(msg, n, NULL, v);
  mproc_free(msg);
  mproc_args_get_tuple(v, 0, &req);
  mproc_args_get_str(req, 1, &method);
  mproc_args_get_tuple(req, 2, &args);
  mproc_args_get_str(args, 0, &arg0);
  int one_shot = mproc_args_type(req, 0) == MPROC_ARG_NONE &&
                 strcmp(method, "accept_connection") != 0; /* Python closes those */
  const char *hex = RET_NONE;
  int action = one_shot ? FAKE_CLOSE : FAKE_KEEP;
  if (strcmp(method, "create") == 0)
    hex = RET_CREATE;
  else if (strcmp(method, "__getitem__") == 0)
    hex = strcmp(arg0, "missing") == 0 ? ERR_KEY : RET_7;
  else if (strcmp(method, "number_of_objects") == 0)
    hex = RET_1;
  else if (strcmp(method, "user_error") == 0)
    hex = ERR_USER;
  else if (strcmp(method, "date") == 0)
    hex = RET_DATE;
  else if (strcmp(method, "unserializable") == 0)
    hex = UNSER;
  else if (strcmp(method, "stall") == 0)
    hex = NULL;
  else if (strcmp(method, "die") == 0)
    hex = NULL, action = FAKE_DIE;
  if (hex != NULL) {
    unsigned char out[256];
    size_t k = unhex(hex, out);
    mproc_conn_send_bytes(c, out, k, 0, k);
  }
  mproc_args_free(v);
  mproc_args_free(req);
  mproc_args_free(args);
  return action;
}

/* Serves at argument 0's address, reports the bound address on the connection in argument 1
 * and stops when the parent closes it (or at a request 'die'). */
static int fake_manager(const mproc_args_t *a) {
  const char *address;
  mproc_conn_t *report;
  mproc_listener_t *l = NULL;
  if (mproc_args_parse(a, "sP", &address, &report) != 0 ||
      mproc_listener_new(&l, address, KEY, KEYLEN, 16) != 0 ||
      mproc_conn_sendf(report, "s", mproc_listener_address(l)) != 0)
    return 1;
  mproc_conn_t *conns[64];
  size_t n = 0;
  int action = FAKE_KEEP;
  while (action != FAKE_DIE && mproc_conn_poll(report, 0) == 0) {
    mproc_conn_t *c = NULL;
    if (n < 64 && mproc_listener_accept(l, 10, &c) == 0)
      conns[n++] = c;
    for (size_t i = 0; i < n && action != FAKE_DIE; i++) {
      if (mproc_conn_poll(conns[i], 0) != 1)
        continue;
      action = fake_serve_one(conns[i]);
      if (action == FAKE_CLOSE) {
        mproc_conn_free(conns[i]);
        conns[i--] = conns[--n];
      }
    }
  }
  for (size_t i = 0; i < n; i++)
    mproc_conn_free(conns[i]);
  mproc_listener_free(l);
  return 0;
}

static void fake_session(const char *address) {
  mproc_conn_t *mine = NULL, *theirs = NULL;
  mproc_args_t *a = NULL, *got = NULL, *v = NULL;
  ASSERT_OK(mproc_pipe(1, &mine, &theirs));
  ASSERT_OK(mproc_args_build(&a, "sP", address, theirs));
  mproc_process_t *srv = t_start(fake_manager, a);
  mproc_args_free(a);
  mproc_conn_free(theirs);
  const char *bound = NULL;
  ASSERT_OK(mproc_conn_recv(mine, T_SLOW(20000), &got));
  ASSERT_OK(mproc_args_get_str(got, 0, &bound));

  mproc_manager_t *m = NULL;
  ASSERT_RC(mproc_manager_connect(&m, bound, "bad", 3, T_SLOW(10000)), MPROC_EAUTH);
  ASSERT_OK(mproc_manager_connect(&m, bound, KEY, KEYLEN, T_SLOW(10000)));
  mproc_proxy_t *d = NULL, *d2 = NULL;
  ASSERT_OK(mproc_manager_dict(m, &d));
  ASSERT_TRUE(strcmp(mproc_proxy_id(d), "1") == 0);
  ASSERT_OK(mproc_dict_setf(d, "si", "a", 1));
  ASSERT_OK(mproc_dict_getf(d, &v, "s", "a"));
  ASSERT_EQ(mproc_args_count(v), 1);
  int64_t x = 0;
  ASSERT_OK(mproc_args_get_int(v, 0, &x));
  ASSERT_EQ(x, 7);
  mproc_args_free(v);
  ASSERT_RC(mproc_dict_getf(d, &v, "s", "missing"), MPROC_ENOENT);
  ASSERT_TRUE(strcmp(mproc_last_error_message(), "KeyError: 'missing'") == 0);
  ASSERT_RC(mproc_proxy_call(d, "user_error", NULL, NULL, 0, NULL), MPROC_EREMOTE);
  ASSERT_TRUE(strcmp(mproc_last_error_message(), "mymod.MyError: it broke") == 0);
  ASSERT_RC(mproc_proxy_call(d, "unserializable", NULL, NULL, 0, NULL), MPROC_EREMOTE);
  ASSERT_TRUE(strcmp(mproc_last_error_message(),
                     "Unserializable message: TypeError: cannot pickle x") == 0);
  ASSERT_RC(mproc_proxy_call(d, "date", NULL, NULL, 0, NULL), MPROC_EPROTO);
  ASSERT_TRUE(strstr(mproc_last_error_message(), "datetime.date") != NULL);
  size_t n = 0;
  ASSERT_OK(mproc_manager_number_of_objects(m, &n));
  ASSERT_EQ(n, 1);
  /* No reply by the deadline: MPROC_ETIMEDOUT, and the next call uses another connection. */
  ASSERT_OK(mproc_manager_set_call_timeout(m, T_SLOW(300)));
  ASSERT_RC(mproc_proxy_call(d, "stall", NULL, NULL, 0, NULL), MPROC_ETIMEDOUT);
  ASSERT_OK(mproc_manager_set_call_timeout(m, T_SLOW(10000)));
  ASSERT_OK(mproc_dict_getf(d, &v, "s", "a"));
  mproc_args_free(v);
  /* The server ends mid-call: this call and every later one are MPROC_EPEERGONE. */
  ASSERT_RC(mproc_proxy_call(d, "die", NULL, NULL, 0, NULL), MPROC_EPEERGONE);
  ASSERT_EQ(t_join_code(srv), 0);
  ASSERT_RC(mproc_dict_getf(d, &v, "s", "a"), MPROC_EPEERGONE);
  ASSERT_RC(mproc_manager_dict(m, &d2), MPROC_EPEERGONE);
  mproc_proxy_free(d);
  mproc_manager_free(m);
  mproc_args_free(got);
  mproc_conn_free(mine);
  mproc_process_free(srv);
}

TEST(scripted_server_tcp, 60, ALL) { fake_session("tcp:127.0.0.1:0"); }

TEST(scripted_server_local, 60, ALL) {
  char address[600];
#ifdef _WIN32
  snprintf(address, sizeof address, "pipe:\\\\.\\pipe\\mproc-mgr-client-%d",
           (int)mproc_current_pid());
#else
  char path[512];
  t_temp_path(path, sizeof path, "fake.sock");
  snprintf(address, sizeof address, "unix:%s", path);
#endif
  fake_session(address);
}

/* --- against Python's SyncManager, and against mproc's own server ----------------------------- */

/* minor 11..13: a Python 3.<minor> SyncManager (POSIX); minor 0: mproc's server, started in a
 * child with the test's start method (every platform). */
typedef struct pysrv {
#ifndef _WIN32
  pid_t pid;
#endif
  int life; /* the server's stdin: it exits when this closes, also when the test aborts */
  mproc_manager_t *c_server;
  char address[600];
} pysrv;

static void c_start(pysrv *s, int tcp, int shm) {
  memset(s, 0, sizeof *s);
  s->life = -1;
  mproc_manager_options o = {.address = tcp ? "tcp:127.0.0.1:0" : NULL, .authkey = KEY,
                             .keylen = KEYLEN, .shared_memory = shm};
  ASSERT_OK(mproc_manager_start(&s->c_server, &o));
  snprintf(s->address, sizeof s->address, "%s", mproc_manager_address(s->c_server));
}

/* shm: a SharedMemoryManager server instead of a SyncManager one. */
static void py_start_kind(pysrv *s, int minor, int tcp, int shm) {
  if (minor == 0) {
    c_start(s, tcp, shm);
    return;
  }
#ifdef _WIN32
  t_skip("Python servers are started on POSIX only");
#else
  char py[512], where[512] = "-", keyhex[2 * sizeof KEY + 1];
  s->c_server = NULL;
  if (!t_find_python(minor, py, sizeof py))
    t_skip("no python3 of this version");
  if (!tcp) { /* a killed server leaves its socket file, and pids come back */
    t_temp_path(where, sizeof where, "mgr.sock");
    unlink(where);
  }
  for (size_t i = 0; i < KEYLEN; i++)
    snprintf(keyhex + 2 * i, 3, "%02x", (unsigned char)KEY[i]);
  int fds[2], life[2];
  ASSERT_TRUE(pipe(fds) == 0 && pipe(life) == 0);
  fcntl(life[1], F_SETFD, FD_CLOEXEC); /* children of the test must not keep it open */
  s->pid = fork();
  ASSERT_TRUE(s->pid >= 0);
  if (s->pid == 0) {
    dup2(fds[1], 1);
    dup2(life[0], 0);
    close(fds[0]);
    close(fds[1]);
    close(life[0]);
    close(life[1]);
    execl(py, py, MPROC_TEST_MGR_PYSERVER, tcp ? "tcp" : "unix", where, keyhex,
          shm ? "shm" : (char *)NULL, (char *)NULL);
    _exit(127);
  }
  close(fds[1]);
  close(life[0]);
  s->life = life[1];
  size_t n = 0;
  struct pollfd pfd = {fds[0], POLLIN, 0};
  while (n < sizeof s->address - 1 && poll(&pfd, 1, T_SLOW(30000)) == 1) {
    ssize_t got = read(fds[0], s->address + n, 1);
    if (got <= 0 || s->address[n] == '\n')
      break;
    n++;
  }
  s->address[n] = '\0';
  close(fds[0]);
  if (strncmp(s->address, tcp ? "tcp:" : "unix:", tcp ? 4 : 5) != 0)
    t_fail(__FILE__, __LINE__, "python server did not start: '%s'", s->address);
#endif
}

static void py_start(pysrv *s, int minor, int tcp) { py_start_kind(s, minor, tcp, 0); }

static void py_stop(pysrv *s) {
  if (s->c_server != NULL) {
    mproc_manager_free(s->c_server);
    s->c_server = NULL;
    return;
  }
#ifndef _WIN32
  if (s->pid > 0) {
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
  }
  if (strncmp(s->address, "unix:", 5) == 0)
    unlink(s->address + 5);
  if (s->life > 0)
    close(s->life);
  s->life = -1;
#endif
}

/* After a remote 'shutdown': the server is gone. */
static void srv_wait_gone(pysrv *s) {
  if (s->c_server != NULL) {
    ASSERT_OK(mproc_manager_join(s->c_server, T_SLOW(30000)));
    return;
  }
#ifndef _WIN32
  waitpid(s->pid, NULL, 0);
  s->pid = 0;
#endif
}

static mproc_manager_t *py_connect(pysrv *s) {
  mproc_manager_t *m = NULL;
  ASSERT_OK(mproc_manager_connect(&m, s->address, KEY, KEYLEN, T_SLOW(10000)));
  return m;
}

static void expect_repr(const mproc_args_t *a, const char *want) {
  char text[1024];
  mproc_args_repr(a, text, sizeof text);
  if (strcmp(text, want) != 0)
    t_fail(__FILE__, __LINE__, "repr %s, want %s", text, want);
}

static void expect_message(const char *want) {
  if (strcmp(mproc_last_error_message(), want) != 0)
    t_fail(__FILE__, __LINE__, "message '%s', want '%s'", mproc_last_error_message(), want);
}

/* Each body runs against 3.11, 3.12 and 3.13 over a unix socket, and 3.11 and 3.13 over TCP. */

static void dict_methods(int minor, int tcp);
TEST(dict_methods_py311, 60, PYTHON_ONCE) { dict_methods(11, 0); }
TEST(dict_methods_py312, 60, PYTHON_ONCE) { dict_methods(12, 0); }
TEST(dict_methods_py313, 60, PYTHON_ONCE) { dict_methods(13, 0); }
TEST(dict_methods_tcp_py311, 60, PYTHON_ONCE) { dict_methods(11, 1); }
TEST(dict_methods_tcp_py313, 60, PYTHON_ONCE) { dict_methods(13, 1); }
TEST(dict_methods_mproc, 60, ALL) { dict_methods(0, 0); }
TEST(dict_methods_tcp_mproc, 60, ALL) { dict_methods(0, 1); }
static void dict_methods(int minor, int tcp) {
  pysrv s;
  py_start(&s, minor, tcp);
  mproc_manager_t *m = py_connect(&s);
  mproc_proxy_t *d = NULL;
  mproc_args_t *v = NULL;
  ASSERT_OK(mproc_manager_dict(m, &d));
  ASSERT_TRUE(strcmp(mproc_proxy_typeid(d), "dict") == 0);
  ASSERT_OK(mproc_dict_setf(d, "si", "a", 1));
  ASSERT_OK(mproc_dict_setf(d, "sd", "b", 2.5));
  ASSERT_OK(mproc_dict_getf(d, &v, "s", "a"));
  expect_repr(v, "[1]");
  mproc_args_free(v);
  ASSERT_RC(mproc_dict_getf(d, &v, "s", "missing"), MPROC_ENOENT);
  expect_message("KeyError: 'missing'");
  int yes = -1;
  ASSERT_OK(mproc_dict_containsf(d, &yes, "s", "b"));
  ASSERT_EQ(yes, 1);
  ASSERT_OK(mproc_dict_containsf(d, &yes, "s", "zz"));
  ASSERT_EQ(yes, 0);
  size_t n = 0;
  ASSERT_OK(mproc_dict_len(d, &n));
  ASSERT_EQ(n, 2);
  /* values beyond flat lists: bool, big int, bytes, None, tuple, nested containers */
  mproc_args_t *kv = NULL, *t = NULL;
  unsigned char big[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0x40, 0}; /* 2**70 */
  ASSERT_OK(mproc_args_build(&kv, "s?", "flag", 1));
  ASSERT_OK(mproc_args_add_str(kv, "big"));
  ASSERT_OK(mproc_args_add_bigint(kv, big, sizeof big));
  ASSERT_OK(mproc_args_add_str(kv, "raw"));
  ASSERT_OK(mproc_args_add_bytes(kv, "\x00\x01", 2));
  ASSERT_OK(mproc_args_add_str(kv, "none"));
  ASSERT_OK(mproc_args_add_none(kv));
  ASSERT_OK(mproc_args_build(&t, "isn", 1, "x"));
  ASSERT_OK(mproc_args_add_str(kv, "tup"));
  ASSERT_OK(mproc_args_add_tuple(kv, t));
  ASSERT_OK(mproc_dict_update(d, kv));
  ASSERT_OK(mproc_dict_keys(d, &v));
  expect_repr(v, "['a', 'b', 'flag', 'big', 'raw', 'none', 'tup']");
  mproc_args_free(v);
  ASSERT_OK(mproc_proxy_getvalue(d, 0, &v));
  expect_repr(v, "[{'a': 1, 'b': 2.5, 'flag': True, 'big': 1180591620717411303424, "
                 "'raw': b'\\x00\\x01', 'none': None, 'tup': (1, 'x', None)}]");
  mproc_args_free(v);
  ASSERT_OK(mproc_dict_items(d, &v));
  ASSERT_EQ(mproc_args_count(v), 7);
  mproc_args_free(v);
  ASSERT_OK(mproc_dict_popf(d, &v, "s", "b"));
  expect_repr(v, "[2.5]");
  mproc_args_free(v);
  ASSERT_RC(mproc_dict_popf(d, &v, "s", "b"), MPROC_ENOENT);
  ASSERT_OK(mproc_dict_popf(d, &v, "si", "b", 7)); /* with a default */
  expect_repr(v, "[7]");
  mproc_args_free(v);
  ASSERT_OK(mproc_dict_delf(d, "s", "a"));
  ASSERT_RC(mproc_dict_delf(d, "s", "a"), MPROC_ENOENT);
  ASSERT_OK(mproc_proxy_callf(d, "get", 0, &v, "si", "nope", 3)); /* any method by name */
  expect_repr(v, "[3]");
  mproc_args_free(v);
  ASSERT_RC(mproc_proxy_call(d, "no_such_method", NULL, NULL, 0, NULL), MPROC_EREMOTE);
  ASSERT_TRUE(strstr(mproc_last_error_message(), "no_such_method") != NULL);
  mproc_args_free(kv);
  mproc_args_free(t);
  mproc_proxy_free(d);
  mproc_manager_free(m);
  py_stop(&s);
}

static void list_methods(int minor, int tcp);
TEST(list_methods_py311, 60, PYTHON_ONCE) { list_methods(11, 0); }
TEST(list_methods_py312, 60, PYTHON_ONCE) { list_methods(12, 0); }
TEST(list_methods_py313, 60, PYTHON_ONCE) { list_methods(13, 0); }
TEST(list_methods_tcp_py311, 60, PYTHON_ONCE) { list_methods(11, 1); }
TEST(list_methods_tcp_py313, 60, PYTHON_ONCE) { list_methods(13, 1); }
TEST(list_methods_mproc, 60, ALL) { list_methods(0, 0); }
static void list_methods(int minor, int tcp) {
  pysrv s;
  py_start(&s, minor, tcp);
  mproc_manager_t *m = py_connect(&s);
  mproc_proxy_t *l = NULL;
  mproc_args_t *v = NULL, *items = NULL, *inner = NULL, *kv = NULL;
  ASSERT_OK(mproc_manager_list(m, &l));
  ASSERT_OK(mproc_list_appendf(l, "i", 1));
  ASSERT_OK(mproc_list_appendf(l, "s", "two"));
  ASSERT_OK(mproc_args_build(&items, "dn", 3.5));
  ASSERT_OK(mproc_list_extend(l, items));
  ASSERT_OK(mproc_list_insertf(l, 0, "i", 0));
  ASSERT_OK(mproc_list_setf(l, -1, "?", 0));
  size_t n = 0;
  ASSERT_OK(mproc_list_len(l, &n));
  ASSERT_EQ(n, 5);
  ASSERT_OK(mproc_list_get(l, 2, &v));
  expect_repr(v, "['two']");
  mproc_args_free(v);
  ASSERT_RC(mproc_list_get(l, 9, &v), MPROC_ERANGE);
  expect_message("IndexError: list index out of range");
  ASSERT_RC(mproc_list_setf(l, 9, "i", 1), MPROC_ERANGE);
  ASSERT_OK(mproc_list_pop(l, -1, &v));
  expect_repr(v, "[False]");
  mproc_args_free(v);
  /* a dict nested in a list */
  ASSERT_OK(mproc_args_build(&kv, "si", "k", 9));
  ASSERT_OK(mproc_args_new(&inner));
  ASSERT_OK(mproc_args_add_dict(inner, kv));
  ASSERT_OK(mproc_proxy_call(l, "append", inner, NULL, 0, NULL));
  ASSERT_OK(mproc_proxy_getvalue(l, 0, &v));
  expect_repr(v, "[[0, 1, 'two', 3.5, {'k': 9}]]");
  mproc_args_free(v);
  mproc_args_free(items);
  mproc_args_free(inner);
  mproc_args_free(kv);
  mproc_proxy_free(l);
  mproc_manager_free(m);
  py_stop(&s);
}

static void namespace_value_array(int minor, int tcp);
TEST(namespace_value_array_py311, 60, PYTHON_ONCE) { namespace_value_array(11, 0); }
TEST(namespace_value_array_py312, 60, PYTHON_ONCE) { namespace_value_array(12, 0); }
TEST(namespace_value_array_py313, 60, PYTHON_ONCE) { namespace_value_array(13, 0); }
TEST(namespace_value_array_tcp_py311, 60, PYTHON_ONCE) { namespace_value_array(11, 1); }
TEST(namespace_value_array_tcp_py313, 60, PYTHON_ONCE) { namespace_value_array(13, 1); }
TEST(namespace_value_array_mproc, 60, ALL) { namespace_value_array(0, 0); }
static void namespace_value_array(int minor, int tcp) {
  pysrv s;
  py_start(&s, minor, tcp);
  mproc_manager_t *m = py_connect(&s);
  mproc_proxy_t *ns = NULL, *val = NULL, *arr = NULL;
  mproc_args_t *v = NULL, *init = NULL;
  ASSERT_OK(mproc_manager_namespace(m, &ns));
  ASSERT_OK(mproc_namespace_setf(ns, "x", "i", 10));
  ASSERT_OK(mproc_namespace_get(ns, "x", &v));
  expect_repr(v, "[10]");
  mproc_args_free(v);
  ASSERT_RC(mproc_namespace_get(ns, "missing", &v), MPROC_ENOENT);
  expect_message("AttributeError: 'Namespace' object has no attribute 'missing'");
  ASSERT_OK(mproc_namespace_del(ns, "x"));
  ASSERT_RC(mproc_namespace_del(ns, "x"), MPROC_ENOENT);
  ASSERT_OK(mproc_args_build(&init, "i", 5));
  ASSERT_OK(mproc_manager_value(m, 'i', init, &val));
  ASSERT_OK(mproc_mvalue_get(val, &v));
  expect_repr(v, "[5]");
  mproc_args_free(v);
  ASSERT_OK(mproc_mvalue_setf(val, "i", 42));
  ASSERT_OK(mproc_mvalue_get(val, &v));
  expect_repr(v, "[42]");
  mproc_args_free(v);
  mproc_args_free(init);
  ASSERT_OK(mproc_args_build(&init, "iii", 1, 2, 3));
  ASSERT_OK(mproc_manager_array(m, 'i', init, &arr));
  ASSERT_OK(mproc_proxy_callf(arr, "__getitem__", 0, &v, "i", 1));
  expect_repr(v, "[2]");
  mproc_args_free(v);
  ASSERT_OK(mproc_proxy_callf(arr, "__len__", 0, &v, ""));
  expect_repr(v, "[3]");
  mproc_args_free(v);
  mproc_args_free(init);
  mproc_proxy_free(ns);
  mproc_proxy_free(val);
  mproc_proxy_free(arr);
  mproc_manager_free(m);
  py_stop(&s);
}

static void queue_methods(int minor, int tcp);
TEST(queue_methods_py311, 60, PYTHON_ONCE) { queue_methods(11, 0); }
TEST(queue_methods_py312, 60, PYTHON_ONCE) { queue_methods(12, 0); }
TEST(queue_methods_py313, 60, PYTHON_ONCE) { queue_methods(13, 0); }
TEST(queue_methods_tcp_py311, 60, PYTHON_ONCE) { queue_methods(11, 1); }
TEST(queue_methods_tcp_py313, 60, PYTHON_ONCE) { queue_methods(13, 1); }
TEST(queue_methods_mproc, 60, ALL) { queue_methods(0, 0); }
static void queue_methods(int minor, int tcp) {
  pysrv s;
  py_start(&s, minor, tcp);
  mproc_manager_t *m = py_connect(&s);
  mproc_proxy_t *q = NULL, *jq = NULL;
  mproc_args_t *v = NULL;
  ASSERT_OK(mproc_manager_queue(m, 1, &q));
  ASSERT_OK(mproc_mqueue_putf(q, 0, "s", "item"));
  ASSERT_RC(mproc_mqueue_putf(q, 50, "s", "more"), MPROC_EFULL);
  expect_message("queue.Full");
  size_t n = 0;
  ASSERT_OK(mproc_mqueue_qsize(q, &n));
  ASSERT_EQ(n, 1);
  ASSERT_OK(mproc_mqueue_get(q, MPROC_FOREVER, &v));
  expect_repr(v, "['item']");
  mproc_args_free(v);
  ASSERT_RC(mproc_mqueue_get(q, 0, &v), MPROC_EEMPTY);
  ASSERT_RC(mproc_mqueue_get(q, 100, &v), MPROC_EEMPTY);
  expect_message("_queue.Empty");
  ASSERT_OK(mproc_manager_joinable_queue(m, 0, &jq));
  ASSERT_OK(mproc_mqueue_putf(jq, MPROC_FOREVER, "i", 1));
  ASSERT_OK(mproc_mqueue_get(jq, 1000, &v));
  mproc_args_free(v);
  ASSERT_OK(mproc_mqueue_task_done(jq));
  ASSERT_OK(mproc_mqueue_join(jq, 1000));
  ASSERT_RC(mproc_mqueue_task_done(jq), MPROC_EINVAL);
  expect_message("ValueError: task_done() called too many times");
  mproc_proxy_free(q);
  mproc_proxy_free(jq);
  mproc_manager_free(m);
  py_stop(&s);
}

/* Slices, _getvalue() of Namespace, Value and Array, Condition(lock), Barrier's keywords and
 * Queue.shutdown: what Python's servers answer, and mproc's the same. */
static void list_slices(mproc_manager_t *m) {
  mproc_proxy_t *l = NULL;
  mproc_args_t *init = NULL, *items = NULL, *got = NULL;
  ASSERT_OK(mproc_args_range(&init, 0, 8, 1));
  ASSERT_OK(mproc_manager_list_from(m, init, &l));
  ASSERT_OK(mproc_args_build(&items, "sss", "a", "b", "c"));
  ASSERT_OK(mproc_list_set_slice(l, 1, 3, MPROC_SLICE_NONE, items));
  ASSERT_OK(mproc_list_get_slice(l, MPROC_SLICE_NONE, MPROC_SLICE_NONE, MPROC_SLICE_NONE, &got));
  expect_repr(got, "[0, 'a', 'b', 'c', 3, 4, 5, 6, 7]");
  mproc_args_free(got);
  ASSERT_OK(mproc_list_del_slice(l, MPROC_SLICE_NONE, MPROC_SLICE_NONE, 2));
  ASSERT_OK(mproc_list_get_slice(l, MPROC_SLICE_NONE, MPROC_SLICE_NONE, -1, &got));
  expect_repr(got, "[6, 4, 'c', 'a']");
  mproc_args_free(got);
  mproc_args_free(items);
  ASSERT_OK(mproc_args_build(&items, "i", 1));
  ASSERT_RC(mproc_list_set_slice(l, MPROC_SLICE_NONE, MPROC_SLICE_NONE, 2, items), MPROC_EINVAL);
  expect_message("ValueError: attempt to assign sequence of size 1 to extended slice of size 2");
  ASSERT_RC(mproc_list_get_slice(l, 0, 1, 0, &got), MPROC_EINVAL);
  expect_message("ValueError: slice step cannot be zero");
  ASSERT_OK(mproc_list_del_slice(l, -1, MPROC_SLICE_NONE, MPROC_SLICE_NONE));
  ASSERT_OK(mproc_list_get_slice(l, MPROC_SLICE_NONE, MPROC_SLICE_NONE, MPROC_SLICE_NONE, &got));
  expect_repr(got, "['a', 'c', 4]");
  mproc_args_free(got);
  mproc_args_free(items);
  mproc_args_free(init);
  mproc_proxy_free(l);
}

static void getvalues(mproc_manager_t *m) {
  mproc_proxy_t *ns = NULL, *val = NULL, *arr = NULL;
  mproc_args_t *v = NULL, *init = NULL, *a = NULL, *o = NULL, *parts = NULL;
  ASSERT_OK(mproc_manager_namespace(m, &ns));
  ASSERT_OK(mproc_proxy_getvalue(ns, 0, &v));
  expect_repr(v, "[Namespace()]");
  mproc_args_free(v);
  ASSERT_OK(mproc_namespace_setf(ns, "x", "i", 10));
  ASSERT_OK(mproc_proxy_getvalue(ns, 0, &v));
  expect_repr(v, "[Namespace(x=10)]");
  mproc_args_free(v);
  ASSERT_OK(mproc_args_build(&init, "d", 2.5));
  ASSERT_OK(mproc_manager_value(m, 'd', init, &val));
  ASSERT_OK(mproc_proxy_getvalue(val, 0, &v));
  expect_repr(v, "[Value('d', 2.5)]");
  mproc_args_free(v);
  mproc_args_free(init);
  ASSERT_OK(mproc_args_range(&init, 0, 6, 1));
  ASSERT_OK(mproc_manager_array(m, 'h', init, &arr));
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_OK(mproc_args_add_slice(a, 1, MPROC_SLICE_NONE, 2));
  ASSERT_OK(mproc_proxy_call(arr, "__getitem__", a, NULL, 0, &v));
  expect_repr(v, "[array('h', b'\\x01\\x00\\x03\\x00\\x05\\x00')]"); /* managers.reduce_array */
  mproc_args_free(v);
  ASSERT_OK(mproc_proxy_getvalue(arr, 0, &v));
  ASSERT_OK(mproc_args_get_pyobject(v, 0, &o));
  ASSERT_OK(mproc_args_get_tuple(o, 3, &parts));
  expect_repr(parts, "['h', b'\\x00\\x00\\x01\\x00\\x02\\x00\\x03\\x00\\x04\\x00\\x05\\x00']");
  mproc_args_free(parts);
  mproc_args_free(o);
  mproc_args_free(v);
  mproc_args_free(a);
  /* arr[0:2] = array('h', [9]) from C, read back through mproc_args_get_pyarray */
  mproc_args_t *nine = NULL, *items = NULL;
  char tc = 0;
  ASSERT_OK(mproc_args_build(&nine, "i", 9));
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_OK(mproc_args_add_slice(a, 0, 2, MPROC_SLICE_NONE));
  ASSERT_OK(mproc_args_add_pyarray(a, 'h', nine));
  ASSERT_OK(mproc_proxy_call(arr, "__setitem__", a, NULL, 0, NULL));
  ASSERT_OK(mproc_proxy_getvalue(arr, 0, &v));
  ASSERT_OK(mproc_args_get_pyarray(v, 0, &tc, &items));
  ASSERT_EQ(tc, 'h');
  expect_repr(items, "[9, 2, 3, 4, 5]");
  ASSERT_RC(mproc_args_get_pyarray(nine, 0, &tc, &items), MPROC_ETYPE);
  mproc_args_free(items);
  mproc_args_free(v);
  mproc_args_free(a);
  ASSERT_OK(mproc_args_new(&a)); /* a list is not an array: Python's TypeError */
  ASSERT_OK(mproc_args_add_slice(a, 0, 2, MPROC_SLICE_NONE));
  ASSERT_OK(mproc_args_add_list(a, nine));
  ASSERT_RC(mproc_proxy_call(arr, "__setitem__", a, NULL, 0, NULL), MPROC_ETYPE);
  expect_message("TypeError: can only assign array (not \"list\") to array slice");
  mproc_args_free(a);
  mproc_args_free(nine);
  mproc_args_free(init);
  mproc_proxy_free(ns);
  mproc_proxy_free(val);
  mproc_proxy_free(arr);
}

/* Condition(RLock): Python's server wraps the RLock in a proxy of its own, whose owner is not
 * the caller, so wait() raises there; mproc's uses the RLock itself. */
static void condition_rlock(mproc_manager_t *m) {
  mproc_proxy_t *rl = NULL, *c = NULL;
  mproc_args_t *r = NULL;
  ASSERT_OK(mproc_manager_rlock(m, &rl));
  ASSERT_OK(mproc_manager_condition_of(m, rl, &c));
  ASSERT_OK(mproc_mlock_acquire(c, MPROC_FOREVER));
  ASSERT_OK(mproc_mlock_acquire(rl, 0)); /* recursive: this thread owns it */
  ASSERT_OK(mproc_proxy_callf(c, "wait", 0, &r, "d", 0.05));
  expect_repr(r, "[False]");
  mproc_args_free(r);
  ASSERT_OK(mproc_mlock_release(rl));
  ASSERT_OK(mproc_mlock_release(c));
  ASSERT_RC(mproc_mlock_release(rl), MPROC_EREMOTE);
  mproc_proxy_free(c);
  mproc_proxy_free(rl);
  mproc_proxy_t *d = NULL;
  ASSERT_OK(mproc_manager_dict(m, &d)); /* not a lock: refused (Python's server would wrap it) */
  ASSERT_RC(mproc_manager_condition_of(m, d, &c), MPROC_EREMOTE);
  ASSERT_TRUE(strstr(mproc_last_error_message(), "takes a Lock or RLock") != NULL);
  mproc_proxy_free(d);
}

static void condition_barrier_args(mproc_manager_t *m) {
  mproc_proxy_t *lk = NULL, *c = NULL, *bar = NULL;
  mproc_args_t *a = NULL, *kw = NULL, *r = NULL;
  ASSERT_OK(mproc_manager_lock(m, &lk));
  ASSERT_OK(mproc_manager_condition_of(m, lk, &c));
  int rc = mproc_mlock_acquire(c, MPROC_FOREVER);
  if (rc != 0)
    t_fail(__FILE__, __LINE__, "acquire: %s", mproc_last_error_message());
  ASSERT_RC(mproc_mlock_acquire(lk, 0), MPROC_ETIMEDOUT); /* the Condition holds the Lock */
  ASSERT_OK(mproc_proxy_callf(c, "wait", 0, &r, "d", 0.05));
  expect_repr(r, "[False]");
  mproc_args_free(r);
  ASSERT_RC(mproc_mlock_acquire(lk, 0), MPROC_ETIMEDOUT); /* taken back after the wait */
  ASSERT_OK(mproc_mlock_release(c));
  ASSERT_OK(mproc_mlock_acquire(lk, 0));
  ASSERT_OK(mproc_mlock_release(lk));
  ASSERT_RC(mproc_proxy_callf(c, "notify", 0, NULL, ""), MPROC_EREMOTE);
  expect_message("RuntimeError: cannot notify on un-acquired lock");
  ASSERT_OK(mproc_args_build(&a, "i", 2));
  ASSERT_OK(mproc_args_build(&kw, "sd", "timeout", 0.05));
  ASSERT_OK(mproc_manager_create(m, "Barrier", a, kw, 0, &bar));
  ASSERT_RC(mproc_proxy_callf(bar, "wait", 0, NULL, ""), MPROC_EBROKEN);
  mproc_args_free(a);
  mproc_args_free(kw);
  mproc_proxy_free(bar);
  mproc_proxy_free(c);
  mproc_proxy_free(lk);
}

static void queue_shutdown(mproc_manager_t *m, int minor) {
  mproc_proxy_t *q = NULL;
  mproc_args_t *v = NULL;
  ASSERT_OK(mproc_manager_queue(m, 0, &q));
  if (minor != 0 && minor < 13) { /* Queue.shutdown is new in 3.13 */
    ASSERT_RC(mproc_mqueue_shutdown(q, 0), MPROC_EREMOTE);
    mproc_proxy_free(q);
    return;
  }
  ASSERT_OK(mproc_mqueue_putf(q, 0, "i", 5));
  ASSERT_OK(mproc_mqueue_shutdown(q, 0));
  ASSERT_OK(mproc_mqueue_get(q, 0, &v));
  expect_repr(v, "[5]");
  mproc_args_free(v);
  ASSERT_RC(mproc_mqueue_get(q, MPROC_FOREVER, &v), MPROC_ECLOSED);
  expect_message("queue.ShutDown");
  ASSERT_RC(mproc_mqueue_putf(q, 0, "i", 6), MPROC_ECLOSED);
  mproc_proxy_free(q);
}

static void python_extras(int minor, int tcp);
TEST(python_extras_py311, 60, PYTHON_ONCE) { python_extras(11, 0); }
TEST(python_extras_py312, 60, PYTHON_ONCE) { python_extras(12, 0); }
TEST(python_extras_py313, 60, PYTHON_ONCE) { python_extras(13, 0); }
TEST(python_extras_tcp_py313, 60, PYTHON_ONCE) { python_extras(13, 1); }
TEST(python_extras_mproc, 60, ALL) { python_extras(0, 0); }
TEST(python_extras_tcp_mproc, 60, ALL) { python_extras(0, 1); }
static void python_extras(int minor, int tcp) {
  pysrv s;
  py_start(&s, minor, tcp);
  mproc_manager_t *m = py_connect(&s);
  list_slices(m);
  getvalues(m);
  condition_barrier_args(m);
  if (minor == 0)
    condition_rlock(m);
  queue_shutdown(m, minor);
  mproc_manager_free(m);
  py_stop(&s);
}

/* --- SharedMemoryManager ------------------------------------------------------------------- */

static int attachable(const char *name) {
  mproc_shared_memory_t *shm = NULL;
  int rc = mproc_shared_memory_attach(&shm, name);
  mproc_shared_memory_free(shm);
  return rc == 0;
}

/* Segments made through a SharedMemoryManager (mproc's or Python's) are tracked by its server,
 * released one by one on request and unlinked all together when it stops. */
static void shm_manager(int minor, int tcp);
TEST(shm_manager_py311, 60, PYTHON_ONCE) { shm_manager(11, 0); }
TEST(shm_manager_py313, 60, PYTHON_ONCE) { shm_manager(13, 0); }
TEST(shm_manager_tcp_py312, 60, PYTHON_ONCE) { shm_manager(12, 1); }
TEST(shm_manager_mproc, 60, ALL) { shm_manager(0, 0); }
TEST(shm_manager_tcp_mproc, 60, ALL) { shm_manager(0, 1); }
static void shm_manager(int minor, int tcp) {
  pysrv s;
  py_start_kind(&s, minor, tcp, 1);
  mproc_manager_t *m = py_connect(&s);
  mproc_shared_memory_t *shm = NULL;
  mproc_shareable_list_t *sl = NULL;
  mproc_args_t *items = NULL, *names = NULL;
  char a[256], b[256];
  ASSERT_OK(mproc_manager_shared_memory(m, 100, &shm));
  ASSERT_EQ(mproc_shared_memory_size(shm), 100);
  ASSERT_OK(mproc_args_build(&items, "is", 7, "x"));
  ASSERT_OK(mproc_manager_shareable_list(m, items, &sl));
  snprintf(a, sizeof a, "%s", mproc_shared_memory_name(shm));
  snprintf(b, sizeof b, "%s", mproc_shareable_list_name(sl));
  ASSERT_OK(mproc_manager_list_segments(m, &names));
  ASSERT_EQ(mproc_args_count(names), 2);
  const char *first = NULL;
  ASSERT_OK(mproc_args_get_str(names, 0, &first));
  ASSERT_TRUE(strcmp(first, a) == 0);
  mproc_args_free(names);
  mproc_shared_memory_free(shm);
  ASSERT_OK(mproc_manager_release_segment(m, a));
  ASSERT_TRUE(!attachable(a));
  ASSERT_RC(mproc_manager_release_segment(m, a), MPROC_EREMOTE);
  ASSERT_TRUE(strstr(mproc_last_error_message(), "ValueError") != NULL);
  ASSERT_TRUE(attachable(b));
  mproc_shareable_list_free(sl);
  ASSERT_OK(mproc_manager_remote_shutdown(m));
  srv_wait_gone(&s);
  ASSERT_TRUE(!attachable(b)); /* unlinked by the server as it stopped */
  mproc_args_free(items);
  mproc_manager_free(m);
  py_stop(&s);
}

/* --- reconnect ------------------------------------------------------------------------------ */

/* A fixed address two servers in turn can take: a Linux abstract name, a Windows pipe name
 * (both vanish with their server), a socket file elsewhere (removed before each start). */
static void fixed_address(char *buf, size_t cap) {
#if defined(_WIN32)
  snprintf(buf, cap, "pipe:\\\\.\\pipe\\mproc-reconnect-%lld", (long long)mproc_current_pid());
#elif defined(__linux__)
  snprintf(buf, cap, "unix:@mproc-reconnect-%lld", (long long)mproc_current_pid());
#else
  char path[512];
  t_temp_path(path, sizeof path, "reconnect.sock");
  snprintf(buf, cap, "unix:%s", path);
#endif
}

/* The child: a server at the address, until it is killed. */
static int serve_until_killed(const mproc_args_t *a) {
  const char *address;
  mproc_manager_t *m;
  int64_t shm = 0;
  C_OK(mproc_args_get_str(a, 0, &address));
  C_OK(mproc_args_get_int(a, 1, &shm));
  mproc_manager_options o = {.address = address, .authkey = KEY, .keylen = KEYLEN,
                             .shared_memory = (int)shm};
  C_OK(mproc_manager_serve(&m, &o));
  mproc_manager_join(m, MPROC_FOREVER);
  mproc_manager_free(m);
  return 0;
}

static mproc_process_t *server_process_kind(const char *address, int shm) {
  mproc_process_t *p = NULL;
#if !defined(_WIN32) && !defined(__linux__)
  unlink(address + 5);
#endif
  ASSERT_OK(mproc_process_newf(&p, serve_until_killed, "si", address, shm));
  ASSERT_OK(mproc_process_start(p));
  return p;
}

static mproc_process_t *server_process(const char *address) {
  return server_process_kind(address, 0);
}

static void kill_server(mproc_process_t *p) {
  ASSERT_OK(mproc_process_kill(p));
  ASSERT_OK(mproc_process_join(p, T_SLOW(30000)));
  mproc_process_free(p);
}

static mproc_manager_t *connect_retrying(const char *address) {
  mproc_manager_t *m = NULL;
  int rc = -1;
  for (int i = 0; i < T_SLOW(600) && rc != 0; i++)
    if ((rc = mproc_manager_connect(&m, address, KEY, KEYLEN, T_SLOW(10000))) != 0)
      t_sleep_ms(50);
  ASSERT_OK(rc);
  return m;
}

TEST(reconnect_after_server_killed, 120, ALL) {
  char address[600];
  fixed_address(address, sizeof address);
  mproc_process_t *p = server_process(address);
  mproc_manager_t *m = connect_retrying(address);
  mproc_proxy_t *d = NULL, *d2 = NULL;
  size_t n = 0;
  ASSERT_OK(mproc_manager_dict(m, &d));
  ASSERT_OK(mproc_dict_setf(d, "si", "a", 1));
  kill_server(p);
  ASSERT_RC(mproc_dict_setf(d, "si", "b", 2), MPROC_EPEERGONE);
  ASSERT_TRUE(mproc_manager_reconnect(m, 100) != 0); /* nobody there yet: the old session stays */
  ASSERT_RC(mproc_manager_number_of_objects(m, &n), MPROC_EPEERGONE);
  p = server_process(address);
  ASSERT_OK(mproc_manager_reconnect(m, T_SLOW(30000)));
  ASSERT_RC(mproc_dict_setf(d, "si", "b", 2), MPROC_EPEERGONE); /* never the new server */
  ASSERT_OK(mproc_manager_dict(m, &d2));
  ASSERT_OK(mproc_dict_setf(d2, "si", "c", 3));
  ASSERT_OK(mproc_dict_len(d2, &n));
  ASSERT_EQ(n, 1);
  ASSERT_OK(mproc_manager_number_of_objects(m, &n));
  ASSERT_EQ(n, 1);
  mproc_proxy_free(d); /* no decref: its server is gone */
  ASSERT_OK(mproc_manager_reconnect(m, T_SLOW(30000))); /* while the server runs: d2 ends */
  ASSERT_RC(mproc_dict_len(d2, &n), MPROC_EPEERGONE);
  mproc_proxy_free(d2);
  ASSERT_OK(mproc_manager_number_of_objects(m, &n));
  ASSERT_EQ(n, 1); /* d2's reference stays with the session that ended */
  mproc_manager_free(m);
  kill_server(p);
}

/* A SharedMemoryManager server killed before it could unlink: the client's handle unlinks the
 * segments it had tracked when it is freed and finds the server gone. */
TEST(shm_manager_server_killed, 60, ALL) {
  char address[600], name[256];
  fixed_address(address, sizeof address);
  mproc_process_t *p = server_process_kind(address, 1);
  mproc_manager_t *m = connect_retrying(address);
  mproc_shared_memory_t *shm = NULL;
  ASSERT_OK(mproc_manager_shared_memory(m, 10, &shm));
  snprintf(name, sizeof name, "%s", mproc_shared_memory_name(shm));
  mproc_shared_memory_free(shm);
  kill_server(p);
#ifndef _WIN32 /* Windows: a block lives while a handle is open, so it is gone already */
  ASSERT_TRUE(attachable(name));
#endif
  mproc_manager_free(m);
  ASSERT_TRUE(!attachable(name));
}

TEST(reconnect_refused_for_server_handle, 30, ONCE) {
  mproc_manager_t *m = NULL;
  ASSERT_OK(mproc_manager_serve(&m, NULL));
  ASSERT_RC(mproc_manager_reconnect(m, 0), MPROC_ESTATE);
  ASSERT_RC(mproc_manager_reconnect(NULL, 0), MPROC_EINVAL);
  mproc_manager_free(m);
}

static void sync_methods(int minor, int tcp);
TEST(sync_methods_py311, 60, PYTHON_ONCE) { sync_methods(11, 0); }
TEST(sync_methods_py312, 60, PYTHON_ONCE) { sync_methods(12, 0); }
TEST(sync_methods_py313, 60, PYTHON_ONCE) { sync_methods(13, 0); }
TEST(sync_methods_tcp_py311, 60, PYTHON_ONCE) { sync_methods(11, 1); }
TEST(sync_methods_tcp_py313, 60, PYTHON_ONCE) { sync_methods(13, 1); }
TEST(sync_methods_mproc, 60, ALL) { sync_methods(0, 0); }
static void sync_methods(int minor, int tcp) {
  pysrv s;
  py_start(&s, minor, tcp);
  mproc_manager_t *m = py_connect(&s);
  mproc_proxy_t *lk = NULL, *rl = NULL, *sem = NULL, *bs = NULL, *ev = NULL, *cond = NULL,
                *bar = NULL;
  ASSERT_OK(mproc_manager_lock(m, &lk));
  ASSERT_OK(mproc_mlock_acquire(lk, MPROC_FOREVER));
  ASSERT_RC(mproc_mlock_acquire(lk, 0), MPROC_ETIMEDOUT);
  ASSERT_RC(mproc_mlock_acquire(lk, 50), MPROC_ETIMEDOUT);
  ASSERT_OK(mproc_mlock_release(lk));
  ASSERT_RC(mproc_mlock_release(lk), MPROC_EREMOTE);
  expect_message("RuntimeError: release unlocked lock");
  ASSERT_OK(mproc_manager_rlock(m, &rl));
  ASSERT_OK(mproc_mlock_acquire(rl, 0));
  ASSERT_OK(mproc_mlock_acquire(rl, 0));
  ASSERT_OK(mproc_mlock_release(rl));
  ASSERT_OK(mproc_mlock_release(rl));
  ASSERT_OK(mproc_manager_semaphore(m, 2, &sem));
  ASSERT_OK(mproc_mlock_acquire(sem, 0));
  ASSERT_OK(mproc_mlock_acquire(sem, 0));
  ASSERT_RC(mproc_mlock_acquire(sem, 0), MPROC_ETIMEDOUT);
  ASSERT_OK(mproc_manager_bounded_semaphore(m, 1, &bs));
  ASSERT_RC(mproc_mlock_release(bs), MPROC_EINVAL);
  expect_message("ValueError: Semaphore released too many times");
  ASSERT_OK(mproc_manager_event(m, &ev));
  int flag = -1;
  ASSERT_OK(mproc_mevent_is_set(ev, &flag));
  ASSERT_EQ(flag, 0);
  ASSERT_RC(mproc_mevent_wait(ev, 50), MPROC_ETIMEDOUT);
  ASSERT_OK(mproc_mevent_set(ev));
  ASSERT_OK(mproc_mevent_wait(ev, MPROC_FOREVER));
  ASSERT_OK(mproc_mevent_is_set(ev, &flag));
  ASSERT_EQ(flag, 1);
  ASSERT_OK(mproc_mevent_clear(ev));
  ASSERT_RC(mproc_mevent_wait(ev, 0), MPROC_ETIMEDOUT);
  ASSERT_OK(mproc_manager_condition(m, &cond));
  ASSERT_OK(mproc_mlock_acquire(cond, MPROC_FOREVER));
  mproc_args_t *v = NULL;
  ASSERT_OK(mproc_proxy_callf(cond, "wait", 50, &v, "d", 0.05));
  expect_repr(v, "[False]");
  mproc_args_free(v);
  ASSERT_OK(mproc_proxy_callf(cond, "notify", 0, NULL, ""));
  ASSERT_OK(mproc_mlock_release(cond));
  ASSERT_OK(mproc_manager_barrier(m, 1, &bar));
  ASSERT_OK(mproc_proxy_callf(bar, "wait", 1000, &v, ""));
  expect_repr(v, "[0]");
  mproc_args_free(v);
  mproc_proxy_t *all[] = {lk, rl, sem, bs, ev, cond, bar};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    mproc_proxy_free(all[i]);
  mproc_manager_free(m);
  py_stop(&s);
}

/* References: create, dup, free, nested proxies and server functions. */
static void references(int minor, int tcp);
TEST(references_py311, 60, PYTHON_ONCE) { references(11, 0); }
TEST(references_py312, 60, PYTHON_ONCE) { references(12, 0); }
TEST(references_py313, 60, PYTHON_ONCE) { references(13, 0); }
TEST(references_tcp_py311, 60, PYTHON_ONCE) { references(11, 1); }
TEST(references_tcp_py313, 60, PYTHON_ONCE) { references(13, 1); }
TEST(references_mproc, 60, ALL) { references(0, 0); }
TEST(references_tcp_mproc, 60, ALL) { references(0, 1); }
static void references(int minor, int tcp) {
  pysrv s;
  py_start(&s, minor, tcp);
  mproc_manager_t *m = py_connect(&s);
  size_t n = 9;
  ASSERT_OK(mproc_manager_number_of_objects(m, &n));
  ASSERT_EQ(n, 0);
  mproc_proxy_t *d = NULL, *l = NULL, *l2 = NULL, *d2 = NULL;
  ASSERT_OK(mproc_manager_dict(m, &d));
  ASSERT_OK(mproc_manager_list(m, &l));
  ASSERT_OK(mproc_list_appendf(l, "i", 7));
  /* d['l'] = l: a proxy stored inside another object */
  mproc_args_t *a = NULL, *v = NULL;
  ASSERT_OK(mproc_args_build(&a, "s", "l"));
  ASSERT_OK(mproc_args_add_proxy(a, l));
  ASSERT_OK(mproc_proxy_call(d, "__setitem__", a, NULL, 0, NULL));
  ASSERT_OK(mproc_proxy_callf(d, "__getitem__", 0, &v, "s", "l"));
  ASSERT_OK(mproc_args_get_proxy(v, 0, &l2));
  ASSERT_TRUE(strcmp(mproc_proxy_id(l2), mproc_proxy_id(l)) == 0);
  ASSERT_TRUE(strcmp(mproc_proxy_typeid(l2), "list") == 0);
  mproc_args_free(v);
  ASSERT_OK(mproc_list_appendf(l2, "i", 8));
  ASSERT_OK(mproc_proxy_getvalue(l, 0, &v));
  expect_repr(v, "[[7, 8]]");
  mproc_args_free(v);
  /* a Queue is an AutoProxy on Python's side: its exposed methods travel with it */
  mproc_proxy_t *q = NULL, *q2 = NULL;
  mproc_args_t *b = NULL;
  ASSERT_OK(mproc_manager_queue(m, 0, &q));
  ASSERT_OK(mproc_args_build(&b, "s", "q"));
  ASSERT_OK(mproc_args_add_proxy(b, q));
  ASSERT_OK(mproc_proxy_call(d, "__setitem__", b, NULL, 0, NULL));
  ASSERT_OK(mproc_proxy_callf(d, "__getitem__", 0, &v, "s", "q"));
  ASSERT_OK(mproc_args_get_proxy(v, 0, &q2));
  mproc_args_free(v);
  ASSERT_OK(mproc_mqueue_putf(q2, 0, "s", "via the dict"));
  ASSERT_OK(mproc_mqueue_get(q, 0, &v));
  expect_repr(v, "['via the dict']");
  mproc_args_free(v);
  ASSERT_OK(mproc_dict_delf(d, "s", "q"));
  mproc_proxy_free(q2);
  mproc_proxy_free(q);
  mproc_args_free(b);
  ASSERT_OK(mproc_proxy_dup(d, &d2));
  ASSERT_OK(mproc_manager_number_of_objects(m, &n));
  ASSERT_EQ(n, 2);
  mproc_proxy_free(d);
  ASSERT_OK(mproc_dict_len(d2, &n)); /* d2 still holds the dict */
  ASSERT_EQ(n, 1);
  char *info = NULL;
  ASSERT_OK(mproc_manager_debug_info(m, &info));
  ASSERT_TRUE(strstr(info, mproc_proxy_id(d2)) != NULL);
  mproc_free(info);
  mproc_proxy_free(d2);
  mproc_proxy_free(l2);
  mproc_proxy_free(l);
  ASSERT_OK(mproc_manager_number_of_objects(m, &n));
  ASSERT_EQ(n, 0);
  /* Frees by the hundred (an mproc server has their replies read later, a few dozen at most
   * outstanding): every one is served, and in order with the calls after it. */
  mproc_proxy_t *many[100];
  for (int i = 0; i < 100; i++)
    ASSERT_OK(mproc_manager_dict(m, &many[i]));
  ASSERT_OK(mproc_manager_number_of_objects(m, &n));
  ASSERT_EQ(n, 100);
  for (int i = 0; i < 100; i++)
    mproc_proxy_free(many[i]);
  ASSERT_OK(mproc_manager_number_of_objects(m, &n));
  ASSERT_EQ(n, 0);
  mproc_proxy_t *bad = NULL;
  ASSERT_RC(mproc_manager_create(m, "Nope", NULL, NULL, 0, &bad), MPROC_EREMOTE);
  expect_message("KeyError: 'Nope'");
  mproc_args_free(a);
  ASSERT_OK(mproc_manager_remote_shutdown(m));
  srv_wait_gone(&s);
  py_stop(&s); /* the socket file */
  mproc_proxy_t *late = NULL;
  ASSERT_RC(mproc_manager_dict(m, &late), MPROC_EPEERGONE);
  mproc_manager_free(m);
}

/* A method that returns a new object ('#PROXY'): dict.__iter__ gives an Iterator proxy. */
/* A parse that fails after an 'M' item hands out nothing: the proxy it made is freed again
 * (its reference given back), and the caller's variable is NULL. */
TEST(parse_failure_frees_proxies, 60, ALL) {
  pysrv s;
  py_start(&s, 0, 0);
  mproc_manager_t *m = py_connect(&s);
  mproc_proxy_t *d = NULL, *p1 = NULL, *p2 = NULL;
  ASSERT_OK(mproc_manager_dict(m, &d));
  mproc_args_t *a = NULL;
  ASSERT_OK(mproc_args_build(&a, "Mi", d, 1));
  ASSERT_RC(mproc_args_parse(a, "MM", &p1, &p2), MPROC_ETYPE);
  ASSERT_TRUE(p1 == NULL);
  mproc_proxy_free(d);
  size_t n = 9;
  ASSERT_OK(mproc_manager_number_of_objects(m, &n));
  ASSERT_EQ(n, 0);
  mproc_args_free(a);
  mproc_manager_free(m);
  py_stop(&s);
}

static void iterator_proxy(int minor, int tcp);
TEST(iterator_proxy_py311, 60, PYTHON_ONCE) { iterator_proxy(11, 0); }
TEST(iterator_proxy_py313, 60, PYTHON_ONCE) { iterator_proxy(13, 0); }
TEST(iterator_proxy_tcp_py312, 60, PYTHON_ONCE) { iterator_proxy(12, 1); }
TEST(iterator_proxy_mproc, 60, ALL) { iterator_proxy(0, 0); }
static void iterator_proxy(int minor, int tcp) {
  pysrv s;
  py_start(&s, minor, tcp);
  mproc_manager_t *m = py_connect(&s);
  mproc_proxy_t *d = NULL, *it = NULL;
  mproc_args_t *v = NULL;
  ASSERT_OK(mproc_manager_dict(m, &d));
  ASSERT_OK(mproc_dict_setf(d, "si", "x", 1));
  ASSERT_OK(mproc_dict_setf(d, "si", "y", 2));
  ASSERT_RC(mproc_proxy_call(d, "__iter__", NULL, NULL, 0, NULL), MPROC_ETYPE);
  ASSERT_OK(mproc_proxy_call_proxy(d, "__iter__", NULL, NULL, 0, &it));
  ASSERT_TRUE(strcmp(mproc_proxy_typeid(it), "Iterator") == 0);
  ASSERT_OK(mproc_proxy_call(it, "__next__", NULL, NULL, 0, &v));
  expect_repr(v, "['x']");
  mproc_args_free(v);
  ASSERT_OK(mproc_proxy_call(it, "__next__", NULL, NULL, 0, &v));
  expect_repr(v, "['y']");
  mproc_args_free(v);
  ASSERT_RC(mproc_proxy_call(it, "__next__", NULL, NULL, 0, &v), MPROC_EEOF);
  expect_message("StopIteration");
  size_t n = 0;
  ASSERT_OK(mproc_manager_number_of_objects(m, &n));
  ASSERT_EQ(n, 2);
  mproc_proxy_free(it);
  mproc_proxy_free(d);
  ASSERT_OK(mproc_manager_number_of_objects(m, &n)); /* the iterators' references dropped */
  ASSERT_EQ(n, 0);
  mproc_manager_free(m);
  py_stop(&s);
}

#ifndef _WIN32
TEST(wrong_authkey, 60, PYTHON_ONCE) {
  pysrv s;
  py_start(&s, 11, 0);
  mproc_manager_t *m = NULL;
  ASSERT_RC(mproc_manager_connect(&m, s.address, "wrong", 5, T_SLOW(10000)), MPROC_EAUTH);
  ASSERT_TRUE(m == NULL);
  py_stop(&s);
}

/* --- a proxy in children: each child adds its entry to one shared dict ------------------------ */

static int child_adds(const mproc_args_t *a) {
  mproc_proxy_t *d = NULL;
  int64_t i = 0;
  if (mproc_args_get_proxy(a, 0, &d) != 0 || mproc_args_get_int(a, 1, &i) != 0)
    return 1;
  char key[32];
  snprintf(key, sizeof key, "child%d", (int)i);
  int rc = mproc_dict_setf(d, "sl", key, i * 10);
  mproc_proxy_free(d);
  return rc == 0 ? 0 : 2;
}

TEST(proxy_in_children, 90, PYTHON_ALL) {
  pysrv s;
  py_start(&s, 11, 0);
  mproc_manager_t *m = py_connect(&s);
  mproc_proxy_t *d = NULL;
  ASSERT_OK(mproc_manager_dict(m, &d));
  mproc_process_t *ps[3];
  for (int i = 0; i < 3; i++) {
    mproc_args_t *a = NULL;
    ASSERT_OK(mproc_args_new(&a));
    ASSERT_OK(mproc_args_add_proxy(a, d));
    ASSERT_OK(mproc_args_add_int(a, i));
    ps[i] = t_start(child_adds, a);
    mproc_args_free(a);
  }
  for (int i = 0; i < 3; i++)
    ASSERT_EQ(t_join_code(ps[i]), 0);
  mproc_args_t *v = NULL;
  ASSERT_OK(mproc_proxy_getvalue(d, 0, &v));
  char text[256];
  mproc_args_repr(v, text, sizeof text);
  ASSERT_TRUE(strstr(text, "'child0': 0") && strstr(text, "'child1': 10") &&
              strstr(text, "'child2': 20"));
  mproc_args_free(v);
  size_t n = 0;
  ASSERT_OK(mproc_manager_number_of_objects(m, &n)); /* the children's references are gone */
  ASSERT_EQ(n, 1);
  mproc_proxy_free(d);
  mproc_manager_free(m);
  py_stop(&s);
}

/* --- several threads, one proxy --------------------------------------------------------------- */

static void *appender(void *arg) {
  for (int i = 0; i < 100; i++)
    if (mproc_list_appendf(arg, "i", i) != 0)
      return arg;
  return NULL;
}

TEST(threads_share_proxy, 90, PYTHON_ONCE) {
  pysrv s;
  py_start(&s, 11, 0);
  mproc_manager_t *m = py_connect(&s);
  mproc_proxy_t *l = NULL;
  ASSERT_OK(mproc_manager_list(m, &l));
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    ASSERT_TRUE(pthread_create(&th[i], NULL, appender, l) == 0);
  for (int i = 0; i < 4; i++) {
    void *ret = (void *)1;
    pthread_join(th[i], &ret);
    ASSERT_TRUE(ret == NULL);
  }
  size_t n = 0;
  ASSERT_OK(mproc_list_len(l, &n));
  ASSERT_EQ(n, 400);
  mproc_proxy_free(l);
  mproc_manager_free(m);
  py_stop(&s);
}

static void *create_use_free(void *arg) {
  mproc_manager_t *m = arg;
  for (int i = 0; i < 20; i++) {
    mproc_proxy_t *d = NULL, *d2 = NULL;
    if (mproc_manager_dict(m, &d) != 0 || mproc_dict_setf(d, "si", "k", i) != 0 ||
        mproc_proxy_dup(d, &d2) != 0)
      return arg;
    mproc_proxy_free(d);
    mproc_args_t *v = NULL;
    int rc = mproc_dict_getf(d2, &v, "s", "k");
    mproc_args_free(v);
    mproc_proxy_free(d2);
    if (rc != 0)
      return arg;
  }
  return NULL;
}

TEST(threads_create_and_free, 120, PYTHON_ONCE) {
  pysrv s;
  py_start(&s, 12, 0);
  mproc_manager_t *m = py_connect(&s);
  pthread_t th[4];
  for (int i = 0; i < 4; i++)
    ASSERT_TRUE(pthread_create(&th[i], NULL, create_use_free, m) == 0);
  for (int i = 0; i < 4; i++) {
    void *ret = (void *)1;
    pthread_join(th[i], &ret);
    ASSERT_TRUE(ret == NULL);
  }
  size_t n = 9;
  ASSERT_OK(mproc_manager_number_of_objects(m, &n)); /* every reference given back */
  ASSERT_EQ(n, 0);
  mproc_manager_free(m);
  py_stop(&s);
}

/* --- the server killed or stopped ------------------------------------------------------------- */

static void *kill_soon(void *arg) {
  t_sleep_ms(300);
  kill(*(pid_t *)arg, SIGKILL);
  return NULL;
}

TEST(server_killed_mid_call, 60, PYTHON_ONCE) {
  pysrv s;
  py_start(&s, 11, 0);
  mproc_manager_t *m = py_connect(&s);
  mproc_proxy_t *q = NULL, *d = NULL;
  ASSERT_OK(mproc_manager_queue(m, 0, &q));
  ASSERT_OK(mproc_manager_dict(m, &d));
  pthread_t th;
  ASSERT_TRUE(pthread_create(&th, NULL, kill_soon, &s.pid) == 0);
  mproc_args_t *v = NULL;
  ASSERT_RC(mproc_mqueue_get(q, MPROC_FOREVER, &v), MPROC_EPEERGONE); /* in flight */
  pthread_join(th, NULL);
  waitpid(s.pid, NULL, 0);
  s.pid = 0;
  py_stop(&s); /* the socket file */
  ASSERT_RC(mproc_dict_setf(d, "si", "a", 1), MPROC_EPEERGONE); /* and every later call */
  ASSERT_RC(mproc_manager_dict(m, &d), MPROC_EPEERGONE);
  mproc_proxy_free(q);
  mproc_proxy_free(d);
  mproc_manager_free(m);
}

static void *blocked_get(void *arg) {
  mproc_args_t *v = NULL;
  int rc = mproc_mqueue_get(arg, MPROC_FOREVER, &v);
  mproc_args_free(v);
  return rc == MPROC_EPEERGONE ? NULL : arg;
}

TEST(server_killed_threads_in_flight, 60, PYTHON_ONCE) {
  pysrv s;
  py_start(&s, 13, 0);
  mproc_manager_t *m = py_connect(&s);
  mproc_proxy_t *q = NULL;
  ASSERT_OK(mproc_manager_queue(m, 0, &q));
  pthread_t th[4], killer;
  for (int i = 0; i < 4; i++)
    ASSERT_TRUE(pthread_create(&th[i], NULL, blocked_get, q) == 0);
  ASSERT_TRUE(pthread_create(&killer, NULL, kill_soon, &s.pid) == 0);
  for (int i = 0; i < 4; i++) {
    void *ret = (void *)1;
    pthread_join(th[i], &ret);
    ASSERT_TRUE(ret == NULL); /* every call in flight: MPROC_EPEERGONE */
  }
  pthread_join(killer, NULL);
  waitpid(s.pid, NULL, 0);
  s.pid = 0;
  py_stop(&s); /* the socket file */
  mproc_proxy_free(q);
  mproc_manager_free(m);
}

TEST(server_killed_between_calls, 60, PYTHON_ONCE) {
  pysrv s;
  py_start(&s, 11, 1);
  mproc_manager_t *m = py_connect(&s);
  mproc_proxy_t *d = NULL, *d2 = NULL;
  ASSERT_OK(mproc_manager_dict(m, &d));
  ASSERT_OK(mproc_dict_setf(d, "si", "a", 1));
  py_stop(&s);
  mproc_args_t *v = NULL;
  ASSERT_RC(mproc_dict_getf(d, &v, "s", "a"), MPROC_EPEERGONE);
  ASSERT_RC(mproc_dict_getf(d, &v, "s", "a"), MPROC_EPEERGONE);
  ASSERT_RC(mproc_proxy_dup(d, &d2), MPROC_EPEERGONE);
  size_t n;
  ASSERT_RC(mproc_manager_number_of_objects(m, &n), MPROC_EPEERGONE);
  mproc_proxy_free(d);
  mproc_manager_free(m);
}

TEST(stopped_server_times_out, 60, PYTHON_ONCE) {
  pysrv s;
  py_start(&s, 11, 0);
  mproc_manager_t *m = py_connect(&s);
  ASSERT_OK(mproc_manager_set_call_timeout(m, 500));
  mproc_proxy_t *d = NULL, *d2 = NULL;
  mproc_args_t *v = NULL;
  ASSERT_OK(mproc_manager_dict(m, &d));
  ASSERT_OK(mproc_dict_setf(d, "si", "a", 1));
  kill(s.pid, SIGSTOP);
  int st = 0; /* stopped for certain: kill() returns before every thread has stopped */
  ASSERT_TRUE(waitpid(s.pid, &st, WUNTRACED) == s.pid && WIFSTOPPED(st));
  ASSERT_RC(mproc_dict_setf(d, "si", "a", 2), MPROC_ETIMEDOUT); /* its reply comes late */
  ASSERT_RC(mproc_manager_dict(m, &d2), MPROC_ETIMEDOUT);
  /* A timeout longer than the client's read slice (1 s) waits in recv itself: it still ends
   * at the deadline, not before. */
  ASSERT_OK(mproc_manager_set_call_timeout(m, 2500));
  int64_t t0 = t_now_ms();
  ASSERT_RC(mproc_dict_setf(d, "si", "a", 3), MPROC_ETIMEDOUT);
  ASSERT_TRUE(t_now_ms() - t0 >= 2400);
  kill(s.pid, SIGCONT);
  ASSERT_OK(mproc_manager_set_call_timeout(m, T_SLOW(10000)));
  /* The abandoned connection is gone: this call reads its own reply, never the late None of
   * the set (which the server may run before or after it: the protocol has no request ids). */
  ASSERT_OK(mproc_dict_getf(d, &v, "s", "a"));
  char text[64];
  mproc_args_repr(v, text, sizeof text);
  ASSERT_TRUE(strcmp(text, "[1]") == 0 || strcmp(text, "[2]") == 0 || strcmp(text, "[3]") == 0);
  mproc_args_free(v);
  ASSERT_OK(mproc_dict_setf(d, "si", "b", 3));
  ASSERT_OK(mproc_dict_getf(d, &v, "s", "b"));
  expect_repr(v, "[3]");
  mproc_args_free(v);
  mproc_proxy_free(d);
  mproc_manager_free(m);
  py_stop(&s);
}
#endif /* _WIN32 */
