/* SPDX-License-Identifier: MIT */
/* Fault cases for the connection area: kill the party that was woken or was to wake, at seeded random
 * moments, and check that nothing hangs, nothing acknowledged is lost, nothing is torn. */
#include "runner.h"

#include <stdlib.h>
#include <string.h>

/* Messages that check themselves: 16 bytes (sequence number, length) then a body derived from
 * both, so a torn, shifted or spliced message never passes for a whole one. */
static unsigned char conn_byte(uint64_t seq, size_t i) {
  return (unsigned char)(seq * 131 + i * 7 + (i >> 12));
}

static void conn_fill(unsigned char *b, size_t n, uint64_t seq) {
  for (int k = 0; k < 8; k++) {
    b[k] = (unsigned char)(seq >> (8 * k));
    b[8 + k] = (unsigned char)((uint64_t)n >> (8 * k));
  }
  for (size_t i = 16; i < n; i++)
    b[i] = conn_byte(seq, i);
}

/* 1 if m (n bytes) is message seq, whole. */
static int conn_check(const unsigned char *m, size_t n, uint64_t seq) {
  uint64_t s = 0, len = 0;
  if (n < 16)
    return 0;
  for (int k = 0; k < 8; k++) {
    s |= (uint64_t)m[k] << (8 * k);
    len |= (uint64_t)m[8 + k] << (8 * k);
  }
  if (s != seq || len != n)
    return 0;
  for (size_t i = 16; i < n; i++)
    if (m[i] != conn_byte(seq, i))
      return 0;
  return 1;
}

static mproc_conn_t *conn_arg(const mproc_args_t *a) {
  mproc_conn_t *c = NULL;
  return mproc_args_get_conn(a, 0, &c) == 0 ? c : NULL;
}

/* Starts fn with the connection (and an int) as arguments, then closes the parent's copy. */
static mproc_process_t *conn_start(mproc_target_fn fn, mproc_conn_t *child_end, int64_t v) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_OK(mproc_args_add_conn(a, child_end));
  ASSERT_OK(mproc_args_add_int(a, v));
  mproc_process_t *p = t_start(fn, a);
  mproc_args_free(a);
  mproc_conn_free(child_end);
  return p;
}

/* --- a writer killed in the middle of big messages ------------------------------------------ */

/* Sends messages of 256 KiB .. 4 MiB (size from the seed in argument 1) until killed. */
static int conn_big_writer(const mproc_args_t *a) {
  mproc_conn_t *c = conn_arg(a);
  int64_t seed = 0;
  mproc_args_get_int(a, 1, &seed);
  size_t max = (size_t)4 << 20;
  unsigned char *b = malloc(max);
  if (c == NULL || b == NULL)
    return 1;
  for (uint64_t seq = 0;; seq++) {
    size_t n = ((size_t)256 << 10) + (size_t)((seq * 2654435761u + (uint64_t)seed) % (max - (256 << 10)));
    conn_fill(b, n, seq);
    if (mproc_conn_send_bytes(c, b, n, 0, MPROC_SIZE_REST) != 0)
      return 2;
  }
}

/* The reader gets whole messages, then EOF or MPROC_EPEERGONE: never a torn message passed
 * off as whole, never a hang. */
TEST(conn_writer_killed_mid_send, 120, ALL) {
  t_fault_seed();
  int rounds = t_fault_rounds(20);
  for (int r = 0; r < rounds; r++) {
    mproc_conn_t *rd, *wr;
    ASSERT_OK(mproc_pipe(0, &rd, &wr));
    mproc_process_t *p = conn_start(conn_big_writer, wr, t_rand_range(0, 1 << 20));
    int before = t_rand_range(0, 3), got = 0;
    uint64_t seq = 0;
    for (; got < before; got++, seq++) { /* a few whole ones first */
      void *m;
      size_t n;
      ASSERT_OK(mproc_conn_recv_bytes(rd, (size_t)8 << 20, 30000, &m, &n));
      ASSERT_TRUE(conn_check(m, n, seq));
      mproc_free(m);
    }
    t_sleep_ms(t_rand_range(0, 30)); /* the writer is mid-message, blocked on a full pipe */
    t_kill_and_reap(p);
    for (;; seq++) {
      void *m;
      size_t n;
      int rc = mproc_conn_recv_bytes(rd, (size_t)8 << 20, 30000, &m, &n);
      if (rc == MPROC_EEOF || rc == MPROC_EPEERGONE)
        break;
      ASSERT_OK(rc); /* not MPROC_ETIMEDOUT: the end must be seen */
      if (!conn_check(m, n, seq))
        t_fail(__FILE__, __LINE__, "message %llu (%zu bytes) delivered torn",
               (unsigned long long)seq, n);
      mproc_free(m);
    }
    mproc_conn_free(rd);
  }
}

/* --- a reader killed in the middle of a receive ---------------------------------------------- */

static int conn_big_reader(const mproc_args_t *a) {
  mproc_conn_t *c = conn_arg(a);
  for (;;) {
    void *m;
    size_t n;
    if (c == NULL || mproc_conn_recv_bytes(c, (size_t)8 << 20, MPROC_FOREVER, &m, &n) != 0)
      return 1;
    mproc_free(m);
  }
}

typedef struct conn_killer {
  mproc_process_t *p;
  int delay_ms;
} conn_killer;

static void conn_kill_later(void *arg) {
  conn_killer *k = arg;
  t_sleep_ms(k->delay_ms);
  mproc_process_kill(k->p);
}

/* The writer gets MPROC_EPEERGONE (no SIGPIPE kills it), whatever it was in the middle of. */
TEST(conn_reader_killed_mid_recv, 120, ALL) {
  t_fault_seed();
  int rounds = t_fault_rounds(20);
  size_t max = (size_t)4 << 20;
  unsigned char *b = malloc(max);
  ASSERT_TRUE(b != NULL);
  for (int r = 0; r < rounds; r++) {
    mproc_conn_t *rd, *wr;
    ASSERT_OK(mproc_pipe(0, &rd, &wr));
    mproc_process_t *p = conn_start(conn_big_reader, rd, 0);
    conn_killer k = {p, t_rand_range(0, 60)};
    t_thread *t = t_thread_start(conn_kill_later, &k);
    int rc = 0;
    for (uint64_t seq = 0; rc == 0; seq++) {
      size_t n = (size_t)t_rand_range(16, (int)max);
      conn_fill(b, n, seq);
      rc = mproc_conn_send_bytes(wr, b, n, 0, MPROC_SIZE_REST);
    }
    ASSERT_RC(rc, MPROC_EPEERGONE);
    t_thread_join(t);
    ASSERT_EQ(t_join_code(p), -9);
    ASSERT_OK(mproc_process_close(p));
    mproc_process_free(p);
    mproc_conn_free(wr);
  }
  free(b);
}

/* --- a client killed in the middle of the handshake --------------------------------------------- */

/* Connects with the key (argument 0 address, 1 key) and then echoes until EOF. */
static int conn_keyed_client(const mproc_args_t *a) {
  mproc_conn_t *c;
  int rc = mproc_client(t_str(a, 0), t_str(a, 1), strlen(t_str(a, 1)), 30000, &c);
  if (rc != 0)
    return mproc_fail(1, "client: %s", mproc_errname(rc));
  for (;;) {
    void *m;
    size_t n;
    rc = mproc_conn_recv_bytes(c, 1 << 20, 30000, &m, &n);
    if (rc == MPROC_EEOF)
      break;
    if (rc == 0)
      rc = mproc_conn_send_bytes(c, m, n, 0, MPROC_SIZE_REST);
    mproc_free(m);
    if (rc != 0)
      return mproc_fail(2, "echo: %s", mproc_errname(rc));
  }
  mproc_conn_free(c);
  return 0;
}

/* A victim: connects with the key and then just stays, until it is killed. */
static int conn_victim_client(const mproc_args_t *a) {
  mproc_conn_t *c;
  if (mproc_client(t_str(a, 0), t_str(a, 1), strlen(t_str(a, 1)), 30000, &c) == 0)
    t_sleep_ms(60000);
  return 0;
}

/* 1 if c echoes a message (a live client), 0 if its peer is gone. */
static int conn_echoes(mproc_conn_t *c) {
  void *m;
  size_t n;
  if (mproc_conn_send_bytes(c, "ping", 4, 0, MPROC_SIZE_REST) != 0)
    return 0;
  int rc = mproc_conn_recv_bytes(c, 16, 30000, &m, &n);
  if (rc == MPROC_EEOF || rc == MPROC_EPEERGONE)
    return 0;
  ASSERT_OK(rc);
  ASSERT_TRUE(n == 4 && memcmp(m, "ping", 4) == 0);
  mproc_free(m);
  return 1;
}

/* Clients killed at random points of the handshake never stop the listener from serving the
 * next one. */
TEST(conn_client_killed_mid_handshake, 120, ONCE) {
  t_fault_seed();
  int rounds = t_fault_rounds(10);
  mproc_listener_t *l;
  ASSERT_OK(mproc_listener_new(&l, "tcp:127.0.0.1:0", "key", 3, 16));
  const char *addr = mproc_listener_address(l);
  for (int r = 0; r < rounds; r++) {
    int nvictims = t_rand_range(1, 3);
    mproc_process_t *v[3];
    for (int i = 0; i < nvictims; i++)
      v[i] = t_start_one(conn_victim_client, t_args("ss", addr, "key"));
    for (int i = 0; i < nvictims; i++) {
      mproc_conn_t *c = NULL;
      /* sometimes accept runs while they handshake, sometimes not */
      if (t_rand_range(0, 1) && mproc_listener_accept(l, t_rand_range(0, 20), &c) == 0)
        mproc_conn_free(c);
      else
        t_sleep_ms(t_rand_range(0, 20));
      t_kill_and_reap(v[i]);
    }
    mproc_process_t *good = t_start_one(conn_keyed_client, t_args("ss", addr, "key"));
    /* Serve until the good client echoed; victims that finished the handshake hang up. */
    int served = 0;
    while (!served) {
      mproc_conn_t *c = NULL;
      int rc = mproc_listener_accept(l, 30000, &c);
      if (rc == MPROC_EAUTH)
        continue;
      ASSERT_OK(rc);
      served = conn_echoes(c);
      mproc_conn_free(c);
    }
    t_finish(good);
  }
  mproc_listener_free(l);
}
