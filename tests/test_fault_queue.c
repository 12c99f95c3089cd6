/* SPDX-License-Identifier: MIT */
/* Fault cases for the queue area: kill the party that was woken or was to wake, at seeded random
 * moments, and check that nothing hangs, nothing acknowledged is lost, nothing is torn. */
#include <dirent.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "runner.h"

/* A random pause of 0 to about max_us microseconds, drawn from the case's generator: kills
 * land anywhere from "before the other side moved" to "well after". */
static void spin_random(int max_us) {
  int n = t_rand_range(0, max_us * 50);
  for (volatile int i = 0; i < n; i++)
    ;
}

/* Polls until pred(q) holds or ms pass; 1 if it held. */
static int eventually(int (*pred)(mproc_queue_t *), mproc_queue_t *q, int64_t ms) {
  int64_t end = t_now_ms() + ms;
  while (!pred(q)) {
    if (t_now_ms() > end)
      return 0;
    t_sleep_ms(2);
  }
  return 1;
}
static int is_drained(mproc_queue_t *q) { return mproc_queue_qsize(q) == 0; }
static int is_one(mproc_queue_t *q) { return mproc_queue_qsize(q) == 1; }

/* Waits for a message of length 1 equal to c on q (others are skipped); 1 if it came. */
static int await_byte(mproc_queue_t *q, char c, int64_t ms) {
  int64_t end = t_now_ms() + ms;
  for (;;) {
    void *d;
    size_t n;
    int64_t left = end - t_now_ms();
    if (left < 0 || mproc_queue_get(q, left, &d, &n) != 0)
      return 0;
    int hit = n == 1 && ((char *)d)[0] == c;
    mproc_free(d);
    if (hit)
      return 1;
  }
}

/* --- a consumer woken for an item is killed ------------------------------------------------ */

/* Says "r" on out, then forwards every item of q to out. Args: q, out. */
static int t_forwarder(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0), *out = t_queue(a, 1);
  C_OK(mproc_queue_put(out, "r", 1, MPROC_FOREVER));
  for (;;) {
    void *d;
    size_t n;
    C_OK(mproc_queue_get(q, MPROC_FOREVER, &d, &n));
    C_OK(mproc_queue_put(out, d, n, MPROC_FOREVER));
    mproc_free(d);
  }
}

/* Two consumers asleep in get(FOREVER), one put, one of them killed at a random moment after
 * it: the item is taken (by the dead one before it died, or by the survivor) within a few
 * liveness slices, never left in the queue until some later put. */
TEST(queue_woken_consumer_killed, 180, ALL) {
  t_fault_seed();
  int rounds = t_fault_rounds(12);
  for (int round = 0; round < rounds; round++) {
    mproc_queue_t *q, *out;
    ASSERT_OK(mproc_queue_new(&q, 0));
    ASSERT_OK(mproc_queue_new(&out, 0));
    mproc_process_t *c[2];
    t_start_n(c, 2, t_forwarder, t_args("QQ", q, out));
    ASSERT_TRUE(await_byte(out, 'r', 30000) && await_byte(out, 'r', 30000));
    t_sleep_ms(t_rand_range(5, 30)); /* both parked by now, mostly */
    int victim = t_rand_range(0, 1);
    ASSERT_OK(mproc_queue_put(q, "A", 1, 0));
    spin_random(t_rand_range(0, 1) ? 50 : 2000);
    ASSERT_OK(mproc_process_kill(c[victim]));
    if (!eventually(is_drained, q, 5000))
      t_fail(__FILE__, __LINE__, "round %d: an item sat in the queue for 5 s beside a sleeping "
             "consumer", round);
    ASSERT_OK(mproc_queue_put(q, "B", 1, 0)); /* and the survivor still works */
    ASSERT_TRUE(await_byte(out, 'B', 30000));
    ASSERT_OK(mproc_process_kill(c[1 - victim]));
    for (int i = 0; i < 2; i++) {
      ASSERT_EQ(t_join_code(c[i]), -9);
      ASSERT_OK(mproc_process_close(c[i]));
      mproc_process_free(c[i]);
    }
    mproc_queue_free(q);
    mproc_queue_free(out);
  }
}

/* --- a consumer that made room is killed --------------------------------------------------- */

/* Puts one item into q (waiting for room), then says "k" on acks and waits to be killed.
 * Args: q, acks, never. */
static int t_put_one_then_ack(const mproc_args_t *a) {
  C_OK(mproc_queue_put(t_queue(a, 0), "p", 1, MPROC_FOREVER));
  C_OK(mproc_queue_put(t_queue(a, 1), "k", 1, MPROC_FOREVER));
  return mproc_event_wait(t_event(a, 2), MPROC_FOREVER);
}

/* Says "c" on acks, takes one item from q, then waits to be killed. Args: q, acks, never. */
static int t_take_one(const mproc_args_t *a) {
  C_OK(mproc_queue_put(t_queue(a, 1), "c", 1, MPROC_FOREVER));
  void *d;
  size_t n;
  C_OK(mproc_queue_get(t_queue(a, 0), MPROC_FOREVER, &d, &n));
  mproc_free(d);
  return mproc_event_wait(t_event(a, 2), MPROC_FOREVER);
}

/* A full bounded queue (maxsize 1), two producers asleep in put(FOREVER), a consumer that
 * takes one item and is killed at a random moment: the room it made is used within a few
 * slices (the queue holds one item again), and both producers get their items in while the
 * parent drains. */
TEST(queue_room_maker_killed, 180, ALL) {
  t_fault_seed();
  int rounds = t_fault_rounds(10);
  for (int round = 0; round < rounds; round++) {
    mproc_queue_t *q, *acks;
    mproc_event_t *never;
    ASSERT_OK(mproc_queue_new(&q, 1));
    ASSERT_OK(mproc_queue_new(&acks, 0));
    ASSERT_OK(mproc_event_new(&never));
    ASSERT_OK(mproc_queue_put(q, "0", 1, 0));
    mproc_process_t *p[2], *c;
    t_start_n(p, 2, t_put_one_then_ack, t_args("QQE", q, acks, never));
    t_sleep_ms(t_rand_range(5, 30));
    c = t_start_one(t_take_one, t_args("QQE", q, acks, never));
    ASSERT_TRUE(await_byte(acks, 'c', 30000));
    spin_random(t_rand_range(0, 1) ? 100 : 5000);
    t_kill_and_reap(c);
    if (!eventually(is_one, q, 5000))
      t_fail(__FILE__, __LINE__, "round %d: room stayed unused for 5 s beside a waiting "
             "producer", round);
    int acked = 0;
    for (int64_t end = t_now_ms() + 30000; acked < 2 && t_now_ms() < end;) {
      void *d;
      size_t n;
      if (mproc_queue_get(q, 10, &d, &n) == 0)
        mproc_free(d);
      if (mproc_queue_get(acks, 0, &d, &n) == 0) {
        acked += n == 1 && ((char *)d)[0] == 'k';
        mproc_free(d);
      }
    }
    ASSERT_EQ(acked, 2);
    for (int i = 0; i < 2; i++)
      t_kill_and_reap(p[i]);
    mproc_event_free(never);
    mproc_queue_free(q);
    mproc_queue_free(acks);
  }
}

/* --- JoinableQueue: a consumer killed around task_done -------------------------------------- */

/* join(FOREVER), then says "j" on acks. Args: q, acks. */
static int t_joiner(const mproc_args_t *a) {
  C_OK(mproc_queue_put(t_queue(a, 1), "r", 1, MPROC_FOREVER));
  C_OK(mproc_queue_join(t_queue(a, 0), MPROC_FOREVER));
  C_OK(mproc_queue_put(t_queue(a, 1), "j", 1, MPROC_FOREVER));
  return 0;
}

/* Takes one item and marks it done, then waits to be killed. Args: q, never. */
static int t_take_done(const mproc_args_t *a) {
  void *d;
  size_t n;
  C_OK(mproc_queue_get(t_queue(a, 0), MPROC_FOREVER, &d, &n));
  mproc_free(d);
  C_OK(mproc_queue_task_done(t_queue(a, 0)));
  return mproc_event_wait(t_event(a, 1), MPROC_FOREVER);
}

/* A joiner asleep in join(FOREVER), a consumer killed at a random moment around its get and
 * task_done. Once nothing is unfinished (join(q, 0) says so here) the joiner returns within
 * a few slices. If the consumer died holding the item, it was delivered: finishing it here
 * must then release the joiner too. */
TEST(queue_join_consumer_killed, 180, ALL) {
  t_fault_seed();
  int rounds = t_fault_rounds(10);
  for (int round = 0; round < rounds; round++) {
    mproc_queue_t *q, *acks;
    mproc_event_t *never;
    ASSERT_OK(mproc_joinable_queue_new(&q, 0));
    ASSERT_OK(mproc_queue_new(&acks, 0));
    ASSERT_OK(mproc_event_new(&never));
    ASSERT_OK(mproc_queue_put(q, "x", 1, 0));
    mproc_process_t *j = t_start_one(t_joiner, t_args("QQ", q, acks));
    ASSERT_TRUE(await_byte(acks, 'r', 30000));
    mproc_process_t *c = t_start_one(t_take_done, t_args("QE", q, never));
    t_sleep_ms(t_rand_range(0, 40)); /* a spawned child needs a while to get there */
    spin_random(2000);
    t_kill_and_reap(c);
    if (mproc_queue_join(q, 0) != 0) { /* not done: still queued, or taken by the dead one */
      void *d;
      size_t n;
      if (mproc_queue_get(q, 0, &d, &n) == 0)
        mproc_free(d);
      ASSERT_OK(mproc_queue_task_done(q));
    }
    ASSERT_OK(mproc_queue_join(q, 0));
    if (!await_byte(acks, 'j', 5000))
      t_fail(__FILE__, __LINE__, "round %d: join() slept on for 5 s with nothing unfinished",
             round);
    t_finish(j);
    mproc_event_free(never);
    mproc_queue_free(q);
    mproc_queue_free(acks);
  }
}

/* --- acknowledged items survive their producer ---------------------------------------------- */

/* Items carry their number and size in 16 bytes, then bytes derived from the number, so a torn,
 * shifted or mixed-up item is told from a whole one. */
static uint64_t item_byte_seed(uint64_t k) { return k * 0x9E3779B97F4A7C15ull + 1; }

static void item_fill(unsigned char *p, size_t size, uint64_t k) {
  uint64_t hdr[2] = {k, size}, x = item_byte_seed(k);
  memcpy(p, hdr, 16);
  for (size_t i = 16; i < size; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    p[i] = (unsigned char)x;
  }
}

/* 1 and the item's number when d is a whole item, 0 if not. */
static int item_whole(const unsigned char *d, size_t n, uint64_t *k) {
  uint64_t hdr[2];
  if (n < 16)
    return 0;
  memcpy(hdr, d, 16);
  if (hdr[1] != n)
    return 0;
  uint64_t x = item_byte_seed(hdr[0]);
  for (size_t i = 16; i < n; i++) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    if (d[i] != (unsigned char)x)
      return 0;
  }
  *k = hdr[0];
  return 1;
}

/* Sizes that take every path of an unbounded 64 KiB ring: small items (ring, or a batch
 * segment once the ring is full), items over half the ring (always a segment), and items over
 * 1 MiB (a segment of their own). */
static size_t item_size(uint64_t k) {
  uint64_t h = item_byte_seed(k) >> 33;
  switch (h % 8) {
  case 0:
    return 40 * 1024 + (size_t)(h % 4096);
  case 1:
    return (h % 4) == 0 ? (size_t)(1 << 20) + 3 * 1024 + (size_t)(h % 100) : 5000;
  default:
    return 16 + (size_t)(h % 2000);
  }
}

/* Puts items 0, 1, 2... until killed, storing in acked[0] how many puts returned 0.
 * Args: q, acked, running. */
static int t_acking_producer(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  mproc_array_t *acked = t_array(a, 1);
  static unsigned char buf[(1 << 20) + 8192];
  C_OK(mproc_event_set(t_event(a, 2)));
  for (uint64_t k = 0;; k++) {
    size_t n = item_size(k);
    item_fill(buf, n, k);
    C_OK(mproc_queue_put(q, buf, n, MPROC_FOREVER));
    C_OK(mproc_array_store(acked, 0, (int64_t)k + 1));
  }
}

/* Takes one item: checks it is whole and the next in order (*next), or fails the case. 0 when
 * one came, MPROC_EEMPTY when none did within ms. */
static int take_in_order(mproc_queue_t *q, int64_t ms, uint64_t *next, int round) {
  void *d;
  size_t n;
  int rc = mproc_queue_get(q, ms, &d, &n);
  if (rc == MPROC_EEMPTY)
    return rc;
  ASSERT_OK(rc);
  uint64_t k = 0;
  if (!item_whole(d, n, &k))
    t_fail(__FILE__, __LINE__, "round %d: a torn item of %zu bytes after item %llu", round, n,
           (unsigned long long)*next);
  if (k != *next)
    t_fail(__FILE__, __LINE__, "round %d: item %llu came where %llu was due (lost or "
           "duplicated)", round, (unsigned long long)k, (unsigned long long)*next);
  ++*next;
  mproc_free(d);
  return 0;
}

/* A producer killed at a random moment while putting items of every size into an unbounded
 * queue, read meanwhile or not at all: every item whose put returned is delivered, in order,
 * whole, once; at most the one put in flight comes on top. */
TEST(queue_producer_killed_acked_kept, 240, POSIX_ALL) {
  t_fault_seed();
  int rounds = t_fault_rounds(10);
  for (int round = 0; round < rounds; round++) {
    mproc_queue_t *q;
    mproc_array_t *acked;
    mproc_event_t *running;
    ASSERT_OK(mproc_queue_new_sized(&q, 0, 64 * 1024));
    ASSERT_OK(mproc_raw_array_new(&acked, 'q', 1, NULL));
    ASSERT_OK(mproc_event_new(&running));
    mproc_process_t *p = t_start_one(t_acking_producer, t_args("QAE", q, acked, running));
    ASSERT_OK(mproc_event_wait(running, 30000));
    int reading = t_rand_range(0, 1);
    int64_t kill_at = t_now_ms() + t_rand_range(0, 60);
    uint64_t next = 0;
    while (t_now_ms() < kill_at)
      if (!reading || take_in_order(q, 1, &next, round) == MPROC_EEMPTY)
        spin_random(200);
    spin_random(500);
    t_kill_and_reap(p);
    int64_t acks = -1;
    ASSERT_OK(mproc_array_load(acked, 0, &acks));
    while (take_in_order(q, 0, &next, round) == 0)
      ;
    printf("round %d: %s, %lld acknowledged, %llu delivered\n", round,
           reading ? "read meanwhile" : "read after", (long long)acks,
           (unsigned long long)next);
    if ((int64_t)next < acks || (int64_t)next > acks + 1)
      t_fail(__FILE__, __LINE__, "round %d: %lld puts returned 0, %llu items delivered", round,
             (long long)acks, (unsigned long long)next);
    ASSERT_EQ(mproc_queue_qsize(q), 0);
    ASSERT_OK(mproc_queue_put(q, "z", 1, 0)); /* and the queue goes on */
    void *d;
    size_t n;
    ASSERT_OK(mproc_queue_get(q, 0, &d, &n));
    mproc_free(d);
    mproc_event_free(running);
    mproc_array_free(acked);
    mproc_queue_free(q);
  }
}

/* Takes items and reports each one's number on out, until killed. Args: q, out, running. */
static int t_reporting_consumer(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0), *out = t_queue(a, 1);
  C_OK(mproc_event_set(t_event(a, 2)));
  for (;;) {
    void *d;
    size_t n;
    C_OK(mproc_queue_get(q, MPROC_FOREVER, &d, &n));
    uint64_t k = 0, whole_k = 0;
    C_TRUE(n >= sizeof k);
    memcpy(&k, d, sizeof k); /* reported first: the window where a kill loses it is short */
    C_OK(mproc_queue_put(out, &k, sizeof k, MPROC_FOREVER));
    C_TRUE(item_whole(d, n, &whole_k) && whole_k == k);
    mproc_free(d);
  }
}

/* A consumer killed at a random moment while taking items of every size from the ring and the
 * overflow: every item is delivered once (to the dead consumer, which reported it, or to the
 * parent afterwards), except at most the one the consumer had taken when it died. */
TEST(queue_consumer_killed_nothing_duplicated, 240, POSIX_ALL) {
  t_fault_seed();
  int rounds = t_fault_rounds(10);
  static unsigned char buf[(1 << 20) + 8192];
  for (int round = 0; round < rounds; round++) {
    mproc_queue_t *q, *out;
    mproc_event_t *running;
    ASSERT_OK(mproc_queue_new_sized(&q, 0, 64 * 1024));
    ASSERT_OK(mproc_queue_new(&out, 0));
    ASSERT_OK(mproc_event_new(&running));
    int total = t_rand_range(200, 600);
    for (int k = 0; k < total; k++) { /* ring and overflow both hold items */
      size_t n = item_size((uint64_t)k);
      item_fill(buf, n, (uint64_t)k);
      ASSERT_OK(mproc_queue_put(q, buf, n, 0));
    }
    mproc_process_t *c = t_start_one(t_reporting_consumer, t_args("QQE", q, out, running));
    ASSERT_OK(mproc_event_wait(running, 30000));
    t_sleep_ms(t_rand_range(0, 4));
    spin_random(2000);
    t_kill_and_reap(c);
    unsigned char *seen = calloc((size_t)total, 1);
    ASSERT_TRUE(seen != NULL);
    int reported = 0, left = 0;
    for (;;) {
      void *d;
      size_t n;
      if (mproc_queue_get(out, 0, &d, &n) != 0)
        break;
      uint64_t k;
      memcpy(&k, d, sizeof k);
      mproc_free(d);
      ASSERT_TRUE(k < (uint64_t)total && !seen[k]);
      seen[k] = 1;
      reported++;
    }
    /* What is left is whole, in order, and comes after what the consumer took. */
    uint64_t prev = 0;
    int any = 0;
    for (;;) {
      void *d;
      size_t n;
      if (mproc_queue_get(q, 0, &d, &n) != 0)
        break;
      uint64_t k = 0;
      ASSERT_TRUE(item_whole(d, n, &k));
      mproc_free(d);
      ASSERT_TRUE(k < (uint64_t)total && !seen[k]);
      ASSERT_TRUE(!any || k == prev + 1);
      seen[k] = 1;
      prev = k;
      any = 1;
      left++;
    }
    int missing = total - reported - left;
    printf("round %d: %d items, %d taken by the consumer, %d left, %d missing\n", round, total,
           reported, left, missing);
    if (missing > 1)
      t_fail(__FILE__, __LINE__, "round %d: %d items lost to one killed consumer", round,
             missing);
    free(seen);
    mproc_event_free(running);
    mproc_queue_free(q);
    mproc_queue_free(out);
  }
}

/* --- JoinableQueue: a producer killed mid-put ----------------------------------------------- */

/* Puts small and big items into a JoinableQueue until killed. Args: q, running. */
static int t_joinable_producer(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  static unsigned char buf[(1 << 20) + 8192];
  C_OK(mproc_event_set(t_event(a, 1)));
  for (uint64_t k = 0;; k++) {
    size_t n = item_size(k);
    item_fill(buf, n, k);
    C_OK(mproc_queue_put(q, buf, n, MPROC_FOREVER));
  }
}

/* A producer killed at a random moment in put on an unbounded JoinableQueue (ring and
 * overflow): once every item that arrived is taken and marked done, join() returns. An item
 * counted as unfinished but never published would keep it waiting for good. */
TEST(queue_joinable_producer_killed, 240, POSIX_ALL) {
  t_fault_seed();
  int rounds = t_fault_rounds(10);
  for (int round = 0; round < rounds; round++) {
    mproc_queue_t *q;
    mproc_event_t *running;
    ASSERT_OK(mproc_joinable_queue_new(&q, 0));
    ASSERT_OK(mproc_event_new(&running));
    mproc_process_t *p = t_start_one(t_joinable_producer, t_args("QE", q, running));
    ASSERT_OK(mproc_event_wait(running, 30000));
    t_sleep_ms(t_rand_range(0, 40));
    spin_random(1000);
    t_kill_and_reap(p);
    uint64_t next = 0;
    while (take_in_order(q, 0, &next, round) == 0)
      ASSERT_OK(mproc_queue_task_done(q));
    int rc = mproc_queue_join(q, 5000);
    if (rc != 0)
      t_fail(__FILE__, __LINE__, "round %d: join() after %llu items taken and done: %s", round,
             (unsigned long long)next, mproc_errname(rc));
    ASSERT_RC(mproc_queue_task_done(q), MPROC_EOVERRELEASE);
    mproc_event_free(running);
    mproc_queue_free(q);
  }
}

/* --- recycled overflow segments: killed users leave no name behind -------------------------- */

/* Sizes that take the overflow's recycling paths: small items (batches), items of 1-3 MiB (one
 * recycled segment each) and of 5 MiB (one segment, removed when read). */
static size_t recycle_size(uint64_t k) {
  uint64_t h = item_byte_seed(k) >> 33;
  switch (h % 16) {
  case 0:
    return (size_t)(1 + h % 3) << 20;
  case 1:
    return (size_t)5 << 20;
  default:
    return 16 + (size_t)(h % 60000);
  }
}

/* Puts items 0, 1, 2... (recycle_size) until killed. Args: q, running. */
static int t_recycle_producer(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  static unsigned char buf[5 << 20];
  C_OK(mproc_event_set(t_event(a, 1)));
  for (uint64_t k = 0;; k++) {
    size_t n = recycle_size(k);
    item_fill(buf, n, k);
    C_OK(mproc_queue_put(q, buf, n, MPROC_FOREVER));
  }
}

/* Takes items until killed. Args: q, running. */
static int t_recycle_consumer(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  C_OK(mproc_event_set(t_event(a, 1)));
  for (;;) {
    void *d;
    size_t n;
    C_OK(mproc_queue_get(q, MPROC_FOREVER, &d, &n));
    mproc_free(d);
  }
}

#define MPQ_MAX 256
typedef struct mpq_names {
  int n;
  char qid[MPQ_MAX][17];
  char seq[MPQ_MAX][5];
} mpq_names;

/* The overflow segments in /dev/shm: mpq-<queue id>-<sequence>. */
static void mpq_list(mpq_names *out) {
  out->n = 0;
  DIR *d = opendir("/dev/shm");
  if (d == NULL)
    return;
  for (struct dirent *e; (e = readdir(d)) != NULL && out->n < MPQ_MAX;) {
    if (strncmp(e->d_name, "mpq-", 4) != 0 || strlen(e->d_name) != 4 + 16 + 1 + 4)
      continue;
    memcpy(out->qid[out->n], e->d_name + 4, 16);
    out->qid[out->n][16] = 0;
    memcpy(out->seq[out->n], e->d_name + 21, 4);
    out->seq[out->n][4] = 0;
    out->n++;
  }
  closedir(d);
}

static int mpq_count(const mpq_names *l, const char *qid) {
  int n = 0;
  for (int i = 0; i < l->n; i++)
    n += strcmp(l->qid[i], qid) == 0;
  return n;
}

/* The id of q's segments: a queue id that was not there before q, and whose segments come and
 * go as the test makes them (other processes' queues may overflow meanwhile). 0 if ambiguous. */
static int mpq_find(mproc_queue_t *q, const mpq_names *before, char *qid) {
  static unsigned char buf[(2 << 20) + 64];
  memset(buf, 7, sizeof buf);
  ASSERT_OK(mproc_queue_put(q, buf, sizeof buf, 0)); /* a segment of its own: sequence 1 */
  mpq_names now;
  mpq_list(&now);
  int found = 0;
  for (int i = 0; i < now.n; i++) {
    if (strcmp(now.seq[i], "0001") != 0 || mpq_count(before, now.qid[i]) != 0)
      continue;
    found++;
    strcpy(qid, now.qid[i]);
  }
  void *d;
  size_t n;
  ASSERT_OK(mproc_queue_get(q, 0, &d, &n));
  mproc_free(d);
  return found == 1;
}

/* A producer and a consumer of an unbounded queue whose overflow recycles its segments, both
 * killed at random moments (in either order): what is left is whole and in order, the queue
 * goes on, and once it is freed none of its segments is left in /dev/shm (a segment is always
 * in use, waiting as a spare, or removed, whatever instruction a process died at). */
TEST(queue_recycled_segments_not_leaked, 240, POSIX_ALL) {
  t_fault_seed();
  int rounds = t_fault_rounds(20);
  mpq_names before;
  mpq_list(&before);
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new_sized(&q, 0, 64 * 1024));
  char qid[17] = "";
  int known = mpq_find(q, &before, qid);
  if (!known)
    printf("another queue overflowed meanwhile: the names are not checked\n");
  for (int round = 0; round < rounds; round++) {
    mproc_event_t *pr, *cr;
    ASSERT_OK(mproc_event_new(&pr));
    ASSERT_OK(mproc_event_new(&cr));
    mproc_process_t *p = t_start_one(t_recycle_producer, t_args("QE", q, pr));
    mproc_process_t *c = t_start_one(t_recycle_consumer, t_args("QE", q, cr));
    ASSERT_OK(mproc_event_wait(pr, 30000));
    ASSERT_OK(mproc_event_wait(cr, 30000));
    t_sleep_ms(t_rand_range(0, 60));
    spin_random(2000);
    int first = t_rand_range(0, 1);
    t_kill_and_reap(first ? p : c);
    t_sleep_ms(t_rand_range(0, 10));
    spin_random(2000);
    t_kill_and_reap(first ? c : p);
    int64_t prev = -1, left = 0;
    for (;;) {
      void *d;
      size_t n;
      if (mproc_queue_get(q, 0, &d, &n) != 0)
        break;
      uint64_t k = 0;
      if (!item_whole(d, n, &k) || (int64_t)k <= prev)
        t_fail(__FILE__, __LINE__, "round %d: a torn or out-of-order item of %zu bytes after "
               "item %lld", round, n, (long long)prev);
      prev = (int64_t)k;
      left++;
      mproc_free(d);
    }
    ASSERT_EQ(mproc_queue_qsize(q), 0);
    ASSERT_OK(mproc_queue_put(q, "z", 1, 0)); /* the locks' repairs have run; it goes on */
    void *d;
    size_t n;
    ASSERT_OK(mproc_queue_get(q, 0, &d, &n));
    mproc_free(d);
    mpq_names now;
    mpq_list(&now);
    printf("round %d: %s killed first, %lld items left, %d segments named\n", round,
           first ? "producer" : "consumer", (long long)left, known ? mpq_count(&now, qid) : -1);
    mproc_event_free(pr);
    mproc_event_free(cr);
  }
  mproc_queue_free(q);
  if (known) {
    mpq_names after;
    mpq_list(&after);
    if (mpq_count(&after, qid) != 0)
      t_fail(__FILE__, __LINE__, "%d segments of the freed queue are left in /dev/shm",
             mpq_count(&after, qid));
  }
}

/* --- JoinableQueue: a producer killed while items are held back in it ----------------------- */

/* Puts `count` items of 1-8 KiB (more than the ring holds) while nobody reads, sets `put`,
 * then waits to be killed. Args: q, running, put, count. On Windows what does not fit the ring
 * is held in this process by its feeder; elsewhere it is in the queue's shared overflow. */
static int t_overflowing_producer(const mproc_args_t *a) {
  mproc_queue_t *q = t_queue(a, 0);
  static unsigned char buf[8192];
  C_OK(mproc_event_set(t_event(a, 1)));
  int count = t_int(a, 3);
  for (int k = 0; k < count; k++) {
    size_t n = 1024 + (size_t)(k * 2654435761u) % 7168;
    memset(buf, k & 0xff, n);
    C_OK(mproc_queue_put(q, buf, n, MPROC_FOREVER));
  }
  C_OK(mproc_event_set(t_event(a, 2)));
  t_sleep_ms(60000);
  return 0;
}

/* A producer that overflowed an unbounded JoinableQueue is killed at a random moment (while
 * putting, or after its last put returned with items still held back on Windows): once every
 * item that arrived is taken and marked done, join() returns. Items held in a dead producer's
 * feeder can never come, so they must not keep join() waiting. */
TEST(queue_joinable_holder_killed, 240, ALL) {
  t_fault_seed();
  int rounds = t_fault_rounds(6);
  for (int round = 0; round < rounds; round++) {
    mproc_queue_t *q;
    mproc_event_t *running, *put;
    ASSERT_OK(mproc_joinable_queue_new(&q, 0));
    ASSERT_OK(mproc_event_new(&running));
    ASSERT_OK(mproc_event_new(&put));
    int count = t_rand_range(400, 1200); /* 2-5 MiB on a 1 MiB ring */
    mproc_process_t *p =
        t_start_one(t_overflowing_producer, t_args("QEEi", q, running, put, count));
    ASSERT_OK(mproc_event_wait(running, 30000));
    int all_put = t_rand_range(0, 1);
    if (all_put)
      ASSERT_OK(mproc_event_wait(put, 60000)); /* all put: some held back (Windows) */
    else
      t_sleep_ms(t_rand_range(0, 60));
    spin_random(1000);
    t_kill_and_reap(p);
    int taken = 0;
    void *d;
    size_t n;
    while (mproc_queue_get(q, 0, &d, &n) == 0) {
      mproc_free(d);
      taken++;
      ASSERT_OK(mproc_queue_task_done(q));
    }
    int rc = mproc_queue_join(q, 30000);
    if (rc != 0)
      t_fail(__FILE__, __LINE__, "round %d: join() after %d of %d items taken and done: %s",
             round, taken, count, mproc_errname(rc));
#ifndef _WIN32
    /* Here the overflow is shared: every item whose put returned survives its producer. */
    if (all_put && taken != count)
      t_fail(__FILE__, __LINE__, "round %d: %d of %d items arrived", round, taken, count);
#endif
    ASSERT_RC(mproc_queue_task_done(q), MPROC_EOVERRELEASE);
    mproc_event_free(running);
    mproc_event_free(put);
    mproc_queue_free(q);
  }
}
