/* SPDX-License-Identifier: MIT */
/* Pool: what map / imap / imap_unordered / starmap / apply hand back (100,000 items at every
 * chunksize, every value type, 3 MiB items), AsyncResult (get with a timeout, wait, ready,
 * successful, progress, per-item status), task errors and fail-fast, callbacks, the
 * initializer, maxtasksperchild, close/join and the rules for bad input. Workers that die,
 * time out or are terminated, pools freed with work outstanding, and submitting from several
 * threads are in test_pool_life.c, which uses the helpers below (pt_*, declared in
 * test_pool.h). Python's multiprocessing.Pool is the reference for semantics.
 *
 * Tasks are plain functions of this binary: workers find them by address under every start
 * method. Most cases use pt_script, whose int item says what to do (square, sleep, fail, die,
 * report its pid), so one task serves cases that need one odd item among ordinary ones. */
#include "runner.h"
#include "test_pool.h"

#ifdef _WIN32
#include <windows.h>
#else
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>
#endif

/* --- the worker side: initializer and tasks ------------------------------------------------- */

/* What pt_init left in this worker: the fixture's shared values (see pt_pool). */
static struct {
  mproc_value_t *inits, *died, *flag;
  int inited;
} pt_w;

/* Initializer of pt_pool's pools. Args: value inits (incremented), value died, value flag. */
static int pt_init(const mproc_args_t *a) {
  pt_w.inits = t_value(a, 0);
  pt_w.died = t_value(a, 1);
  pt_w.flag = t_value(a, 2);
  if (pt_w.inits == NULL || pt_w.died == NULL || pt_w.flag == NULL)
    return mproc_fail(92, "initargs are not three values");
  pt_w.inited = 1;
  return mproc_value_add(pt_w.inits, 1, NULL);
}

/* Records this worker's pid for the parent, then dies without a word. Core dumps are off:
 * writing one can take seconds, which is not what the death cases measure. */
static int pt_die(int how) {
  if (pt_w.died)
    mproc_value_store(pt_w.died, mproc_current_pid());
#ifdef _WIN32
  if (how == PT_ABORT)
    abort();
  TerminateProcess(GetCurrentProcess(), 9);
#else
  struct rlimit none = {0, 0};
  setrlimit(RLIMIT_CORE, &none);
  if (how == PT_ABORT)
    abort();
  kill(getpid(), SIGKILL);
#endif
  for (;;)
    t_sleep_ms(1000);
}

/* 1 if this call took the PT_DIE_ONCE flag. */
static int pt_take_flag(void) {
  int64_t zero = 0;
  return pt_w.flag != NULL && mproc_value_cas(pt_w.flag, &zero, 1) == 1;
}

int pt_script(const mproc_args_t *args, mproc_args_t *result) {
  int64_t v = 0;
  int rc = mproc_args_get_int(args, 0, &v);
  if (rc != 0)
    return mproc_fail(90, "item 0 is not an int: %s", mproc_errname(rc));
  int act = (int)(v / PT_ACT);
  int64_t arg = v % PT_ACT;
  switch (act) {
  case PT_SQUARE: return mproc_args_add_int(result, arg * arg);
  case PT_SLEEP:
    t_sleep_ms((int)arg);
    return mproc_args_add_int(result, arg);
  case PT_FAIL: return mproc_fail(3, "bad item %d", (int)arg);
  case PT_ABORT:
  case PT_KILL: return pt_die(act);
  case PT_DIE_ONCE: return pt_take_flag() ? pt_die(PT_KILL) : mproc_args_add_int(result, arg * arg);
  case PT_PID: return mproc_args_add_int(result, mproc_current_pid());
  case PT_TWO:
    rc = mproc_args_add_int(result, arg);
    return rc ? rc : mproc_args_add_int(result, arg);
  case PT_INITED:
    t_sleep_ms((int)arg);
    return mproc_args_add_int(result, pt_w.inited);
  }
  return mproc_fail(91, "unknown action %d", act);
}

int pt_square(const mproc_args_t *args, mproc_args_t *result) {
  int64_t x;
  int rc = mproc_args_get_int(args, 0, &x);
  return rc ? rc : mproc_args_add_int(result, x * x);
}

/* A double x -> the int floor(x). */
static int pt_floor(const mproc_args_t *args, mproc_args_t *result) {
  double x;
  int rc = mproc_args_get_double(args, 0, &x);
  return rc ? rc : mproc_args_add_int(result, (int64_t)x);
}

/* An int x -> x, but item x = 700 gives the double x / 2. */
static int pt_half_at_700(const mproc_args_t *args, mproc_args_t *result) {
  int64_t x;
  int rc = mproc_args_get_int(args, 0, &x);
  if (rc == 0 && x == 700)
    return mproc_args_add_double(result, x / 2.0);
  return rc ? rc : mproc_args_add_int(result, x);
}

/* starmap's task: (a, b, c) -> a * b + c. */
static int pt_fma(const mproc_args_t *args, mproc_args_t *result) {
  int64_t a, b, c;
  int rc = mproc_args_parse(args, "lll", &a, &b, &c);
  return rc ? rc : mproc_args_add_int(result, a * b + c);
}

/* pt_mixed on a string: the string reversed. */
static int pt_reverse(const char *s, mproc_args_t *result) {
  size_t n = strlen(s);
  char *r = malloc(n + 1);
  if (r == NULL)
    return MPROC_ENOMEM;
  for (size_t k = 0; k < n; k++)
    r[k] = s[n - 1 - k];
  r[n] = 0;
  int rc = mproc_args_add_str(result, r);
  free(r);
  return rc;
}

/* pt_mixed on bytes: every byte plus one. */
static int pt_bytes_plus_one(const void *p, size_t n, mproc_args_t *result) {
  unsigned char *r = malloc(n ? n : 1);
  if (r == NULL)
    return MPROC_ENOMEM;
  for (size_t k = 0; k < n; k++)
    r[k] = (unsigned char)(((const unsigned char *)p)[k] + 1);
  int rc = mproc_args_add_bytes(result, r, n);
  free(r);
  return rc;
}

/* One value of any type in, one transformed value out (None in: nothing added, so None). */
static int pt_mixed(const mproc_args_t *args, mproc_args_t *result) {
  int64_t i;
  double d;
  const char *s;
  const void *p;
  size_t n;
  switch (mproc_args_type(args, 0)) {
  case MPROC_ARG_INT:
    mproc_args_get_int(args, 0, &i);
    return mproc_args_add_int(result, i * 3 + 1);
  case MPROC_ARG_DOUBLE:
    mproc_args_get_double(args, 0, &d);
    return mproc_args_add_double(result, d * 1.5 - 0.25);
  case MPROC_ARG_STR:
    mproc_args_get_str(args, 0, &s);
    return pt_reverse(s, result);
  case MPROC_ARG_BYTES:
    mproc_args_get_bytes(args, 0, &p, &n);
    return pt_bytes_plus_one(p, n, result);
  case MPROC_ARG_NONE:
    return 0;
  }
  return mproc_fail(4, "unexpected type %d", mproc_args_type(args, 0));
}

/* apply's task: (n, s) -> n + 1, n / 2.0, s + "!", n bytes (k * 7), None. */
static int pt_multi(const mproc_args_t *args, mproc_args_t *result) {
  int64_t n;
  const char *s;
  char str[256];
  int rc = mproc_args_parse(args, "ls", &n, &s);
  if (rc != 0)
    return rc;
  unsigned char *b = malloc(n ? (size_t)n : 1);
  if (b == NULL)
    return MPROC_ENOMEM;
  for (int64_t k = 0; k < n; k++)
    b[k] = (unsigned char)(k * 7);
  snprintf(str, sizeof str, "%s!", s);
  rc = mproc_args_add_int(result, n + 1);
  rc = rc ? rc : mproc_args_add_double(result, (double)n / 2.0);
  rc = rc ? rc : mproc_args_add_str(result, str);
  rc = rc ? rc : mproc_args_add_bytes(result, b, (size_t)n);
  rc = rc ? rc : mproc_args_add_none(result);
  free(b);
  return rc;
}

/* Fails its pool: Python's initializer that raises. */
static int pt_init_fail(const mproc_args_t *a) {
  (void)a;
  return mproc_fail(5, "init refused in %lld", (long long)mproc_current_pid());
}

/* --- the parent side: fixture, items, checks ------------------------------------------------ */

/* Shared values every pt_pool hands its initializer; made once per test process. */
static struct {
  mproc_value_t *v[3]; /* inits, died, flag */
  mproc_args_t *initargs;
} pt_fx;

static void pt_fixture(void) {
  if (pt_fx.initargs == NULL) {
    for (int i = 0; i < 3; i++)
      ASSERT_OK(mproc_value_new(&pt_fx.v[i], 'q', NULL, MPROC_LOCK_NEW));
    pt_fx.initargs = t_args("VVV", pt_fx.v[0], pt_fx.v[1], pt_fx.v[2]);
  }
  for (int i = 0; i < 3; i++)
    ASSERT_OK(mproc_value_store(pt_fx.v[i], 0));
}

static int64_t pt_fx_load(int i) {
  int64_t v = -1;
  ASSERT_OK(mproc_value_load(pt_fx.v[i], &v));
  return v;
}

int64_t pt_inits(void) { return pt_fx_load(0); }
int64_t pt_last_died_pid(void) { return pt_fx_load(1); }
int64_t pt_flag(void) { return pt_fx_load(2); }

mproc_pool_t *pt_pool(int processes, const mproc_pool_options *base) {
  mproc_pool_options o;
  memset(&o, 0, sizeof o);
  if (base)
    o = *base;
  o.processes = processes;
  pt_fixture();
  if (o.initializer == NULL) {
    o.initializer = pt_init;
    o.initargs = pt_fx.initargs;
  }
  mproc_pool_t *pool = NULL;
  ASSERT_OK(mproc_pool_new(&pool, &o));
  ASSERT_TRUE(pool != NULL);
  return pool;
}

mproc_args_t *pt_items(size_t n, int act, int64_t arg, size_t k, int kact, int64_t karg) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  for (size_t i = 0; i < n; i++) {
    int x = i == k ? kact : act;
    int64_t y = i == k ? karg : arg;
    ASSERT_OK(mproc_args_add_int(a, x * PT_ACT + (y == PT_INDEX ? (int64_t)i : y)));
  }
  return a;
}

/* One item of pt_script, as an argument list of apply. */
static mproc_args_t *pt_one(int act, int64_t arg) { return pt_items(1, act, arg, PT_NONE, 0, 0); }

int64_t pt_expect(int act, int64_t arg) {
  switch (act) {
  case PT_SQUARE:
  case PT_DIE_ONCE: return arg * arg;
  case PT_SLEEP: return arg;
  }
  t_fail(__FILE__, __LINE__, "action %d gives no known value", act);
  return 0;
}

int64_t pt_int_at(const mproc_args_t *a, size_t i) {
  int64_t v = 0;
  int rc = mproc_args_get_int(a, i, &v);
  if (rc != 0)
    t_fail(__FILE__, __LINE__, "value %zu: %s (type %d)", i, mproc_errname(rc),
           mproc_args_type(a, i));
  return v;
}

static void pt_fail_item(mproc_result_t *res, size_t i, int st) {
  const char *e = mproc_result_error(res, i);
  t_fail(__FILE__, __LINE__, "item %zu: status %s, error \"%s\"", i, mproc_errname(st),
         e ? e : "(none)");
}

int pt_check_items(mproc_result_t *res, size_t n, int act, int64_t arg, size_t k, int allow) {
  mproc_args_t *vals = NULL;
  int rc = mproc_result_get(res, 60000, &vals);
  if (rc == MPROC_ETIMEDOUT)
    t_fail(__FILE__, __LINE__, "the result of %zu items was not ready in 60 s", n);
  ASSERT_TRUE(vals != NULL);
  ASSERT_EQ(mproc_args_count(vals), n);
  for (size_t i = 0; i < n; i++) {
    int st = mproc_result_status(res, i);
    if (i == k && st == 0)
      continue; /* its value is the caller's to check */
    if (st == 0) {
      ASSERT_EQ(pt_int_at(vals, i), pt_expect(act, arg == PT_INDEX ? (int64_t)i : arg));
      continue;
    }
    if (i != k && (allow == 0 || st != allow))
      pt_fail_item(res, i, st);
    ASSERT_EQ(mproc_args_type(vals, i), MPROC_ARG_NONE); /* failed items are None */
  }
  mproc_args_free(vals);
  return rc;
}

size_t pt_count_status(mproc_result_t *res, size_t n, int code) {
  size_t c = 0;
  for (size_t i = 0; i < n; i++)
    c += mproc_result_status(res, i) == code;
  return c;
}

int pt_error_has(mproc_result_t *res, size_t i, const char *needle) {
  const char *e = mproc_result_error(res, i);
  return e != NULL && strstr(e, needle) != NULL;
}

/* --- the parent side: workers and threads --------------------------------------------------- */

static int pt_in(int64_t v, const int64_t *set, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (set[i] == v)
      return 1;
  return 0;
}

size_t pt_pids(mproc_pool_t *pool, int64_t *pids, size_t cap, int want, const int64_t *not_in,
               size_t n_not_in) {
  int64_t t0 = t_now_ms();
  for (;;) {
    size_t count = 0, ok = 1;
    ASSERT_OK(mproc_pool_pids(pool, pids, cap, &count));
    if (want < 0)
      return count;
    for (size_t i = 0; i < count && i < cap; i++)
      ok &= !pt_in(pids[i], not_in, n_not_in);
    if (ok && count == (size_t)want)
      return count;
    if (t_now_ms() - t0 > 10000)
      t_fail(__FILE__, __LINE__, "after 10 s the pool has %zu workers (want %d)%s", count,
             want, ok ? "" : ", one of them a pid that was killed");
    t_sleep_ms(10);
  }
}

#ifdef _WIN32
void pt_kill_pid(int64_t pid) {
  HANDLE h = OpenProcess(PROCESS_TERMINATE, FALSE, (DWORD)pid);
  ASSERT_TRUE(h != NULL);
  ASSERT_TRUE(TerminateProcess(h, 9));
  CloseHandle(h);
}

int pt_pid_alive(int64_t pid) {
  HANDLE h = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid);
  if (h == NULL)
    return 0;
  DWORD w = WaitForSingleObject(h, 0);
  CloseHandle(h);
  return w == WAIT_TIMEOUT;
}

uint64_t pt_thread_id(void) { return GetCurrentThreadId(); }
#else
/* ESRCH is fine: the pool may have reaped it a moment ago (it was dying anyway). */
void pt_kill_pid(int64_t pid) {
  ASSERT_TRUE(kill((pid_t)pid, SIGKILL) == 0 || errno == ESRCH);
}

/* Exists and is not a zombie (a zombie's reaping is its parent's business: under forkserver
 * that is the server). */
int pt_pid_alive(int64_t pid) {
  if (kill((pid_t)pid, 0) != 0)
    return 0; /* ESRCH; or EPERM: the pid was reused by someone else's process */
#ifdef __linux__
  char st = t_proc_state(pid);
  if (st == 0 || st == 'Z')
    return 0;
#endif
  return 1;
}

uint64_t pt_thread_id(void) { return (uint64_t)(uintptr_t)pthread_self(); }
#endif

void pt_assert_pids_gone(const int64_t *pids, size_t n) {
  int64_t t0 = t_now_ms();
  for (size_t i = 0; i < n; i++) {
    while (pt_pid_alive(pids[i]) && t_now_ms() - t0 < 5000)
      t_sleep_ms(10);
    if (pt_pid_alive(pids[i]))
      t_fail(__FILE__, __LINE__, "worker %lld is still alive", (long long)pids[i]);
  }
}

/* --- map / imap / imap_unordered / starmap of 100,000 ints ---------------------------------- */

enum { K_MAP, K_IMAP, K_UNORDERED, K_STARMAP };
static const size_t pt_chunks[] = {0, 1, 7, 1000};

static int64_t want_int(size_t i, int kind) {
  int64_t x = (int64_t)i;
  return kind == K_STARMAP ? x * (x % 13) - x : x * x;
}

static void check_int_list(const mproc_args_t *vals, size_t n, int kind) {
  ASSERT_TRUE(vals != NULL);
  ASSERT_EQ(mproc_args_count(vals), n);
  for (size_t i = 0; i < n; i++) {
    int64_t got = pt_int_at(vals, i);
    if (got != want_int(i, kind))
      t_fail(__FILE__, __LINE__, "item %zu: got %lld, want %lld", i, (long long)got,
             (long long)want_int(i, kind));
  }
}

/* Iterates an imap-style result of n squares: in item order if ordered, else each index
 * once. Item fail_k (PT_NONE: none) must come with fail_code. */
static void pt_iterate(mproc_result_t *res, size_t n, int ordered, size_t fail_k, int fail_code) {
  unsigned char *seen = calloc(n ? n : 1, 1);
  ASSERT_TRUE(seen != NULL);
  for (size_t k = 0;; k++) {
    mproc_args_t *v = NULL;
    size_t idx = (size_t)-1;
    int rc = mproc_result_next(res, 60000, &v, &idx);
    if (rc == MPROC_EEOF && k == n)
      break;
    if (idx >= n || (ordered && idx != k) || seen[idx])
      t_fail(__FILE__, __LINE__, "step %zu: %s with index %zu", k, mproc_errname(rc), idx);
    seen[idx] = 1;
    ASSERT_RC(rc, idx == fail_k ? fail_code : 0);
    if (rc == 0) {
      ASSERT_EQ(mproc_args_count(v), 1);
      ASSERT_EQ(pt_int_at(v, 0), (int64_t)idx * (int64_t)idx);
    }
    mproc_args_free(v);
  }
  ASSERT_RC(mproc_result_next(res, 0, NULL, NULL), MPROC_EEOF);
  free(seen);
}

static mproc_args_t *int_list(size_t n) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  for (size_t i = 0; i < n; i++)
    ASSERT_OK(mproc_args_add_int(a, (int64_t)i));
  return a;
}

/* starmap's rows: (i, i % 13, -i). */
static mproc_args_t **fma_rows(size_t n) {
  mproc_args_t **rows = calloc(n ? n : 1, sizeof *rows);
  ASSERT_TRUE(rows != NULL);
  for (size_t i = 0; i < n; i++)
    ASSERT_OK(mproc_args_build(&rows[i], "lll", (int64_t)i, (int64_t)(i % 13), -(int64_t)i));
  return rows;
}

static void free_rows(mproc_args_t **rows, size_t n) {
  for (size_t i = 0; i < n; i++)
    mproc_args_free(rows[i]);
  free(rows);
}

static void run_ints_once(mproc_pool_t *pool, int kind, const mproc_args_t *items,
                          mproc_args_t **rows, size_t chunk) {
  mproc_task_options o;
  memset(&o, 0, sizeof o);
  o.chunksize = chunk;
  mproc_args_t *vals = NULL;
  mproc_result_t *res = NULL;
  printf("chunksize %zu\n", chunk);
  fflush(stdout);
  if (kind == K_MAP)
    ASSERT_OK(mproc_pool_map(pool, pt_square, items, &o, &vals));
  else if (kind == K_STARMAP)
    ASSERT_OK(mproc_pool_starmap(pool, pt_fma, (const mproc_args_t *const *)rows, PT_BIG_N,
                                 &o, &vals));
  else if (kind == K_IMAP)
    ASSERT_OK(mproc_pool_imap(pool, pt_square, items, &o, &res));
  else
    ASSERT_OK(mproc_pool_imap_unordered(pool, pt_square, items, &o, &res));
  if (res != NULL)
    pt_iterate(res, PT_BIG_N, kind == K_IMAP, PT_NONE, 0);
  else
    check_int_list(vals, PT_BIG_N, kind);
  mproc_args_free(vals);
  mproc_result_free(res);
}

static void run_ints(int kind) {
  mproc_pool_t *pool = pt_pool(3, NULL);
  mproc_args_t *items = int_list(PT_BIG_N);
  mproc_args_t **rows = kind == K_STARMAP ? fma_rows(PT_BIG_N) : NULL;
  for (size_t c = 0; c < sizeof pt_chunks / sizeof pt_chunks[0]; c++)
    run_ints_once(pool, kind, items, rows, pt_chunks[c]);
  if (rows)
    free_rows(rows, PT_BIG_N);
  mproc_args_free(items);
  ASSERT_OK(mproc_pool_close(pool));
  ASSERT_OK(mproc_pool_join(pool, 60000));
  mproc_pool_free(pool);
}

TEST(map_ints, 240, ALL) { run_ints(K_MAP); }
TEST(imap_ints, 300, ALL) { run_ints(K_IMAP); }
TEST(imap_unordered_ints, 300, ALL) { run_ints(K_UNORDERED); }
TEST(starmap_ints, 240, ALL) { run_ints(K_STARMAP); }

TEST(map_empty, 60, ALL) {
  /* Python: pool.map(f, []) == []; imap of nothing stops at once. */
  mproc_pool_t *pool = pt_pool(2, NULL);
  mproc_args_t *none = int_list(0), *vals = NULL;
  ASSERT_OK(mproc_pool_map(pool, pt_square, none, NULL, &vals));
  ASSERT_TRUE(vals != NULL);
  ASSERT_EQ(mproc_args_count(vals), 0);
  mproc_args_free(vals);
  vals = NULL;
  mproc_args_t *row = NULL;
  ASSERT_OK(mproc_pool_starmap(pool, pt_fma, (const mproc_args_t *const *)&row, 0, NULL, &vals));
  ASSERT_TRUE(vals != NULL);
  ASSERT_EQ(mproc_args_count(vals), 0);
  mproc_args_free(vals);

  mproc_result_t *res;
  size_t done = 9, total = 9;
  ASSERT_OK(mproc_pool_map_async(pool, pt_square, none, NULL, &res));
  ASSERT_OK(mproc_result_wait(res, 30000));
  ASSERT_EQ(mproc_result_successful(res), 1);
  ASSERT_OK(mproc_result_progress(res, &done, &total));
  ASSERT_EQ(done, 0);
  ASSERT_EQ(total, 0);
  ASSERT_RC(mproc_result_status(res, 0), MPROC_ERANGE);
  pt_check_items(res, 0, PT_SQUARE, PT_INDEX, PT_NONE, 0);
  mproc_result_free(res);
  for (int unordered = 0; unordered < 2; unordered++) {
    ASSERT_OK((unordered ? mproc_pool_imap_unordered : mproc_pool_imap)(pool, pt_square, none,
                                                                        NULL, &res));
    ASSERT_RC(mproc_result_next(res, 30000, NULL, NULL), MPROC_EEOF);
    mproc_result_free(res);
  }
  mproc_args_free(none);
  mproc_pool_free(pool);
}

/* Python: after map(f, []) (or any empty submission) close() + join() return at once. The
 * empty job must leave the pool's job list, or join waits for it forever. One pool per form,
 * so each form alone is what stands between the pool and its end. */
enum { E_MAP, E_MAP_ASYNC, E_STARMAP, E_STARMAP_ASYNC, E_IMAP, E_UNORDERED, E_CALLBACK, E_FORMS };

static int pt_count_cb(mproc_result_t *res, void *ctx) {
  (void)res;
  pt_atomic_add((volatile long *)ctx, 1);
  return 0;
}

/* The async forms hand back their result unread: closing right after submitting is what
 * catches the pool's thread between the two. */
static mproc_result_t *submit_empty(mproc_pool_t *pool, int form, mproc_args_t *none,
                                    volatile long *cbs) {
  mproc_args_t *vals = NULL, *row = NULL;
  mproc_result_t *res = NULL;
  mproc_task_options o;
  memset(&o, 0, sizeof o);
  o.callback = pt_count_cb;
  o.ctx = (void *)cbs;
  switch (form) {
  case E_MAP: ASSERT_OK(mproc_pool_map(pool, pt_square, none, NULL, &vals)); break;
  case E_STARMAP:
    ASSERT_OK(mproc_pool_starmap(pool, pt_fma, (const mproc_args_t *const *)&row, 0, NULL, &vals));
    break;
  case E_MAP_ASYNC: ASSERT_OK(mproc_pool_map_async(pool, pt_square, none, NULL, &res)); break;
  case E_STARMAP_ASYNC:
    ASSERT_OK(mproc_pool_starmap_async(pool, pt_fma, NULL, 0, NULL, &res));
    break;
  case E_IMAP: ASSERT_OK(mproc_pool_imap(pool, pt_square, none, NULL, &res)); break;
  case E_UNORDERED: ASSERT_OK(mproc_pool_imap_unordered(pool, pt_square, none, NULL, &res)); break;
  case E_CALLBACK: ASSERT_OK(mproc_pool_map_async(pool, pt_square, none, &o, &res)); break;
  }
  if (vals != NULL)
    ASSERT_EQ(mproc_args_count(vals), 0);
  mproc_args_free(vals);
  return res;
}

static void check_empty(int form, mproc_result_t *res) {
  if (form == E_IMAP || form == E_UNORDERED)
    ASSERT_RC(mproc_result_next(res, 30000, NULL, NULL), MPROC_EEOF);
  else if (res != NULL)
    ASSERT_OK(mproc_result_get(res, 30000, NULL));
  mproc_result_free(res);
}

TEST(empty_input_then_join, 120, ALL) {
  mproc_args_t *none = int_list(0);
  for (int form = 0; form < E_FORMS; form++) {
    volatile long cbs = 0;
    mproc_pool_t *pool = pt_pool(2, NULL);
    mproc_result_t *res = submit_empty(pool, form, none, &cbs);
    ASSERT_OK(mproc_pool_close(pool));
    int64_t t0 = t_now_ms();
    int rc = mproc_pool_join(pool, 20000);
    if (rc != 0)
      t_fail(__FILE__, __LINE__, "form %d: join after an empty submission: %s", form,
             mproc_errname(rc));
    ASSERT_WITHIN(t0, 20000, "join");
    ASSERT_EQ(pt_atomic_load(&cbs), form == E_CALLBACK);
    check_empty(form, res);
    mproc_pool_free(pool);
  }
  /* The same with work before and after the empty one, on one pool. */
  mproc_pool_t *pool = pt_pool(2, NULL);
  mproc_args_t *some = int_list(10), *vals = NULL;
  ASSERT_OK(mproc_pool_map(pool, pt_square, some, NULL, &vals));
  mproc_args_free(vals);
  volatile long cbs = 0;
  for (int form = 0; form < E_FORMS; form++)
    check_empty(form, submit_empty(pool, form, none, &cbs));
  ASSERT_OK(mproc_pool_map(pool, pt_square, some, NULL, &vals));
  ASSERT_EQ(mproc_args_count(vals), 10);
  mproc_args_free(vals);
  ASSERT_OK(mproc_pool_close(pool));
  ASSERT_OK(mproc_pool_join(pool, 20000));
  mproc_pool_free(pool);
  mproc_args_free(some);
  mproc_args_free(none);
}

/* --- every value type ----------------------------------------------------------------------- */

/* Item i of the mixed list: int, double, string, bytes (0 bytes, tens of KiB, one of 3 MiB)
 * or None, in turn. */
static void add_mixed(mproc_args_t *a, size_t i) {
  static unsigned char big[3 << 20];
  char s[400];
  size_t len = i == 2 ? 0 : (i * 13) % 300;
  switch (i % 5) {
  case 0: ASSERT_OK(mproc_args_add_int(a, (i % 2 ? -1 : 1) * ((int64_t)i << 33) + 7)); break;
  case 1: ASSERT_OK(mproc_args_add_double(a, (double)i / 7.0 - 3.0)); break;
  case 2:
    for (size_t k = 0; k < len; k++)
      s[k] = (char)('a' + (i + k) % 26);
    s[len] = 0;
    ASSERT_OK(mproc_args_add_str(a, s));
    break;
  case 3:
    len = i == 3 ? 0 : i == 103 ? sizeof big : (i * 997) % 70000;
    for (size_t k = 0; k < len; k++)
      big[k] = (unsigned char)(k * 31 + i);
    ASSERT_OK(mproc_args_add_bytes(a, big, len));
    break;
  default: ASSERT_OK(mproc_args_add_none(a));
  }
}

/* Copies item i of src to the end of dst. */
static void copy_item(mproc_args_t *dst, const mproc_args_t *src, size_t i) {
  int64_t x;
  double d;
  const char *s;
  const void *p;
  size_t n;
  switch (mproc_args_type(src, i)) {
  case MPROC_ARG_INT:
    ASSERT_OK(mproc_args_get_int(src, i, &x));
    ASSERT_OK(mproc_args_add_int(dst, x));
    break;
  case MPROC_ARG_DOUBLE:
    ASSERT_OK(mproc_args_get_double(src, i, &d));
    ASSERT_OK(mproc_args_add_double(dst, d));
    break;
  case MPROC_ARG_STR:
    ASSERT_OK(mproc_args_get_str(src, i, &s));
    ASSERT_OK(mproc_args_add_str(dst, s));
    break;
  case MPROC_ARG_BYTES:
    ASSERT_OK(mproc_args_get_bytes(src, i, &p, &n));
    ASSERT_OK(mproc_args_add_bytes(dst, p, n));
    break;
  case MPROC_ARG_NONE: ASSERT_OK(mproc_args_add_none(dst)); break;
  default: t_fail(__FILE__, __LINE__, "item %zu: type %d", i, mproc_args_type(src, i));
  }
}

/* Value i of got equals value j of want (type and content). */
static void assert_same_value(const mproc_args_t *got, size_t i, const mproc_args_t *want,
                              size_t j) {
  int t = mproc_args_type(want, j);
  if (mproc_args_type(got, i) != t)
    t_fail(__FILE__, __LINE__, "item %zu: type %d, want %d", i, mproc_args_type(got, i), t);
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  copy_item(a, got, i);
  copy_item(a, want, j);
  int64_t x, y;
  double d, e;
  const char *s, *u;
  const void *p, *q;
  size_t n, m;
  int same = 1;
  if (t == MPROC_ARG_INT)
    same = mproc_args_parse(a, "ll", &x, &y) == 0 && x == y;
  else if (t == MPROC_ARG_DOUBLE)
    same = mproc_args_parse(a, "dd", &d, &e) == 0 && d == e;
  else if (t == MPROC_ARG_STR)
    same = mproc_args_parse(a, "ss", &s, &u) == 0 && strcmp(s, u) == 0;
  else if (t == MPROC_ARG_BYTES)
    same = mproc_args_parse(a, "yy", &p, &n, &q, &m) == 0 && n == m && memcmp(p, q, n) == 0;
  mproc_args_free(a);
  if (!same)
    t_fail(__FILE__, __LINE__, "item %zu (type %d): value differs from the serial one", i, t);
}

/* The task run here, on item i alone: what the pool must hand back for it. */
static mproc_args_t *serial_result(mproc_task_fn fn, const mproc_args_t *items, size_t i) {
  mproc_args_t *one, *out;
  ASSERT_OK(mproc_args_new(&one));
  ASSERT_OK(mproc_args_new(&out));
  copy_item(one, items, i);
  ASSERT_OK(fn(one, out));
  mproc_args_free(one);
  if (mproc_args_count(out) == 0) /* a task that adds nothing gives None */
    ASSERT_OK(mproc_args_add_none(out));
  ASSERT_EQ(mproc_args_count(out), 1);
  return out;
}

TEST(map_mixed_types, 120, ALL) {
  enum { N = 200 };
  mproc_pool_t *pool = pt_pool(2, NULL);
  mproc_args_t *items;
  ASSERT_OK(mproc_args_new(&items));
  for (size_t i = 0; i < N; i++)
    add_mixed(items, i);
  for (size_t c = 0; c < 3; c++) {
    mproc_task_options o;
    memset(&o, 0, sizeof o);
    o.chunksize = pt_chunks[c];
    mproc_args_t *vals = NULL;
    ASSERT_OK(mproc_pool_map(pool, pt_mixed, items, &o, &vals));
    ASSERT_EQ(mproc_args_count(vals), N);
    for (size_t i = 0; i < N; i++) {
      mproc_args_t *want = serial_result(pt_mixed, items, i);
      assert_same_value(vals, i, want, 0);
      mproc_args_free(want);
    }
    mproc_args_free(vals);
  }
  mproc_args_free(items);
  mproc_pool_free(pool);
}

/* --- apply ---------------------------------------------------------------------------------- */

static void check_multi(const mproc_args_t *v, int64_t n) {
  int64_t n1;
  double half;
  const char *s;
  const void *b;
  size_t size;
  ASSERT_TRUE(v != NULL);
  ASSERT_EQ(mproc_args_count(v), 5);
  ASSERT_OK(mproc_args_parse(v, "ldsyn", &n1, &half, &s, &b, &size));
  ASSERT_EQ(n1, n + 1);
  ASSERT_TRUE(half == (double)n / 2.0);
  ASSERT_TRUE(strcmp(s, "apply!") == 0);
  ASSERT_EQ(size, n);
  for (size_t k = 0; k < size; k++)
    if (((const unsigned char *)b)[k] != (unsigned char)(k * 7))
      t_fail(__FILE__, __LINE__, "byte %zu of %zu differs", k, size);
}

TEST(apply_values, 60, ALL) {
  /* Default options: as many workers as usable CPUs (Python: os.cpu_count()). */
  mproc_pool_t *pool = NULL;
  ASSERT_OK(mproc_pool_new(&pool, NULL));
  ASSERT_EQ(mproc_pool_processes(pool), mproc_cpu_count_usable());
  static const int64_t sizes[] = {0, 100, 2 << 20};
  for (size_t i = 0; i < 3; i++) {
    mproc_args_t *args, *v = NULL;
    mproc_result_t *res;
    ASSERT_OK(mproc_args_build(&args, "ls", sizes[i], "apply"));
    ASSERT_OK(mproc_pool_apply(pool, pt_multi, args, NULL, &v));
    check_multi(v, sizes[i]);
    mproc_args_free(v);
    ASSERT_OK(mproc_pool_apply_async(pool, pt_multi, args, NULL, &res));
    mproc_args_free(args); /* copied at submit */
    ASSERT_OK(mproc_result_get(res, 30000, &v));
    check_multi(v, sizes[i]);
    ASSERT_EQ(mproc_result_ready(res), 1);
    ASSERT_EQ(mproc_result_successful(res), 1);
    ASSERT_OK(mproc_result_status(res, 0));
    mproc_args_free(v);
    mproc_result_free(res);
  }
  mproc_pool_free(pool);
}

/* --- callbacks ------------------------------------------------------------------------------ */

typedef struct cb_ctx {
  volatile long ok, err, on_caller, bad;
  uint64_t caller;
  int ret; /* what the callbacks return */
} cb_ctx;

/* Both callbacks read the result (ready by then) and note the thread they run in. */
static int cb_note(mproc_result_t *res, cb_ctx *c, int success) {
  mproc_args_t *v = NULL;
  if (pt_thread_id() == c->caller)
    pt_atomic_add(&c->on_caller, 1);
  int rc = mproc_result_get(res, 0, &v);
  if (success ? rc != 0 || v == NULL : rc == 0 || rc == MPROC_ETIMEDOUT)
    pt_atomic_add(&c->bad, 1);
  mproc_args_free(v);
  pt_atomic_add(success ? &c->ok : &c->err, 1);
  return c->ret;
}

static int cb_ok(mproc_result_t *res, void *ctx) { return cb_note(res, ctx, 1); }
static int cb_err(mproc_result_t *res, void *ctx) { return cb_note(res, ctx, 0); }

static mproc_task_options cb_opts(cb_ctx *c, int ret) {
  mproc_task_options o;
  memset(&o, 0, sizeof o);
  memset(c, 0, sizeof *c);
  c->caller = pt_thread_id();
  c->ret = ret;
  o.callback = cb_ok;
  o.error_callback = cb_err;
  o.ctx = c;
  return o;
}

/* n apply_async tasks, every fail_every-th one failing (0: none); out NULL: fire and forget. */
static void submit_n(mproc_pool_t *pool, const mproc_task_options *o, int n, int fail_every,
                     mproc_result_t **out) {
  for (int i = 0; i < n; i++) {
    int fail = fail_every && i % fail_every == fail_every - 1;
    mproc_args_t *args = pt_one(fail ? PT_FAIL : PT_SQUARE, i);
    ASSERT_OK(mproc_pool_apply_async(pool, pt_script, args, o, out ? &out[i] : NULL));
    mproc_args_free(args);
  }
}

static void await_count(volatile long *counter, long want, const char *what) {
  int64_t t0 = t_now_ms();
  while (pt_atomic_load(counter) < want && t_now_ms() - t0 < 30000)
    t_sleep_ms(5);
  t_sleep_ms(50); /* and no more than that */
  if (pt_atomic_load(counter) != want)
    t_fail(__FILE__, __LINE__, "%s: %ld, want %ld", what, pt_atomic_load(counter), want);
}

static void check_ctx(cb_ctx *c, long ok, long err) {
  ASSERT_EQ(pt_atomic_load(&c->ok), ok);
  ASSERT_EQ(pt_atomic_load(&c->err), err);
  ASSERT_EQ(pt_atomic_load(&c->on_caller), 0);
  ASSERT_EQ(pt_atomic_load(&c->bad), 0);
}

TEST(apply_async_callbacks, 90, ALL) {
  mproc_pool_t *pool = pt_pool(2, NULL);
  cb_ctx c;
  mproc_task_options o = cb_opts(&c, 0);
  mproc_result_t *rs[40];
  submit_n(pool, &o, 40, 4, rs);
  for (int i = 0; i < 40; i++) {
    ASSERT_RC(mproc_result_get(rs[i], 30000, NULL), i % 4 == 3 ? MPROC_ETASKFAILED : 0);
    mproc_result_free(rs[i]);
  }
  check_ctx(&c, 30, 10); /* Python runs the callback before get returns */

  /* A map calls one of them once, for the whole list (Python: the first error). */
  mproc_args_t *items = pt_items(50, PT_SQUARE, PT_INDEX, 20, PT_FAIL, 20);
  mproc_result_t *res;
  o = cb_opts(&c, 0);
  ASSERT_OK(mproc_pool_map_async(pool, pt_script, items, &o, &res));
  ASSERT_RC(mproc_result_get(res, 30000, NULL), MPROC_ETASKFAILED);
  check_ctx(&c, 0, 1);
  mproc_result_free(res);
  mproc_args_free(items);
  items = pt_items(50, PT_SQUARE, PT_INDEX, PT_NONE, 0, 0);
  o = cb_opts(&c, 0);
  ASSERT_OK(mproc_pool_map_async(pool, pt_script, items, &o, &res));
  ASSERT_OK(mproc_result_get(res, 30000, NULL));
  check_ctx(&c, 1, 0);
  mproc_result_free(res);

  /* Fire and forget: the pool frees the results after their callbacks. */
  o = cb_opts(&c, 0);
  submit_n(pool, &o, 20, 4, NULL);
  await_count(&c.ok, 15, "success callbacks of fire-and-forget tasks");
  await_count(&c.err, 5, "error callbacks of fire-and-forget tasks");
  check_ctx(&c, 15, 5);

  /* A callback that "raises" is counted and the pool goes on. */
  uint64_t before = mproc_pool_callback_failures(pool);
  o = cb_opts(&c, 1);
  submit_n(pool, &o, 10, 0, rs);
  for (int i = 0; i < 10; i++) {
    ASSERT_OK(mproc_result_get(rs[i], 30000, NULL));
    mproc_result_free(rs[i]);
  }
  for (int64_t t0 = t_now_ms(); mproc_pool_callback_failures(pool) < before + 10 &&
                                t_now_ms() - t0 < 10000;)
    t_sleep_ms(5);
  ASSERT_EQ(mproc_pool_callback_failures(pool), before + 10);
  ASSERT_OK(mproc_pool_map_async(pool, pt_script, items, NULL, &res));
  ASSERT_OK(pt_check_items(res, 50, PT_SQUARE, PT_INDEX, PT_NONE, 0));
  mproc_result_free(res);
  mproc_args_free(items);
  mproc_pool_free(pool);
}

/* --- AsyncResult: timeouts, readiness, progress --------------------------------------------- */

static mproc_result_t *apply_async_one(mproc_pool_t *pool, int act, int64_t arg,
                                       const mproc_task_options *o) {
  mproc_args_t *args = pt_one(act, arg);
  mproc_result_t *res = NULL;
  ASSERT_OK(mproc_pool_apply_async(pool, pt_script, args, o, &res));
  mproc_args_free(args);
  return res;
}

static mproc_result_t *map_async_items(mproc_pool_t *pool, mproc_args_t *items, size_t chunk,
                                       const mproc_task_options *base) {
  mproc_task_options o;
  memset(&o, 0, sizeof o);
  if (base)
    o = *base;
  o.chunksize = chunk;
  mproc_result_t *res = NULL;
  ASSERT_OK(mproc_pool_map_async(pool, pt_script, items, &o, &res));
  mproc_args_free(items);
  return res;
}

/* Not ready yet: get times out and leaves *values alone; Python's successful() raises. */
static void assert_not_ready(mproc_result_t *res) {
  mproc_args_t *marker = (mproc_args_t *)&marker, *v = marker;
  ASSERT_TIMES_OUT(mproc_result_get(res, 200, &v), 200);
  ASSERT_TRUE(v == marker);
  ASSERT_EQ(mproc_result_ready(res), 0);
  ASSERT_RC(mproc_result_successful(res), MPROC_ESTATE);
  ASSERT_RC(mproc_result_status(res, 0), MPROC_ETIMEDOUT);
  ASSERT_TIMES_OUT(mproc_result_wait(res, 100), 100);
}

TEST(result_get_timeout, 60, ALL) {
  mproc_pool_t *pool = pt_pool(2, NULL);
  mproc_result_t *res = apply_async_one(pool, PT_SLEEP, 1500, NULL);
  assert_not_ready(res);
  ASSERT_OK(mproc_result_wait(res, 30000));
  ASSERT_EQ(mproc_result_ready(res), 1);
  ASSERT_EQ(mproc_result_successful(res), 1);
  ASSERT_OK(mproc_result_status(res, 0));
  mproc_args_t *v = NULL;
  ASSERT_OK(mproc_result_get(res, 0, &v));
  ASSERT_EQ(pt_int_at(v, 0), 1500);
  mproc_args_free(v);
  mproc_result_free(res);

  res = map_async_items(pool, pt_items(4, PT_SLEEP, 1000, PT_NONE, 0, 0), 1, NULL);
  assert_not_ready(res);
  ASSERT_OK(pt_check_items(res, 4, PT_SLEEP, 1000, PT_NONE, 0));
  ASSERT_EQ(mproc_result_successful(res), 1);
  mproc_result_free(res);
  mproc_pool_free(pool);
}

TEST(map_progress, 60, ALL) {
  enum { N = 40 };
  mproc_pool_t *pool = pt_pool(2, NULL);
  mproc_result_t *res = map_async_items(pool, pt_items(N, PT_SLEEP, 50, PT_NONE, 0, 0), 1, NULL);
  size_t last = 0, partial = 0, done, total;
  for (int64_t t0 = t_now_ms(); !mproc_result_ready(res);) {
    ASSERT_OK(mproc_result_progress(res, &done, &total));
    ASSERT_EQ(total, N);
    ASSERT_TRUE(done >= last && done <= N); /* never goes back */
    partial += done > 0 && done < N;
    last = done;
    ASSERT_TRUE(t_now_ms() - t0 < 60000);
    t_sleep_ms(5);
  }
  ASSERT_OK(mproc_result_progress(res, &done, &total));
  ASSERT_EQ(done, N);
  ASSERT_EQ(total, N);
  ASSERT_TRUE(partial > 0); /* 2 s of work, seen half-done */
  ASSERT_OK(pt_check_items(res, N, PT_SLEEP, 50, PT_NONE, 0));
  mproc_result_free(res);
  mproc_pool_free(pool);
}

/* A map of a few big chunks goes to every worker, not into the first one's window: once the
 * task is known to be quick, each worker may hold up to 64 chunks, and a blocking map of 8
 * chunks (chunksize 40) used to run on one worker while the other idled. */
TEST(map_spreads_over_workers, 60, ALL) {
  mproc_pool_t *pool = pt_pool(2, NULL);
  mproc_args_t *items = pt_items(64, PT_SQUARE, PT_INDEX, PT_NONE, 0, 0), *vals = NULL;
  mproc_task_options o;
  memset(&o, 0, sizeof o);
  o.chunksize = 1;
  ASSERT_OK(mproc_pool_map(pool, pt_script, items, &o, &vals)); /* the task's run time known */
  mproc_args_free(items);
  mproc_args_free(vals);
  int64_t pids[2];
  ASSERT_EQ(pt_pids(pool, pids, 2, 2, NULL, 0), 2);
  items = pt_items(320, PT_PID, 0, PT_NONE, 0, 0);
  o.chunksize = 40;
  ASSERT_OK(mproc_pool_map(pool, pt_script, items, &o, &vals));
  ASSERT_EQ(mproc_args_count(vals), 320);
  size_t on[2] = {0, 0};
  for (size_t i = 0; i < 320; i++) {
    int64_t pid = pt_int_at(vals, i);
    ASSERT_TRUE(pid == pids[0] || pid == pids[1]);
    on[pid == pids[1]]++;
  }
  printf("items per worker: %zu, %zu\n", on[0], on[1]);
  ASSERT_TRUE(on[0] >= 40 && on[1] >= 40);
  mproc_args_free(items);
  mproc_args_free(vals);
  mproc_pool_free(pool);
}

/* --- task errors ---------------------------------------------------------------------------- */

/* Item 37 of 100 fails with code 3 and "bad item 37"; the others are squares. */
static void check_failed_item(mproc_result_t *res) {
  ASSERT_RC(pt_check_items(res, 100, PT_SQUARE, PT_INDEX, 37, 0), MPROC_ETASKFAILED);
  ASSERT_RC(mproc_result_status(res, 37), MPROC_ETASKFAILED);
  ASSERT_EQ(mproc_result_task_code(res, 37), 3);
  if (!pt_error_has(res, 37, "bad item 37"))
    t_fail(__FILE__, __LINE__, "item 37's error is \"%s\"", mproc_result_error(res, 37));
  ASSERT_EQ(mproc_result_task_code(res, 36), 0);
  ASSERT_TRUE(mproc_result_error(res, 36) == NULL);
  ASSERT_EQ(mproc_result_successful(res), 0);
}

TEST(task_error, 60, ALL) {
  mproc_pool_t *pool = pt_pool(2, NULL);
  mproc_args_t *items = pt_items(100, PT_SQUARE, PT_INDEX, 37, PT_FAIL, 37), *vals = NULL;
  /* Blocking map: the first failure's code, and every value that was computed. */
  ASSERT_RC(mproc_pool_map(pool, pt_script, items, NULL, &vals), MPROC_ETASKFAILED);
  ASSERT_TRUE(vals != NULL);
  ASSERT_EQ(mproc_args_count(vals), 100);
  ASSERT_EQ(mproc_args_type(vals, 37), MPROC_ARG_NONE);
  ASSERT_EQ(pt_int_at(vals, 99), 99 * 99);
  mproc_args_free(vals);
  mproc_result_t *res;
  ASSERT_OK(mproc_pool_map_async(pool, pt_script, items, NULL, &res));
  check_failed_item(res);
  mproc_result_free(res);
  ASSERT_OK(mproc_pool_imap(pool, pt_script, items, NULL, &res)); /* goes on past it */
  pt_iterate(res, 100, 1, 37, MPROC_ETASKFAILED);
  mproc_result_free(res);
  mproc_args_free(items);

  /* A map task adding two values fails its item. */
  items = pt_items(10, PT_SQUARE, PT_INDEX, 4, PT_TWO, 4);
  vals = NULL;
  ASSERT_RC(mproc_pool_map(pool, pt_script, items, NULL, &vals), MPROC_EINVAL);
  mproc_args_free(vals);
  res = map_async_items(pool, items, 0, NULL);
  ASSERT_RC(pt_check_items(res, 10, PT_SQUARE, PT_INDEX, 4, 0), MPROC_EINVAL);
  ASSERT_RC(mproc_result_status(res, 4), MPROC_EINVAL);
  mproc_result_free(res);

  /* apply: the code, no values; apply_async: the code and message. */
  mproc_args_t *args = pt_one(PT_FAIL, 5), *marker = (mproc_args_t *)&marker;
  vals = marker;
  ASSERT_RC(mproc_pool_apply(pool, pt_script, args, NULL, &vals), MPROC_ETASKFAILED);
  ASSERT_TRUE(vals == NULL);
  mproc_args_free(args);
  res = apply_async_one(pool, PT_FAIL, 5, NULL);
  ASSERT_RC(mproc_result_get(res, 30000, NULL), MPROC_ETASKFAILED);
  ASSERT_RC(mproc_result_status(res, 0), MPROC_ETASKFAILED);
  ASSERT_EQ(mproc_result_task_code(res, 0), 3);
  ASSERT_TRUE(pt_error_has(res, 0, "bad item 5"));
  mproc_result_free(res);
  /* Apply keeps every value the task adds (only map items must have one). */
  args = pt_one(PT_TWO, 8);
  ASSERT_OK(mproc_pool_apply(pool, pt_script, args, NULL, &vals));
  ASSERT_EQ(mproc_args_count(vals), 2);
  mproc_args_free(vals);
  mproc_args_free(args);
  mproc_pool_free(pool);
}

/* Large chunks (250 items: they go through the pool's arena) with a failed item, an item
 * with two values and a result of another type: the same outcomes as small chunks. */
TEST(large_chunk_outcomes, 120, ALL) {
  mproc_pool_t *pool = pt_pool(2, NULL);
  mproc_args_t *items = pt_items(2000, PT_SQUARE, PT_INDEX, 1234, PT_FAIL, 1234), *vals = NULL;
  ASSERT_RC(mproc_pool_map(pool, pt_script, items, NULL, &vals), MPROC_ETASKFAILED);
  ASSERT_EQ(mproc_args_count(vals), 2000);
  ASSERT_EQ(mproc_args_type(vals, 1234), MPROC_ARG_NONE);
  ASSERT_EQ(pt_int_at(vals, 1233), 1233 * 1233);
  ASSERT_EQ(pt_int_at(vals, 1999), 1999 * 1999);
  mproc_args_free(vals);
  mproc_result_t *res;
  ASSERT_OK(mproc_pool_map_async(pool, pt_script, items, NULL, &res));
  ASSERT_RC(pt_check_items(res, 2000, PT_SQUARE, PT_INDEX, 1234, 0), MPROC_ETASKFAILED);
  ASSERT_TRUE(pt_error_has(res, 1234, "bad item 1234"));
  mproc_result_free(res);
  mproc_args_free(items);

  items = pt_items(2000, PT_SQUARE, PT_INDEX, 600, PT_TWO, 600);
  ASSERT_OK(mproc_pool_map_async(pool, pt_script, items, NULL, &res));
  ASSERT_RC(pt_check_items(res, 2000, PT_SQUARE, PT_INDEX, 600, 0), MPROC_EINVAL);
  mproc_result_free(res);
  mproc_args_free(items);

  /* Doubles in, ints out; then ints in, a double for one item. */
  ASSERT_OK(mproc_args_new(&items));
  for (int i = 0; i < 2000; i++)
    ASSERT_OK(mproc_args_add_double(items, i + 0.25));
  ASSERT_OK(mproc_pool_map(pool, pt_floor, items, NULL, &vals));
  for (size_t i = 0; i < 2000; i += 111)
    ASSERT_EQ(pt_int_at(vals, i), (int64_t)i);
  mproc_args_free(vals);
  mproc_args_free(items);
  items = pt_items(2000, PT_SQUARE, PT_INDEX, PT_NONE, 0, 0);
  ASSERT_OK(mproc_pool_map(pool, pt_half_at_700, items, NULL, &vals));
  double d = 0;
  ASSERT_OK(mproc_args_get_double(vals, 700, &d));
  ASSERT_TRUE(d == 350.0);
  ASSERT_EQ(pt_int_at(vals, 701), 701);
  mproc_args_free(vals);
  mproc_args_free(items);
  mproc_pool_free(pool);
}

TEST(fail_fast, 90, ALL) {
  /* 300 items of 100 ms on 2 workers: 15 s if they all ran. Item 2 fails at once. */
  enum { N = 300 };
  mproc_pool_t *pool = pt_pool(2, NULL);
  mproc_task_options o;
  memset(&o, 0, sizeof o);
  o.fail_fast = 1;
  for (int blocking = 0; blocking < 2; blocking++) {
    int64_t t0 = t_now_ms();
    mproc_args_t *items = pt_items(N, PT_SLEEP, 100, 2, PT_FAIL, 2), *vals = NULL;
    if (blocking) {
      o.chunksize = 1;
      ASSERT_RC(mproc_pool_map(pool, pt_script, items, &o, &vals), MPROC_ETASKFAILED);
      ASSERT_WITHIN(t0, 7000, "a fail-fast map");
      ASSERT_EQ(mproc_args_count(vals), N);
      mproc_args_free(vals);
      mproc_args_free(items);
      continue;
    }
    mproc_result_t *res = map_async_items(pool, items, 1, &o);
    ASSERT_OK(mproc_result_wait(res, 60000));
    ASSERT_WITHIN(t0, 7000, "a fail-fast map");
    size_t ok = pt_count_status(res, N, 0), canceled = pt_count_status(res, N, MPROC_ECANCELED);
    size_t running = pt_count_status(res, N, MPROC_ETIMEDOUT); /* begun, not finished */
    printf("fail-fast: %zu done, %zu cancelled, %zu still running\n", ok, canceled, running);
    ASSERT_RC(mproc_result_status(res, 2), MPROC_ETASKFAILED);
    ASSERT_EQ(ok + canceled + running + 1, N);
    ASSERT_TRUE(canceled >= N - 50);
    ASSERT_RC(mproc_result_get(res, 0, NULL), MPROC_ETASKFAILED);
    mproc_result_free(res);
  }
  mproc_result_t *res = map_async_items(pool, pt_items(20, PT_SQUARE, PT_INDEX, PT_NONE, 0, 0),
                                        1, &o); /* the pool goes on */
  ASSERT_OK(pt_check_items(res, 20, PT_SQUARE, PT_INDEX, PT_NONE, 0));
  mproc_result_free(res);
  mproc_pool_free(pool);
}

/* --- initializer and worker recycling ------------------------------------------------------- */

TEST(initializer_once, 60, ALL) {
  /* 3 workers, no recycling, 50 tasks: the initializer ran 3 times, before every task. */
  mproc_pool_t *pool = pt_pool(3, NULL);
  mproc_args_t *vals = NULL, *items = pt_items(50, PT_INITED, 20, PT_NONE, 0, 0);
  mproc_task_options o;
  memset(&o, 0, sizeof o);
  o.chunksize = 1;
  ASSERT_OK(mproc_pool_map(pool, pt_script, items, &o, &vals));
  for (size_t i = 0; i < 50; i++)
    ASSERT_EQ(pt_int_at(vals, i), 1);
  mproc_args_free(vals);
  mproc_args_free(items);
  ASSERT_OK(mproc_pool_close(pool));
  ASSERT_OK(mproc_pool_join(pool, 30000));
  ASSERT_EQ(pt_inits(), 3);
  ASSERT_EQ(mproc_pool_workers_started(pool), 3);
  mproc_pool_free(pool);
}

/* After the initializer failed: the pool stopped starting workers and refuses work. */
static void check_broken_by_init(mproc_pool_t *pool) {
  uint64_t started = mproc_pool_workers_started(pool);
  t_sleep_ms(500);
  ASSERT_EQ(mproc_pool_workers_started(pool), started); /* no endless respawn */
  ASSERT_TRUE(started < 64);
  mproc_args_t *args = pt_one(PT_SQUARE, 3), *v = NULL;
  ASSERT_RC(mproc_pool_apply(pool, pt_script, args, NULL, &v), MPROC_EBROKENPOOL);
  ASSERT_RC(mproc_pool_map(pool, pt_script, args, NULL, &v), MPROC_EBROKENPOOL);
  mproc_args_free(v); /* in case the refused map handed back a list */
  mproc_args_free(args);
}

TEST(initializer_fails, 60, ALL) {
  mproc_pool_options po;
  memset(&po, 0, sizeof po);
  po.processes = 2;
  po.initializer = pt_init_fail;
  mproc_pool_t *pool = NULL;
  int rc = mproc_pool_new(&pool, &po);
  if (rc == MPROC_EBROKENPOOL) { /* found out before returning: nothing to submit to */
    ASSERT_TRUE(pool == NULL);
    return;
  }
  ASSERT_OK(rc);
  mproc_result_t *res = NULL;
  mproc_args_t *items = pt_items(10, PT_SQUARE, PT_INDEX, PT_NONE, 0, 0);
  rc = mproc_pool_map_async(pool, pt_script, items, NULL, &res);
  mproc_args_free(items);
  if (rc != MPROC_EBROKENPOOL) {
    ASSERT_OK(rc);
    ASSERT_OK(mproc_result_wait(res, 30000));
    ASSERT_EQ(pt_count_status(res, 10, MPROC_EBROKENPOOL), 10);
    ASSERT_RC(mproc_result_get(res, 0, NULL), MPROC_EBROKENPOOL);
    if (!pt_error_has(res, 0, "init refused"))
      t_fail(__FILE__, __LINE__, "error \"%s\" lacks the initializer's message",
             mproc_result_error(res, 0));
    mproc_result_free(res);
  }
  check_broken_by_init(pool);
  int64_t pids[8];
  size_t n = pt_pids(pool, pids, 8, -1, NULL, 0);
  mproc_pool_free(pool);
  pt_assert_pids_gone(pids, n < 8 ? n : 8);
}

TEST(maxtasksperchild, 90, ALL) {
  /* One task per worker: 20 applies run in 20 processes. */
  mproc_pool_options po;
  memset(&po, 0, sizeof po);
  po.maxtasksperchild = 1;
  mproc_pool_t *pool = pt_pool(2, &po);
  uint64_t started = mproc_pool_workers_started(pool);
  int64_t pids[20];
  mproc_args_t *args = pt_one(PT_PID, 0);
  for (int i = 0; i < 20; i++) {
    mproc_args_t *v = NULL;
    ASSERT_OK(mproc_pool_apply(pool, pt_script, args, NULL, &v));
    pids[i] = pt_int_at(v, 0);
    mproc_args_free(v);
    ASSERT_TRUE(pids[i] != mproc_current_pid());
    if (pt_in(pids[i], pids, (size_t)i))
      t_fail(__FILE__, __LINE__, "task %d ran in worker %lld again", i, (long long)pids[i]);
  }
  mproc_args_free(args);
  ASSERT_TRUE(started >= 2);
  ASSERT_TRUE(mproc_pool_workers_started(pool) >= 20);
  ASSERT_TRUE(mproc_pool_workers_started(pool) > started);
  ASSERT_TRUE(pt_inits() >= 20); /* each ran its initializer first */
  mproc_pool_free(pool);
}

/* --- close and join ------------------------------------------------------------------------- */

/* Every way to submit: MPROC_ECLOSED after close. */
static void assert_submit_refused(mproc_pool_t *pool, int want) {
  mproc_args_t *items = pt_items(3, PT_SQUARE, PT_INDEX, PT_NONE, 0, 0), *v = NULL;
  const mproc_args_t *rows[1] = {items};
  mproc_result_t *res = NULL;
  ASSERT_RC(mproc_pool_apply(pool, pt_script, items, NULL, &v), want);
  ASSERT_RC(mproc_pool_apply_async(pool, pt_script, items, NULL, &res), want);
  ASSERT_RC(mproc_pool_apply_async(pool, pt_script, items, NULL, NULL), want);
  ASSERT_RC(mproc_pool_map(pool, pt_script, items, NULL, &v), want);
  ASSERT_RC(mproc_pool_map_async(pool, pt_script, items, NULL, &res), want);
  ASSERT_RC(mproc_pool_starmap(pool, pt_script, rows, 1, NULL, &v), want);
  ASSERT_RC(mproc_pool_starmap_async(pool, pt_script, rows, 1, NULL, &res), want);
  ASSERT_RC(mproc_pool_imap(pool, pt_script, items, NULL, &res), want);
  ASSERT_RC(mproc_pool_imap_unordered(pool, pt_script, items, NULL, &res), want);
  mproc_args_free(items);
}

TEST(close_join, 60, ALL) {
  mproc_pool_t *pool = pt_pool(2, NULL);
  mproc_result_t *res = map_async_items(pool, pt_items(20, PT_SLEEP, 50, PT_NONE, 0, 0), 1, NULL);
  ASSERT_RC(mproc_pool_join(pool, 0), MPROC_ESTATE); /* Python: "Pool is still running" */
  ASSERT_RC(mproc_pool_join(pool, MPROC_FOREVER), MPROC_ESTATE);
  ASSERT_OK(mproc_pool_close(pool));
  assert_submit_refused(pool, MPROC_ECLOSED);
  ASSERT_OK(mproc_pool_join(pool, 60000)); /* the queued work still ran */
  ASSERT_EQ(mproc_result_ready(res), 1);
  ASSERT_OK(pt_check_items(res, 20, PT_SLEEP, 50, PT_NONE, 0));
  int64_t pids[4];
  ASSERT_EQ(pt_pids(pool, pids, 4, -1, NULL, 0), 0); /* the workers have exited */
  mproc_pool_free(pool);
  mproc_result_free(res);
}

TEST(join_timeout, 60, ALL) {
  mproc_pool_t *pool = pt_pool(2, NULL);
  mproc_result_t *res = apply_async_one(pool, PT_SLEEP, 1500, NULL);
  ASSERT_OK(mproc_pool_close(pool));
  ASSERT_TIMES_OUT(mproc_pool_join(pool, 200), 200);
  ASSERT_OK(mproc_pool_join(pool, 60000));
  ASSERT_OK(mproc_result_get(res, 0, NULL));
  mproc_result_free(res);
  mproc_pool_free(pool);
}

/* --- bad input ------------------------------------------------------------------------------ */

static void assert_new_refused(int processes, int on_death, int method) {
  mproc_pool_options po;
  memset(&po, 0, sizeof po);
  po.processes = processes;
  po.on_death = (mproc_pool_on_death)on_death;
  po.start_method = (mproc_start_method)method;
  mproc_pool_t *pool = NULL;
  ASSERT_RC(mproc_pool_new(&pool, &po), MPROC_EINVAL);
  ASSERT_TRUE(pool == NULL);
}

/* Every entry point with a NULL pool, task or item list. */
static void assert_nulls_refused(mproc_pool_t *pool, const mproc_args_t *items) {
  mproc_args_t *v = NULL;
  mproc_result_t *res = NULL;
  const mproc_args_t *rows[1] = {items};
  size_t n;
  ASSERT_RC(mproc_pool_new(NULL, NULL), MPROC_EINVAL);
  for (int i = 0; i < 2; i++) {
    mproc_pool_t *p = i ? pool : NULL;
    mproc_task_fn fn = i ? NULL : pt_script;
    ASSERT_RC(mproc_pool_apply(p, fn, items, NULL, &v), MPROC_EINVAL);
    ASSERT_RC(mproc_pool_apply_async(p, fn, items, NULL, &res), MPROC_EINVAL);
    ASSERT_RC(mproc_pool_map(p, fn, items, NULL, &v), MPROC_EINVAL);
    ASSERT_RC(mproc_pool_map_async(p, fn, items, NULL, &res), MPROC_EINVAL);
    ASSERT_RC(mproc_pool_starmap(p, fn, rows, 1, NULL, &v), MPROC_EINVAL);
    ASSERT_RC(mproc_pool_imap(p, fn, items, NULL, &res), MPROC_EINVAL);
    ASSERT_RC(mproc_pool_imap_unordered(p, fn, items, NULL, &res), MPROC_EINVAL);
  }
  ASSERT_RC(mproc_pool_map(pool, pt_script, NULL, NULL, &v), MPROC_EINVAL);
  ASSERT_RC(mproc_pool_map_async(pool, pt_script, NULL, NULL, &res), MPROC_EINVAL);
  ASSERT_RC(mproc_pool_imap(pool, pt_script, NULL, NULL, &res), MPROC_EINVAL);
  ASSERT_RC(mproc_pool_imap_unordered(pool, pt_script, NULL, NULL, &res), MPROC_EINVAL);
  ASSERT_RC(mproc_pool_starmap(pool, pt_script, NULL, 2, NULL, &v), MPROC_EINVAL);
  ASSERT_OK(mproc_pool_close(NULL)); /* like every _close */
  ASSERT_RC(mproc_pool_terminate(NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_pool_join(NULL, 0), MPROC_EINVAL);
  ASSERT_RC(mproc_pool_pids(NULL, NULL, 0, &n), MPROC_EINVAL);
  ASSERT_RC(mproc_result_get(NULL, 0, &v), MPROC_EINVAL);
  ASSERT_RC(mproc_result_wait(NULL, 0), MPROC_EINVAL);
  ASSERT_RC(mproc_result_next(NULL, 0, &v, &n), MPROC_EINVAL);
  ASSERT_RC(mproc_result_status(NULL, 0), MPROC_EINVAL);
  ASSERT_RC(mproc_result_progress(NULL, &n, &n), MPROC_EINVAL);
  mproc_pool_free(NULL);
  mproc_result_free(NULL);
}

/* Connections and locks travel as initargs only: an item or argument holding one is refused
 * with a clear code, whichever of the two. */
static void assert_refused_kind(int rc, const char *what) {
  if (rc != MPROC_ENOTSUP && rc != MPROC_EINVAL)
    t_fail(__FILE__, __LINE__, "%s: got %s, want MPROC_ENOTSUP or MPROC_EINVAL", what,
           mproc_errname(rc));
}

static void assert_shared_refused(mproc_pool_t *pool, mproc_args_t *bad) {
  mproc_args_t *v = NULL;
  mproc_result_t *res = NULL;
  const mproc_args_t *rows[1] = {bad};
  assert_refused_kind(mproc_pool_apply(pool, pt_script, bad, NULL, &v), "apply");
  assert_refused_kind(mproc_pool_apply_async(pool, pt_script, bad, NULL, &res), "apply_async");
  assert_refused_kind(mproc_pool_map(pool, pt_script, bad, NULL, &v), "map");
  assert_refused_kind(mproc_pool_map_async(pool, pt_script, bad, NULL, &res), "map_async");
  assert_refused_kind(mproc_pool_imap(pool, pt_script, bad, NULL, &res), "imap");
  assert_refused_kind(mproc_pool_starmap(pool, pt_script, rows, 1, NULL, &v), "starmap");
  mproc_args_free(bad);
}

TEST(bad_input, 60, ALL) {
  assert_new_refused(-1, 0, 0);
  assert_new_refused(2, 42, 0);
  assert_new_refused(2, 0, 42);
  mproc_pool_t *pool = pt_pool(2, NULL);
  mproc_args_t *items = pt_items(3, PT_SQUARE, PT_INDEX, PT_NONE, 0, 0);
  assert_nulls_refused(pool, items);

  mproc_conn_t *c1, *c2;
  mproc_lock_t *lock;
  ASSERT_OK(mproc_pipe(1, &c1, &c2));
  ASSERT_OK(mproc_lock_new(&lock));
  mproc_args_t *bad = pt_items(2, PT_SQUARE, PT_INDEX, PT_NONE, 0, 0);
  ASSERT_OK(mproc_args_add_conn(bad, c1));
  assert_shared_refused(pool, bad);
  bad = pt_items(2, PT_SQUARE, PT_INDEX, PT_NONE, 0, 0);
  ASSERT_OK(mproc_args_add_lock(bad, lock));
  assert_shared_refused(pool, bad);

  mproc_result_t *res;
  ASSERT_OK(mproc_pool_map_async(pool, pt_script, items, NULL, &res));
  ASSERT_OK(pt_check_items(res, 3, PT_SQUARE, PT_INDEX, PT_NONE, 0)); /* the pool is fine */
  ASSERT_OK(mproc_result_status(res, 2));
  ASSERT_RC(mproc_result_status(res, 3), MPROC_ERANGE);
  ASSERT_RC(mproc_result_status(res, (size_t)-1), MPROC_ERANGE);
  ASSERT_EQ(mproc_result_task_code(res, 3), 0);
  ASSERT_TRUE(mproc_result_error(res, 3) == NULL);
  mproc_result_free(res);
  /* A NULL row is a caller's error in C (Python's starmap fails that item in the worker). */
  const mproc_args_t *rows[2] = {items, NULL};
  mproc_args_t *v = NULL;
  ASSERT_RC(mproc_pool_starmap(pool, pt_script, rows, 2, NULL, &v), MPROC_EINVAL);
  mproc_args_free(items);
  mproc_pool_free(pool);
  mproc_lock_free(lock);
  mproc_conn_free(c1);
  mproc_conn_free(c2);
}

/* --- option structs that grow (docs/versioning.md) ------------------------------------------ */

/* A caller's struct is read up to its `size` (0: the 0.1 layout). One from a newer header may
 * be larger: accepted while the fields this library does not know are zero, refused otherwise
 * (they ask for something this library cannot do). A size below the 0.1 layout is refused. */
TEST(options_struct_size, 120, ONCE) {
  struct {
    mproc_pool_options o;
    unsigned char newer[32]; /* fields of a later header */
  } big;
  memset(&big, 0, sizeof big);
  big.o.size = sizeof big;
  big.o.processes = 2;
  mproc_pool_t *pool;
  ASSERT_OK(mproc_pool_new(&pool, &big.o));
  ASSERT_EQ(mproc_pool_processes(pool), 2);
  mproc_pool_free(pool);
  big.newer[5] = 1;
  ASSERT_RC(mproc_pool_new(&pool, &big.o), MPROC_EINVAL);
  mproc_pool_options tiny = {0};
  tiny.size = sizeof(size_t);
  ASSERT_RC(mproc_pool_new(&pool, &tiny), MPROC_EINVAL);

  mproc_pool_options zero = {0}, init = MPROC_POOL_OPTIONS_INIT;
  zero.processes = 2;
  init.processes = 2;
  ASSERT_EQ(init.size, sizeof init);
  ASSERT_OK(mproc_pool_new(&pool, &zero));
  mproc_pool_free(pool);
  ASSERT_OK(mproc_pool_new(&pool, &init));
  ASSERT_EQ(mproc_pool_processes(pool), 2);

  mproc_args_t *items = int_list(10), *vals = NULL;
  struct {
    mproc_task_options o;
    unsigned char newer[32];
  } task;
  memset(&task, 0, sizeof task);
  task.o.size = sizeof task;
  task.o.chunksize = 3;
  ASSERT_OK(mproc_pool_map(pool, pt_square, items, &task.o, &vals));
  ASSERT_EQ(mproc_args_count(vals), 10);
  mproc_args_free(vals);
  task.newer[31] = 7;
  mproc_result_t *res = NULL;
  ASSERT_RC(mproc_pool_map(pool, pt_square, items, &task.o, &vals), MPROC_EINVAL);
  ASSERT_RC(mproc_pool_imap(pool, pt_square, items, &task.o, &res), MPROC_EINVAL);
  ASSERT_TRUE(res == NULL);
  mproc_task_options t_init = MPROC_TASK_OPTIONS_INIT;
  t_init.chunksize = 4;
  ASSERT_OK(mproc_pool_map(pool, pt_square, items, &t_init, &vals));
  int64_t v;
  ASSERT_OK(mproc_args_get_int(vals, 9, &v));
  ASSERT_EQ(v, 81);
  mproc_args_free(vals);
  mproc_args_free(items);
  mproc_pool_free(pool);
}
