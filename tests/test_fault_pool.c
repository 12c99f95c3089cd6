/* SPDX-License-Identifier: MIT */
/* Fault cases for the pool area: kill the party that was woken or was to wake, at seeded random
 * moments, and check that nothing hangs, nothing acknowledged is lost, nothing is torn.
 *
 * pool_kill_workers_*: workers are SIGKILLed (TerminateProcess) at random moments while a
 * map, an imap and apply_async calls with items of varied sizes (ints, bytes of 0 B to 1 MiB)
 * run, under each on_death policy. Every item must end with exactly one outcome from the
 * policy's set, the calls must return, and each item that succeeded must equal what the task
 * gives when run here, serially.
 *
 * shared_array_holder_killed: a child rewrites a locked Array pass after pass, holding the
 * lock during each pass; it is killed at a random moment. The parent survives, the next
 * acquirer gets MPROC_EOWNERDEAD when the child died holding the lock, and an array the lock
 * was released on is never torn. */
#include "runner.h"
#include "../src/atomics.h"

#ifdef _WIN32
#include <windows.h>
#else
#include <errno.h>
#include <signal.h>
#endif

/* --- the task and its items --------------------------------------------------------------- */

/* An int x gives 3x + 1 after sleeping x % 6 ms (a window for the kills); bytes give the same
 * bytes, each plus one. Deterministic: the parent runs it too, for the serial answer. */
static int fp_task(const mproc_args_t *args, mproc_args_t *result) {
  int t = mproc_args_type(args, 0);
  if (t == MPROC_ARG_INT) {
    int64_t x = 0;
    int rc = mproc_args_get_int(args, 0, &x);
    if (rc != 0)
      return rc;
    if (x % 6)
      t_sleep_ms((int)(x % 6));
    return mproc_args_add_int(result, 3 * x + 1);
  }
  const void *p = NULL;
  size_t n = 0;
  int rc = mproc_args_get_bytes(args, 0, &p, &n);
  if (rc != 0)
    return mproc_fail(90, "item is neither int nor bytes: %s", mproc_errname(rc));
  unsigned char *out = malloc(n ? n : 1);
  if (out == NULL)
    return MPROC_ENOMEM;
  for (size_t i = 0; i < n; i++)
    out[i] = (unsigned char)(((const unsigned char *)p)[i] + 1);
  rc = mproc_args_add_bytes(result, out, n);
  free(out);
  return rc;
}

/* Item i: an int, or bytes of a random size: mostly small, some tens of KiB, rarely 1 MiB. */
static void add_item(mproc_args_t *a, size_t i) {
  static unsigned char buf[1 << 20];
  int kind = t_rand_range(0, 19);
  if (kind < 8) {
    ASSERT_OK(mproc_args_add_int(a, (int64_t)i * 7 + t_rand_range(0, 3)));
    return;
  }
  size_t n = kind < 17 ? (size_t)t_rand_range(0, 300)
             : kind < 19 ? (size_t)t_rand_range(4096, 65536) : sizeof buf;
  for (size_t k = 0; k < n; k++)
    buf[k] = (unsigned char)(i + k * 31);
  ASSERT_OK(mproc_args_add_bytes(a, buf, n));
}

static mproc_args_t *make_items(size_t n) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  for (size_t i = 0; i < n; i++)
    add_item(a, i);
  return a;
}

/* Item i of items alone, as an argument list. */
static mproc_args_t *item_list(const mproc_args_t *items, size_t i) {
  mproc_args_t *one;
  ASSERT_OK(mproc_args_new(&one));
  if (mproc_args_type(items, i) == MPROC_ARG_INT) {
    int64_t x = 0;
    ASSERT_OK(mproc_args_get_int(items, i, &x));
    ASSERT_OK(mproc_args_add_int(one, x));
  } else {
    const void *p = NULL;
    size_t n = 0;
    ASSERT_OK(mproc_args_get_bytes(items, i, &p, &n));
    ASSERT_OK(mproc_args_add_bytes(one, p, n));
  }
  return one;
}

/* The value of a successful item equals the serial run of the task on it. */
static void check_value(const mproc_args_t *items, size_t i, const mproc_args_t *got,
                        size_t at) {
  mproc_args_t *one = item_list(items, i), *want;
  ASSERT_OK(mproc_args_new(&want));
  ASSERT_OK(fp_task(one, want));
  ASSERT_EQ(mproc_args_type(got, at), mproc_args_type(want, 0));
  if (mproc_args_type(want, 0) == MPROC_ARG_INT) {
    int64_t a = 0, b = 1;
    ASSERT_OK(mproc_args_get_int(got, at, &a));
    ASSERT_OK(mproc_args_get_int(want, 0, &b));
    ASSERT_EQ(a, b);
  } else {
    const void *pa = NULL, *pb = NULL;
    size_t na = 0, nb = 1;
    ASSERT_OK(mproc_args_get_bytes(got, at, &pa, &na));
    ASSERT_OK(mproc_args_get_bytes(want, 0, &pb, &nb));
    ASSERT_EQ(na, nb);
    ASSERT_TRUE(na == 0 || memcmp(pa, pb, na) == 0);
  }
  mproc_args_free(one);
  mproc_args_free(want);
}

/* --- outcomes -------------------------------------------------------------------------------- */

typedef struct tally {
  int policy;
  size_t ok, died, poison, broken;
} tally;

/* A failed item's code must be one the policy gives for a dead worker. A pool whose freshly
 * started workers keep dying breaks under any policy (MPROC_EBROKENPOOL), so that is
 * accepted everywhere. */
static void count_failure(tally *t, int rc, const char *what, size_t i) {
  int ok = rc == MPROC_EBROKENPOOL ||
           (t->policy == MPROC_POOL_FAIL_TASK && rc == MPROC_EWORKERDIED) ||
           (t->policy == MPROC_POOL_RETRY_TASK && rc == MPROC_EPOISON) ||
           (t->policy == MPROC_POOL_BREAK && rc == MPROC_EWORKERDIED);
  if (!ok)
    t_fail(__FILE__, __LINE__, "%s item %zu under policy %d: %s", what, i, t->policy,
           mproc_errname(rc));
  t->died += rc == MPROC_EWORKERDIED;
  t->poison += rc == MPROC_EPOISON;
  t->broken += rc == MPROC_EBROKENPOOL;
}

/* map: ready in time; one value per item; every item finished, with a value or a failure. */
static void check_map(tally *t, mproc_result_t *res, const mproc_args_t *items, size_t n) {
  mproc_args_t *vals = NULL;
  int rc = mproc_result_get(res, 60000, &vals);
  if (rc == MPROC_ETIMEDOUT)
    t_fail(__FILE__, __LINE__, "map: not ready after 60 s (hang)");
  ASSERT_TRUE(vals != NULL);
  ASSERT_EQ(mproc_args_count(vals), n);
  int first = 0;
  for (size_t i = 0; i < n; i++) {
    int st = mproc_result_status(res, i);
    if (st == 0) {
      check_value(items, i, vals, i);
      t->ok++;
    } else {
      ASSERT_EQ(mproc_args_type(vals, i), MPROC_ARG_NONE);
      count_failure(t, st, "map", i);
      first = first ? first : st;
    }
  }
  ASSERT_RC(mproc_result_successful(res), first == 0);
  mproc_args_free(vals);
}

/* imap: each index comes out exactly once, in order, then EOF. */
static void check_imap(tally *t, mproc_result_t *res, const mproc_args_t *items, size_t n) {
  for (size_t k = 0; k < n; k++) {
    mproc_args_t *v = NULL;
    size_t idx = (size_t)-1;
    int rc = mproc_result_next(res, 60000, &v, &idx);
    if (rc == MPROC_ETIMEDOUT)
      t_fail(__FILE__, __LINE__, "imap: item %zu not out after 60 s (hang)", k);
    ASSERT_EQ(idx, k);
    if (rc == 0) {
      ASSERT_EQ(mproc_args_count(v), 1);
      check_value(items, k, v, 0);
      t->ok++;
    } else {
      ASSERT_TRUE(v == NULL);
      count_failure(t, rc, "imap", k);
    }
    mproc_args_free(v);
  }
  ASSERT_RC(mproc_result_next(res, 0, NULL, NULL), MPROC_EEOF);
}

static void check_apply(tally *t, mproc_result_t *res, const mproc_args_t *items, size_t i) {
  mproc_args_t *v = NULL;
  int rc = mproc_result_get(res, 60000, &v);
  if (rc == MPROC_ETIMEDOUT)
    t_fail(__FILE__, __LINE__, "apply_async %zu: not ready after 60 s (hang)", i);
  if (rc == 0) {
    ASSERT_EQ(mproc_args_count(v), 1);
    check_value(items, i, v, 0);
    t->ok++;
  } else {
    ASSERT_TRUE(v == NULL);
    count_failure(t, rc, "apply_async", i);
  }
  mproc_args_free(v);
}

/* --- killing ---------------------------------------------------------------------------------- */

/* The pid may be gone already (the pool reaps its dead at once): that is fine. */
static void kill_pid(int64_t pid) {
#ifdef _WIN32
  HANDLE h = OpenProcess(PROCESS_TERMINATE, FALSE, (DWORD)pid);
  if (h != NULL) {
    TerminateProcess(h, 9);
    CloseHandle(h);
  }
#else
  ASSERT_TRUE(kill((pid_t)pid, SIGKILL) == 0 || errno == ESRCH);
#endif
}

/* One to three workers, chosen at random, at random moments. */
static int kill_some(mproc_pool_t *pool) {
  int kills = t_rand_range(1, 3);
  for (int k = 0; k < kills; k++) {
    t_sleep_ms(t_rand_range(0, k == 0 ? 15 : 30));
    int64_t pids[8];
    size_t n = 0;
    ASSERT_OK(mproc_pool_pids(pool, pids, 8, &n));
    if (n > 0)
      kill_pid(pids[t_rand_range(0, (int)(n < 8 ? n : 8) - 1)]);
  }
  return kills;
}

enum { MAP_N = 48, IMAP_N = 24, APPLY_N = 6 };

static void kill_round(int policy, tally *t) {
  mproc_pool_options po;
  memset(&po, 0, sizeof po);
  po.processes = 3;
  po.on_death = (mproc_pool_on_death)policy;
  po.max_task_retries = (unsigned)t_rand_range(1, 2); /* 1..3 kills may poison an item */
  mproc_pool_t *pool;
  ASSERT_OK(mproc_pool_new(&pool, &po));
  mproc_args_t *map_items = make_items(MAP_N), *imap_items = make_items(IMAP_N);
  mproc_args_t *apply_items = make_items(APPLY_N);
  mproc_task_options o;
  memset(&o, 0, sizeof o);
  o.chunksize = (size_t)t_rand_range(1, 4);
  mproc_result_t *m, *im, *ap[APPLY_N];
  ASSERT_OK(mproc_pool_map_async(pool, fp_task, map_items, &o, &m));
  o.chunksize = (size_t)t_rand_range(1, 3);
  ASSERT_OK(mproc_pool_imap(pool, fp_task, imap_items, &o, &im));
  for (size_t i = 0; i < APPLY_N; i++) {
    mproc_args_t *one = item_list(apply_items, i);
    ASSERT_OK(mproc_pool_apply_async(pool, fp_task, one, NULL, &ap[i]));
    mproc_args_free(one);
  }
  kill_some(pool);
  check_map(t, m, map_items, MAP_N);
  check_imap(t, im, imap_items, IMAP_N);
  for (size_t i = 0; i < APPLY_N; i++)
    check_apply(t, ap[i], apply_items, i);
  int64_t t0 = t_now_ms();
  mproc_pool_free(pool);
  if (t_now_ms() - t0 > 30000)
    t_fail(__FILE__, __LINE__, "mproc_pool_free took %lld ms", (long long)(t_now_ms() - t0));
  mproc_result_free(m);
  mproc_result_free(im);
  for (size_t i = 0; i < APPLY_N; i++)
    mproc_result_free(ap[i]);
  mproc_args_free(map_items);
  mproc_args_free(imap_items);
  mproc_args_free(apply_items);
}

static void kill_workers(int policy) {
  t_fault_seed();
#ifdef _WIN32
  int rounds = t_fault_rounds(3); /* every start is a CreateProcess through Wine */
#else
  int rounds = t_fault_rounds(8);
#endif
  tally t = {policy, 0, 0, 0, 0};
  for (int r = 0; r < rounds; r++)
    kill_round(policy, &t);
  printf("policy %d, %d rounds: %zu ok, %zu worker died, %zu poison, %zu broken pool\n", policy,
         rounds, t.ok, t.died, t.poison, t.broken);
  ASSERT_EQ(t.ok + t.died + t.poison + t.broken, (size_t)rounds * (MAP_N + IMAP_N + APPLY_N));
}

TEST(pool_kill_workers_fail_task, 180, ALL) { kill_workers(MPROC_POOL_FAIL_TASK); }
TEST(pool_kill_workers_retry, 180, ALL) { kill_workers(MPROC_POOL_RETRY_TASK); }
TEST(pool_kill_workers_break, 180, ALL) { kill_workers(MPROC_POOL_BREAK); }

/* --- workers killed under a generator-fed imap ------------------------------------------------ */

static int gen_ints(void *ud, mproc_args_t *item) {
  int64_t *next = ud;
  if (*next >= 1500)
    return MPROC_EEOF;
  return mproc_args_add_int(item, (*next)++);
}

/* Every index comes out once, in order, with 3x + 1 or the worker's death; the window holds and
 * the iteration ends, whatever was killed when. */
TEST(pool_kill_workers_imap_gen, 240, ALL) {
  t_fault_seed();
  mproc_pool_options po = MPROC_POOL_OPTIONS_INIT;
  po.processes = 3;
  mproc_pool_t *pool;
  ASSERT_OK(mproc_pool_new(&pool, &po));
  mproc_task_options o = MPROC_TASK_OPTIONS_INIT;
  o.chunksize = (size_t)t_rand_range(1, 4);
  o.max_in_flight = 60;
  int64_t next = 0;
  mproc_imap_t *it;
  ASSERT_OK(mproc_pool_imap_gen(pool, fp_task, gen_ints, &next, &o, &it));
  size_t ok = 0, died = 0;
  for (uint64_t k = 0;; k++) {
    if (k % 300 == 150)
      kill_some(pool);
    mproc_args_t *v = NULL;
    uint64_t idx = UINT64_MAX;
    int rc = mproc_imap_next(it, 60000, &v, &idx);
    if (rc == MPROC_EEOF) {
      ASSERT_EQ(k, 1500);
      break;
    }
    if (rc == MPROC_ETIMEDOUT)
      t_fail(__FILE__, __LINE__, "item %llu not out after 60 s (hang)", (unsigned long long)k);
    ASSERT_EQ(idx, k);
    if (rc == 0) {
      ASSERT_EQ(mproc_args_count(v), 1);
      int64_t got = 0;
      ASSERT_OK(mproc_args_get_int(v, 0, &got));
      ASSERT_EQ(got, 3 * (int64_t)k + 1);
      ok++;
    } else {
      ASSERT_TRUE(rc == MPROC_EWORKERDIED || rc == MPROC_EBROKENPOOL);
      ASSERT_TRUE(mproc_imap_error(it) != NULL);
      died++;
    }
    mproc_args_free(v);
  }
  mproc_progress pr = MPROC_PROGRESS_INIT;
  ASSERT_OK(mproc_imap_progress(it, &pr));
  ASSERT_TRUE(pr.in_flight_max <= 60);
  ASSERT_EQ(pr.done, 1500);
  ASSERT_EQ(pr.failed, died);
  printf("%zu ok, %zu lost with their worker\n", ok, died);
  mproc_imap_free(it);
  mproc_pool_free(pool);
}

/* --- a child killed mid-write to a shared Array, under its lock ------------------------------- */

#define ARR_N 4096

/* Args: the array, a flag (1 once the first pass began). Rewrites every element with the
 * pass number under the array's lock, pass after pass, until killed. */
static int fp_rewrite(const mproc_args_t *a) {
  mproc_array_t *arr = t_array(a, 0);
  mproc_value_t *flag = t_value(a, 1);
  C_TRUE(arr != NULL && flag != NULL);
  int64_t *p = mproc_array_ptr(arr);
  for (int64_t pass = 1;; pass++) {
    int rc = mproc_lock_acquire(mproc_array_get_lock(arr), MPROC_FOREVER);
    C_TRUE(rc == 0 || rc == MPROC_EOWNERDEAD);
    if (rc == MPROC_EOWNERDEAD) /* an earlier writer died: this pass repairs everything */
      C_OK(mproc_lock_consistent(mproc_array_get_lock(arr)));
    C_OK(mproc_value_store(flag, 1));
    for (size_t i = 0; i < ARR_N; i++)
      MPROC__ATOMIC_STORE(&p[i], pass, MPROC__ATOMIC_RELAXED);
    C_OK(mproc_lock_release(mproc_array_get_lock(arr)));
  }
}

/* Under the lock: every element holds the same pass number. */
static int untorn(const int64_t *p) {
  for (size_t i = 1; i < ARR_N; i++)
    if (MPROC__ATOMIC_LOAD(&p[i], MPROC__ATOMIC_RELAXED) !=
        MPROC__ATOMIC_LOAD(&p[0], MPROC__ATOMIC_RELAXED))
      return 0;
  return 1;
}

TEST(shared_array_holder_killed, 120, ALL) {
  t_fault_seed();
  int rounds = t_fault_rounds(12), owner_dead = 0;
  mproc_array_t *arr;
  mproc_value_t *flag;
  ASSERT_OK(mproc_array_new(&arr, 'q', ARR_N, NULL, MPROC_LOCK_NEW));
  ASSERT_OK(mproc_raw_value_new(&flag, 'q', NULL));
  mproc_lock_t *lock = mproc_array_get_lock(arr);
  int64_t *p = mproc_array_ptr(arr);
  for (int r = 0; r < rounds; r++) {
    ASSERT_OK(mproc_value_store(flag, 0));
    mproc_process_t *child = t_start_one(fp_rewrite, t_args("AV", arr, flag));
    int64_t f = 0, t0 = t_now_ms();
    while (mproc_value_load(flag, &f) == 0 && f == 0 && t_now_ms() - t0 < 30000)
      t_sleep_ms(1);
    ASSERT_EQ(f, 1);
    t_sleep_ms(t_rand_range(0, 30));
    t_kill_and_reap(child);
    int rc = mproc_lock_acquire(lock, 10000);
    if (rc == MPROC_EOWNERDEAD) {
      owner_dead++;
      for (size_t i = 0; i < ARR_N; i++) /* repair: the half-written pass is undone */
        p[i] = -1;
      ASSERT_OK(mproc_lock_consistent(lock));
    } else {
      ASSERT_OK(rc);
      ASSERT_TRUE(untorn(p)); /* released only after a whole pass */
    }
    ASSERT_OK(mproc_lock_release(lock));
    /* The lock and the array go on working for everyone. */
    int64_t x = 42, y = 0;
    ASSERT_OK(mproc_array_set(arr, 7, &x));
    ASSERT_OK(mproc_array_get(arr, 7, &y));
    ASSERT_EQ(y, 42);
  }
  printf("%d rounds, %d with the lock's holder killed mid-write\n", rounds, owner_dead);
  /* The child holds the lock all but a few instructions of each pass. */
  ASSERT_TRUE(owner_dead > 0);
  mproc_value_free(flag);
  mproc_array_free(arr);
}
