/* SPDX-License-Identifier: MIT */
/* Queues: Queue, SimpleQueue, JoinableQueue — put/get across processes and threads, timeouts,
 * bounded and unbounded queues, items of every size (0 bytes, bigger than the ring, 64 MiB),
 * many producers and consumers, typed values, close, task_done/join, mproc_wait, error rules.
 * Queues reach children as process arguments, so every ALL case also exercises that crossing
 * under each start method. Processes that exit or die while using a queue (overflow at exit,
 * cancel_join_thread, SIGKILL mid-put and mid-get) are in test_queue_life.c, which uses the
 * helpers below (qt_*, non-static for that reason). Python's multiprocessing is the reference
 * for semantics.
 *
 * Items carry their own check: qt_fill writes a seed and the size into the first 16 bytes and a
 * pseudo-random stream derived from the seed after them, so a consumer can tell a torn,
 * shifted or mixed-up item from an intact one without knowing what to expect. */
#include "runner.h"
#include "test_queue.h"

/* --- helpers shared with test_queue_life.c ----------------------------------------------- */

#if defined(__SANITIZE_THREAD__)
#define QT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define QT_TSAN 1
#endif
#endif

/* Starts n processes running fn with the same arguments (daemons if daemon), then frees the
 * arguments. Under TSan its runtime keeps a thread of its own in every process that ran
 * threads (an overflow feeder, say) and in fork children, which fork's single-thread check
 * counts: there, fork is allowed explicitly. Elsewhere the check stays on, so a thread the
 * library left running would be noticed. */
void qt_start_n(mproc_process_t **ps, int n, mproc_target_fn fn, mproc_args_t *a, int daemon) {
  for (int i = 0; i < n; i++) {
    ASSERT_OK(mproc_process_new(&ps[i], fn, a));
    ASSERT_OK(mproc_process_set_daemon(ps[i], daemon));
#ifdef QT_TSAN
    ASSERT_OK(mproc_process_allow_fork_with_threads(ps[i], 1));
#endif
    ASSERT_OK(mproc_process_start(ps[i]));
  }
  mproc_args_free(a);
}

mproc_process_t *qt_start(mproc_target_fn fn, mproc_args_t *a) {
  mproc_process_t *p;
  qt_start_n(&p, 1, fn, a, 0);
  return p;
}

/* Joins p (60 s cap), fails with the child's message unless it exited with 0, closes it. */
void qt_finish(mproc_process_t *p) { t_finish_ms(p, 60000); }

void qt_finish_n(mproc_process_t **ps, int n) {
  for (int i = 0; i < n; i++)
    qt_finish(ps[i]);
}

/* splitmix64: the item stream, and the random delays of the crash tests. */
static uint64_t qt_mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t qt_rand(uint64_t *state) { return qt_mix((*state)++); }

/* Items of 16 bytes and more: seed (8 bytes), size (8 bytes), then the stream of the seed.
 * Shorter items are the start of the stream: only a reader who knows the seed can check them. */
#define QT_HDR 16

static void qt_stream(unsigned char *p, size_t off, size_t size, uint64_t seed, int check,
                      int *bad) {
  uint64_t k = seed * 0x2545F4914F6CDD1Dull;
  for (; off < size; off += 8) {
    uint64_t w = qt_mix(k++);
    size_t n = size - off < 8 ? size - off : 8;
    if (!check)
      memcpy(p + off, &w, n);
    else if (memcmp(p + off, &w, n) != 0) {
      *bad = 1;
      return;
    }
  }
}

void qt_fill(void *buf, size_t size, uint64_t seed) {
  unsigned char *p = buf;
  size_t off = 0;
  if (size >= QT_HDR) {
    uint64_t sz = size;
    memcpy(p, &seed, 8);
    memcpy(p + 8, &sz, 8);
    off = QT_HDR;
  }
  qt_stream(p, off, size, seed, 0, NULL);
}

/* 1 if buf is the item qt_fill(buf, size, seed) made. */
int qt_intact(const void *buf, size_t size, uint64_t seed) {
  const unsigned char *p = buf;
  size_t off = 0;
  int bad = 0;
  if (size >= QT_HDR) {
    uint64_t s, sz;
    memcpy(&s, p, 8);
    memcpy(&sz, p + 8, 8);
    if (s != seed || sz != size)
      return 0;
    off = QT_HDR;
  }
  qt_stream((unsigned char *)p, off, size, seed, 1, &bad);
  return !bad;
}

void *qt_item(size_t size, uint64_t seed) {
  void *p = malloc(size ? size : 1);
  ASSERT_TRUE(p != NULL);
  qt_fill(p, size, seed);
  return p;
}

/* Puts the item (size, seed). */
int qt_put(mproc_queue_t *q, size_t size, uint64_t seed, int64_t ms) {
  void *p = malloc(size ? size : 1);
  if (p == NULL)
    return MPROC_ENOMEM;
  qt_fill(p, size, seed);
  int rc = mproc_queue_put(q, p, size, ms);
  free(p);
  return rc;
}

/* Gets one item and checks it is (size, seed). 0, or non-zero with the story in msg. */
int qt_get_check(mproc_queue_t *q, int64_t ms, size_t size, uint64_t seed, char *msg,
                 size_t cap) {
  void *d = NULL;
  size_t n = 0;
  int rc = mproc_queue_get(q, ms, &d, &n);
  if (rc != 0) {
    snprintf(msg, cap, "get of item %llx (%zu bytes): %s", (unsigned long long)seed, size,
             mproc_errname(rc));
    return 1;
  }
  int ok = d != NULL && n == size && qt_intact(d, n, seed);
  if (!ok) {
    uint64_t s = 0;
    if (d && n >= 8)
      memcpy(&s, d, 8);
    snprintf(msg, cap, "want item %llx of %zu bytes, got %zu bytes starting with seed %llx%s",
             (unsigned long long)seed, size, n, (unsigned long long)s,
             n == size ? " (content differs)" : "");
  }
  mproc_free(d);
  return !ok;
}

/* Gets one self-describing item (>= 16 bytes) and checks it is intact. 0 with *seed and
 * *size; MPROC_EEMPTY (msg untouched) when nothing came; 1 with msg when it is damaged. */
int qt_get_any(mproc_queue_t *q, int64_t ms, uint64_t *seed, size_t *size, char *msg,
               size_t cap) {
  void *d = NULL;
  size_t n = 0;
  int rc = mproc_queue_get(q, ms, &d, &n);
  if (rc == MPROC_EEMPTY)
    return rc;
  if (rc != 0) {
    snprintf(msg, cap, "get: %s", mproc_errname(rc));
    return 1;
  }
  uint64_t s = 0;
  if (n >= QT_HDR)
    memcpy(&s, d, 8);
  int ok = n >= QT_HDR && qt_intact(d, n, s);
  mproc_free(d);
  if (!ok) {
    snprintf(msg, cap, "damaged item: %zu bytes, seed %llx", n, (unsigned long long)s);
    return 1;
  }
  *seed = s;
  *size = n;
  return 0;
}

/* Echo: gets count items from queue 0 and puts each back, unchanged, into queue 1. Items of
 * 16 bytes and more are checked on the way (so a failure says which direction broke). Args:
 * in, out, count. */
int qt_target_echo(const mproc_args_t *a) {
  mproc_queue_t *in = t_queue(a, 0), *out = t_queue(a, 1);
  int64_t count = t_int64(a, 2);
  for (int64_t i = 0; i < count; i++) {
    void *d;
    size_t n;
    C_OK(mproc_queue_get(in, 60000, &d, &n));
    uint64_t s = 0;
    if (n >= QT_HDR)
      memcpy(&s, d, 8);
    if (n >= QT_HDR && !qt_intact(d, n, s)) {
      mproc_free(d);
      return mproc_fail(3, "item %lld (%zu bytes) damaged on the way to the child",
                        (long long)i, n);
    }
    int rc = mproc_queue_put(out, d, n, MPROC_FOREVER);
    mproc_free(d);
    C_OK(rc);
  }
  return 0;
}

/* --- the tutorial: a producer, a consumer, a sentinel ------------------------------------ */

/* Puts 0..4, then None. Args: queue. */
static int t_tut_producer(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  for (int i = 0; i < 5; i++) {
    mproc_args_t *v;
    C_OK(mproc_args_build(&v, "i", i));
    int rc = mproc_queue_put_values(q, v, MPROC_FOREVER);
    mproc_args_free(v);
    C_OK(rc);
  }
  mproc_args_t *none;
  C_OK(mproc_args_build(&none, "n"));
  int rc = mproc_queue_put_values(q, none, MPROC_FOREVER);
  mproc_args_free(none);
  C_OK(rc);
  return 0;
}

/* Reads until None, checking 0, 1, 2, ... arrive in order; reports [count, sum] on queue 1.
 * Args: queue, results. */
static int t_tut_consumer(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  int count = 0, sum = 0;
  for (;;) {
    mproc_args_t *v;
    C_OK(mproc_queue_get_values(q, 30000, &v));
    if (mproc_args_count(v) == 1 && mproc_args_type(v, 0) == MPROC_ARG_NONE) {
      mproc_args_free(v);
      break;
    }
    int x = -1;
    int rc = mproc_args_parse(v, "i", &x);
    mproc_args_free(v);
    C_OK(rc);
    if (x != count)
      return mproc_fail(3, "got %d, want %d", x, count);
    printf("consumed %d\n", x);
    fflush(stdout);
    count++;
    sum += x;
  }
  mproc_args_t *r;
  C_OK(mproc_args_build(&r, "ii", count, sum));
  int rc = mproc_queue_put_values(t_queue(a, 1), r, MPROC_FOREVER);
  mproc_args_free(r);
  C_OK(rc);
  return 0;
}

TEST(producer_consumer_sentinel, 60, ALL) {
  mproc_queue_t *q, *results;
  ASSERT_OK(mproc_queue_new(&q, 0));
  ASSERT_OK(mproc_queue_new(&results, 0));
  fflush(stdout);
  mproc_process_t *consumer = qt_start(t_tut_consumer, t_args("QQ", q, results));
  mproc_process_t *producer = qt_start(t_tut_producer, t_args("Q", q));
  qt_finish(producer);
  qt_finish(consumer);
  mproc_args_t *r;
  ASSERT_OK(mproc_queue_get_values(results, 0, &r));
  int count = -1, sum = -1;
  ASSERT_OK(mproc_args_parse(r, "ii", &count, &sum));
  mproc_args_free(r);
  ASSERT_EQ(count, 5);
  ASSERT_EQ(sum, 0 + 1 + 2 + 3 + 4);
  ASSERT_EQ(mproc_queue_empty(q), 1);
  mproc_queue_free(results);
  mproc_queue_free(q);
}

/* --- timeouts, empty and full ------------------------------------------------------------ */

TEST(get_timeout_and_nowait, 30, ONCE) {
  mproc_queue_t *qs[4];
  ASSERT_OK(mproc_queue_new(&qs[0], 0));
  ASSERT_OK(mproc_queue_new(&qs[1], 1));
  ASSERT_OK(mproc_simple_queue_new(&qs[2]));
  ASSERT_OK(mproc_joinable_queue_new(&qs[3], 0));
  for (int i = 0; i < 4; i++) {
    mproc_queue_t *q = qs[i];
    void *d = (void *)&d;
    size_t n = 99;
    ASSERT_WAITS(mproc_queue_get(q, 200, &d, &n), MPROC_EEMPTY, 200);
    ASSERT_TRUE(d == NULL); /* nothing handed out */
    ASSERT_EQ(n, 0);
    int64_t t0 = t_now_ms();
    ASSERT_RC(mproc_queue_get(q, 0, &d, &n), MPROC_EEMPTY); /* get_nowait */
    ASSERT_RC(mproc_queue_get(q, MPROC_NOWAIT, &d, &n), MPROC_EEMPTY);
    mproc_args_t *v = (mproc_args_t *)&v;
    ASSERT_RC(mproc_queue_get_values(q, 0, &v), MPROC_EEMPTY);
    ASSERT_TRUE(v == NULL);
    ASSERT_TRUE(t_now_ms() - t0 < 2000); /* at once, not after some timeout */
    ASSERT_WAITS(mproc_queue_get_values(q, 150, &v), MPROC_EEMPTY, 150);
    ASSERT_RC(mproc_queue_get(q, -2, &d, &n), MPROC_EINVAL);
    ASSERT_RC(mproc_queue_put(q, "x", 1, -2), MPROC_EINVAL);
    /* Still empty and usable after all that. */
    ASSERT_EQ(mproc_queue_qsize(q), 0);
    ASSERT_OK(mproc_queue_put(q, "x", 1, 0));
    ASSERT_OK(mproc_queue_get(q, 0, &d, &n));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(((char *)d)[0], 'x');
    mproc_free(d);
    mproc_queue_free(q);
  }
}

/* Sleeps ms, then puts "hello". Args: queue, ms. */
static int t_put_later(const mproc_args_t *a) {
  t_sleep_ms((int)t_int64(a, 1));
  C_OK(mproc_queue_put(t_queue(a, 0), "hello", 5, MPROC_FOREVER));
  return 0;
}

TEST(get_blocks_until_put, 60, ALL) {
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new(&q, 0));
  mproc_process_t *p = qt_start(t_put_later, t_args("Qi", q, 200));
  void *d;
  size_t n;
  ASSERT_OK(mproc_queue_get(q, MPROC_FOREVER, &d, &n));
  ASSERT_EQ(n, 5);
  ASSERT_TRUE(memcmp(d, "hello", 5) == 0);
  mproc_free(d);
  qt_finish(p);
  p = qt_start(t_put_later, t_args("Qi", q, 100));
  ASSERT_OK(mproc_queue_get(q, 30000, &d, &n)); /* a finite timeout wakes as well */
  mproc_free(d);
  qt_finish(p);
  mproc_queue_free(q);
}

TEST(bounded_full, 30, ONCE) {
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new(&q, 2));
  ASSERT_EQ(mproc_queue_empty(q), 1);
  ASSERT_EQ(mproc_queue_full(q), 0);
  ASSERT_OK(mproc_queue_put(q, "a", 1, 0));
  ASSERT_EQ(mproc_queue_full(q), 0);
  ASSERT_OK(mproc_queue_put(q, "b", 1, MPROC_FOREVER));
  ASSERT_EQ(mproc_queue_qsize(q), 2);
  ASSERT_EQ(mproc_queue_full(q), 1);
  ASSERT_EQ(mproc_queue_empty(q), 0);
  int64_t t0 = t_now_ms();
  ASSERT_RC(mproc_queue_put(q, "c", 1, 0), MPROC_EFULL); /* put_nowait */
  ASSERT_TRUE(t_now_ms() - t0 < 2000);
  ASSERT_WAITS(mproc_queue_put(q, "c", 1, 200), MPROC_EFULL, 200);
  mproc_args_t *v;
  ASSERT_OK(mproc_args_build(&v, "i", 7));
  ASSERT_RC(mproc_queue_put_values(q, v, 0), MPROC_EFULL);
  ASSERT_WAITS(mproc_queue_put_values(q, v, 100), MPROC_EFULL, 100);
  mproc_args_free(v);
  ASSERT_RC(mproc_queue_put(q, NULL, 0, 0), MPROC_EFULL); /* a 0-byte item is an item */
  ASSERT_EQ(mproc_queue_qsize(q), 2);
  void *d;
  size_t n;
  ASSERT_OK(mproc_queue_get(q, 0, &d, &n));
  ASSERT_EQ(((char *)d)[0], 'a'); /* FIFO */
  mproc_free(d);
  ASSERT_EQ(mproc_queue_full(q), 0);
  ASSERT_OK(mproc_queue_put(q, "c", 1, 0));
  ASSERT_EQ(mproc_queue_full(q), 1);
  for (const char *want = "bc"; *want; want++) {
    ASSERT_OK(mproc_queue_get(q, 0, &d, &n));
    ASSERT_EQ(((char *)d)[0], *want);
    mproc_free(d);
  }
  ASSERT_EQ(mproc_queue_empty(q), 1);
  mproc_queue_free(q);

  /* Full by bytes before full by count: the ring (4 KiB) holds a few 1000-byte items, not 100.
   * A bounded put then waits for room just the same, and full() (count-based, as Python's)
   * says no. */
  ASSERT_OK(mproc_queue_new_sized(&q, 100, 4096));
  int k = 0;
  while (k < 100 && qt_put(q, 1000, (uint64_t)k, 0) == 0)
    k++;
  ASSERT_TRUE(k >= 1 && k < 100);
  ASSERT_EQ(mproc_queue_qsize(q), k);
  ASSERT_EQ(mproc_queue_full(q), 0);
  ASSERT_WAITS(qt_put(q, 1000, 999, 150), MPROC_EFULL, 150);
  char msg[256];
  ASSERT_CHECK(qt_get_check(q, 0, 1000, 0, msg, sizeof msg));
  ASSERT_OK(qt_put(q, 1000, (uint64_t)k, 0)); /* room again */
  for (int i = 1; i <= k; i++)
    ASSERT_CHECK(qt_get_check(q, 0, 1000, (uint64_t)i, msg, sizeof msg));
  mproc_queue_free(q);

  /* Queue(1) holding one item: a big (streamed) item is refused as well, and nothing of it is
   * left behind. */
  ASSERT_OK(mproc_queue_new_sized(&q, 1, 64 * KIB));
  ASSERT_OK(mproc_queue_put(q, "z", 1, 0));
  ASSERT_RC(qt_put(q, 5 * MIB, 5, 0), MPROC_EFULL);
  ASSERT_WAITS(qt_put(q, 5 * MIB, 5, 100), MPROC_EFULL, 100);
  ASSERT_EQ(mproc_queue_qsize(q), 1);
  ASSERT_OK(mproc_queue_get(q, 0, &d, &n));
  ASSERT_EQ(n, 1);
  mproc_free(d);
  ASSERT_RC(mproc_queue_get(q, 0, &d, &n), MPROC_EEMPTY);
  mproc_queue_free(q);
}

/* Puts count items (100 bytes, seeds 0..count-1) with no timeout. Args: queue, count. */
static int t_put_seq(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  int64_t count = t_int64(a, 1);
  for (int64_t i = 0; i < count; i++)
    C_OK(qt_put(q, 100, (uint64_t)i, MPROC_FOREVER));
  return 0;
}

TEST(bounded_maxsize_across_processes, 60, ALL) {
  enum { MAX = 3, COUNT = 300 };
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new(&q, MAX));
  mproc_process_t *p = qt_start(t_put_seq, t_args("Qi", q, COUNT));
  /* The producer fills the queue to maxsize and no further, then waits for room. */
  for (int i = 0; i < 4000 && mproc_queue_qsize(q) < MAX; i++)
    t_sleep_ms(5);
  ASSERT_EQ(mproc_queue_qsize(q), MAX);
  ASSERT_EQ(mproc_queue_full(q), 1);
  ASSERT_EQ(mproc_process_join(p, 100), MPROC_ETIMEDOUT); /* blocked in put */
  ASSERT_EQ(mproc_queue_qsize(q), MAX);
  char msg[256];
  for (int i = 0; i < COUNT; i++) {
    int64_t n = mproc_queue_qsize(q);
    ASSERT_TRUE(n >= 0 && n <= MAX);
    ASSERT_CHECK(qt_get_check(q, 30000, 100, (uint64_t)i, msg, sizeof msg));
    if (i % 50 == 0)
      t_sleep_ms(2); /* let it fill up again */
  }
  qt_finish(p);
  ASSERT_EQ(mproc_queue_qsize(q), 0);
  mproc_queue_free(q);
}

/* Gets one item after ms. Args: queue, ms. */
static int t_get_later(const mproc_args_t *a) {
  t_sleep_ms((int)t_int64(a, 1));
  void *d;
  size_t n;
  C_OK(mproc_queue_get(t_queue(a, 0), 30000, &d, &n));
  mproc_free(d);
  return 0;
}

TEST(put_waits_for_room, 60, ALL) {
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new(&q, 1));
  ASSERT_OK(mproc_queue_put(q, "1", 1, 0));
  mproc_process_t *p = qt_start(t_get_later, t_args("Qi", q, 200));
  ASSERT_OK(mproc_queue_put(q, "2", 1, 30000)); /* room made by another process */
  qt_finish(p);
  p = qt_start(t_get_later, t_args("Qi", q, 100));
  ASSERT_OK(mproc_queue_put(q, "3", 1, MPROC_FOREVER));
  qt_finish(p);
  void *d;
  size_t n;
  ASSERT_OK(mproc_queue_get(q, 0, &d, &n));
  ASSERT_EQ(((char *)d)[0], '3');
  mproc_free(d);
  mproc_queue_free(q);
}

/* --- unbounded queues: put never waits -------------------------------------------------- */

#define UNB_SMALL 100000
#define UNB_BIG 200

/* Waits for `go`, then gets UNB_SMALL 64-byte items and UNB_BIG 64 KiB items in order.
 * Args: queue, go. */
static int t_consume_unbounded(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  char msg[256];
  C_OK(mproc_event_wait(t_event(a, 1), 60000));
  for (int i = 0; i < UNB_SMALL; i++)
    C_CHECK(qt_get_check(q, 30000, 64, (uint64_t)i, msg, sizeof msg));
  for (int i = 0; i < UNB_BIG; i++)
    C_CHECK(qt_get_check(q, 30000, 64 * KIB, (uint64_t)(UNB_SMALL + i), msg, sizeof msg));
  void *d;
  size_t n;
  C_RC(mproc_queue_get(q, 0, &d, &n), MPROC_EEMPTY);
  return 0;
}

TEST(unbounded_put_never_blocks, 120, ALL) {
  mproc_queue_t *q;
  mproc_event_t *go;
  ASSERT_OK(mproc_queue_new(&q, 0));
  ASSERT_OK(mproc_event_new(&go));
  /* The consumer exists (started first, so fork sees a single-threaded parent) but does not
   * consume until every put has returned: ~6 MiB of small items and 12.5 MiB of 64 KiB ones
   * against a 1 MiB ring. A put that waited for room would hang here. */
  mproc_process_t *p = qt_start(t_consume_unbounded, t_args("QE", q, go));
  for (int i = 0; i < UNB_SMALL; i++)
    ASSERT_OK(qt_put(q, 64, (uint64_t)i, MPROC_FOREVER));
  for (int i = 0; i < UNB_BIG; i++)
    ASSERT_OK(qt_put(q, 64 * KIB, (uint64_t)(UNB_SMALL + i), 0));
  int64_t n = mproc_queue_qsize(q);
#ifdef _WIN32
  /* qsize counts what is in the ring, not what this process holds back. */
  ASSERT_TRUE(n > 0 && n < UNB_SMALL);
#else
  ASSERT_EQ(n, UNB_SMALL + UNB_BIG); /* the overflow is in the queue's shared segments */
#endif
  ASSERT_EQ(mproc_queue_full(q), 0); /* unbounded: never full */
  ASSERT_OK(mproc_event_set(go));
  qt_finish(p);
  ASSERT_EQ(mproc_queue_qsize(q), 0);
  mproc_queue_free(q);
  mproc_event_free(go);
}

/* --- item sizes -------------------------------------------------------------------------- */

TEST(zero_byte_items, 60, ALL) {
  mproc_queue_t *in, *out;
  ASSERT_OK(mproc_queue_new(&in, 0));
  ASSERT_OK(mproc_queue_new(&out, 0));
  /* In this process first: a 0-byte item is an item, and comes back as a real buffer. */
  void *d;
  size_t n = 9;
  ASSERT_OK(mproc_queue_put(in, NULL, 0, 0));
  ASSERT_OK(mproc_queue_put(in, "ignored", 0, 0));
  ASSERT_EQ(mproc_queue_qsize(in), 2);
  ASSERT_EQ(mproc_queue_empty(in), 0);
  for (int i = 0; i < 2; i++) {
    ASSERT_OK(mproc_queue_get(in, 0, &d, &n));
    ASSERT_TRUE(d != NULL);
    ASSERT_EQ(n, 0);
    mproc_free(d);
  }
  ASSERT_EQ(mproc_queue_empty(in), 1);
  /* Through a child and back: 0-byte items mixed with 1..20-byte ones, order kept. */
  static const size_t sizes[] = {0, 0, 1, 0, 15, 16, 0, 17, 0, 0, 20, 0};
  enum { N = sizeof sizes / sizeof sizes[0] };
  mproc_process_t *p = qt_start(qt_target_echo, t_args("QQi", in, out, N));
  for (int i = 0; i < N; i++)
    ASSERT_OK(qt_put(in, sizes[i], (uint64_t)i, MPROC_FOREVER));
  char msg[256];
  for (int i = 0; i < N; i++)
    ASSERT_CHECK(qt_get_check(out, 30000, sizes[i], (uint64_t)i, msg, sizeof msg));
  qt_finish(p);
  mproc_queue_free(out);
  mproc_queue_free(in);
}

TEST(items_of_64_mib, 180, ALL) {
  mproc_queue_t *in, *out;
  ASSERT_OK(mproc_queue_new(&in, 0));
  ASSERT_OK(mproc_queue_new(&out, 0));
  enum { N = 2 };
  mproc_process_t *p = qt_start(qt_target_echo, t_args("QQi", in, out, N));
  char msg[256];
  for (int i = 0; i < N; i++) {
    ASSERT_OK(qt_put(in, 64 * MIB, 0x6400 + (uint64_t)i, MPROC_FOREVER));
    ASSERT_CHECK(qt_get_check(out, 60000, 64 * MIB, 0x6400 + (uint64_t)i, msg, sizeof msg));
  }
  qt_finish(p);
  mproc_queue_free(out);
  mproc_queue_free(in);
}

/* Big (streamed) and small items back to back in a 64 KiB ring: 5 MiB items, and sizes around
 * the largest item sent whole (half the ring minus a 16-byte record header: 32752). */
static const size_t big_seq[] = {5 * MIB, 100,   5 * MIB, 5 * MIB, 0,       32752,
                                 32753,   40000, 5 * MIB, 7,       5 * MIB, 64 * KIB,
                                 1,       5 * MIB};
#define BIG_SEQ_N ((int)(sizeof big_seq / sizeof big_seq[0]))

/* Gets big_seq from queue 0 (checking each item), then puts it into queue 1. Args: in, out,
 * seed base. */
static int t_big_seq(const mproc_args_t *a) {
  mproc_queue_t *in = t_queue(a, 0), *out = t_queue(a, 1);
  uint64_t base = (uint64_t)t_int64(a, 2);
  char msg[256];
  for (int i = 0; i < BIG_SEQ_N; i++)
    C_CHECK(qt_get_check(in, 60000, big_seq[i], base + (uint64_t)i, msg, sizeof msg));
  for (int i = 0; i < BIG_SEQ_N; i++)
    C_OK(qt_put(out, big_seq[i], base + 100 + (uint64_t)i, MPROC_FOREVER));
  return 0;
}

TEST(items_bigger_than_ring, 180, ALL) {
  /* Unbounded (the parent's big puts go through its overflow thread) and bounded (every put
   * streams from the calling thread and waits for the consumer). */
  for (int bounded = 0; bounded < 2; bounded++) {
    mproc_queue_t *in, *out;
    ASSERT_OK(mproc_queue_new_sized(&in, bounded ? 2 : 0, 64 * KIB));
    ASSERT_OK(mproc_queue_new_sized(&out, bounded ? 2 : 0, 64 * KIB));
    uint64_t base = 1000 * (uint64_t)(bounded + 1);
    mproc_process_t *p = qt_start(t_big_seq, t_args("QQl", in, out, (int64_t)base));
    for (int i = 0; i < BIG_SEQ_N; i++)
      ASSERT_OK(qt_put(in, big_seq[i], base + (uint64_t)i, MPROC_FOREVER));
    char msg[256];
    for (int i = 0; i < BIG_SEQ_N; i++)
      ASSERT_CHECK(qt_get_check(out, 60000, big_seq[i], base + 100 + (uint64_t)i, msg,
                                sizeof msg));
    qt_finish(p);
    void *d;
    size_t n;
    ASSERT_RC(mproc_queue_get(out, 0, &d, &n), MPROC_EEMPTY);
    mproc_queue_free(out);
    mproc_queue_free(in);
  }
}

TEST(ring_sizes, 30, ONCE) {
  /* 4 KiB is the smallest ring; sizes that are not a power of two work (rounded down). Items
   * of every size up to well past the ring cross each of them (one thread puts, one gets). */
  static const size_t rings[] = {4096, 5000, 65536, 100000};
  for (size_t r = 0; r < sizeof rings / sizeof rings[0]; r++) {
    mproc_queue_t *q;
    ASSERT_OK(mproc_queue_new_sized(&q, 0, rings[r]));
    char msg[256];
    for (size_t size = 0; size < 3 * rings[r]; size = size * 2 + 1) {
      ASSERT_OK(qt_put(q, size, size, 0)); /* unbounded: big ones via the overflow thread */
      ASSERT_CHECK(qt_get_check(q, 30000, size, size, msg, sizeof msg));
    }
    mproc_queue_free(q);
  }
}

/* --- many producers, many consumers ------------------------------------------------------ */

/* Natively 4 x 250,000 items; under Wine every put and get takes a kernel mutex through a
 * wineserver round trip (and 8 processes share it), which makes a million items take many
 * minutes, so fewer there. */
#ifdef _WIN32
#define MPMC_PER_PRODUCER 20000
#else
#define MPMC_PER_PRODUCER 250000
#endif
#define MPMC_PRODUCERS 4
#define MPMC_CONSUMERS 4
#define MPMC_STOP 0xFFFFFFFFu

/* Waits for go, puts MPMC_PER_PRODUCER 64-byte items (seed: id << 32 | sequence number).
 * Args: queue, go, id. */
static int t_mpmc_producer(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  uint64_t id = (uint64_t)t_int64(a, 2);
  C_OK(mproc_event_wait(t_event(a, 1), 60000));
  for (uint64_t i = 0; i < MPMC_PER_PRODUCER; i++)
    C_OK(qt_put(q, 64, id << 32 | i, MPROC_FOREVER));
  return 0;
}

/* Gets until a stop item: every item intact, each producer's numbers increasing, and a tick
 * in seen[] for each (the parent checks every tick is exactly 1). Args: queue, seen. */
static int t_mpmc_consumer(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  mproc_array_t *seen = t_array(a, 1);
  int64_t last[MPMC_PRODUCERS];
  for (int i = 0; i < MPMC_PRODUCERS; i++)
    last[i] = -1;
  char msg[256];
  for (;;) {
    uint64_t seed;
    size_t size;
    int rc = qt_get_any(q, 60000, &seed, &size, msg, sizeof msg);
    if (rc == MPROC_EEMPTY)
      return mproc_fail(3, "nothing for 60 s");
    C_CHECK(rc);
    uint32_t id = (uint32_t)(seed >> 32), seq = (uint32_t)seed;
    if (id == MPMC_STOP)
      return 0;
    if (size != 64 || id >= MPMC_PRODUCERS || seq >= MPMC_PER_PRODUCER)
      return mproc_fail(4, "unexpected item: %zu bytes, seed %llx", size,
                        (unsigned long long)seed);
    if ((int64_t)seq <= last[id])
      return mproc_fail(5, "producer %u: item %u after %lld", id, seq, (long long)last[id]);
    last[id] = seq;
    C_OK(mproc_array_add(seen, (size_t)id * MPMC_PER_PRODUCER + seq, 1, NULL));
  }
}

static void check_all_seen_once(mproc_array_t *seen, size_t n) {
  const unsigned char *s = mproc_array_ptr(seen);
  for (size_t i = 0; i < n; i++)
    if (s[i] != 1)
      t_fail(__FILE__, __LINE__, "item %zu (producer %zu, number %zu) seen %d times", i,
             i / MPMC_PER_PRODUCER, i % MPMC_PER_PRODUCER, s[i]);
}

static void mpmc(size_t maxsize) {
  mproc_queue_t *q;
  mproc_event_t *go;
  mproc_array_t *seen;
  const size_t total = (size_t)MPMC_PRODUCERS * MPMC_PER_PRODUCER;
  ASSERT_OK(mproc_queue_new(&q, maxsize));
  ASSERT_OK(mproc_event_new(&go));
  ASSERT_OK(mproc_raw_array_new(&seen, 'B', total, NULL));
  mproc_process_t *cons[MPMC_CONSUMERS], *prod[MPMC_PRODUCERS];
  qt_start_n(cons, MPMC_CONSUMERS, t_mpmc_consumer, t_args("QA", q, seen), 0);
  for (int i = 0; i < MPMC_PRODUCERS; i++)
    prod[i] = qt_start(t_mpmc_producer, t_args("QEi", q, go, i));
  ASSERT_OK(mproc_event_set(go)); /* all at once, so they contend */
  qt_finish_n(prod, MPMC_PRODUCERS);
  /* Every producer has exited, so all its items are in the ring (an exit waits for the
   * overflow): the stop items come after them. */
  for (int i = 0; i < MPMC_CONSUMERS; i++)
    ASSERT_OK(qt_put(q, 64, (uint64_t)MPMC_STOP << 32 | (uint64_t)i, MPROC_FOREVER));
  qt_finish_n(cons, MPMC_CONSUMERS);
  check_all_seen_once(seen, total);
  ASSERT_EQ(mproc_queue_qsize(q), 0);
  mproc_array_free(seen);
  mproc_event_free(go);
  mproc_queue_free(q);
}

TEST(mpmc_4x4, 600, ALL) { mpmc(0); }

TEST(mpmc_4x4_bounded, 600, ALL) { mpmc(100); }

/* Two producers and two consumers of big and small items in a 64 KiB ring: streams of one
 * producer hold the others back, consumers wait behind the one collecting a stream. */
#define MIX_ITEMS 60
static const size_t mix_sizes[] = {100, 200 * KIB, 20000, 1 * MIB, 40000, 16};
#define MIX_N ((int)(sizeof mix_sizes / sizeof mix_sizes[0]))
static size_t mix_size(uint32_t id, uint32_t seq) { return mix_sizes[(seq + 3 * id) % MIX_N]; }

/* Args: queue, go, id. */
static int t_mix_producer(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  uint32_t id = (uint32_t)t_int64(a, 2);
  C_OK(mproc_event_wait(t_event(a, 1), 60000));
  for (uint32_t i = 0; i < MIX_ITEMS; i++)
    C_OK(qt_put(q, mix_size(id, i), (uint64_t)id << 32 | i, MPROC_FOREVER));
  return 0;
}

/* Args: queue, seen. */
static int t_mix_consumer(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  int64_t last[2] = {-1, -1};
  char msg[256];
  for (;;) {
    uint64_t seed = 0;
    size_t size = 0;
    C_CHECK(qt_get_any(q, 60000, &seed, &size, msg, sizeof msg));
    uint32_t id = (uint32_t)(seed >> 32), seq = (uint32_t)seed;
    if (id == MPMC_STOP)
      return 0;
    if (id >= 2 || seq >= MIX_ITEMS || size != mix_size(id, seq) || (int64_t)seq <= last[id])
      return mproc_fail(3, "item %llx of %zu bytes", (unsigned long long)seed, size);
    last[id] = seq;
    C_OK(mproc_array_add(t_array(a, 1), (size_t)id * MIX_ITEMS + seq, 1, NULL));
  }
}

TEST(mpmc_big_and_small_items, 180, ALL) {
  for (size_t maxsize = 0; maxsize <= 3; maxsize += 3) {
    mproc_queue_t *q;
    mproc_event_t *go;
    mproc_array_t *seen;
    ASSERT_OK(mproc_queue_new_sized(&q, maxsize, 64 * KIB));
    ASSERT_OK(mproc_event_new(&go));
    ASSERT_OK(mproc_raw_array_new(&seen, 'B', 2 * MIX_ITEMS, NULL));
    mproc_process_t *cons[2], *prod[2];
    qt_start_n(cons, 2, t_mix_consumer, t_args("QA", q, seen), 0);
    for (int i = 0; i < 2; i++)
      prod[i] = qt_start(t_mix_producer, t_args("QEi", q, go, i));
    ASSERT_OK(mproc_event_set(go));
    qt_finish_n(prod, 2);
    for (int i = 0; i < 2; i++)
      ASSERT_OK(qt_put(q, 64, (uint64_t)MPMC_STOP << 32 | (uint64_t)i, MPROC_FOREVER));
    qt_finish_n(cons, 2);
    const unsigned char *s = mproc_array_ptr(seen);
    for (int i = 0; i < 2 * MIX_ITEMS; i++)
      if (s[i] != 1)
        t_fail(__FILE__, __LINE__, "maxsize %zu: item %d of producer %d seen %d times", maxsize,
               i % MIX_ITEMS, i / MIX_ITEMS, s[i]);
    mproc_array_free(seen);
    mproc_event_free(go);
    mproc_queue_free(q);
  }
}

/* --- threads ----------------------------------------------------------------------------- */

#ifdef _WIN32
#define TH_PER 5000 /* kernel mutexes: every put and get is a wineserver round trip under Wine */
#else
#define TH_PER 50000
#endif
#define TH_STOP 0xFFFFu

typedef struct th_ctx {
  mproc_queue_t *q;
  uint64_t id;             /* putters: producer id */
  unsigned char *seen;     /* getters, in-process: private tick array */
  mproc_array_t *shared;   /* getters, in a child: shared tick array */
  int failed;
  char msg[256];
} th_ctx;

static void th_putter(void *arg) {
  th_ctx *c = arg;
  for (uint64_t i = 0; i < TH_PER && !c->failed; i++) {
    int rc = qt_put(c->q, 64, c->id << 32 | i, MPROC_FOREVER);
    if (rc != 0) {
      c->failed = 1;
      snprintf(c->msg, sizeof c->msg, "put: %s", mproc_errname(rc));
    }
  }
}

static void th_getter(void *arg) {
  th_ctx *c = arg;
  int64_t last[2] = {-1, -1};
  for (;;) {
    uint64_t seed = 0;
    size_t size = 0;
    int rc = qt_get_any(c->q, 60000, &seed, &size, c->msg, sizeof c->msg);
    if (rc == MPROC_EEMPTY)
      snprintf(c->msg, sizeof c->msg, "nothing for 60 s");
    uint32_t id = (uint32_t)(seed >> 32), seq = (uint32_t)seed;
    if (rc == 0 && id == TH_STOP)
      return;
    if (rc == 0 && (id >= 2 || seq >= TH_PER || (int64_t)seq <= last[id])) {
      rc = 1;
      snprintf(c->msg, sizeof c->msg, "item %llx after %lld", (unsigned long long)seed,
               (long long)(id < 2 ? last[id] : -2));
    }
    if (rc != 0) {
      c->failed = 1;
      return;
    }
    last[id] = seq;
    if (c->shared)
      mproc_array_add(c->shared, (size_t)id * TH_PER + seq, 1, NULL);
    else
      c->seen[(size_t)id * TH_PER + seq]++;
  }
}

TEST(threads_put_and_get, 120, ONCE) {
  for (size_t maxsize = 0; maxsize <= 64; maxsize += 64) {
    mproc_queue_t *q;
    ASSERT_OK(mproc_queue_new(&q, maxsize));
    th_ctx put[2], get[2];
    t_thread *t[4];
    memset(put, 0, sizeof put);
    memset(get, 0, sizeof get);
    for (int i = 0; i < 2; i++) {
      get[i].q = put[i].q = q;
      put[i].id = (uint64_t)i;
      get[i].seen = calloc(2 * TH_PER, 1);
      ASSERT_TRUE(get[i].seen != NULL);
      t[i] = t_thread_start(th_getter, &get[i]);
      t[2 + i] = t_thread_start(th_putter, &put[i]);
    }
    t_thread_join(t[2]);
    t_thread_join(t[3]);
    for (int i = 0; i < 2; i++)
      ASSERT_OK(qt_put(q, 64, (uint64_t)TH_STOP << 32 | (uint64_t)i, MPROC_FOREVER));
    t_thread_join(t[0]);
    t_thread_join(t[1]);
    for (int i = 0; i < 2; i++) {
      if (put[i].failed || get[i].failed)
        t_fail(__FILE__, __LINE__, "thread %d: %s%s", i, put[i].msg, get[i].msg);
    }
    for (size_t k = 0; k < 2 * TH_PER; k++)
      if (get[0].seen[k] + get[1].seen[k] != 1)
        t_fail(__FILE__, __LINE__, "maxsize %zu: item %zu seen %d times", maxsize, k,
               get[0].seen[k] + get[1].seen[k]);
    free(get[0].seen);
    free(get[1].seen);
    ASSERT_EQ(mproc_queue_qsize(q), 0);
    mproc_queue_free(q);
  }
}

/* Two getter threads in a child. Args: queue, seen. */
static int t_thread_getters(const mproc_args_t *a) {
  th_ctx get[2];
  memset(get, 0, sizeof get);
  t_thread *t[2];
  for (int i = 0; i < 2; i++) {
    get[i].q = t_queue(a, 0);
    get[i].shared = t_array(a, 1);
    t[i] = t_thread_start(th_getter, &get[i]);
  }
  for (int i = 0; i < 2; i++)
    t_thread_join(t[i]);
  for (int i = 0; i < 2; i++)
    if (get[i].failed)
      return mproc_fail(3, "getter thread %d: %s", i, get[i].msg);
  return 0;
}

TEST(threads_across_processes, 120, ALL) {
  mproc_queue_t *q;
  mproc_array_t *seen;
  ASSERT_OK(mproc_queue_new(&q, 32));
  ASSERT_OK(mproc_raw_array_new(&seen, 'B', 2 * TH_PER, NULL));
  /* The child first: fork refuses a parent that already runs threads. */
  mproc_process_t *p = qt_start(t_thread_getters, t_args("QA", q, seen));
  th_ctx put[2];
  memset(put, 0, sizeof put);
  t_thread *t[2];
  for (int i = 0; i < 2; i++) {
    put[i].q = q;
    put[i].id = (uint64_t)i;
    t[i] = t_thread_start(th_putter, &put[i]);
  }
  for (int i = 0; i < 2; i++) {
    t_thread_join(t[i]);
    if (put[i].failed)
      t_fail(__FILE__, __LINE__, "putter %d: %s", i, put[i].msg);
  }
  for (int i = 0; i < 2; i++)
    ASSERT_OK(qt_put(q, 64, (uint64_t)TH_STOP << 32 | (uint64_t)i, MPROC_FOREVER));
  qt_finish(p);
  const unsigned char *s = mproc_array_ptr(seen);
  for (size_t k = 0; k < 2 * TH_PER; k++)
    if (s[k] != 1)
      t_fail(__FILE__, __LINE__, "item %zu seen %d times", k, s[k]);
  mproc_array_free(seen);
  mproc_queue_free(q);
}

/* --- SimpleQueue, JoinableQueue ---------------------------------------------------------- */

TEST(simple_queue, 30, ONCE) {
  mproc_queue_t *q;
  ASSERT_OK(mproc_simple_queue_new(&q));
  ASSERT_EQ(mproc_queue_empty(q), 1);
  ASSERT_OK(mproc_queue_put(q, "one", 3, MPROC_FOREVER));
  ASSERT_OK(qt_put(q, 3 * MIB, 3, MPROC_FOREVER)); /* more than the ring holds at once */
  ASSERT_OK(mproc_queue_put(q, NULL, 0, MPROC_FOREVER));
  ASSERT_EQ(mproc_queue_empty(q), 0);
  ASSERT_EQ(mproc_queue_full(q), 0);
  void *d;
  size_t n;
  ASSERT_OK(mproc_queue_get(q, MPROC_FOREVER, &d, &n));
  ASSERT_TRUE(n == 3 && memcmp(d, "one", 3) == 0);
  mproc_free(d);
  char msg[256];
  ASSERT_CHECK(qt_get_check(q, 30000, 3 * MIB, 3, msg, sizeof msg));
  ASSERT_OK(mproc_queue_get(q, 0, &d, &n));
  ASSERT_EQ(n, 0);
  mproc_free(d);
  ASSERT_EQ(mproc_queue_empty(q), 1);
  ASSERT_RC(mproc_queue_task_done(q), MPROC_ETYPE); /* not a JoinableQueue */
  ASSERT_RC(mproc_queue_join(q, 0), MPROC_ETYPE);
  ASSERT_OK(mproc_queue_put(q, "left", 4, 0));
  ASSERT_OK(mproc_queue_close(q));
  ASSERT_RC(mproc_queue_put(q, "x", 1, 0), MPROC_ECLOSED);
  ASSERT_RC(mproc_queue_get(q, 0, &d, &n), MPROC_ECLOSED);
  ASSERT_RC(mproc_queue_empty(q), MPROC_ECLOSED); /* Python: OSError, handle is closed */
  mproc_queue_free(q);
}

/* Puts "a", "bb", "ccc" into a SimpleQueue. Args: queue. */
static int t_simple_producer(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  C_OK(mproc_queue_put(q, "a", 1, MPROC_FOREVER));
  C_OK(mproc_queue_put(q, "bb", 2, MPROC_FOREVER));
  C_OK(mproc_queue_put(q, "ccc", 3, MPROC_FOREVER));
  return 0;
}

TEST(simple_queue_across_processes, 60, ALL) {
  mproc_queue_t *q;
  ASSERT_OK(mproc_simple_queue_new(&q));
  mproc_process_t *p = qt_start(t_simple_producer, t_args("Q", q));
  for (int i = 1; i <= 3; i++) {
    void *d;
    size_t n;
    ASSERT_OK(mproc_queue_get(q, 30000, &d, &n));
    ASSERT_EQ(n, i);
    ASSERT_EQ(((char *)d)[0], 'a' + i - 1);
    mproc_free(d);
  }
  qt_finish(p);
  ASSERT_EQ(mproc_queue_empty(q), 1);
  mproc_queue_free(q);
}

TEST(joinable_rules, 30, ONCE) {
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new(&q, 0));
  ASSERT_RC(mproc_queue_task_done(q), MPROC_ETYPE); /* plain Queue */
  ASSERT_RC(mproc_queue_join(q, 0), MPROC_ETYPE);
  mproc_queue_free(q);

  ASSERT_OK(mproc_joinable_queue_new(&q, 0));
  ASSERT_OK(mproc_queue_join(q, 0)); /* nothing put: nothing to wait for */
  ASSERT_OK(mproc_queue_join(q, MPROC_FOREVER));
  ASSERT_RC(mproc_queue_task_done(q), MPROC_EOVERRELEASE);
  ASSERT_OK(mproc_queue_put(q, "1", 1, 0));
  ASSERT_OK(mproc_queue_put(q, "2", 1, 0));
  ASSERT_RC(mproc_queue_join(q, 0), MPROC_ETIMEDOUT);
  ASSERT_WAITS(mproc_queue_join(q, 150), MPROC_ETIMEDOUT, 150);
  void *d;
  size_t n;
  ASSERT_OK(mproc_queue_get(q, 0, &d, &n));
  mproc_free(d);
  ASSERT_RC(mproc_queue_join(q, 0), MPROC_ETIMEDOUT); /* got is not done */
  ASSERT_OK(mproc_queue_task_done(q));
  ASSERT_RC(mproc_queue_join(q, 0), MPROC_ETIMEDOUT);
  /* As in Python, task_done counts puts, not gets: the second may come before its get. */
  ASSERT_OK(mproc_queue_task_done(q));
  ASSERT_OK(mproc_queue_join(q, 0));
  ASSERT_RC(mproc_queue_task_done(q), MPROC_EOVERRELEASE); /* Python's ValueError */
  ASSERT_RC(mproc_queue_task_done(q), MPROC_EOVERRELEASE);
  ASSERT_OK(mproc_queue_join(q, 0)); /* the failed calls changed nothing */
  ASSERT_OK(mproc_queue_get(q, 0, &d, &n));
  mproc_free(d);
  ASSERT_OK(mproc_queue_join(q, 0));
  mproc_queue_free(q);

  /* A bounded JoinableQueue honours maxsize like a Queue. */
  ASSERT_OK(mproc_joinable_queue_new(&q, 1));
  ASSERT_OK(mproc_queue_put(q, "1", 1, 0));
  ASSERT_EQ(mproc_queue_full(q), 1);
  ASSERT_RC(mproc_queue_put(q, "2", 1, 0), MPROC_EFULL);
  ASSERT_RC(mproc_queue_join(q, 0), MPROC_ETIMEDOUT);
  ASSERT_OK(mproc_queue_task_done(q));
  ASSERT_OK(mproc_queue_join(q, 0)); /* the refused put was not counted */
  mproc_queue_free(q);
}

static void join_forever(void *q) { ASSERT_OK(mproc_queue_join(q, MPROC_FOREVER)); }

TEST(joinable_join_wakes_thread, 30, ONCE) {
  mproc_queue_t *q;
  ASSERT_OK(mproc_joinable_queue_new(&q, 0));
  for (int i = 0; i < 3; i++)
    ASSERT_OK(mproc_queue_put(q, "x", 1, 0));
  t_thread *t = t_thread_start(join_forever, q);
  for (int i = 0; i < 3; i++) {
    t_sleep_ms(20);
    ASSERT_OK(mproc_queue_task_done(q));
  }
  t_thread_join(t);
  mproc_queue_free(q);
}

/* Gets n items, calls task_done for all but the last, posts two_done, waits for go, calls the
 * last task_done. Args: queue, two_done, go, n. */
static int t_joinable_worker(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  int64_t n = t_int64(a, 3);
  for (int64_t i = 0; i < n; i++) {
    void *d;
    size_t sz;
    C_OK(mproc_queue_get(q, 30000, &d, &sz));
    mproc_free(d);
  }
  for (int64_t i = 0; i + 1 < n; i++)
    C_OK(mproc_queue_task_done(q));
  C_OK(mproc_event_set(t_event(a, 1)));
  C_OK(mproc_event_wait(t_event(a, 2), 30000));
  t_sleep_ms(50); /* let the parent be inside join */
  C_OK(mproc_queue_task_done(q));
  C_RC(mproc_queue_task_done(q), MPROC_EOVERRELEASE);
  return 0;
}

TEST(joinable_join_across_processes, 60, ALL) {
  mproc_queue_t *q;
  mproc_event_t *two_done, *go;
  ASSERT_OK(mproc_joinable_queue_new(&q, 0));
  ASSERT_OK(mproc_event_new(&two_done));
  ASSERT_OK(mproc_event_new(&go));
  for (int i = 0; i < 3; i++)
    ASSERT_OK(mproc_queue_put(q, "job", 3, 0));
  mproc_process_t *p = qt_start(t_joinable_worker, t_args("QEEi", q, two_done, go, 3));
  ASSERT_OK(mproc_event_wait(two_done, 30000));
  ASSERT_EQ(mproc_queue_qsize(q), 0); /* all taken, one not done */
  ASSERT_WAITS(mproc_queue_join(q, 200), MPROC_ETIMEDOUT, 200);
  ASSERT_OK(mproc_event_set(go));
  ASSERT_OK(mproc_queue_join(q, 30000)); /* exactly when the last task_done comes */
  qt_finish(p);
  ASSERT_RC(mproc_queue_task_done(q), MPROC_EOVERRELEASE);
  mproc_event_free(go);
  mproc_event_free(two_done);
  mproc_queue_free(q);
}

TEST(joinable_overflow_is_unfinished, 30, ONCE) {
  /* Fill the ring of an unbounded JoinableQueue until a put goes to the overflow (Windows: is
   * held back in this process, so qsize stops growing; elsewhere: 2,000 items, twice what the
   * ring holds), then call task_done for all but one: join must not return. */
  mproc_queue_t *q;
  ASSERT_OK(mproc_joinable_queue_new(&q, 0));
  int64_t k = 0;
  for (; k < 100000; k++) {
    ASSERT_OK(qt_put(q, 1024, (uint64_t)k, MPROC_FOREVER));
#ifdef _WIN32
    if (mproc_queue_qsize(q) == k)
      break; /* item k was held back */
#else
    ASSERT_EQ(mproc_queue_qsize(q), k + 1);
    if (k == 2000)
      break;
#endif
  }
  ASSERT_TRUE(k > 0 && k < 100000);
  for (int64_t i = 0; i < k; i++)
    ASSERT_OK(mproc_queue_task_done(q));
  ASSERT_RC(mproc_queue_join(q, 0), MPROC_ETIMEDOUT);
  char msg[256];
  for (int64_t i = 0; i <= k; i++)
    ASSERT_CHECK(qt_get_check(q, 30000, 1024, (uint64_t)i, msg, sizeof msg));
  ASSERT_OK(mproc_queue_task_done(q));
  ASSERT_OK(mproc_queue_join(q, 0));
  ASSERT_RC(mproc_queue_task_done(q), MPROC_EOVERRELEASE);
  mproc_queue_free(q);
}

#ifdef _WIN32
#define JQ_OVF_N 5000 /* fewer under Wine, where every put and get is a wineserver round trip */
#else
#define JQ_OVF_N 20000
#endif

/* Gets JQ_OVF_N items, adding one to done[0] before each task_done. Args: queue, done. */
static int t_jq_worker(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  for (int i = 0; i < JQ_OVF_N; i++) {
    void *d;
    size_t n;
    C_OK(mproc_queue_get(q, 30000, &d, &n));
    mproc_free(d);
    C_OK(mproc_array_add(t_array(a, 1), 0, 1, NULL));
    C_OK(mproc_queue_task_done(q));
  }
  return 0;
}

TEST(joinable_join_counts_overflow, 120, ALL) {
  /* An unbounded JoinableQueue whose ring is full: put returns with the item held back in this
   * process. It was put, so join must wait for its task_done too (Python counts at put). */
  mproc_queue_t *q;
  mproc_array_t *done;
  ASSERT_OK(mproc_joinable_queue_new(&q, 0));
  ASSERT_OK(mproc_raw_array_new(&done, 'q', 1, NULL));
  mproc_process_t *p; /* a daemon: if join returns early, this process fails at once */
  qt_start_n(&p, 1, t_jq_worker, t_args("QA", q, done), 1);
  for (int i = 0; i < JQ_OVF_N; i++) /* 1 KiB items: 20 MiB against a 1 MiB ring */
    ASSERT_OK(qt_put(q, 1024, (uint64_t)i, MPROC_FOREVER));
  ASSERT_OK(mproc_queue_join(q, 60000));
  int64_t n = -1;
  ASSERT_OK(mproc_array_load(done, 0, &n));
  if (n != JQ_OVF_N)
    t_fail(__FILE__, __LINE__, "join returned when %lld of %d items were task_done",
           (long long)n, JQ_OVF_N);
  qt_finish(p);
  mproc_array_free(done);
  mproc_queue_free(q);
}

/* --- close ------------------------------------------------------------------------------- */

/* Waits for go, then gets count 100-byte items with seeds 0.. and puts "ack" (its own handle
 * is open: close is per handle). Args: queue, go, count. */
static int t_get_after_go(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  char msg[256];
  C_OK(mproc_event_wait(t_event(a, 1), 30000));
  for (int64_t i = 0; i < t_int64(a, 2); i++)
    C_CHECK(qt_get_check(q, 30000, 100, (uint64_t)i, msg, sizeof msg));
  C_OK(mproc_queue_put(q, "ack", 3, MPROC_FOREVER));
  return 0;
}

TEST(close_then_deliver, 60, ALL) {
  mproc_queue_t *q;
  mproc_event_t *go;
  ASSERT_OK(mproc_queue_new(&q, 0));
  ASSERT_OK(mproc_event_new(&go));
  mproc_process_t *p = qt_start(t_get_after_go, t_args("QEi", q, go, 3));
  for (int i = 0; i < 3; i++)
    ASSERT_OK(qt_put(q, 100, (uint64_t)i, 0));
  ASSERT_OK(mproc_queue_close(q));
  ASSERT_OK(mproc_queue_close(q)); /* twice is fine, as in Python */
  void *d;
  size_t n;
  mproc_args_t *v, *got;
  ASSERT_OK(mproc_args_build(&v, "i", 1));
  ASSERT_RC(mproc_queue_put(q, "x", 1, 0), MPROC_ECLOSED);
  ASSERT_RC(mproc_queue_put(q, "x", 1, MPROC_FOREVER), MPROC_ECLOSED);
  ASSERT_RC(mproc_queue_get(q, 0, &d, &n), MPROC_ECLOSED);
  ASSERT_RC(mproc_queue_get(q, MPROC_FOREVER, &d, &n), MPROC_ECLOSED);
  ASSERT_RC(mproc_queue_put_values(q, v, 0), MPROC_ECLOSED);
  ASSERT_RC(mproc_queue_get_values(q, 0, &got), MPROC_ECLOSED);
  mproc_waitable w = {MPROC_WAIT_QUEUE, q, 0, 0};
  ASSERT_RC(mproc_wait(&w, 1, 0, NULL), MPROC_ECLOSED);
  mproc_args_free(v);
  ASSERT_EQ(mproc_queue_qsize(q), 3); /* still there, for the others */
  ASSERT_EQ(mproc_queue_full(q), 0);
  ASSERT_RC(mproc_queue_empty(q), MPROC_ECLOSED); /* Python: OSError, handle is closed */
  ASSERT_OK(mproc_queue_join_thread(q));
  ASSERT_OK(mproc_queue_cancel_join_thread(q));
  ASSERT_OK(mproc_event_set(go));
  qt_finish(p); /* got all three through its own handle */
  ASSERT_EQ(mproc_queue_qsize(q), 1); /* the ack */
  mproc_queue_free(q);
  mproc_event_free(go);
}

/* Puts and gets on q until a call says ECLOSED (another thread closes the handle). */
static void use_until_closed(void *arg) {
  mproc_queue_t *q = arg;
  for (;;) {
    int rc = mproc_queue_put(q, "x", 1, 0);
    if (rc == MPROC_ECLOSED)
      return;
    void *d;
    size_t n;
    rc = mproc_queue_get(q, 0, &d, &n);
    if (rc == MPROC_ECLOSED)
      return;
    ASSERT_OK(rc);
    mproc_free(d);
  }
}

/* A closed JoinableQueue, as in Python 3.11-3.13: empty() raises, put and get raise, qsize,
 * full, task_done and join still work (they do not touch the closed reader or writer). */
TEST(closed_joinable_rules, 30, ONCE) {
  mproc_queue_t *q;
  ASSERT_OK(mproc_joinable_queue_new(&q, 0));
  ASSERT_OK(mproc_queue_put(q, "x", 1, 0));
  ASSERT_OK(mproc_queue_close(q));
  ASSERT_RC(mproc_queue_empty(q), MPROC_ECLOSED);
  ASSERT_EQ(mproc_queue_qsize(q), 1);
  ASSERT_EQ(mproc_queue_full(q), 0);
  ASSERT_RC(mproc_queue_join(q, 0), MPROC_ETIMEDOUT);
  ASSERT_OK(mproc_queue_task_done(q));
  ASSERT_RC(mproc_queue_task_done(q), MPROC_EOVERRELEASE);
  ASSERT_OK(mproc_queue_join(q, 0));
  ASSERT_OK(mproc_queue_close(q));
  mproc_queue_free(q);
}

TEST(close_from_another_thread, 30, ONCE) {
  /* Any call may run at the same time as any other: close while another thread uses the
   * handle (TSan builds check the flag is not a data race). */
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new(&q, 0));
  t_thread *t = t_thread_start(use_until_closed, q);
  t_sleep_ms(20);
  ASSERT_OK(mproc_queue_close(q));
  t_thread_join(t);
  mproc_queue_free(q);
}

TEST(failed_put_leaves_no_trace, 30, ONCE) {
  /* A bounded queue with room for the item by count, not by bytes, and nobody reading: a put
   * of a streamed item gives up after its timeout. As in Python, a put that raised Full did
   * not happen: not in qsize, not for join, nothing for get. */
  mproc_queue_t *q;
  ASSERT_OK(mproc_joinable_queue_new(&q, 10));
  int rc = qt_put(q, 5 * MIB, 5, 200);
  ASSERT_RC(rc, MPROC_EFULL);
  ASSERT_EQ(mproc_queue_qsize(q), 0);
  ASSERT_EQ(mproc_queue_empty(q), 1);
  ASSERT_OK(mproc_queue_join(q, 0));
  void *d;
  size_t n;
  ASSERT_RC(mproc_queue_get(q, 0, &d, &n), MPROC_EEMPTY);
  ASSERT_OK(qt_put(q, 100, 6, 0)); /* and the queue goes on */
  char msg[256];
  ASSERT_CHECK(qt_get_check(q, 0, 100, 6, msg, sizeof msg));
  ASSERT_OK(mproc_queue_task_done(q));
  ASSERT_OK(mproc_queue_join(q, 0));
  mproc_queue_free(q);
}

/* --- mproc_wait -------------------------------------------------------------------------- */

/* Sleeps ms, puts one item, waits for `stay` before exiting. Args: queue, ms, stay. */
static int t_put_and_stay(const mproc_args_t *a) {
  t_sleep_ms((int)t_int64(a, 1));
  C_OK(mproc_queue_put(t_queue(a, 0), "item", 4, MPROC_FOREVER));
  C_OK(mproc_event_wait(t_event(a, 2), 30000));
  return 0;
}

TEST(wait_on_queue, 60, ALL) {
  mproc_queue_t *q, *q2;
  mproc_event_t *stay;
  ASSERT_OK(mproc_queue_new(&q, 0));
  ASSERT_OK(mproc_queue_new(&q2, 4));
  ASSERT_OK(mproc_event_new(&stay));
  size_t nready = 9;
  mproc_waitable w[2] = {{MPROC_WAIT_QUEUE, q, 0, 0}, {MPROC_WAIT_QUEUE, q2, 0, 0}};
  /* Empty: a timeout, and 0 does not block. */
  ASSERT_WAITS(mproc_wait(w, 2, 200, &nready), MPROC_ETIMEDOUT, 200);
  ASSERT_RC(mproc_wait(w, 2, 0, &nready), MPROC_ETIMEDOUT);

  /* An item arriving from a child makes the queue ready. */
  mproc_process_t *p = qt_start(t_put_and_stay, t_args("QiE", q2, 100, stay));
  ASSERT_OK(mproc_wait(w, 2, 30000, &nready));
  ASSERT_EQ(nready, 1);
  ASSERT_EQ(w[0].ready, 0);
  ASSERT_EQ(w[1].ready, 1);
  ASSERT_OK(mproc_wait(w, 2, 0, &nready)); /* still there: still ready */
  ASSERT_EQ(w[1].ready, 1);
  void *d;
  size_t n;
  ASSERT_OK(mproc_queue_get(q2, 0, &d, &n));
  mproc_free(d);

  /* With a process sentinel: the child is alive and the queue empty, then the child exits. */
  mproc_waitable m[2] = {{MPROC_WAIT_QUEUE, q2, 0, 0}, {MPROC_WAIT_PROCESS, p, 0, 0}};
  ASSERT_WAITS(mproc_wait(m, 2, 200, &nready), MPROC_ETIMEDOUT, 200);
  ASSERT_OK(mproc_event_set(stay));
  ASSERT_OK(mproc_wait(m, 2, 30000, &nready));
  ASSERT_EQ(nready, 1);
  ASSERT_EQ(m[0].ready, 0);
  ASSERT_EQ(m[1].ready, 1);
  qt_finish(p);

  /* A queue that becomes ready while its producer keeps running. */
  ASSERT_OK(mproc_event_clear(stay));
  p = qt_start(t_put_and_stay, t_args("QiE", q, 100, stay));
  m[0].obj = q;
  m[1].obj = p;
  ASSERT_OK(mproc_wait(m, 2, 30000, &nready));
  ASSERT_EQ(nready, 1);
  ASSERT_EQ(m[0].ready, 1);
  ASSERT_EQ(m[1].ready, 0);
  ASSERT_OK(mproc_queue_get(q, 0, &d, &n));
  ASSERT_TRUE(n == 4 && memcmp(d, "item", 4) == 0);
  mproc_free(d);
  ASSERT_WAITS(mproc_wait(w, 2, 100, &nready), MPROC_ETIMEDOUT, 100); /* taken: not ready */
  ASSERT_OK(mproc_event_set(stay));
  qt_finish(p);
  mproc_event_free(stay);
  mproc_queue_free(q2);
  mproc_queue_free(q);
}

/* --- typed values ------------------------------------------------------------------------ */

static void build_values(mproc_args_t **out) {
  mproc_args_t *v;
  ASSERT_OK(mproc_args_new(&v));
  ASSERT_OK(mproc_args_add_int(v, INT64_MIN));
  ASSERT_OK(mproc_args_add_int(v, INT64_MAX));
  ASSERT_OK(mproc_args_add_int(v, 0));
  ASSERT_OK(mproc_args_add_double(v, 3.25));
  ASSERT_OK(mproc_args_add_double(v, -1e300));
  ASSERT_OK(mproc_args_add_str(v, ""));
  ASSERT_OK(mproc_args_add_str(v, "h\xc3\xa9llo, queue"));
  ASSERT_OK(mproc_args_add_bytes(v, "a\0b", 3));
  ASSERT_OK(mproc_args_add_bytes(v, "", 0));
  ASSERT_OK(mproc_args_add_none(v));
  ASSERT_OK(mproc_args_add_int(v, -42));
  *out = v;
}

/* 0 if v is what build_values makes, else the index that differs (1-based). */
static int values_differ(const mproc_args_t *v) {
  int64_t i0, i1, i2, i10;
  double d3, d4;
  const char *s5, *s6;
  const void *y7, *y8;
  size_t n7, n8;
  if (mproc_args_count(v) != 11)
    return 100;
  if (mproc_args_parse(v, "lllddss", &i0, &i1, &i2, &d3, &d4, &s5, &s6) != 0)
    return 101;
  if (i0 != INT64_MIN || i1 != INT64_MAX || i2 != 0)
    return 1;
  if (d3 != 3.25 || d4 != -1e300)
    return 4;
  if (strcmp(s5, "") != 0 || strcmp(s6, "h\xc3\xa9llo, queue") != 0)
    return 6;
  if (mproc_args_get_bytes(v, 7, &y7, &n7) != 0 || n7 != 3 || memcmp(y7, "a\0b", 3) != 0)
    return 8;
  if (mproc_args_get_bytes(v, 8, &y8, &n8) != 0 || n8 != 0)
    return 9;
  if (mproc_args_type(v, 9) != MPROC_ARG_NONE)
    return 10;
  if (mproc_args_get_int(v, 10, &i10) != 0 || i10 != -42)
    return 11;
  return 0;
}

TEST(values_round_trip, 30, ONCE) {
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new(&q, 0));
  mproc_args_t *v, *got;
  build_values(&v);
  ASSERT_OK(mproc_queue_put_values(q, v, 0));
  ASSERT_OK(mproc_queue_get_values(q, 0, &got));
  ASSERT_EQ(values_differ(got), 0);
  mproc_args_free(got);
  /* An empty list, and a list with one 5 MiB byte string (streamed through a 1 MiB ring). */
  mproc_args_t *empty, *big;
  ASSERT_OK(mproc_args_new(&empty));
  ASSERT_OK(mproc_queue_put_values(q, empty, 0));
  ASSERT_OK(mproc_queue_get_values(q, 0, &got));
  ASSERT_EQ(mproc_args_count(got), 0);
  mproc_args_free(got);
  void *blob = qt_item(5 * MIB, 55);
  ASSERT_OK(mproc_args_build(&big, "y", blob, 5 * MIB));
  free(blob);
  ASSERT_OK(mproc_queue_put_values(q, big, 0));
  ASSERT_OK(mproc_queue_get_values(q, 30000, &got));
  const void *y;
  size_t ny;
  ASSERT_OK(mproc_args_get_bytes(got, 0, &y, &ny));
  ASSERT_EQ(ny, 5 * MIB);
  ASSERT_TRUE(qt_intact(y, ny, 55));
  mproc_args_free(got);
  /* Objects cannot travel as bytes: refused, and nothing is put. */
  mproc_args_t *with;
  mproc_conn_t *c1, *c2;
  mproc_lock_t *l;
  ASSERT_OK(mproc_pipe(1, &c1, &c2));
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_args_build(&with, "i", 1));
  ASSERT_OK(mproc_args_add_conn(with, c1));
  ASSERT_RC(mproc_queue_put_values(q, with, 0), MPROC_ENOTSUP);
  mproc_args_free(with);
  ASSERT_OK(mproc_args_build(&with, "i", 1));
  ASSERT_OK(mproc_args_add_lock(with, l));
  ASSERT_RC(mproc_queue_put_values(q, with, 0), MPROC_ENOTSUP);
  mproc_args_free(with);
  ASSERT_OK(mproc_args_new(&with));
  ASSERT_OK(mproc_args_add_queue(with, q));
  ASSERT_RC(mproc_queue_put_values(q, with, 0), MPROC_ENOTSUP);
  mproc_args_free(with);
  ASSERT_EQ(mproc_queue_qsize(q), 0);
  /* Bytes that are not a value list: an error, not garbage. */
  ASSERT_OK(mproc_queue_put(q, "\xff\xff\xff\xff\xff\xff\xff", 7, 0));
  int rc = mproc_queue_get_values(q, 0, &got);
  ASSERT_TRUE(rc < 0);
  ASSERT_TRUE(got == NULL);
  ASSERT_OK(mproc_queue_put_values(q, v, 0)); /* and the queue goes on */
  ASSERT_OK(mproc_queue_get_values(q, 0, &got));
  ASSERT_EQ(values_differ(got), 0);
  mproc_args_free(got);
  ASSERT_RC(mproc_queue_put_values(q, NULL, 0), MPROC_EINVAL);
  ASSERT_RC(mproc_queue_get_values(q, 0, NULL), MPROC_EINVAL);
  mproc_args_free(v);
  mproc_args_free(big);
  mproc_args_free(empty);
  mproc_lock_free(l);
  mproc_conn_free(c1);
  mproc_conn_free(c2);
  mproc_queue_free(q);
}

/* Gets a value list, checks it, puts it back. Args: in, out. */
static int t_values_echo(const mproc_args_t *a) {
  mproc_args_t *v;
  C_OK(mproc_queue_get_values(t_queue(a, 0), 30000, &v));
  int d = values_differ(v);
  if (d != 0) {
    mproc_args_free(v);
    return mproc_fail(3, "value %d differs in the child", d);
  }
  int rc = mproc_queue_put_values(t_queue(a, 1), v, MPROC_FOREVER);
  mproc_args_free(v);
  C_OK(rc);
  return 0;
}

TEST(values_across_processes, 60, ALL) {
  mproc_queue_t *in, *out;
  ASSERT_OK(mproc_queue_new(&in, 0));
  ASSERT_OK(mproc_queue_new(&out, 0));
  mproc_process_t *p = qt_start(t_values_echo, t_args("QQ", in, out));
  mproc_args_t *v, *got;
  build_values(&v);
  ASSERT_OK(mproc_queue_put_values(in, v, MPROC_FOREVER));
  mproc_args_free(v);
  ASSERT_OK(mproc_queue_get_values(out, 30000, &got));
  ASSERT_EQ(values_differ(got), 0);
  mproc_args_free(got);
  qt_finish(p);
  mproc_queue_free(out);
  mproc_queue_free(in);
}

/* --- error rules ------------------------------------------------------------------------- */

TEST(null_handles_and_sizes, 30, ONCE) {
  mproc_queue_t *q = (mproc_queue_t *)&q;
  void *d;
  size_t n;
  mproc_args_t *v;
  ASSERT_OK(mproc_args_build(&v, "i", 1));
  ASSERT_RC(mproc_queue_new(NULL, 0), MPROC_EINVAL);
  ASSERT_RC(mproc_queue_new_sized(NULL, 0, 4096), MPROC_EINVAL);
  ASSERT_RC(mproc_simple_queue_new(NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_joinable_queue_new(NULL, 0), MPROC_EINVAL);
  ASSERT_RC(mproc_queue_put(NULL, "x", 1, 0), MPROC_EINVAL);
  ASSERT_RC(mproc_queue_get(NULL, 0, &d, &n), MPROC_EINVAL);
  ASSERT_RC(mproc_queue_put_values(NULL, v, 0), MPROC_EINVAL);
  mproc_args_t *out = (mproc_args_t *)&out;
  ASSERT_RC(mproc_queue_get_values(NULL, 0, &out), MPROC_EINVAL);
  ASSERT_TRUE(out == NULL); /* cleared: the out-parameter is always written */
  ASSERT_RC(mproc_queue_qsize(NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_queue_empty(NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_queue_full(NULL), MPROC_EINVAL);
  ASSERT_OK(mproc_queue_close(NULL)); /* like every _close */
  ASSERT_RC(mproc_queue_join_thread(NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_queue_cancel_join_thread(NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_queue_task_done(NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_queue_join(NULL, 0), MPROC_EINVAL);
  mproc_queue_free(NULL);
  ASSERT_RC(mproc_args_add_queue(v, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_args_add_queue(NULL, q), MPROC_EINVAL);
  mproc_waitable w = {MPROC_WAIT_QUEUE, NULL, 0, 0};
  ASSERT_RC(mproc_wait(&w, 1, 0, NULL), MPROC_EINVAL);
  mproc_queue_t *got = (mproc_queue_t *)&got;
  ASSERT_RC(mproc_args_get_queue(v, 0, &got), MPROC_ETYPE); /* an int, not a queue */

  /* Ring sizes: 4 KiB .. 1 GiB. */
  ASSERT_RC(mproc_queue_new_sized(&q, 0, 0), MPROC_EINVAL);
  ASSERT_TRUE(q == NULL);
  ASSERT_RC(mproc_queue_new_sized(&q, 0, 4095), MPROC_EINVAL);
  ASSERT_RC(mproc_queue_new_sized(&q, 0, ((size_t)1 << 30) + 1), MPROC_EINVAL);
  ASSERT_OK(mproc_queue_new_sized(&q, 0, 4096));

  /* Bad arguments on a good queue. */
  ASSERT_RC(mproc_queue_put(q, NULL, 1, 0), MPROC_EINVAL);
  ASSERT_RC(mproc_queue_get(q, 0, NULL, &n), MPROC_EINVAL);
  ASSERT_RC(mproc_queue_get(q, 0, &d, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_queue_join(q, 0), MPROC_ETYPE);
  if (sizeof(size_t) > 4) /* 2^40 bytes and more cannot be described: refused before reading */
    ASSERT_RC(mproc_queue_put(q, "x", (size_t)((uint64_t)1 << 40), 0), MPROC_EMSGSIZE);
  ASSERT_EQ(mproc_queue_qsize(q), 0);
  ASSERT_OK(mproc_queue_put(q, "ok", 2, 0));
  ASSERT_OK(mproc_queue_get(q, 0, &d, &n));
  mproc_free(d);
  mproc_queue_free(q);
  mproc_args_free(v);
}

/* --- objects crossing: a grandchild ------------------------------------------------------ */

/* Gets the item its grandparent put and sends it back with a prefix. Args: in, out. */
static int t_q_grandchild(const mproc_args_t *a) {
  void *d;
  size_t n;
  C_OK(mproc_queue_get(t_queue(a, 0), 30000, &d, &n));
  char buf[64];
  int len = snprintf(buf, sizeof buf, "grandchild got %.*s", (int)n, (char *)d);
  mproc_free(d);
  C_OK(mproc_queue_put(t_queue(a, 1), buf, (size_t)len, MPROC_FOREVER));
  return 0;
}

/* Hands its own copies of both queues on. Args: in, out. */
static int t_q_middle(const mproc_args_t *a) {
  mproc_args_t *ga;
  int rc = mproc_args_new(&ga);
  if (rc == 0)
    rc = mproc_args_add_queue(ga, t_queue(a, 0));
  if (rc == 0)
    rc = mproc_args_add_queue(ga, t_queue(a, 1));
#ifdef QT_TSAN
  return t_run_grandchild(rc, t_q_grandchild, ga, 1); /* see qt_start_n */
#else
  return t_run_grandchild(rc, t_q_grandchild, ga, 0);
#endif
}

TEST(queue_reaches_grandchild, 60, ALL) {
  mproc_queue_t *in, *out;
  ASSERT_OK(mproc_queue_new(&in, 0));
  ASSERT_OK(mproc_queue_new(&out, 1));
  ASSERT_OK(mproc_queue_put(in, "hello", 5, 0));
  qt_finish(qt_start(t_q_middle, t_args("QQ", in, out))); /* the reply fits: no need to read */
  void *d;
  size_t n;
  ASSERT_OK(mproc_queue_get(out, 0, &d, &n));
  ASSERT_TRUE(n == 20 && memcmp(d, "grandchild got hello", 20) == 0);
  mproc_free(d);
  mproc_queue_free(out);
  mproc_queue_free(in);
}
