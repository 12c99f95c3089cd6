/* SPDX-License-Identifier: MIT */
/* Embedding hooks: mproc_set_allocator and the debug log.
 *
 * The whole binary runs on a counting allocator, installed before mproc_main (a spawned child
 * installs it too, since it re-enters main). Every block carries a header with a magic word,
 * so a block the library frees that it did not get from us (or frees twice) aborts at once. */
#include "runner.h"
#include "../src/atomics.h"

#ifdef _WIN32
#include <windows.h>
#endif

/* --- the counting allocator ---------------------------------------------------------------- */

#define MAGIC 0x6d70726f63616c6cULL /* "mprocall" */
typedef union hdr {
  struct {
    uint64_t magic;
    size_t size;
  } h;
  long double ld; /* keeps the block after the header aligned for any type */
  void *p;
} hdr;

static int64_t g_live;  /* blocks handed out and not yet freed */
static int64_t g_calls; /* allocations made */
static int g_install_rc = 1;

static void *wrap(hdr *b, size_t size) {
  if (b == NULL)
    return NULL;
  b->h.magic = MAGIC;
  b->h.size = size;
  MPROC__ATOMIC_ADD_FETCH(&g_live, 1, MPROC__ATOMIC_SEQ_CST);
  MPROC__ATOMIC_ADD_FETCH(&g_calls, 1, MPROC__ATOMIC_SEQ_CST);
  return b + 1;
}

static hdr *unwrap(void *p) {
  hdr *b = (hdr *)p - 1;
  if (b->h.magic != MAGIC) {
    fprintf(stderr, "free of a block the counting allocator never gave out: %p\n", p);
    abort();
  }
  b->h.magic = 0;
  MPROC__ATOMIC_SUB_FETCH(&g_live, 1, MPROC__ATOMIC_SEQ_CST);
  return b;
}

static void *c_malloc(size_t n) { return wrap(malloc(sizeof(hdr) + n), n); }

static void *c_calloc(size_t k, size_t n) {
  if (n != 0 && k > (SIZE_MAX - sizeof(hdr)) / n)
    return NULL;
  return wrap(calloc(1, sizeof(hdr) + k * n), k * n);
}

static void c_free(void *p) {
  if (p != NULL)
    free(unwrap(p));
}

static void *c_realloc(void *p, size_t n) {
  if (p == NULL)
    return c_malloc(n);
  void *q = c_malloc(n);
  if (q == NULL)
    return NULL;
  size_t old = ((hdr *)p - 1)->h.size;
  memcpy(q, p, old < n ? old : n);
  c_free(p);
  return q;
}

static int install(int argc, char **argv) {
  (void)argc;
  (void)argv;
  g_install_rc = mproc_set_allocator(c_malloc, c_realloc, c_calloc, c_free);
  return -1; /* carry on into mproc_main */
}
T_CTOR(install_allocator) { t_pre_main_hook = install; }

static int64_t live(void) { return MPROC__ATOMIC_LOAD(&g_live, MPROC__ATOMIC_SEQ_CST); }
static int64_t calls(void) { return MPROC__ATOMIC_LOAD(&g_calls, MPROC__ATOMIC_SEQ_CST); }

/* --- targets -------------------------------------------------------------------------------- */

static int child_returns_arg(const mproc_args_t *a) {
  int64_t v = 0;
  C_OK(mproc_args_get_int(a, 0, &v));
  return (int)v;
}

static int task_square(const mproc_args_t *a, mproc_args_t *res) {
  int64_t v = 0;
  int rc = mproc_args_get_int(a, 0, &v);
  return rc ? rc : mproc_args_add_int(res, v * v);
}

/* --- allocator ------------------------------------------------------------------------------ */

TEST(allocator_rules, 30, ONCE) {
  ASSERT_OK(g_install_rc);
  ASSERT_RC(mproc_set_allocator(NULL, c_realloc, c_calloc, c_free), MPROC_EINVAL);
  ASSERT_RC(mproc_set_allocator(c_malloc, c_realloc, c_calloc, NULL), MPROC_EINVAL);
  mproc_args_t *a = NULL;
  ASSERT_OK(mproc_args_new(&a)); /* the library has allocated: the allocator is fixed now */
  ASSERT_TRUE(calls() > 0);
  ASSERT_RC(mproc_set_allocator(malloc, realloc, calloc, free), MPROC_ESTATE);
  mproc_args_free(a);
}

static void cycle_process(void) {
  mproc_args_t *a = NULL;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_OK(mproc_args_add_int(a, 7));
  mproc_process_t *p = t_start(child_returns_arg, a);
  mproc_args_free(a);
  ASSERT_EQ(t_join_code(p), 7);
  mproc_process_free(p);
}

static void cycle_pipe(void) {
  mproc_conn_t *c1 = NULL, *c2 = NULL;
  mproc_args_t *a = NULL, *got = NULL;
  ASSERT_OK(mproc_pipe(1, &c1, &c2));
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_OK(mproc_args_add_int(a, 42));
  ASSERT_OK(mproc_conn_send(c1, a));
  ASSERT_OK(mproc_conn_recv(c2, 10000, &got));
  ASSERT_EQ(mproc_args_count(got), 1);
  mproc_args_free(got);
  mproc_args_free(a);
  mproc_conn_free(c1);
  mproc_conn_free(c2);
}

static void cycle_queue(void) {
  mproc_queue_t *q = NULL;
  void *data = NULL;
  size_t n = 0;
  ASSERT_OK(mproc_queue_new(&q, 0));
  ASSERT_OK(mproc_queue_put(q, "item", 4, MPROC_FOREVER));
  ASSERT_OK(mproc_queue_get(q, 10000, &data, &n));
  ASSERT_EQ(n, 4);
  mproc_free(data);
  mproc_queue_free(q);
}

static void cycle_lock_value(void) {
  mproc_lock_t *l = NULL;
  mproc_value_t *v = NULL;
  int32_t x = 5, y = 0;
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_lock_acquire(l, MPROC_FOREVER));
  ASSERT_OK(mproc_lock_release(l));
  mproc_lock_free(l);
  ASSERT_OK(mproc_value_new(&v, 'i', &x, MPROC_LOCK_NEW));
  ASSERT_OK(mproc_value_get(v, &y));
  ASSERT_EQ(y, 5);
  mproc_value_free(v);
}

static void cycle_pool(void) {
  mproc_pool_options o = MPROC_POOL_OPTIONS_INIT;
  mproc_pool_t *pool = NULL;
  mproc_args_t *items = NULL, *res = NULL;
  o.processes = 2;
  ASSERT_OK(mproc_pool_new(&pool, &o));
  ASSERT_OK(mproc_args_new(&items));
  for (int i = 0; i < 10; i++)
    ASSERT_OK(mproc_args_add_int(items, i));
  ASSERT_OK(mproc_pool_map(pool, task_square, items, NULL, &res));
  ASSERT_EQ(mproc_args_count(res), 10);
  mproc_args_free(res);
  mproc_args_free(items);
  ASSERT_OK(mproc_pool_close(pool));
  ASSERT_OK(mproc_pool_join(pool, 30000));
  mproc_pool_free(pool);
}

static void cycle_all(void) {
  cycle_process();
  cycle_pipe();
  cycle_queue();
  cycle_lock_value();
  cycle_pool();
}

/* The first round creates what the library keeps for the life of the process (a forkserver,
 * per-thread tokens); after it, every round must give back all it took. */
TEST(allocator_sees_every_block_freed, 120, ALL) {
  ASSERT_OK(g_install_rc);
  cycle_all();
  int64_t base = live(), before = calls();
  for (int i = 0; i < 3; i++)
    cycle_all();
  ASSERT_TRUE(calls() > before + 50); /* the library did allocate through us */
  ASSERT_EQ(live(), base);
}

/* --- logging -------------------------------------------------------------------------------- */

#define CAP_LINES 256
static char g_lines[CAP_LINES][256];
static int g_nlines;
static uint32_t g_cap_lock;

static void capture(void *ud, int level, const char *line) {
  uint32_t z = 0;
  while (!MPROC__ATOMIC_COMPARE_EXCHANGE(&g_cap_lock, &z, 1, 0, MPROC__ATOMIC_ACQUIRE,
                                         MPROC__ATOMIC_RELAXED))
    z = 0;
  if (g_nlines < CAP_LINES && ud == (void *)g_lines && level >= MPROC_LOG_DEBUG)
    snprintf(g_lines[g_nlines++], sizeof g_lines[0], "%s", line);
  MPROC__ATOMIC_STORE(&g_cap_lock, 0, MPROC__ATOMIC_RELEASE);
}

static int captured(const char *needle) {
  int n = 0;
  for (int i = 0; i < MPROC__ATOMIC_LOAD(&g_nlines, MPROC__ATOMIC_SEQ_CST); i++)
    n += strstr(g_lines[i], needle) != NULL;
  return n;
}

static void set_env(const char *name, const char *value) {
#ifdef _WIN32
  ASSERT_TRUE(SetEnvironmentVariableA(name, value));
#else
  ASSERT_OK(setenv(name, value, 1));
#endif
}

static size_t read_file(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "rb");
  size_t n = 0;
  if (f != NULL) {
    n = fread(buf, 1, cap - 1, f);
    fclose(f);
  }
  buf[n] = '\0';
  return n;
}

TEST(log_rules, 30, ONCE) {
  set_env("MPROC_LOG", ""); /* before the library's first look: off whatever the caller had */
  ASSERT_EQ(mproc_get_log_level(), MPROC_LOG_OFF); /* default: off */
  ASSERT_RC(mproc_set_log_handler(capture, g_lines, 15), MPROC_EINVAL);
  ASSERT_RC(mproc_set_log_handler(NULL, NULL, -1), MPROC_EINVAL);
  ASSERT_OK(mproc_set_log_handler(capture, g_lines, MPROC_LOG_INFO));
  ASSERT_EQ(mproc_get_log_level(), MPROC_LOG_INFO);
  ASSERT_OK(mproc_set_log_handler(NULL, NULL, MPROC_LOG_OFF));
  ASSERT_EQ(mproc_get_log_level(), MPROC_LOG_OFF);
}

/* The parent's own lines reach the handler: a start names the method, the pid and the target;
 * the exit gives the code. Once off, nothing more arrives. */
TEST(log_handler_sees_start_and_exit, 60, ALL) {
  ASSERT_OK(mproc_set_log_handler(capture, g_lines, MPROC_LOG_DEBUG));
  mproc_args_t *a = NULL;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_OK(mproc_args_add_int(a, 3));
  mproc_process_t *p = t_start(child_returns_arg, a);
  ASSERT_EQ(t_join_code(p), 3);
  char want[128];
  snprintf(want, sizeof want, "started %s: pid %lld, method %s", mproc_process_name(p),
           (long long)mproc_process_pid(p), mproc_start_method_name(t_method()));
  ASSERT_EQ(captured(want), 1);
  snprintf(want, sizeof want, "%s (pid %lld) exited: code 3", mproc_process_name(p),
           (long long)mproc_process_pid(p));
  ASSERT_EQ(captured(want), 1);
  ASSERT_EQ(captured("[INFO/MainProcess "), 1); /* a nonzero exit is INFO */
  mproc_process_free(p);
  ASSERT_OK(mproc_set_log_handler(capture, g_lines, MPROC_LOG_OFF));
  int n = g_nlines;
  p = t_start(child_returns_arg, a);
  ASSERT_EQ(t_join_code(p), 3);
  mproc_process_free(p);
  mproc_args_free(a);
  ASSERT_EQ(g_nlines, n);
}

/* MPROC_LOG and MPROC_LOG_FILE alone: the parent and the child write there, and the child's
 * lines show each bootstrap step. */
TEST(log_env_child_bootstrap_steps, 60, ALL) {
  char path[512], text[16384];
  t_temp_path(path, sizeof path, "log");
  remove(path);
  set_env("MPROC_LOG_FILE", path);
  set_env("MPROC_LOG", "debug");
  mproc_args_t *a = NULL;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_OK(mproc_args_add_int(a, 0));
  mproc_process_t *p = t_start(child_returns_arg, a);
  mproc_args_free(a);
  ASSERT_EQ(t_join_code(p), 0);
  ASSERT_EQ(mproc_get_log_level(), MPROC_LOG_DEBUG);
  read_file(path, text, sizeof text);
  char want[128];
  snprintf(want, sizeof want, "[DEBUG/%s %lld] boot record received", mproc_process_name(p),
           (long long)mproc_process_pid(p));
  if (strstr(text, want) == NULL || strstr(text, "target located") == NULL ||
      strstr(text, "target returned 0") == NULL || strstr(text, "[DEBUG/MainProcess ") == NULL)
    t_fail(__FILE__, __LINE__, "log file lacks a step:\n%s", text);
  mproc_process_free(p);
  remove(path);
}

/* A level set by a call reaches children started with spawn or forkserver (boot record); they
 * write to MPROC_LOG_FILE since a handler cannot follow them. Off by default: no file. */
TEST(log_level_inherited_and_off_by_default, 60, ALL) {
  char path[512], text[16384];
  set_env("MPROC_LOG", "");
  t_temp_path(path, sizeof path, "log");
  remove(path);
  set_env("MPROC_LOG_FILE", path);
  mproc_args_t *a = NULL;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_OK(mproc_args_add_int(a, 0));
  mproc_process_t *p = t_start(child_returns_arg, a);
  ASSERT_EQ(t_join_code(p), 0);
  mproc_process_free(p);
  ASSERT_EQ(read_file(path, text, sizeof text), 0); /* silent while off */
  ASSERT_OK(mproc_set_log_handler(NULL, NULL, MPROC_LOG_DEBUG));
  p = t_start(child_returns_arg, a);
  mproc_args_free(a);
  ASSERT_EQ(t_join_code(p), 0);
  read_file(path, text, sizeof text);
  char want[128];
  snprintf(want, sizeof want, "[DEBUG/%s %lld] target returned 0", mproc_process_name(p),
           (long long)mproc_process_pid(p));
  if (strstr(text, want) == NULL)
    t_fail(__FILE__, __LINE__, "no \"%s\" in the log:\n%s", want, text);
  mproc_process_free(p);
  remove(path);
}

TEST(log_pool_worker_start_and_death, 60, ALL) {
  ASSERT_OK(mproc_set_log_handler(capture, g_lines, MPROC_LOG_DEBUG));
  mproc_pool_options o = MPROC_POOL_OPTIONS_INIT;
  mproc_pool_t *pool = NULL;
  o.processes = 1;
  o.maxtasksperchild = 1; /* the worker leaves after one task and is replaced */
  ASSERT_OK(mproc_pool_new(&pool, &o));
  mproc_args_t *a = NULL, *res = NULL;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_OK(mproc_args_add_int(a, 4));
  ASSERT_OK(mproc_pool_apply(pool, task_square, a, NULL, &res));
  mproc_args_free(res);
  ASSERT_OK(mproc_pool_apply(pool, task_square, a, NULL, &res));
  mproc_args_free(res);
  mproc_args_free(a);
  ASSERT_OK(mproc_pool_close(pool));
  ASSERT_OK(mproc_pool_join(pool, 30000));
  mproc_pool_free(pool);
  ASSERT_TRUE(captured("pool worker 0 started: pid ") >= 2);
  ASSERT_TRUE(captured("pool worker 0: worker ") >= 1);
}
