/* SPDX-License-Identifier: MIT */
/* Pools when workers die or must be stopped: a task that aborts or SIGKILLs its own worker,
 * the parent killing a worker mid-map or while it idles, the three on_death policies
 * (fail the task, retry it up to a limit, break the pool), per-task timeouts, terminate from
 * the caller's thread and from another one, mproc_pool_free with work outstanding, maps
 * submitted from two threads at once, and nothing left behind. Every item of a map must end
 * in a value or an error, never a hang (USER-PAIN A1-A5, A26). Helpers: test_pool.c. */
#include "runner.h"
#include "test_pool.h"

#ifndef _WIN32
#include <dirent.h>
#include <unistd.h>
#endif

static mproc_task_options opts_chunk(size_t chunk) {
  mproc_task_options o;
  memset(&o, 0, sizeof o);
  o.chunksize = chunk;
  return o;
}

static mproc_pool_options opts_death(mproc_pool_on_death policy, unsigned retries) {
  mproc_pool_options po;
  memset(&po, 0, sizeof po);
  po.on_death = policy;
  po.max_task_retries = retries;
  return po;
}

static mproc_result_t *submit(mproc_pool_t *pool, mproc_args_t *items,
                              const mproc_task_options *o) {
  mproc_result_t *res = NULL;
  ASSERT_OK(mproc_pool_map_async(pool, pt_script, items, o, &res));
  mproc_args_free(items);
  return res;
}

/* A map of n squares (chunksize 1) succeeds: the pool still works. */
static void assert_pool_works(mproc_pool_t *pool, size_t n) {
  mproc_task_options o = opts_chunk(1);
  mproc_result_t *res = submit(pool, pt_items(n, PT_SQUARE, PT_INDEX, PT_NONE, 0, 0), &o);
  ASSERT_OK(pt_check_items(res, n, PT_SQUARE, PT_INDEX, PT_NONE, 0));
  mproc_result_free(res);
}

/* The error of item i names the pid. */
static void assert_error_names(mproc_result_t *res, size_t i, int64_t pid) {
  char s[32];
  snprintf(s, sizeof s, "%lld", (long long)pid);
  const char *e = mproc_result_error(res, i);
  printf("item %zu: %s: %s\n", i, mproc_errname(mproc_result_status(res, i)), e ? e : "(none)");
  if (!pt_error_has(res, i, s))
    t_fail(__FILE__, __LINE__, "item %zu's error does not name worker %s", i, s);
}

/* Waits (10 s cap) until the result has `want` finished items. */
static void await_done(mproc_result_t *res, size_t want) {
  size_t done = 0, total = 0;
  int64_t t0 = t_now_ms();
  while (mproc_result_progress(res, &done, &total) == 0 && done < want) {
    if (t_now_ms() - t0 > 10000)
      t_fail(__FILE__, __LINE__, "%zu of %zu items done after 10 s", done, total);
    t_sleep_ms(5);
  }
}

/* --- a task kills its own worker ------------------------------------------------------------ */

/* Item 500 of 1000 (chunksize 1) kills its worker: that item alone fails, naming the pid; a
 * replacement starts and the next map works. */
static void death_map(int how) {
  mproc_pool_t *pool = pt_pool(3, NULL);
  uint64_t started = mproc_pool_workers_started(pool);
  mproc_task_options o = opts_chunk(1);
  mproc_result_t *res = submit(pool, pt_items(1000, PT_SQUARE, PT_INDEX, 500, how, 500), &o);
  ASSERT_RC(pt_check_items(res, 1000, PT_SQUARE, PT_INDEX, 500, 0), MPROC_EWORKERDIED);
  ASSERT_RC(mproc_result_status(res, 500), MPROC_EWORKERDIED);
  int64_t dead = pt_last_died_pid();
  ASSERT_TRUE(dead > 0);
  assert_error_names(res, 500, dead);
  mproc_result_free(res);
  int64_t pids[8];
  pt_pids(pool, pids, 8, 3, &dead, 1);
  ASSERT_TRUE(mproc_pool_workers_started(pool) > started);
  assert_pool_works(pool, 200);
  mproc_pool_free(pool);
}

TEST(worker_abort, 120, ALL) { death_map(PT_ABORT); }
TEST(worker_kills_itself, 120, ALL) { death_map(PT_KILL); }

TEST(retry_poison, 60, ALL) {
  /* Item 7 kills every worker it runs on: 1 + 2 retries, then MPROC_EPOISON. */
  mproc_pool_options po = opts_death(MPROC_POOL_RETRY_TASK, 2);
  mproc_pool_t *pool = pt_pool(2, &po);
  uint64_t started = mproc_pool_workers_started(pool);
  mproc_task_options o = opts_chunk(1);
  mproc_result_t *res = submit(pool, pt_items(20, PT_SQUARE, PT_INDEX, 7, PT_KILL, 7), &o);
  ASSERT_RC(pt_check_items(res, 20, PT_SQUARE, PT_INDEX, 7, 0), MPROC_EPOISON);
  ASSERT_RC(mproc_result_status(res, 7), MPROC_EPOISON);
  printf("item 7: %s\n", mproc_result_error(res, 7) ? mproc_result_error(res, 7) : "(none)");
  ASSERT_TRUE(mproc_result_error(res, 7) != NULL);
  /* Three deaths, three replacements; the last may start just after the result is final. */
  for (int64_t t0 = t_now_ms(); mproc_pool_workers_started(pool) < started + 3 &&
                                t_now_ms() - t0 < T_SLOW(30000);)
    t_sleep_ms(10);
  ASSERT_TRUE(mproc_pool_workers_started(pool) >= started + 3);
  mproc_result_free(res);
  assert_pool_works(pool, 50);
  mproc_pool_free(pool);
}

TEST(retry_once_succeeds, 60, ALL) {
  /* Item 7 kills the first worker it runs on only: the retry succeeds. */
  mproc_pool_options po = opts_death(MPROC_POOL_RETRY_TASK, 2);
  mproc_pool_t *pool = pt_pool(2, &po);
  uint64_t started = mproc_pool_workers_started(pool);
  mproc_task_options o = opts_chunk(1);
  mproc_result_t *res = submit(pool, pt_items(20, PT_SQUARE, PT_INDEX, 7, PT_DIE_ONCE, 7), &o);
  ASSERT_OK(pt_check_items(res, 20, PT_SQUARE, PT_INDEX, PT_NONE, 0));
  ASSERT_EQ(pt_flag(), 1);
  ASSERT_TRUE(mproc_pool_workers_started(pool) >= started + 1);
  mproc_result_free(res);
  mproc_pool_free(pool);
}

/* Chunks of 250 items (a map of 2,000 on 2 workers) travel through the pool's arena: a worker
 * dying in the middle of one loses only what the policy says, and the next maps still work. */
TEST(large_chunk_death, 120, ALL) {
  mproc_pool_options po = opts_death(MPROC_POOL_RETRY_TASK, 2);
  mproc_pool_t *pool = pt_pool(2, &po);
  mproc_result_t *res = submit(pool, pt_items(2000, PT_SQUARE, PT_INDEX, 1500, PT_DIE_ONCE, 1500),
                               NULL);
  ASSERT_OK(pt_check_items(res, 2000, PT_SQUARE, PT_INDEX, PT_NONE, 0));
  ASSERT_EQ(pt_flag(), 1);
  mproc_result_free(res);
  mproc_pool_free(pool);

  pool = pt_pool(2, NULL); /* fail the task: the item and the chunk's finished items fail */
  res = submit(pool, pt_items(2000, PT_SQUARE, PT_INDEX, 1500, PT_KILL, 1500), NULL);
  ASSERT_RC(pt_check_items(res, 2000, PT_SQUARE, PT_INDEX, 1500, MPROC_EWORKERDIED),
            MPROC_EWORKERDIED);
  ASSERT_RC(mproc_result_status(res, 1500), MPROC_EWORKERDIED);
  ASSERT_OK(mproc_result_status(res, 0));
  mproc_result_free(res);
  mproc_args_t *items = pt_items(2000, PT_SQUARE, PT_INDEX, PT_NONE, 0, 0), *vals = NULL;
  ASSERT_OK(mproc_pool_map(pool, pt_script, items, NULL, &vals));
  ASSERT_EQ(mproc_args_count(vals), 2000);
  for (size_t i = 0; i < 2000; i++)
    ASSERT_EQ(pt_int_at(vals, i), (int64_t)(i * i));
  mproc_args_free(vals);
  mproc_args_free(items);
  mproc_pool_free(pool);
}

/* A blocking map of quick items gives each worker a batch of chunks whose results, but for the
 * last, do not wake the pool. A worker killed in its fifth chunk: the four it finished count
 * (their records are read before the death is settled), the item that killed it and the ten
 * before it in its chunk fail, everything else comes back. */
TEST(blocking_map_death_mid_batch, 120, ALL) {
  mproc_pool_t *pool = pt_pool(2, NULL);
  mproc_args_t *items = pt_items(64, PT_SQUARE, PT_INDEX, PT_NONE, 0, 0), *vals = NULL;
  mproc_task_options o = opts_chunk(1);
  ASSERT_OK(mproc_pool_map(pool, pt_script, items, &o, &vals)); /* the task's run time known */
  mproc_args_free(items);
  mproc_args_free(vals);
  o = opts_chunk(25); /* 16 chunks, 8 for each worker: item 310 is in the 5th of the second */
  items = pt_items(400, PT_SQUARE, PT_INDEX, 310, PT_KILL, 310);
  ASSERT_RC(mproc_pool_map(pool, pt_script, items, &o, &vals), MPROC_EWORKERDIED);
  ASSERT_EQ(mproc_args_count(vals), 400);
  size_t failed = 0;
  for (size_t i = 0; i < 400; i++) {
    if (i >= 300 && i <= 310) {
      ASSERT_EQ(mproc_args_type(vals, i), MPROC_ARG_NONE);
      failed++;
    } else {
      ASSERT_EQ(pt_int_at(vals, i), (int64_t)(i * i));
    }
  }
  ASSERT_EQ(failed, 11);
  mproc_args_free(items);
  mproc_args_free(vals);
  assert_pool_works(pool, 50);
  mproc_pool_free(pool);
}

TEST(break_pool, 60, ALL) {
  /* 100 items of 200 ms on 2 workers (10 s); item 3 kills its worker, which breaks the pool:
   * the outstanding items fail at once and new work is refused. */
  mproc_pool_options po = opts_death(MPROC_POOL_BREAK, 0);
  mproc_pool_t *pool = pt_pool(2, &po);
  mproc_task_options o = opts_chunk(1);
  int64_t t0 = t_now_ms();
  mproc_result_t *res = submit(pool, pt_items(100, PT_SLEEP, 200, 3, PT_KILL, 3), &o);
  ASSERT_OK(mproc_result_wait(res, 30000));
  ASSERT_WITHIN(t0, 6000, "a map on a pool that broke");
  int rc = mproc_result_get(res, 0, NULL), st = mproc_result_status(res, 3);
  ASSERT_TRUE(rc == MPROC_EWORKERDIED || rc == MPROC_EBROKENPOOL);
  ASSERT_TRUE(st == MPROC_EWORKERDIED || st == MPROC_EBROKENPOOL);
  size_t broken = pt_count_status(res, 100, MPROC_EBROKENPOOL) - (st == MPROC_EBROKENPOOL);
  ASSERT_EQ(pt_count_status(res, 100, 0) + broken + 1, 100);
  ASSERT_TRUE(broken >= 80);
  mproc_result_free(res);
  mproc_args_t *items = pt_items(3, PT_SQUARE, PT_INDEX, PT_NONE, 0, 0), *v = NULL;
  ASSERT_RC(mproc_pool_apply(pool, pt_script, items, NULL, &v), MPROC_EBROKENPOOL);
  ASSERT_RC(mproc_pool_apply_async(pool, pt_script, items, NULL, &res), MPROC_EBROKENPOOL);
  ASSERT_RC(mproc_pool_map(pool, pt_script, items, NULL, &v), MPROC_EBROKENPOOL);
  ASSERT_RC(mproc_pool_imap(pool, pt_script, items, NULL, &res), MPROC_EBROKENPOOL);
  mproc_args_free(items);
  int64_t pids[4];
  size_t n = pt_pids(pool, pids, 4, -1, NULL, 0);
  mproc_pool_free(pool);
  pt_assert_pids_gone(pids, n < 4 ? n : 4);
}

/* --- pools that live side by side ----------------------------------------------------------- */

TEST(free_one_pool_other_lives, 90, ALL) {
  /* Freeing one pool ends its thread and its workers, nothing of another pool's. The trap:
   * under forkserver both pools' workers are children of one server, started by whichever
   * pool's thread needed it first; a server that dies with that thread takes every worker of
   * every pool with it (and the next start may meet it half dead: MPROC_EPEERGONE). */
  mproc_pool_t *a = pt_pool(2, NULL);
  assert_pool_works(a, 20);
  mproc_pool_t *b = pt_pool(2, NULL);
  assert_pool_works(b, 20);
  int64_t pids[4];
  pt_pids(b, pids, 4, 2, NULL, 0);
  uint64_t started = mproc_pool_workers_started(b);
  mproc_pool_free(a);
  t_sleep_ms(300); /* a death takes a moment to be seen */
  mproc_task_options o = opts_chunk(1);
  mproc_result_t *res = submit(b, pt_items(40, PT_SLEEP, 5, PT_NONE, 0, 0), &o);
  ASSERT_OK(pt_check_items(res, 40, PT_SLEEP, 5, PT_NONE, 0));
  mproc_result_free(res);
  ASSERT_EQ(mproc_pool_workers_started(b), started);
  for (int i = 0; i < 2; i++)
    ASSERT_TRUE(pt_pid_alive(pids[i]));
  /* A third pool starts at once, whatever happened to the first one's thread. */
  for (int i = 0; i < 3; i++) {
    mproc_pool_t *c = pt_pool(1, NULL);
    assert_pool_works(c, 5);
    mproc_pool_free(c);
  }
  mproc_pool_free(b);
}

/* --- the parent kills a worker -------------------------------------------------------------- */

TEST(parent_kills_worker, 60, ALL) {
  /* 60 items of 100 ms on 3 workers; one worker is SIGKILLed mid-map. With chunksize 1 it
   * held at most the item it was running; items queued to it go elsewhere. */
  mproc_pool_t *pool = pt_pool(3, NULL);
  mproc_task_options o = opts_chunk(1);
  mproc_result_t *res = submit(pool, pt_items(60, PT_SLEEP, 100, PT_NONE, 0, 0), &o);
  await_done(res, 6);
  int64_t pids[8];
  pt_pids(pool, pids, 8, 3, NULL, 0);
  int64_t victim = pids[1];
  pt_kill_pid(victim);
  int rc = pt_check_items(res, 60, PT_SLEEP, 100, PT_NONE, MPROC_EWORKERDIED);
  size_t died = pt_count_status(res, 60, MPROC_EWORKERDIED);
  printf("%zu item(s) lost with worker %lld\n", died, (long long)victim);
  ASSERT_TRUE(died <= 1);
  ASSERT_RC(rc, died ? MPROC_EWORKERDIED : 0);
  for (size_t i = 0; i < 60; i++)
    if (mproc_result_status(res, i) == MPROC_EWORKERDIED)
      assert_error_names(res, i, victim);
  mproc_result_free(res);
  pt_pids(pool, pids, 8, 3, &victim, 1); /* replaced */
  assert_pool_works(pool, 100);
  mproc_pool_free(pool);
}

TEST(idle_worker_killed, 60, ALL) {
  /* An idle worker dies; work submitted right after must not be handed to it and lost. */
  mproc_pool_t *pool = pt_pool(2, NULL);
  assert_pool_works(pool, 10);
  int64_t pids[4];
  pt_pids(pool, pids, 4, 2, NULL, 0);
  int64_t victim = pids[0];
  pt_kill_pid(victim);
  assert_pool_works(pool, 200);
  pt_pids(pool, pids, 4, 2, &victim, 1);
  assert_pool_works(pool, 20);
  mproc_pool_free(pool);
}

/* pt_script's cousin for the random kills: bytes in, the same bytes back (results of up to
 * 1 MiB, so a kill can land in the middle of writing one). */
static int pt_echo(const mproc_args_t *args, mproc_args_t *result) {
  const void *p;
  size_t n;
  int rc = mproc_args_get_bytes(args, 0, &p, &n);
  return rc ? rc : mproc_args_add_bytes(result, p, n);
}

static uint64_t rng_next(uint64_t *s) {
  uint64_t x = (*s += 0x9E3779B97F4A7C15ull);
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

/* Items of 10 B, 64 KiB or 1 MiB; byte k of item i is (i + k) & 0xff. */
static mproc_args_t *echo_items(size_t n, uint64_t *rng, unsigned char *buf) {
  static const size_t sizes[] = {10, 10, 10, 65536, 65536, 1 << 20};
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  for (size_t i = 0; i < n; i++) {
    size_t size = sizes[rng_next(rng) % 6];
    for (size_t k = 0; k < size; k++)
      buf[k] = (unsigned char)(i + k);
    ASSERT_OK(mproc_args_add_bytes(a, buf, size));
  }
  return a;
}

/* Every item came back intact or failed with MPROC_EWORKERDIED (the result is ready). */
static size_t check_echo(mproc_result_t *res, const mproc_args_t *items, size_t n) {
  mproc_args_t *vals = NULL;
  size_t died = 0;
  ASSERT_TRUE(mproc_result_get(res, 0, &vals) != MPROC_ETIMEDOUT);
  for (size_t i = 0; i < n; i++) {
    const void *p, *q;
    size_t a, b;
    int st = mproc_result_status(res, i);
    died += st == MPROC_EWORKERDIED;
    if (st == MPROC_EWORKERDIED)
      continue;
    ASSERT_RC(st, 0);
    ASSERT_OK(mproc_args_get_bytes(vals, i, &p, &a));
    ASSERT_OK(mproc_args_get_bytes(items, i, &q, &b));
    ASSERT_TRUE(a == b && memcmp(p, q, a) == 0);
  }
  mproc_args_free(vals);
  return died;
}

#ifdef _WIN32
#define KILL_ROUNDS 5
#else
#define KILL_ROUNDS 20
#endif

/* The seed of the random choices: MPROC_TEST_SEED replays a run's choices (not its timing). */
static uint64_t kill_seed(void) {
  const char *env = getenv("MPROC_TEST_SEED");
  uint64_t s = (uint64_t)t_now_ms() ^ ((uint64_t)mproc_current_pid() << 20);
  if (env != NULL)
    s = strtoull(env, NULL, 10);
  printf("seed %llu (MPROC_TEST_SEED replays it)\n", (unsigned long long)s);
  fflush(stdout);
  return s;
}

/* One round: a map of 100 echo items; after a random delay a random worker is killed. The
 * map must end (30 s cap) with what check_echo accepts; returns the items lost. */
static size_t kill_round(mproc_pool_t *pool, int round, uint64_t *rng, unsigned char *buf) {
  mproc_args_t *items = echo_items(100, rng, buf);
  mproc_task_options o = opts_chunk(1 + rng_next(rng) % 4);
  mproc_result_t *res = NULL;
  ASSERT_OK(mproc_pool_map_async(pool, pt_echo, items, &o, &res));
  int delay = (int)(rng_next(rng) % 40);
  t_sleep_ms(delay);
  int64_t pids[4], victim = 0;
  size_t n = pt_pids(pool, pids, 4, -1, NULL, 0), done = 0, total = 0;
  if (n > 0)
    pt_kill_pid(victim = pids[rng_next(rng) % (n < 4 ? n : 4)]);
  if (mproc_result_wait(res, 30000) != 0) {
    mproc_result_progress(res, &done, &total);
    t_fail(__FILE__, __LINE__, "round %d (chunksize %zu, worker %lld killed after %d ms): "
           "%zu of %zu items done after 30 s", round, o.chunksize, (long long)victim, delay,
           done, total);
  }
  size_t lost = check_echo(res, items, 100);
  mproc_result_free(res);
  mproc_args_free(items);
  return lost;
}

TEST(kill_at_random_points, 180, ALL) {
  /* A worker is killed at a random moment of a map: being fed, mid-task, mid-result. Every
   * round ends with each item intact or EWORKERDIED; the pool keeps its size. */
  uint64_t rng = kill_seed();
  unsigned char *buf = malloc(1 << 20);
  ASSERT_TRUE(buf != NULL);
  mproc_pool_t *pool = pt_pool(2, NULL);
  size_t lost = 0;
  for (int round = 0; round < KILL_ROUNDS; round++)
    lost += kill_round(pool, round, &rng, buf);
  printf("%zu items lost with their workers in %d rounds\n", lost, KILL_ROUNDS);
  int64_t pids[4];
  pt_pids(pool, pids, 4, 2, NULL, 0);
  assert_pool_works(pool, 50);
  mproc_pool_free(pool);
  free(buf);
}

/* --- task timeout --------------------------------------------------------------------------- */

TEST(task_timeout, 60, ALL) {
  /* Item 3 sleeps 10 s against a 200 ms limit: its worker is killed, the item fails with
   * MPROC_ETASKTIMEOUT long before the 10 s, the others are fine and the pool goes on. */
  mproc_pool_t *pool = pt_pool(2, NULL);
  mproc_task_options o = opts_chunk(0);
  o.task_timeout_ms = 200;
  mproc_args_t *items = pt_items(8, PT_SLEEP, 10, 3, PT_SLEEP, 10000), *vals = NULL;
  int64_t t0 = t_now_ms();
  ASSERT_RC(mproc_pool_map(pool, pt_script, items, &o, &vals), MPROC_ETASKTIMEOUT);
  ASSERT_WITHIN(t0, 5000, "a map whose item passed its time limit");
  mproc_args_free(vals);
  mproc_result_t *res = submit(pool, items, &o);
  ASSERT_RC(pt_check_items(res, 8, PT_SLEEP, 10, 3, 0), MPROC_ETASKTIMEOUT);
  ASSERT_RC(mproc_result_status(res, 3), MPROC_ETASKTIMEOUT);
  printf("item 3: %s\n", mproc_result_error(res, 3) ? mproc_result_error(res, 3) : "(none)");
  mproc_result_free(res);
  mproc_args_t *args = pt_items(1, PT_SLEEP, 10000, PT_NONE, 0, 0);
  t0 = t_now_ms();
  ASSERT_RC(mproc_pool_apply(pool, pt_script, args, &o, &vals), MPROC_ETASKTIMEOUT);
  ASSERT_WITHIN(t0, 5000, "apply of a task past its time limit");
  mproc_args_free(args);
  int64_t pids[4];
  pt_pids(pool, pids, 4, 2, NULL, 0);
  res = submit(pool, pt_items(100, PT_SQUARE, PT_INDEX, PT_NONE, 0, 0), &o);
  ASSERT_OK(pt_check_items(res, 100, PT_SQUARE, PT_INDEX, PT_NONE, 0));
  mproc_result_free(res);
  mproc_pool_free(pool);
}

/* --- terminate and free with work outstanding ----------------------------------------------- */

/* A pool of n workers busy with `items` items that sleep 10 s each; *pids gets the workers. */
static mproc_pool_t *busy_pool(int n, size_t items, mproc_result_t **res, int64_t *pids) {
  mproc_pool_t *pool = pt_pool(n, NULL);
  mproc_task_options o = opts_chunk(1);
  *res = submit(pool, pt_items(items, PT_SLEEP, 10000, PT_NONE, 0, 0), &o);
  pt_pids(pool, pids, (size_t)n, n, NULL, 0);
  t_sleep_ms(300); /* the first items have begun */
  return pool;
}

/* Every item of a stopped map: MPROC_ECANCELED, and get says so. */
static void assert_all_canceled(mproc_result_t *res, size_t n) {
  ASSERT_OK(mproc_result_wait(res, 5000));
  for (size_t i = 0; i < n; i++)
    ASSERT_RC(mproc_result_status(res, i), MPROC_ECANCELED);
  mproc_args_t *vals = NULL;
  ASSERT_RC(mproc_result_get(res, 0, &vals), MPROC_ECANCELED);
  ASSERT_EQ(mproc_args_count(vals), n);
  mproc_args_free(vals);
}

TEST(terminate_mid_map, 60, ALL) {
  mproc_result_t *res;
  int64_t pids[3];
  mproc_pool_t *pool = busy_pool(3, 30, &res, pids);
  int64_t t0 = t_now_ms();
  ASSERT_OK(mproc_pool_terminate(pool));
  ASSERT_WITHIN(t0, 5000, "terminate");
  assert_all_canceled(res, 30);
  ASSERT_OK(mproc_pool_join(pool, 10000));
  pt_assert_pids_gone(pids, 3);
  ASSERT_EQ(pt_pids(pool, pids, 3, -1, NULL, 0), 0);
  mproc_pool_free(pool);
  mproc_result_free(res);
}

typedef struct terminator {
  mproc_pool_t *pool;
  int delay_ms, rc;
} terminator;

static void terminate_later(void *p) {
  terminator *t = p;
  t_sleep_ms(t->delay_ms);
  t->rc = mproc_pool_terminate(t->pool);
}

TEST(terminate_from_thread, 60, ALL) {
  /* The caller is blocked in map; another thread terminates: map returns, cancelled. */
  mproc_pool_t *pool = pt_pool(2, NULL);
  terminator t = {pool, 500, 99};
  mproc_args_t *items = pt_items(20, PT_SLEEP, 10000, PT_NONE, 0, 0), *vals = NULL;
  mproc_task_options o = opts_chunk(1);
  t_thread *th = t_thread_start(terminate_later, &t);
  int64_t t0 = t_now_ms();
  ASSERT_RC(mproc_pool_map(pool, pt_script, items, &o, &vals), MPROC_ECANCELED);
  ASSERT_WITHIN(t0, 8000, "a map the pool was terminated under");
  t_thread_join(th);
  ASSERT_OK(t.rc);
  ASSERT_EQ(mproc_args_count(vals), 20);
  mproc_args_free(vals);
  mproc_args_free(items);
  ASSERT_OK(mproc_pool_join(pool, 10000));
  mproc_pool_free(pool);
}

TEST(free_with_work_outstanding, 60, ALL) {
  /* Free while a map sleeps in every worker and an imap waits: free returns soon, the
   * results stay readable (cancelled), a result that was done keeps its value, and no
   * worker is left. */
  mproc_result_t *res, *it, *done;
  int64_t pids[2];
  mproc_pool_t *pool = busy_pool(2, 20, &res, pids);
  mproc_args_t *items = pt_items(10, PT_SLEEP, 10000, PT_NONE, 0, 0);
  mproc_args_t *one = pt_items(1, PT_SQUARE, 9, PT_NONE, 0, 0);
  ASSERT_OK(mproc_pool_imap(pool, pt_script, items, NULL, &it));
  ASSERT_OK(mproc_pool_apply_async(pool, pt_script, one, NULL, &done));
  mproc_args_free(items);
  mproc_args_free(one);
  int64_t t0 = t_now_ms();
  mproc_pool_free(pool);
  ASSERT_WITHIN(t0, 5000, "mproc_pool_free with work outstanding");
  assert_all_canceled(res, 20);
  for (size_t k = 0; k < 10; k++) {
    size_t idx = 99;
    ASSERT_RC(mproc_result_next(it, 5000, NULL, &idx), MPROC_ECANCELED);
    ASSERT_EQ(idx, k);
  }
  ASSERT_RC(mproc_result_next(it, 5000, NULL, NULL), MPROC_EEOF);
  /* Queued behind the sleepers: it ran or was cancelled, and it says which. */
  int rc = mproc_result_get(done, 5000, NULL);
  ASSERT_TRUE(rc == 0 || rc == MPROC_ECANCELED);
  pt_assert_pids_gone(pids, 2);
  mproc_result_free(res);
  mproc_result_free(it);
  mproc_result_free(done);
}

TEST(free_keeps_finished_results, 60, ALL) {
  mproc_pool_t *pool = pt_pool(2, NULL);
  mproc_args_t *one = pt_items(1, PT_SQUARE, 9, PT_NONE, 0, 0), *v = NULL;
  mproc_result_t *res;
  ASSERT_OK(mproc_pool_apply_async(pool, pt_script, one, NULL, &res));
  mproc_args_free(one);
  ASSERT_OK(mproc_result_wait(res, 30000));
  mproc_pool_free(pool);
  ASSERT_OK(mproc_result_get(res, 0, &v));
  ASSERT_EQ(pt_int_at(v, 0), 81);
  ASSERT_EQ(mproc_result_successful(res), 1);
  mproc_args_free(v);
  mproc_result_free(res);
}

/* --- threads -------------------------------------------------------------------------------- */

typedef struct submitter {
  mproc_pool_t *pool;
  int64_t base;
  size_t n, chunk;
} submitter;

/* One blocking map of base .. base+n-1 through pt_square. */
static void submit_from_thread(void *p) {
  submitter *s = p;
  mproc_args_t *items, *vals = NULL;
  ASSERT_OK(mproc_args_new(&items));
  for (size_t i = 0; i < s->n; i++)
    ASSERT_OK(mproc_args_add_int(items, s->base + (int64_t)i));
  mproc_task_options o = opts_chunk(s->chunk);
  ASSERT_OK(mproc_pool_map(s->pool, pt_square, items, &o, &vals));
  ASSERT_EQ(mproc_args_count(vals), s->n);
  for (size_t i = 0; i < s->n; i++) {
    int64_t x = s->base + (int64_t)i;
    ASSERT_EQ(pt_int_at(vals, i), x * x);
  }
  mproc_args_free(vals);
  mproc_args_free(items);
}

TEST(threads_submit, 120, ALL) {
  mproc_pool_t *pool = pt_pool(3, NULL);
  submitter s[2] = {{pool, 0, 30000, 7}, {pool, 1000000, 30000, 0}};
  t_thread *th[2];
  for (int i = 0; i < 2; i++)
    th[i] = t_thread_start(submit_from_thread, &s[i]);
  for (int i = 0; i < 2; i++)
    t_thread_join(th[i]);
  mproc_pool_free(pool);
}

/* --- nothing left behind -------------------------------------------------------------------- */

#ifndef _WIN32
/* Processes whose parent is this one (zombies included), from /proc; -1 without /proc. */
static int count_children(void) {
#ifdef __linux__
  DIR *d = opendir("/proc");
  int n = 0;
  if (d == NULL)
    return -1;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    char path[300], buf[512];
    if (e->d_name[0] < '0' || e->d_name[0] > '9')
      continue;
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (f == NULL)
      continue;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = 0;
    const char *p = strrchr(buf, ')');
    long ppid = 0;
    if (p != NULL && sscanf(p + 1, " %*c %ld", &ppid) == 1 && ppid == (long)getpid())
      n++;
  }
  closedir(d);
  return n;
#else
  return -1;
#endif
}

/* Polls (5 s cap) until count() gives want. */
static void await_count_is(int (*count)(void), int want, const char *what) {
  int64_t t0 = t_now_ms();
  while (count() != want && t_now_ms() - t0 < 5000)
    t_sleep_ms(10);
  if (count() != want)
    t_fail(__FILE__, __LINE__, "%s: %d, was %d before", what, count(), want);
}

static int count_threads(void) { return t_count_entries("/proc/self/task"); }

/* One pool's life with everything that can go wrong: a map, a worker killed, a task timing
 * out, and a free with work outstanding. */
static void pool_life(void) {
  mproc_pool_t *pool = pt_pool(2, NULL);
  assert_pool_works(pool, 100);
  int64_t pids[4];
  pt_pids(pool, pids, 4, 2, NULL, 0);
  pt_kill_pid(pids[0]);
  mproc_task_options o = opts_chunk(1);
  o.task_timeout_ms = 1000; /* the 10 ms items keep far from it on a busy machine */
  mproc_result_t *res = submit(pool, pt_items(4, PT_SLEEP, 10, 1, PT_SLEEP, 30000), &o);
  ASSERT_RC(pt_check_items(res, 4, PT_SLEEP, 10, 1, 0), MPROC_ETASKTIMEOUT);
  mproc_result_free(res);
  o = opts_chunk(1);
  res = submit(pool, pt_items(6, PT_SLEEP, 5000, PT_NONE, 0, 0), &o);
  t_sleep_ms(100);
  mproc_pool_free(pool);
  mproc_result_free(res);
}
#endif

TEST(nothing_left_behind, 120, POSIX_ALL) {
#ifndef _WIN32
  /* Warm-up: the first pool may set up lasting state (the forkserver, the shared heap's
   * segments, the fixture's values). What must not grow is anything per pool. */
  pool_life();
  int fds = t_count_entries("/proc/self/fd"), shm = t_count_anonymous_shm_names();
  int maps = t_count_shared_maps(), threads = count_threads(), children = count_children();
  for (int i = 0; i < 4; i++)
    pool_life();
  await_count_is(count_threads, threads, "threads");
  await_count_is(count_children, children, "child processes");
  t_assert_nothing_left(fds, maps, shm);
#endif
}
