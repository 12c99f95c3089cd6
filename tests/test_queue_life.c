/* SPDX-License-Identifier: MIT */
/* Queues when processes exit or die: a process that exits right after put has delivered, an
 * unbounded queue's overflow is flushed at exit (or dropped with cancel_join_thread), a
 * producer or consumer killed with SIGKILL / TerminateProcess in the middle of a put or get
 * (big streamed items included) leaves the queue intact and usable, and nothing is left
 * behind. */
#include "runner.h"
#include "test_queue.h"
#include "../src/atomics.h"

/* A child started after this process ran threads of its own (joined by then). Under fork the
 * library refuses a multi-threaded parent, and a thread that pthread_join has returned for can
 * still be listed in /proc/self/task for a moment: the threads are gone, so say so. */
static mproc_process_t *start_after_threads(mproc_target_fn fn, mproc_args_t *a, int daemon) {
  mproc_process_t *p;
  ASSERT_OK(mproc_process_new(&p, fn, a));
  mproc_args_free(a);
  ASSERT_OK(mproc_process_set_daemon(p, daemon));
  ASSERT_OK(mproc_process_allow_fork_with_threads(p, 1));
  ASSERT_OK(mproc_process_start(p));
  return p;
}

/* --- a process that exits right after put ------------------------------------------------ */

/* Puts n items of size bytes (seeds 0..n-1), closes its handle if asked, and returns at once.
 * Args: queue, n, size, close. */
static int t_put_and_exit(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  for (int64_t i = 0; i < t_int64(a, 1); i++)
    C_OK(qt_put(q, (size_t)t_int64(a, 2), (uint64_t)i, MPROC_FOREVER));
  if (t_int64(a, 3))
    C_OK(mproc_queue_close(q));
  return 0;
}

/* Puts [7, "last words", None] and returns. Args: queue. */
static int t_put_values_and_exit(const mproc_args_t *a) {
  mproc_args_t *v;
  C_OK(mproc_args_build(&v, "isn", 7, "last words"));
  int rc = mproc_queue_put_values(t_queue(a, 0), v, MPROC_FOREVER);
  mproc_args_free(v);
  return rc == 0 ? 0 : mproc_fail(3, "put_values: %s", mproc_errname(rc));
}

TEST(exit_right_after_put, 120, ALL) {
  /* The child has exited (joined) before anything is read: what it put is there. A 5 MiB item
   * in a 16 MiB ring goes in whole; close in the child does not take its items away. */
  static const struct {
    int kind; /* 0 Queue, 1 SimpleQueue, 2 JoinableQueue */
    size_t maxsize, ring, n, size;
    int close;
  } cases[] = {
      {0, 0, 0, 100, 1000, 0},  {0, 200, 0, 100, 1000, 0}, {1, 0, 0, 100, 1000, 0},
      {2, 0, 0, 100, 1000, 0},  {0, 0, 16 * MIB, 1, 5 * MIB, 0},
      {0, 0, 0, 10, 0, 0},      {0, 0, 0, 10, 100, 1},
  };
  char msg[256];
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    mproc_queue_t *q;
    if (cases[c].kind == 1)
      ASSERT_OK(mproc_simple_queue_new(&q));
    else if (cases[c].kind == 2)
      ASSERT_OK(mproc_joinable_queue_new(&q, cases[c].maxsize));
    else if (cases[c].ring)
      ASSERT_OK(mproc_queue_new_sized(&q, cases[c].maxsize, cases[c].ring));
    else
      ASSERT_OK(mproc_queue_new(&q, cases[c].maxsize));
    qt_finish(qt_start(t_put_and_exit, t_args("Qlli", q, (int64_t)cases[c].n,
                                               (int64_t)cases[c].size, cases[c].close)));
    ASSERT_EQ(mproc_queue_qsize(q), cases[c].n);
    for (size_t i = 0; i < cases[c].n; i++)
      ASSERT_CHECK(qt_get_check(q, 0, cases[c].size, (uint64_t)i, msg, sizeof msg));
    if (cases[c].kind == 2) {
      ASSERT_RC(mproc_queue_join(q, 0), MPROC_ETIMEDOUT);
      for (size_t i = 0; i < cases[c].n; i++)
        ASSERT_OK(mproc_queue_task_done(q));
      ASSERT_OK(mproc_queue_join(q, 0));
    }
    ASSERT_EQ(mproc_queue_empty(q), 1);
    mproc_queue_free(q);
  }
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new(&q, 0));
  qt_finish(qt_start(t_put_values_and_exit, t_args("Q", q)));
  mproc_args_t *v;
  ASSERT_OK(mproc_queue_get_values(q, 0, &v));
  int i7 = 0;
  const char *s = NULL;
  ASSERT_OK(mproc_args_parse(v, "isn", &i7, &s));
  ASSERT_EQ(i7, 7);
  ASSERT_TRUE(strcmp(s, "last words") == 0);
  mproc_args_free(v);
  mproc_queue_free(q);
}

/* --- the overflow of unbounded queues at exit -------------------------------------------- */

#ifdef _WIN32
#define FLOOD_N 20000 /* every put and get is a kernel mutex round trip under Wine */
#else
#define FLOOD_N 50000
#endif

/* Puts n items of size bytes (seeds 0..n-1) into an unbounded queue nobody reads yet, calls
 * cancel_join_thread if asked, posts done, returns. Args: queue, n, size, cancel, done. */
static int t_flood(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  for (int64_t i = 0; i < t_int64(a, 1); i++)
    C_OK(qt_put(q, (size_t)t_int64(a, 2), (uint64_t)i, MPROC_FOREVER));
  if (t_int64(a, 3))
    C_OK(mproc_queue_cancel_join_thread(q));
  C_OK(mproc_event_set(t_event(a, 4)));
  return 0;
}

TEST(overflow_flushed_at_exit, 180, ALL) {
  mproc_queue_t *q;
  mproc_event_t *done;
  ASSERT_OK(mproc_queue_new(&q, 0));
  ASSERT_OK(mproc_event_new(&done));
  mproc_process_t *p = qt_start(t_flood, t_args("QiiiE", q, FLOOD_N, 1024, 0, done));
  ASSERT_OK(mproc_event_wait(done, 60000)); /* every put has returned: none waited */
#ifdef _WIN32
  /* ~50 MiB against a 1 MiB ring: the rest is held back in the child, which cannot exit until
   * it has been delivered (Python's join_thread at exit). Nothing reads yet, so it cannot. */
  ASSERT_RC(mproc_process_join(p, 300), MPROC_ETIMEDOUT);
#else
  /* ~50 MiB against a 1 MiB ring: the rest is in the queue's shared overflow, so the child
   * exits at once although nothing reads (Python's would wait in join_thread). */
  ASSERT_OK(mproc_process_join(p, 60000));
#endif
  char msg[256];
  for (int i = 0; i < FLOOD_N; i++) /* read while it runs: then it can finish */
    ASSERT_CHECK(qt_get_check(q, 30000, 1024, (uint64_t)i, msg, sizeof msg));
  qt_finish(p);
  void *d;
  size_t n;
  ASSERT_RC(mproc_queue_get(q, 0, &d, &n), MPROC_EEMPTY);
  mproc_event_free(done);
  mproc_queue_free(q);
}

/* Puts count items of size bytes (seeds 0..) on an unbounded queue and returns. Args: queue,
 * count, size. */
static int t_put_n_and_return(const mproc_args_t *a) {
  for (int64_t i = 0; i < t_int64(a, 1); i++)
    C_OK(qt_put(t_queue(a, 0), (size_t)t_int64(a, 2), (uint64_t)i, MPROC_FOREVER));
  return 0;
}

/* Python's worst queue pitfall: a child that put more than the pipe holds on a Queue nobody
 * reads cannot be joined (its feeder thread waits for a reader at exit). Here the items are in
 * the queue's shared memory when put returns, so the child exits and is joined at once, and
 * the items are there afterwards. Both shapes: one 1 MiB item, 1,024 items of 1 KiB. (Windows
 * keeps the overflow in the producer: see docs/queue.md.) */
static void joinable_after_puts(int64_t count, int64_t size) {
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new(&q, 0));
  mproc_process_t *p = qt_start(t_put_n_and_return, t_args("Qll", q, count, size));
  int rc = mproc_process_join(p, 30000); /* "at once"; the cap only catches the old hang */
  if (rc != 0) {
    mproc_process_kill(p);
    t_fail(__FILE__, __LINE__, "the child was not joinable: %s (%lld items in the queue)",
           mproc_errname(rc), (long long)mproc_queue_qsize(q));
  }
  qt_finish(p);
  ASSERT_EQ(mproc_queue_qsize(q), count);
  char msg[256];
  for (int64_t i = 0; i < count; i++)
    ASSERT_CHECK(qt_get_check(q, 0, (size_t)size, (uint64_t)i, msg, sizeof msg));
  ASSERT_EQ(mproc_queue_empty(q), 1);
  mproc_queue_free(q);
}

TEST(joinable_after_big_put, 120, POSIX_ALL) { joinable_after_puts(1, (int64_t)MIB); }
TEST(joinable_after_many_puts, 120, POSIX_ALL) { joinable_after_puts(1024, (int64_t)KIB); }

TEST(cancel_join_thread_exits, 120, ALL) {
  mproc_queue_t *q;
  mproc_event_t *done;
  ASSERT_OK(mproc_queue_new(&q, 0));
  ASSERT_OK(mproc_event_new(&done));
  mproc_process_t *p;
  qt_start_n(&p, 1, t_flood, t_args("QiiiE", q, FLOOD_N, 1024, 1, done), 1);
  ASSERT_OK(mproc_event_wait(done, 60000));
  /* With cancel_join_thread the child exits without waiting for its overflow, although
   * nobody reads: what it held back may be lost. */
  int rc = mproc_process_join(p, 20000);
  if (rc == MPROC_ETIMEDOUT) {
    mproc_process_kill(p); /* a daemon, but do not leave it to the end of the run */
    t_fail(__FILE__, __LINE__, "the child did not exit within 20 s of returning from its "
                               "target after mproc_queue_cancel_join_thread (%lld items in "
                               "the queue)", (long long)mproc_queue_qsize(q));
  }
  qt_finish(p);
  /* What did arrive is a prefix of what was put, every item intact. */
  char msg[256];
  int k = 0;
  for (;; k++) {
    uint64_t seed = 0;
    size_t size = 0;
    rc = qt_get_any(q, 200, &seed, &size, msg, sizeof msg);
    if (rc == MPROC_EEMPTY)
      break;
    ASSERT_CHECK(rc);
    ASSERT_EQ(seed, k);
    ASSERT_EQ(size, 1024);
  }
#ifdef _WIN32
  ASSERT_TRUE(k >= 1 && k <= FLOOD_N);
#else
  ASSERT_EQ(k, FLOOD_N); /* nothing was held back in the child */
#endif
  printf("%d of %d items arrived\n", k, FLOOD_N);
  ASSERT_OK(qt_put(q, 1024, 77, 0)); /* and the queue goes on */
  ASSERT_CHECK(qt_get_check(q, 0, 1024, 77, msg, sizeof msg));
  mproc_event_free(done);
  mproc_queue_free(q);
}

/* --- crash safety ------------------------------------------------------------------------ */

/* Under Wine every start is slow and every put and get a wineserver round trip. */
#ifdef _WIN32
#define CRASH_ROUNDS 10
#else
#define CRASH_ROUNDS 20
#endif
#define SEQ_BITS 40
#define SEQ_MASK (((uint64_t)1 << SEQ_BITS) - 1)
#define END_SEQ SEQ_MASK

/* The size of the item with this seed (round base | number): mostly 1000 and 20000 bytes
 * (whole records in the 64 KiB ring) and 64 KiB (streamed: more than half the ring), 1 in 16
 * a 3 MiB stream, in an order that differs from round to round. Rare big items keep the kills
 * from nearly always landing in one (a 3 MiB item takes longer than all the others). */
static size_t crash_size(uint64_t seed) {
  uint64_t h = seed;
  switch (qt_rand(&h) % 16) {
  case 0: return 3 * MIB;
  case 1: case 2: case 3: case 4: case 5: case 6: return 64 * KIB;
  case 7: case 8: case 9: case 10: case 11: return 20000;
  default: return 1000;
  }
}

typedef struct killer {
  mproc_process_t *p;
  int ms;
  int done;
} killer;

static void kill_later(void *arg) {
  killer *k = arg;
  t_sleep_ms(k->ms);
  ASSERT_OK(mproc_process_kill(k->p));
  MPROC__ATOMIC_STORE(&k->done, 1, MPROC__ATOMIC_SEQ_CST);
}

static uint64_t crash_rng_seed(void) {
  uint64_t s = (uint64_t)t_now_ms() ^ ((uint64_t)mproc_current_pid() << 20);
  printf("random seed %llu\n", (unsigned long long)s);
  fflush(stdout);
  return s;
}

/* Joins a killed child: exit -9, or its own failure message. */
static void reap_killed(mproc_process_t *p) {
  int code = 0;
  ASSERT_OK(mproc_process_join(p, 30000));
  ASSERT_OK(mproc_process_exitcode(p, &code));
  if (code != -9)
    t_fail(__FILE__, __LINE__, "child exit %d, want -9: %s", code,
           mproc_process_error(p) ? mproc_process_error(p) : "(no message)");
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

/* Checks one item of a round: intact (qt_get_any did that), of this round, numbered after
 * the previous one, of the right size. Returns its number. */
static uint64_t check_round_item(uint64_t seed, size_t size, uint64_t base, int64_t *last) {
  uint64_t n = seed & SEQ_MASK;
  if ((seed & ~SEQ_MASK) != base || (n != END_SEQ && size != crash_size(seed)))
    t_fail(__FILE__, __LINE__, "item %llx of %zu bytes does not belong here",
           (unsigned long long)seed, size);
  if ((int64_t)n <= *last)
    t_fail(__FILE__, __LINE__, "item %llu after %lld", (unsigned long long)n,
           (long long)*last);
  *last = (int64_t)n;
  return n;
}

/* A put and a get of a streamed item still work: a thread takes it while this one puts. */
typedef struct big_get {
  mproc_queue_t *q;
  int failed;
  char msg[256];
} big_get;

static void get_big(void *arg) {
  big_get *g = arg;
  g->failed = qt_get_check(g->q, 30000, 3 * MIB, 0xB16, g->msg, sizeof g->msg);
}

static void check_queue_works(mproc_queue_t *q) {
  char msg[256];
  ASSERT_OK(qt_put(q, 1000, 0x5A11, 5000));
  ASSERT_CHECK(qt_get_check(q, 5000, 1000, 0x5A11, msg, sizeof msg));
  big_get g = {q, 0, ""};
  t_thread *t = t_thread_start(get_big, &g);
  ASSERT_OK(qt_put(q, 3 * MIB, 0xB16, 30000));
  t_thread_join(t);
  if (g.failed)
    t_fail(__FILE__, __LINE__, "3 MiB item after the crash: %s", g.msg);
  ASSERT_EQ(mproc_queue_qsize(q), 0);
}

/* Puts items 0, 1, 2... (crash_size) until killed. Args: queue, seed base, running. */
static int t_crash_producer(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  uint64_t base = (uint64_t)t_int64(a, 1);
  C_OK(mproc_event_set(t_event(a, 2)));
  for (uint64_t n = 0; n < END_SEQ; n++)
    C_OK(qt_put(q, crash_size(base | n), base | n, MPROC_FOREVER));
  return 0;
}

static void producer_killed_round(int round, uint64_t *rng) {
  /* Odd rounds bounded (the producer streams from its own thread and waits for room), even
   * rounds unbounded (its overflow thread does). */
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new_sized(&q, round % 2 ? 4 : 0, 64 * KIB));
  uint64_t base = (uint64_t)(round + 1) << SEQ_BITS;
  mproc_event_t *running;
  ASSERT_OK(mproc_event_new(&running));
  mproc_process_t *p =
      start_after_threads(t_crash_producer, t_args("QlE", q, (int64_t)base, running), 1);
  /* The random moment counts from the start of the target, not of the process (a spawned
   * child takes a while to get there, longer under Wine). */
  ASSERT_OK(mproc_event_wait(running, 30000));
  killer k = {p, (int)(qt_rand(rng) % 21), 0};
  t_thread *t = t_thread_start(kill_later, &k);
  /* Read while it writes, so it is killed mid-put (often mid-stream); after the kill, drain. */
  int64_t last = -1;
  int got = 0;
  char msg[256];
  for (;;) {
    uint64_t seed = 0;
    size_t size = 0;
    int rc = qt_get_any(q, 250, &seed, &size, msg, sizeof msg);
    if (rc == MPROC_EEMPTY) {
      if (MPROC__ATOMIC_LOAD(&k.done, MPROC__ATOMIC_SEQ_CST))
        break;
      continue;
    }
    ASSERT_CHECK(rc);
    check_round_item(seed, size, base, &last);
    got++;
  }
  t_thread_join(t);
  reap_killed(p);
  mproc_event_free(running);
  for (;;) { /* dead and reaped: whatever is left is whole */
    uint64_t seed = 0;
    size_t size = 0;
    int rc = qt_get_any(q, 0, &seed, &size, msg, sizeof msg);
    if (rc == MPROC_EEMPTY)
      break;
    ASSERT_CHECK(rc);
    check_round_item(seed, size, base, &last);
    got++;
  }
  printf("round %d: killed after %d ms, %d items received\n", round, k.ms, got);
  ASSERT_EQ(mproc_queue_empty(q), 1);
  check_queue_works(q);
  mproc_queue_free(q);
}

TEST(producer_killed_mid_put, 300, ALL) {
  uint64_t rng = crash_rng_seed();
  for (int round = 0; round < CRASH_ROUNDS; round++)
    producer_killed_round(round, &rng);
}

/* Gets and checks items until killed. Args: queue, seed base, running. */
static int t_crash_consumer(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  uint64_t base = (uint64_t)t_int64(a, 1);
  C_OK(mproc_event_set(t_event(a, 2)));
  int64_t last = -1;
  char msg[256];
  for (;;) {
    uint64_t seed = 0;
    size_t size = 0;
    C_CHECK(qt_get_any(q, MPROC_FOREVER, &seed, &size, msg, sizeof msg));
    uint64_t n = seed & SEQ_MASK;
    if ((seed & ~SEQ_MASK) != base || size != crash_size(seed) || (int64_t)n <= last)
      return mproc_fail(3, "item %llx of %zu bytes after %lld", (unsigned long long)seed,
                        size, (long long)last);
    last = (int64_t)n;
  }
}

/* The consumer after the crash: gets until the end item, every item intact and numbered
 * upwards, the last two before the end being `tail` and tail + 1. Args: queue, base, tail. */
static int t_after_crash_consumer(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  uint64_t base = (uint64_t)t_int64(a, 1), tail = (uint64_t)t_int64(a, 2);
  int64_t last = -1, before_last = -1;
  char msg[256];
  for (;;) {
    uint64_t seed = 0;
    size_t size = 0;
    C_CHECK(qt_get_any(q, 30000, &seed, &size, msg, sizeof msg));
    uint64_t n = seed & SEQ_MASK;
    if ((seed & ~SEQ_MASK) != base || (n != END_SEQ && size != crash_size(seed)) ||
        (int64_t)n <= last)
      return mproc_fail(3, "item %llx of %zu bytes after %lld", (unsigned long long)seed,
                        size, (long long)last);
    if (n == END_SEQ) {
      if (before_last != (int64_t)tail || last != (int64_t)tail + 1)
        return mproc_fail(4, "before the end: %lld, %lld; want %llu, %llu",
                          (long long)before_last, (long long)last, (unsigned long long)tail,
                          (unsigned long long)tail + 1);
      return 0;
    }
    before_last = last;
    last = (int64_t)n;
  }
}

static void consumer_killed_round(int round, uint64_t *rng) {
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new_sized(&q, 4, 64 * KIB));
  uint64_t base = (uint64_t)(round + 1) << SEQ_BITS;
  mproc_event_t *running;
  ASSERT_OK(mproc_event_new(&running));
  mproc_process_t *p =
      start_after_threads(t_crash_consumer, t_args("QlE", q, (int64_t)base, running), 1);
  ASSERT_OK(mproc_event_wait(running, 30000));
  killer k = {p, (int)(qt_rand(rng) % 21), 0};
  t_thread *t = t_thread_start(kill_later, &k);
  /* Keep putting until the consumer is dead. A put that finds no room in time is refused
   * (and a streamed item whose reader died is dropped): numbers are used once either way. */
  uint64_t n = 0;
  while (!MPROC__ATOMIC_LOAD(&k.done, MPROC__ATOMIC_SEQ_CST)) {
    int rc = qt_put(q, crash_size(base | n), base | n, 300);
    if (rc != MPROC_EFULL)
      ASSERT_OK(rc);
    n++;
  }
  t_thread_join(t);
  reap_killed(p);
  mproc_event_free(running);
  /* Another consumer takes what is left, then two items put now (numbers picked so that they
   * are a 64 KiB and a 3 MiB one), then the end. */
  uint64_t tail = n;
  while (crash_size(base | tail) != 64 * KIB || crash_size(base | (tail + 1)) != 3 * MIB)
    tail++;
  p = start_after_threads(t_after_crash_consumer,
                          t_args("Qll", q, (int64_t)base, (int64_t)tail), 0);
  ASSERT_OK(qt_put(q, crash_size(base | tail), base | tail, 30000));
  ASSERT_OK(qt_put(q, crash_size(base | (tail + 1)), base | (tail + 1), 30000));
  ASSERT_OK(qt_put(q, 64, base | END_SEQ, 30000));
  qt_finish(p);
  printf("round %d: killed after %d ms, %llu items put\n", round, k.ms,
         (unsigned long long)n);
  ASSERT_EQ(mproc_queue_empty(q), 1);
  check_queue_works(q);
  mproc_queue_free(q);
}

TEST(consumer_killed_mid_get, 300, ALL) {
  uint64_t rng = crash_rng_seed();
  for (int round = 0; round < CRASH_ROUNDS; round++)
    consumer_killed_round(round, &rng);
}

/* A streamed item whose writer is killed while the reader waits for its next chunk: the
 * reader's get ends (the item is dropped) instead of hanging, and later items come through. */
static int t_stream_then_hang(const mproc_args_t *a) {
  /* Writes the first part of a 3 MiB item into a 64 KiB ring nobody reads yet, then blocks
   * waiting for room until killed. */
  C_OK(qt_put(t_queue(a, 0), 3 * MIB, 0xDEAD, MPROC_FOREVER));
  return mproc_fail(3, "the put returned although nobody read");
}

TEST(stream_writer_killed, 60, ALL) {
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new_sized(&q, 10, 64 * KIB));
  mproc_process_t *p = qt_start(t_stream_then_hang, t_args("Q", q));
  for (int i = 0; i < 4000 && mproc_queue_qsize(q) == 0; i++)
    t_sleep_ms(5);
  ASSERT_EQ(mproc_queue_qsize(q), 1); /* the stream's first record is there */
  t_sleep_ms(50);
  ASSERT_OK(mproc_process_kill(p));
  reap_killed(p);
  void *d;
  size_t n;
  int64_t t0 = t_now_ms();
  ASSERT_RC(mproc_queue_get(q, 1000, &d, &n), MPROC_EEMPTY); /* half an item is no item */
  ASSERT_TRUE(t_now_ms() - t0 < 10000);
  ASSERT_EQ(mproc_queue_qsize(q), 0);
  check_queue_works(q);
  mproc_queue_free(q);
}

/* --- nothing left behind ----------------------------------------------------------------- */

#ifndef _WIN32 /* used by the POSIX-only case below */
/* Blocks in get until killed. Args: queue. */
static int t_get_forever(const mproc_args_t *a) {
  void *d;
  size_t n;
  C_OK(mproc_queue_get(t_queue(a, 0), MPROC_FOREVER, &d, &n));
  mproc_free(d);
  return mproc_fail(3, "got an item nobody put");
}
#endif

TEST(nothing_left_behind, 120, POSIX_ALL) {
#ifndef _WIN32
  /* Warm-up: the first start may set up lasting state (the forkserver and its channel), and
   * the shared heap keeps its small-block segments for reuse. What must not grow is anything
   * per queue, per child, or left by a killed child. */
  mproc_queue_t *q, *out;
  ASSERT_OK(mproc_queue_new(&q, 0));
  ASSERT_OK(mproc_queue_new(&out, 0));
  qt_finish(qt_start(qt_target_echo, t_args("QQi", q, out, 0)));
  mproc_queue_free(out);
  mproc_queue_free(q);
  int fds = t_count_entries("/proc/self/fd"), shm = t_count_anonymous_shm_names();
  int maps = t_count_shared_maps();

  char msg[256];
  for (int i = 0; i < 10; i++) {
    if (i % 3 == 0)
      ASSERT_OK(mproc_simple_queue_new(&q));
    else if (i % 3 == 1)
      ASSERT_OK(mproc_joinable_queue_new(&q, 5));
    else
      ASSERT_OK(mproc_queue_new_sized(&q, 0, 64 * KIB));
    ASSERT_OK(mproc_queue_new_sized(&out, 0, 64 * KIB));
    mproc_process_t *p = qt_start(qt_target_echo, t_args("QQi", q, out, 2));
    ASSERT_OK(qt_put(q, 100, 1, MPROC_FOREVER));
    ASSERT_OK(qt_put(q, 200 * KIB, 2, MPROC_FOREVER));
    ASSERT_CHECK(qt_get_check(out, 30000, 100, 1, msg, sizeof msg));
    ASSERT_CHECK(qt_get_check(out, 30000, 200 * KIB, 2, msg, sizeof msg));
    qt_finish(p);
    p = qt_start(t_get_forever, t_args("Q", q)); /* killed inside get */
    t_sleep_ms(20);
    ASSERT_OK(mproc_process_kill(p));
    reap_killed(p);
    mproc_queue_free(out);
    mproc_queue_free(q);
  }

  ASSERT_EQ(t_count_entries("/proc/self/fd"), fds);
  ASSERT_EQ(t_count_shared_maps(), maps);
  ASSERT_EQ(t_count_anonymous_shm_names(), shm);
  size_t n = 9;
  ASSERT_OK(mproc_active_children(NULL, 0, &n));
  ASSERT_EQ(n, 0);
#endif
}

/* Puts `count` items of 4 KiB (together more than the ring holds) and exits, once its
 * overflow is delivered. Args: q, count. */
static int t_put_4k_items(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  static unsigned char buf[4096];
  for (int k = 0; k < t_int(a, 1); k++)
    C_OK(mproc_queue_put(q, buf, sizeof buf, MPROC_FOREVER));
  return 0;
}

/* More producers hold items back at once (Windows) than the shared table of holders has
 * slots: those left without one count their items at publication. Either way every item is
 * delivered, join() returns once all are done, and the count ends at exactly zero. */
TEST(joinable_many_holders, 180, ONCE) {
  enum { PRODUCERS = 14, ITEMS = 300 };
  mproc_queue_t *q;
  ASSERT_OK(mproc_joinable_queue_new(&q, 0));
  mproc_process_t *p[PRODUCERS];
  t_start_n(p, PRODUCERS, t_put_4k_items, t_args("Qi", q, ITEMS));
  for (int i = 0; i < PRODUCERS * ITEMS; i++) {
    void *d;
    size_t n;
    ASSERT_OK(mproc_queue_get(q, 60000, &d, &n));
    ASSERT_EQ(n, 4096);
    mproc_free(d);
    if (i == 0)
      ASSERT_RC(mproc_queue_join(q, 0), MPROC_ETIMEDOUT);
    ASSERT_OK(mproc_queue_task_done(q));
  }
  t_finish_n(p, PRODUCERS);
  ASSERT_OK(mproc_queue_join(q, 30000));
  ASSERT_RC(mproc_queue_task_done(q), MPROC_EOVERRELEASE);
  mproc_queue_free(q);
}
