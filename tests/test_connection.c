/* SPDX-License-Identifier: MIT */
/* Pipe and Connection: messages, misuse, EOF and dead peers, waiting on many. Connections are
 * handed to children as process arguments, so every case exercises that under each method. */
#include "runner.h"

#ifdef _WIN32
#include <windows.h>
#else
#include <signal.h>
#include <unistd.h>
#endif

static void make_pipe(int duplex, mproc_conn_t **a, mproc_conn_t **b) {
  ASSERT_OK(mproc_pipe(duplex, a, b));
}

/* Starts target with the connection as argument 0 (plus an int), then closes the parent's copy
 * of that end so EOF can be seen. */
static mproc_process_t *start_with(mproc_target_fn fn, mproc_conn_t *child_end, int64_t v) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_OK(mproc_args_add_conn(a, child_end));
  ASSERT_OK(mproc_args_add_int(a, v));
  mproc_process_t *p = t_start(fn, a);
  mproc_args_free(a);
  mproc_conn_free(child_end);
  return p;
}

static mproc_conn_t *arg_conn(const mproc_args_t *a) {
  mproc_conn_t *c = NULL;
  return mproc_args_get_conn(a, 0, &c) == 0 ? c : NULL;
}

static int64_t arg_int(const mproc_args_t *a) {
  int64_t v = 0;
  mproc_args_get_int(a, 1, &v);
  return v;
}

static void finish(mproc_process_t *p) {
  int code = t_join_code(p);
  if (code != 0)
    t_fail(__FILE__, __LINE__, "child exit %d: %s", code,
           mproc_process_error(p) ? mproc_process_error(p) : "");
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

/* --- the tutorial pair: a producer, and a sentinel that ends the stream --------------------- */

static int t_producer(const mproc_args_t *a) {
  mproc_conn_t *c = arg_conn(a);
  char msg[32];
  for (int64_t i = 0; i < arg_int(a); i++) {
    int n = snprintf(msg, sizeof msg, "item %lld", (long long)i);
    if (mproc_conn_send_bytes(c, msg, (size_t)n, 0, MPROC_SIZE_REST) != 0)
      return 1;
  }
  return mproc_conn_send_bytes(c, "STOP", 4, 0, 4) ? 2 : 0;
}

TEST(producer_consumer_sentinel, 60, ALL) {
  mproc_conn_t *r, *w;
  make_pipe(0, &r, &w);
  mproc_process_t *p = start_with(t_producer, w, 1000);
  for (int i = 0;; i++) {
    void *m;
    size_t n;
    ASSERT_OK(mproc_conn_recv_bytes(r, 1 << 20, 30000, &m, &n));
    int stop = n == 4 && memcmp(m, "STOP", 4) == 0;
    if (!stop) {
      char want[32];
      snprintf(want, sizeof want, "item %d", i);
      ASSERT_TRUE(n == strlen(want) && memcmp(m, want, n) == 0);
    } else {
      ASSERT_EQ(i, 1000);
    }
    mproc_free(m);
    if (stop)
      break;
  }
  void *m;
  size_t n;
  ASSERT_RC(mproc_conn_recv_bytes(r, 100, 30000, &m, &n), MPROC_EEOF); /* producer is gone */
  finish(p);
  mproc_conn_free(r);
}

/* --- duplex: the child echoes every message back, reversed ---------------------------------- */

static int t_echo(const mproc_args_t *a) {
  mproc_conn_t *c = arg_conn(a);
  for (;;) {
    void *m;
    size_t n;
    int rc = mproc_conn_recv_bytes(c, (size_t)1 << 30, MPROC_FOREVER, &m, &n);
    if (rc == MPROC_EEOF)
      return 0;
    if (rc != 0)
      return mproc_fail(1, "recv: %s", mproc_errname(rc));
    unsigned char *b = m;
    for (size_t i = 0; i < n / 2; i++) {
      unsigned char t = b[i];
      b[i] = b[n - 1 - i];
      b[n - 1 - i] = t;
    }
    rc = mproc_conn_send_bytes(c, m, n, 0, MPROC_SIZE_REST);
    mproc_free(m);
    if (rc != 0)
      return mproc_fail(2, "send: %s", mproc_errname(rc));
  }
}

static void roundtrip(mproc_conn_t *c, size_t n) {
  unsigned char *buf = malloc(n ? n : 1);
  for (size_t i = 0; i < n; i++)
    buf[i] = (unsigned char)(i * 7 + n);
  ASSERT_OK(mproc_conn_send_bytes(c, buf, n, 0, MPROC_SIZE_REST));
  void *m;
  size_t got;
  ASSERT_OK(mproc_conn_recv_bytes(c, n, 60000, &m, &got));
  ASSERT_EQ(got, n);
  for (size_t i = 0; i < n; i++)
    if (((unsigned char *)m)[i] != buf[n - 1 - i])
      t_fail(__FILE__, __LINE__, "byte %zu of %zu differs", i, n);
  mproc_free(m);
  free(buf);
}

TEST(duplex_echo_sizes, 120, ALL) {
  mproc_conn_t *mine, *theirs;
  make_pipe(1, &mine, &theirs);
  mproc_process_t *p = start_with(t_echo, theirs, 0);
  size_t sizes[] = {0, 1, 7, 4096, 65535, 65536, 65537, 1 << 20, (size_t)64 << 20};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    roundtrip(mine, sizes[i]);
  mproc_conn_free(mine); /* EOF ends the child */
  finish(p);
}

TEST(one_way_misuse, 30, ONCE) {
  mproc_conn_t *r, *w;
  make_pipe(0, &r, &w);
  void *m;
  size_t n;
  ASSERT_EQ(mproc_conn_readable(r), 1);
  ASSERT_EQ(mproc_conn_writable(r), 0);
  ASSERT_RC(mproc_conn_send_bytes(r, "x", 1, 0, 1), MPROC_EDIRECTION);
  ASSERT_RC(mproc_conn_recv_bytes(w, 10, 0, &m, &n), MPROC_EDIRECTION);
  ASSERT_RC(mproc_conn_poll(w, 0), MPROC_EDIRECTION);
  ASSERT_OK(mproc_conn_send_bytes(w, "x", 1, 0, 1)); /* the right way still works */
  ASSERT_OK(mproc_conn_recv_bytes(r, 10, 0, &m, &n));
  mproc_free(m);
  mproc_conn_free(r);
  mproc_conn_free(w);
  ASSERT_RC(mproc_pipe(1, NULL, &w), MPROC_EINVAL);
  ASSERT_RC(mproc_conn_send_bytes(NULL, "x", 1, 0, 1), MPROC_EINVAL);
  mproc_conn_free(NULL);
}

TEST(send_bounds, 30, ONCE) {
  mproc_conn_t *a, *b;
  make_pipe(1, &a, &b);
  const char buf[10] = "0123456789";
  ASSERT_RC(mproc_conn_send_bytes(a, buf, 10, 11, MPROC_SIZE_REST), MPROC_ERANGE);
  ASSERT_RC(mproc_conn_send_bytes(a, buf, 10, 5, 6), MPROC_ERANGE);
  ASSERT_RC(mproc_conn_send_bytes(a, NULL, 10, 0, 1), MPROC_EINVAL);
  ASSERT_OK(mproc_conn_send_bytes(a, buf, 10, 10, MPROC_SIZE_REST)); /* empty, like Python */
  ASSERT_OK(mproc_conn_send_bytes(a, buf, 10, 3, 4));
  void *m;
  size_t n;
  ASSERT_OK(mproc_conn_recv_bytes(b, 10, 0, &m, &n));
  ASSERT_EQ(n, 0);
  mproc_free(m);
  ASSERT_OK(mproc_conn_recv_bytes(b, 10, 0, &m, &n));
  ASSERT_TRUE(n == 4 && memcmp(m, "3456", 4) == 0);
  mproc_free(m);
  mproc_conn_free(a);
  mproc_conn_free(b);
}

/* Python's _bad_message_length: a duplex connection only stops reading (it stays writable and
 * open); a receive-only one is closed. State and behaviour agree either way. */
TEST(maxlength_duplex_stays_writable, 30, ONCE) {
  mproc_conn_t *a, *b;
  make_pipe(1, &a, &b);
  ASSERT_OK(mproc_conn_send_bytes(a, "0123456789", 10, 0, MPROC_SIZE_REST));
  void *m;
  size_t n;
  ASSERT_RC(mproc_conn_recv_bytes(b, 9, 0, &m, &n), MPROC_EMSGSIZE);
  ASSERT_EQ(mproc_conn_readable(b), 0);
  ASSERT_EQ(mproc_conn_writable(b), 1);
  ASSERT_TRUE(mproc_conn_fileno(b) != -1);
  ASSERT_RC(mproc_conn_recv_bytes(b, 100, 0, &m, &n), MPROC_EDIRECTION); /* "write-only" */
  ASSERT_RC(mproc_conn_poll(b, 0), MPROC_EDIRECTION);
  ASSERT_OK(mproc_conn_send_bytes(b, "ok", 2, 0, MPROC_SIZE_REST));
  ASSERT_OK(mproc_conn_recv_bytes(a, 100, 30000, &m, &n));
  ASSERT_TRUE(n == 2 && memcmp(m, "ok", 2) == 0);
  mproc_free(m);
  mproc_conn_free(a);
  mproc_conn_free(b);
}

TEST(maxlength_one_way_closes, 30, ONCE) {
  mproc_conn_t *r, *w;
  make_pipe(0, &r, &w);
  ASSERT_OK(mproc_conn_send_bytes(w, "0123456789", 10, 0, MPROC_SIZE_REST));
  void *m;
  size_t n;
  ASSERT_RC(mproc_conn_recv_bytes(r, 9, 0, &m, &n), MPROC_EMSGSIZE);
  ASSERT_RC(mproc_conn_recv_bytes(r, 100, 0, &m, &n), MPROC_ECLOSED); /* as Python closes it */
  ASSERT_EQ(mproc_conn_fileno(r), -1);
  ASSERT_EQ(mproc_conn_readable(r), 1); /* Python keeps the flag of a closed connection */
  mproc_conn_free(w);
  mproc_conn_free(r);
}

TEST(recv_into_too_small_keeps_message, 30, ONCE) {
  mproc_conn_t *a, *b;
  make_pipe(1, &a, &b);
  ASSERT_OK(mproc_conn_send_bytes(a, "hello world", 11, 0, MPROC_SIZE_REST));
  ASSERT_OK(mproc_conn_send_bytes(a, "next", 4, 0, MPROC_SIZE_REST));
  char small[8], big[32];
  size_t n = 0;
  ASSERT_RC(mproc_conn_recv_bytes_into(b, small, sizeof small, 0, 1000, &n), MPROC_ETOOSMALL);
  ASSERT_EQ(n, 11);
  ASSERT_RC(mproc_conn_recv_bytes_into(b, big, sizeof big, 30, 1000, &n), MPROC_ETOOSMALL);
  ASSERT_RC(mproc_conn_recv_bytes_into(b, big, sizeof big, 33, 1000, &n), MPROC_ERANGE);
  ASSERT_OK(mproc_conn_recv_bytes_into(b, big, sizeof big, 2, 1000, &n));
  ASSERT_TRUE(n == 11 && memcmp(big + 2, "hello world", 11) == 0);
  ASSERT_OK(mproc_conn_recv_bytes_into(b, small, sizeof small, 0, 1000, &n));
  ASSERT_TRUE(n == 4 && memcmp(small, "next", 4) == 0);
  mproc_conn_free(a);
  mproc_conn_free(b);
}

/* --- poll, timeouts, EOF -------------------------------------------------------------------- */

static int t_send_later(const mproc_args_t *a) {
  t_sleep_ms((int)arg_int(a));
  return mproc_conn_send_bytes(arg_conn(a), "late", 4, 0, 4) ? 1 : 0;
}

TEST(poll_and_timeouts, 60, ALL) {
  mproc_conn_t *r, *w;
  make_pipe(0, &r, &w);
  mproc_process_t *p = start_with(t_send_later, w, 300);
  ASSERT_EQ(mproc_conn_poll(r, 0), 0);
  ASSERT_EQ(mproc_conn_poll(r, 50), 0);
  void *m;
  size_t n;
  ASSERT_RC(mproc_conn_recv_bytes(r, 10, 20, &m, &n), MPROC_ETIMEDOUT);
  ASSERT_EQ(mproc_conn_poll(r, MPROC_FOREVER), 1);
  ASSERT_EQ(mproc_conn_poll(r, 0), 1); /* polling consumes nothing */
  ASSERT_OK(mproc_conn_recv_bytes(r, 10, 0, &m, &n));
  ASSERT_TRUE(n == 4 && memcmp(m, "late", 4) == 0);
  mproc_free(m);
  finish(p);
  ASSERT_EQ(mproc_conn_poll(r, 1000), 1); /* EOF is "ready" too */
  ASSERT_RC(mproc_conn_recv_bytes(r, 10, 0, &m, &n), MPROC_EEOF);
  ASSERT_RC(mproc_conn_poll(r, -7), MPROC_EINVAL);
  mproc_conn_free(r);
}

/* Writes the header of a 1 MiB message and half its body, then dies. */
static int t_die_mid_message(const mproc_args_t *a) {
  mproc_conn_t *c = arg_conn(a);
  unsigned char part[4 + 4096] = {0, 0x10, 0, 0}; /* length 0x00100000 */
  intptr_t h = mproc_conn_fileno(c);
#ifdef _WIN32
  DWORD put;
  WriteFile((HANDLE)h, part, sizeof part, &put, NULL);
  TerminateProcess(GetCurrentProcess(), 9);
#else
  if (write((int)h, part, sizeof part) != (ssize_t)sizeof part)
    return 1;
  raise(SIGKILL);
#endif
  return 2;
}

TEST(peer_killed_mid_message, 60, ALL) {
  mproc_conn_t *r, *w;
  make_pipe(0, &r, &w);
  mproc_process_t *p = start_with(t_die_mid_message, w, 0);
  void *m = NULL;
  size_t n = 0;
  ASSERT_RC(mproc_conn_recv_bytes(r, (size_t)1 << 30, 30000, &m, &n), MPROC_EPEERGONE);
  ASSERT_TRUE(m == NULL);
  t_join_code(p);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
  mproc_conn_free(r);
}

/* --- waiting on many ------------------------------------------------------------------------- */

static int t_answer_after(const mproc_args_t *a) {
  t_sleep_ms((int)arg_int(a));
  return mproc_conn_send_bytes(arg_conn(a), "!", 1, 0, 1) ? 1 : 0;
}

/* Python's wait() reports every ready object. An exited, joined process is ready without
 * asking the OS; a message waiting in the channel is only seen by asking it. Both count. */
TEST(wait_reports_all_ready_kinds, 60, ALL) {
  mproc_conn_t *r, *wr;
  make_pipe(0, &r, &wr);
  mproc_process_t *p = start_with(t_answer_after, wr, 0);
  ASSERT_EQ(t_join_code(p), 0);
  mproc_waitable w[2] = {{MPROC_WAIT_CONN, r, 0, 0}, {MPROC_WAIT_PROCESS, p, 0, 0}};
  size_t nready = 0;
  ASSERT_OK(mproc_wait(w, 2, 30000, &nready));
  ASSERT_EQ(nready, 2);
  ASSERT_TRUE(w[0].ready == 1 && w[1].ready == 1);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
  mproc_conn_free(r);
}

TEST(wait_on_50_conns_and_sentinels, 120, ALL) {
  enum { N = 50 };
  mproc_conn_t *r[N];
  mproc_process_t *p[N];
  mproc_waitable w[2 * N];
  for (int i = 0; i < N; i++) {
    mproc_conn_t *wr;
    make_pipe(0, &r[i], &wr);
    p[i] = start_with(t_answer_after, wr, i == 17 ? 100 : 60000);
    w[i] = (mproc_waitable){MPROC_WAIT_CONN, r[i], 0, 0};
    w[N + i] = (mproc_waitable){MPROC_WAIT_PROCESS, p[i], 0, 0};
  }
  size_t nready = 0;
  ASSERT_OK(mproc_wait(w, 2 * N, 30000, &nready));
  ASSERT_TRUE(nready >= 1 && w[17].ready == 1);
  for (int i = 0; i < N; i++)
    ASSERT_TRUE(i == 17 || w[i].ready == 0);
  void *m;
  size_t n;
  ASSERT_OK(mproc_conn_recv_bytes(r[17], 1, 0, &m, &n));
  mproc_free(m);
  ASSERT_OK(mproc_process_join(p[17], 30000));
  ASSERT_OK(mproc_wait(w + N, N, 30000, &nready)); /* sentinel 17 has exited */
  ASSERT_TRUE(w[N + 17].ready == 1 && nready == 1);
  ASSERT_RC(mproc_wait(w, 1, 10, &nready), MPROC_ETIMEDOUT);
  for (int i = 0; i < N; i++) {
    mproc_process_kill(p[i]);
    ASSERT_OK(mproc_process_join(p[i], 30000));
    ASSERT_OK(mproc_process_close(p[i]));
    mproc_process_free(p[i]);
    mproc_conn_free(r[i]);
  }
}

/* Python's connection.wait([]) returns [] once the timeout passed (at once for 0). */
TEST(wait_empty_list, 30, ONCE) {
  size_t nready = 99;
  ASSERT_OK(mproc_wait(NULL, 0, 0, &nready));
  ASSERT_EQ(nready, 0);
  nready = 99;
  mproc_waitable w[1];
  ASSERT_WAITS(mproc_wait(w, 0, 200, &nready), 0, 200);
  ASSERT_EQ(nready, 0);
  ASSERT_OK(mproc_wait(w, 0, MPROC_FOREVER, &nready)); /* nothing can ever become ready */
  ASSERT_EQ(nready, 0);
}

/* --- closing a connection the argument list owns ------------------------------------------- */

/* What the tutorials do in the child: conn.send(...); conn.close(). The list then releases the
 * connection once, after the target returns; a second close is harmless. */
static int t_close_arg(const mproc_args_t *a) {
  mproc_conn_t *c = arg_conn(a);
  C_TRUE(c != NULL);
  C_OK(mproc_conn_send_bytes(c, "bye", 3, 0, MPROC_SIZE_REST));
  C_OK(mproc_conn_close(c));
  C_RC(mproc_conn_send_bytes(c, "x", 1, 0, MPROC_SIZE_REST), MPROC_ECLOSED);
  C_OK(mproc_conn_close(c));
  mproc_conn_t *again = NULL;
  C_OK(mproc_args_get_conn(a, 0, &again)); /* the same, closed, connection */
  C_TRUE(again == c);
  return 0;
}

TEST(close_argument_conn_in_child, 60, ALL) {
  mproc_conn_t *mine, *theirs;
  make_pipe(1, &mine, &theirs);
  mproc_process_t *p = start_with(t_close_arg, theirs, 0);
  void *m;
  size_t n;
  ASSERT_OK(mproc_conn_recv_bytes(mine, 100, 30000, &m, &n));
  ASSERT_TRUE(n == 3 && memcmp(m, "bye", 3) == 0);
  mproc_free(m);
  ASSERT_RC(mproc_conn_recv_bytes(mine, 100, 30000, &m, &n), MPROC_EEOF);
  finish(p);
  mproc_conn_free(mine);
}

/* --- typed values ------------------------------------------------------------------------------ */

static int t_typed_echo(const mproc_args_t *a) {
  mproc_conn_t *c = arg_conn(a);
  mproc_args_t *v;
  int rc = mproc_conn_recv(c, 30000, &v);
  if (rc != 0)
    return mproc_fail(1, "recv: %s", mproc_errname(rc));
  int64_t i;
  const char *s;
  double d;
  if (mproc_args_parse(v, "l s d", &i, &s, &d) != 0)
    return 2;
  mproc_args_t *out;
  mproc_args_build(&out, "l s", i * 2, s);
  rc = mproc_conn_send(c, out);
  mproc_args_free(out);
  mproc_args_free(v);
  return rc ? 3 : 0;
}

TEST(typed_values, 60, ALL) {
  mproc_conn_t *mine, *theirs;
  make_pipe(1, &mine, &theirs);
  mproc_process_t *p = start_with(t_typed_echo, theirs, 0);
  mproc_args_t *v;
  ASSERT_OK(mproc_args_build(&v, "l s d", (int64_t)21, "text", 0.5));
  ASSERT_OK(mproc_conn_send(mine, v));
  mproc_args_free(v);
  ASSERT_OK(mproc_conn_recv(mine, 30000, &v));
  int64_t i;
  const char *s;
  ASSERT_OK(mproc_args_parse(v, "l s", &i, &s));
  ASSERT_TRUE(i == 42 && strcmp(s, "text") == 0);
  mproc_args_free(v);
  /* Connections cannot travel inside a message. */
  ASSERT_OK(mproc_args_new(&v));
  ASSERT_OK(mproc_args_add_conn(v, mine));
  ASSERT_RC(mproc_conn_send(mine, v), MPROC_ENOTSUP);
  mproc_args_free(v);
  finish(p);
  mproc_conn_free(mine);
}

/* --- past 2 GiB: Python's -1 + 8-byte length form ------------------------------------------- */

static int t_send_huge(const mproc_args_t *a) {
  size_t n = (size_t)arg_int(a);
  unsigned char *buf = malloc(n);
  if (buf == NULL)
    return mproc_fail(1, "no memory for %zu bytes", n);
  for (size_t i = 0; i < n; i += 4096)
    buf[i] = (unsigned char)(i >> 12);
  buf[n - 1] = 0xAB;
  int rc = mproc_conn_send_bytes(arg_conn(a), buf, n, 0, MPROC_SIZE_REST);
  free(buf);
  return rc ? mproc_fail(2, "send: %s", mproc_errname(rc)) : 0;
}

TEST(message_over_2gib, 600, POSIX_ONCE) {
  size_t n = ((size_t)1 << 31) + 3;
  unsigned char *buf = malloc(n);
  if (buf == NULL)
    t_skip("not enough memory for a 2 GiB message");
  mproc_conn_t *r, *w;
  make_pipe(0, &r, &w);
  mproc_process_t *p = start_with(t_send_huge, w, (int64_t)n);
  size_t got = 0;
  ASSERT_RC(mproc_conn_recv_bytes_into(r, buf, n - 1, 0, 120000, &got), MPROC_ETOOSMALL);
  ASSERT_EQ(got, n); /* the 8-byte length was read right */
  ASSERT_OK(mproc_conn_recv_bytes_into(r, buf, n, 0, 120000, &got));
  ASSERT_EQ(got, n);
  for (size_t i = 0; i + 1 < n; i += 4096)
    if (buf[i] != (unsigned char)(i >> 12))
      t_fail(__FILE__, __LINE__, "byte %zu differs", i);
  ASSERT_EQ(buf[n - 1], 0xAB);
  free(buf);
  finish(p);
  mproc_conn_free(r);
}

#if !defined(_WIN32)
#include <sys/resource.h>

/* Address space in use now (Linux: /proc/self/statm), 0 if unknown. */
static size_t vm_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  unsigned long pages = 0;
  if (f) {
    if (fscanf(f, "%lu", &pages) != 1)
      pages = 0;
    fclose(f);
  }
  return (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
}

static void write_partial_body(void *arg) {
  /* A 1 MiB message of which 640 KiB arrive, then nothing. */
  int fd = (int)(intptr_t)arg;
  static unsigned char body[640 * 1024];
  unsigned char hdr[4] = {0, 0x10, 0, 0};
  memset(body, 'x', sizeof body);
  ssize_t w = write(fd, hdr, sizeof hdr);
  for (size_t off = 0; w > 0 && off < sizeof body; off += (size_t)w)
    w = write(fd, body + off, sizeof body - off);
}

TEST(recv_into_no_memory_to_keep_stream, 30, POSIX_ONCE) {
  /* A receive that times out half way through a body puts the bytes it read straight into the
   * caller's buffer back into the connection's own, so the next receive starts where this one
   * stopped. When that buffer cannot grow, the stream is lost: reading must stop there, never
   * go on mid-body and take payload bytes for the next header. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  t_skip("an address-space limit and a sanitizer's shadow memory do not mix");
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
  t_skip("an address-space limit and a sanitizer's shadow memory do not mix");
#endif
#endif
  mproc_conn_t *a, *b;
  make_pipe(1, &a, &b);
  unsigned char *dst = malloc(1 << 20);
  ASSERT_TRUE(dst != NULL);
  struct rlimit old, tight;
  ASSERT_EQ(getrlimit(RLIMIT_AS, &old), 0);
  t_thread *w = t_thread_start(write_partial_body, (void *)(intptr_t)mproc_conn_fileno(b));
  size_t now = vm_bytes();
  if (now == 0)
    t_skip("cannot read the address space in use");
  tight = old;
  tight.rlim_cur = now; /* no new mapping, no heap growth past what is reserved */
  ASSERT_EQ(setrlimit(RLIMIT_AS, &tight), 0);
  size_t got = 0;
  int rc = mproc_conn_recv_bytes_into(a, dst, 1 << 20, 0, 500, &got);
  ASSERT_EQ(setrlimit(RLIMIT_AS, &old), 0);
  t_thread_join(w);
  if (rc == MPROC_ETIMEDOUT)
    t_skip("the buffer grew within the limit: nothing to test on this libc");
  ASSERT_RC(rc, MPROC_ENOMEM);
  ASSERT_EQ(mproc_conn_readable(a), 0);
  ASSERT_RC(mproc_conn_recv_bytes_into(a, dst, 1 << 20, 0, 300, &got), MPROC_EDIRECTION);
  /* Sending still works on the duplex connection, as after a refused message length. */
  ASSERT_OK(mproc_conn_send_bytes(a, "ok", 2, 0, MPROC_SIZE_REST));
  free(dst);
  mproc_conn_free(a);
  mproc_conn_free(b);
}
#endif
