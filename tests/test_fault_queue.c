/* Fault cases for the queue area: kill the party that was woken or was to wake, at seeded random
 * moments, and check that nothing hangs, nothing acknowledged is lost, nothing is torn. */
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
