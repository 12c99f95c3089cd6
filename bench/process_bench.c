/* SPDX-License-Identifier: MIT */
/*
 * bench_process: cost of starting and joining a process that does nothing, per start method.
 *
 * Figures: process.start_join.<fork|spawn|forkserver>, in microseconds per start+join, and
 * process.start_join_128.fork, in milliseconds per 128 processes started one after the other,
 * then joined.
 * Each figure is measured three ways in the same run so the ratios are meaningful on a noisy
 * machine:
 *   mproc  mproc_process_new + set_start_method + start + join + close of a target that
 *          returns 0;
 *   raw    the OS primitive the method sits on: fork() + waitpid() (child _exit(0)) for fork
 *          and forkserver, posix_spawn() of this same binary + waitpid() for spawn;
 *   apr    apr_proc_fork() for fork, apr_proc_create() of this same binary for spawn
 *          (only when built with HAVE_APR; APR has no forkserver).
 * A rep times N operations and divides; the figure is the median of R reps. Reps of the
 * three variants are interleaved (mproc, raw, apr, mproc, ...) so that a slow minute on the
 * host hits all of them alike.
 *
 * Usage: bench_process [--quick] [--json-only] [--n N] [--reps R]
 * (--n is the start+join count per rep; the 128-process figure times 2 (quick) or 5 batches.)
 * JSON lines go to stdout; the human-readable summary goes to stderr (off with --json-only).
 */
#define BENCH_NAME "bench_process"
#include "bench_util.h"

#ifndef _WIN32
#include <spawn.h>
extern char **environ;
#endif

#ifdef HAVE_APR
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_thread_proc.h>
#endif

/* A child started by the raw/APR spawn baselines sees this variable and leaves main at once,
 * so the baseline costs exactly one exec of this binary, as mproc's spawn does at minimum. */
#define RAW_CHILD_ENV "BENCH_RAW_CHILD"

#define MAX_REPS 64

typedef struct config {
  int n;    /* operations per rep */
  int reps; /* reps per variant */
  int json_only;
  int quick;
} config;

/* One variant: runs n operations, returns 0 or -1 (after printing why to stderr). */
typedef int (*op_loop_fn)(int n, mproc_start_method method);

typedef struct variant {
  const char *name;
  op_loop_fn run; /* NULL: not measured for this method / platform */
  double rep_us[MAX_REPS];
  int failed;
} variant;

/* ----------------------------------------------------------------------------------------
 * Clock and statistics
 * -------------------------------------------------------------------------------------- */
/* now_us, median, min_of, max_of: bench_stats.h */

/* ----------------------------------------------------------------------------------------
 * mproc
 * -------------------------------------------------------------------------------------- */
static int noop_target(const mproc_args_t *args) {
  (void)args;
  return 0;
}

static int report_mproc_p(const char *what, int err, mproc_process_t *p) {
  const char *msg = p ? mproc_process_error(p) : NULL;
  fprintf(stderr, "bench_process: %s: %s (%s)%s%s\n", what, mproc_errname(err),
          mproc_strerror(err), msg ? ": " : "", msg ? msg : "");
  return -1;
}

/* After join: the exit code must be the target's 0, so that a child which failed to
 * bootstrap cannot pass for a fast one. */
static int check_exit(mproc_process_t *p) {
  int code = 0, err = mproc_process_exitcode(p, &code);
  const char *msg = mproc_process_error(p);
  if (err) return report_mproc_p("mproc_process_exitcode", err, p);
  if (code == 0) return 0;
  fprintf(stderr, "bench_process: child exited with %d (child error %s)%s%s\n", code,
          mproc_errname(mproc_process_child_error(p)), msg ? ": " : "", msg ? msg : "");
  return -1;
}

/* One full life cycle, the unit a user pays for: Python's Process() + start() + join() +
 * close() does the same. */
static int mproc_one(mproc_start_method method) {
  mproc_process_t *p = NULL;
  int rc = -1, err = mproc_process_new(&p, noop_target, NULL);
  if (err) return report_mproc_p("mproc_process_new", err, NULL);
  if ((err = mproc_process_set_start_method(p, method)) != 0)
    report_mproc_p("mproc_process_set_start_method", err, p);
  else if ((err = mproc_process_start(p)) != 0)
    report_mproc_p("mproc_process_start", err, p);
  else if ((err = mproc_process_join(p, MPROC_FOREVER)) != 0)
    report_mproc_p("mproc_process_join", err, p);
  else
    rc = check_exit(p);
  mproc_process_free(p); /* releases the handle in any state */
  return rc;
}

static int mproc_loop(int n, mproc_start_method method) {
  for (int i = 0; i < n; i++)
    if (mproc_one(method)) return -1;
  return 0;
}

/* 128 processes alive together: all started, then each joined, checked and released. */
#define MANY 128

static int mproc_many_once(mproc_start_method method) {
  mproc_process_t *ps[MANY];
  int started = 0, rc = 0, err = 0;
  for (; started < MANY; started++) {
    if ((err = mproc_process_new(&ps[started], noop_target, NULL)) != 0) {
      rc = report_mproc_p("mproc_process_new", err, NULL);
      break;
    }
    if ((err = mproc_process_set_start_method(ps[started], method)) != 0 ||
        (err = mproc_process_start(ps[started])) != 0) {
      rc = report_mproc_p("mproc_process_start", err, ps[started]);
      mproc_process_free(ps[started]);
      break;
    }
  }
  for (int i = 0; i < started; i++) {
    if ((err = mproc_process_join(ps[i], MPROC_FOREVER)) != 0)
      rc = report_mproc_p("mproc_process_join", err, ps[i]);
    else if (check_exit(ps[i]))
      rc = -1;
    mproc_process_free(ps[i]);
  }
  return rc;
}

static int mproc_many(int n, mproc_start_method method) {
  for (int i = 0; i < n; i++)
    if (mproc_many_once(method)) return -1;
  return 0;
}

/* ----------------------------------------------------------------------------------------
 * Raw OS baselines (POSIX)
 * -------------------------------------------------------------------------------------- */
#ifndef _WIN32
static const char *self_path; /* what the spawn baselines exec: this very binary */
static char **child_env;      /* environ + RAW_CHILD_ENV=1, built once */

static int build_child_env(void) {
  size_t n = 0;
  while (environ[n]) n++;
  child_env = calloc(n + 2, sizeof *child_env);
  if (!child_env) return -1;
  memcpy(child_env, environ, n * sizeof *child_env);
  child_env[n] = RAW_CHILD_ENV "=1";
  return 0;
}

static int wait_ok(pid_t pid) {
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) {
      perror("bench_process: waitpid");
      return -1;
    }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int raw_fork_loop(int n, mproc_start_method method) {
  (void)method;
  for (int i = 0; i < n; i++) {
    pid_t pid = fork();
    if (pid == 0) _exit(0); /* _exit: no atexit handlers, no stdio flush in the child */
    if (pid < 0) {
      perror("bench_process: fork");
      return -1;
    }
    if (wait_ok(pid)) return -1;
  }
  return 0;
}

static int raw_many(int n, mproc_start_method method) {
  (void)method;
  for (int i = 0; i < n; i++) {
    pid_t pids[MANY];
    int started = 0, rc = 0;
    for (; started < MANY; started++) {
      pids[started] = fork();
      if (pids[started] == 0) _exit(0);
      if (pids[started] < 0) {
        perror("bench_process: fork");
        rc = -1;
        break;
      }
    }
    for (int k = 0; k < started; k++)
      if (wait_ok(pids[k])) rc = -1;
    if (rc) return -1;
  }
  return 0;
}

static int raw_spawn_loop(int n, mproc_start_method method) {
  char *argv[] = {(char *)self_path, NULL};
  (void)method;
  for (int i = 0; i < n; i++) {
    pid_t pid;
    int err = posix_spawn(&pid, self_path, NULL, NULL, argv, child_env);
    if (err) {
      fprintf(stderr, "bench_process: posix_spawn %s: %s\n", self_path, strerror(err));
      return -1;
    }
    if (wait_ok(pid)) return -1;
  }
  return 0;
}
#endif /* !_WIN32 */

/* ----------------------------------------------------------------------------------------
 * APR baselines
 * -------------------------------------------------------------------------------------- */
#ifdef HAVE_APR
static apr_pool_t *apr_root;

static int apr_fail(const char *what, apr_status_t st) {
  char buf[256];
  fprintf(stderr, "bench_process: %s: %s\n", what, apr_strerror(st, buf, sizeof buf));
  return -1;
}

static int apr_wait_ok(apr_proc_t *proc) {
  int code = 0;
  apr_exit_why_e why;
  apr_status_t st = apr_proc_wait(proc, &code, &why, APR_WAIT);
  if (st != APR_CHILD_DONE) return apr_fail("apr_proc_wait", st);
  return why == APR_PROC_EXIT && code == 0 ? 0 : -1;
}

static int apr_fork_loop(int n, mproc_start_method method) {
  (void)method;
  for (int i = 0; i < n; i++) {
    apr_proc_t proc;
    apr_status_t st = apr_proc_fork(&proc, apr_root);
    if (st == APR_INCHILD) _exit(0);
    if (st != APR_INPARENT) return apr_fail("apr_proc_fork", st);
    if (apr_wait_ok(&proc)) return -1;
  }
  return 0;
}

/* The attribute set is made per operation, in a pool cleared each time, because mproc's
 * figure likewise includes creating and freeing its process object. */
static int apr_spawn_one(apr_pool_t *pool) {
  const char *argv[] = {self_path, NULL};
  apr_procattr_t *attr;
  apr_proc_t proc;
  apr_status_t st = apr_procattr_create(&attr, pool);
  if (st == APR_SUCCESS) st = apr_procattr_cmdtype_set(attr, APR_PROGRAM);
  if (st != APR_SUCCESS) return apr_fail("apr_procattr", st);
  st = apr_proc_create(&proc, self_path, argv, (const char *const *)child_env, attr, pool);
  if (st != APR_SUCCESS) return apr_fail("apr_proc_create", st);
  return apr_wait_ok(&proc);
}

static int apr_spawn_loop(int n, mproc_start_method method) {
  apr_pool_t *pool;
  int rc = 0;
  (void)method;
  if (apr_pool_create(&pool, apr_root) != APR_SUCCESS) return -1;
  for (int i = 0; i < n && rc == 0; i++) {
    rc = apr_spawn_one(pool);
    apr_pool_clear(pool);
  }
  apr_pool_destroy(pool);
  return rc;
}
#endif /* HAVE_APR */

/* ----------------------------------------------------------------------------------------
 * Driver
 * -------------------------------------------------------------------------------------- */
static void set_baselines(mproc_start_method method, variant *raw, variant *apr) {
  raw->run = NULL;
  apr->run = NULL;
  (void)method; /* no raw baselines on Windows */
#ifndef _WIN32
  /* forkserver's floor is a fork in the server plus passing the result back: fork+waitpid
   * is the part the OS charges no matter how the server is built. */
  raw->run = method == MPROC_START_SPAWN ? raw_spawn_loop : raw_fork_loop;
#endif
#ifdef HAVE_APR
  if (method == MPROC_START_FORK) apr->run = apr_fork_loop;
  if (method == MPROC_START_SPAWN) apr->run = apr_spawn_loop;
#endif
}

/* A rep: n operations timed as one block, so clock overhead stays out of the per-op cost. */
static void run_rep(variant *v, const config *cfg, mproc_start_method method, int rep) {
  double t0;
  if (!v->run || v->failed) return;
  fflush(NULL); /* nothing buffered may be duplicated into a forked child */
  t0 = now_us();
  if (v->run(cfg->n, method)) {
    fprintf(stderr, "bench_process: %s/%s failed; reported as null\n",
            mproc_start_method_name(method), v->name);
    v->failed = any_failed = 1;
    return;
  }
  v->rep_us[rep] = (now_us() - t0) / cfg->n;
}

/* The first operation of each variant is not timed: the first forkserver start launches
 * the server, and every first start pays for page faults and cold caches. */
static void warm_up(variant *v, mproc_start_method method) {
  if (!v->run) return;
  fflush(NULL);
  if (v->run(1, method)) {
    fprintf(stderr, "bench_process: %s/%s warm-up failed; reported as null\n",
            mproc_start_method_name(method), v->name);
    v->failed = any_failed = 1;
  }
}

/* A figure's name and unit: the reps are in microseconds per operation, shown divided by
 * scale (1 for us, 1000 for ms). */
typedef struct figure {
  char name[64];
  const char *unit;
  double scale;
} figure;

static void print_value(const variant *v, const config *cfg, const figure *f) {
  if (!v->run || v->failed)
    printf("null");
  else
    printf("%.*f", f->scale > 1 ? 2 : 1, median(v->rep_us, cfg->reps) / f->scale);
}

static void print_json(const figure *f, variant *vs, const config *cfg) {
  printf("{\"bench\":\"%s\",\"unit\":\"%s\",\"better\":\"lower\",\"mproc\":", f->name, f->unit);
  print_value(&vs[0], cfg, f);
  printf(",\"python\":null,\"raw\":");
  print_value(&vs[1], cfg, f);
  printf(",\"apr\":");
  print_value(&vs[2], cfg, f);
  printf("}\n");
  fflush(stdout);
}

static void print_human(const figure *f, const variant *vs, const config *cfg) {
  for (int i = 0; i < 3; i++) {
    const variant *v = &vs[i];
    if (!v->run) continue;
    if (v->failed) {
      fprintf(stderr, "  %-29s %-5s  FAILED\n", f->name, v->name);
      continue;
    }
    fprintf(stderr, "  %-29s %-5s  median %9.2f %s  (min %.2f, max %.2f; %d reps x %d)\n",
            f->name, v->name, median(v->rep_us, cfg->reps) / f->scale, f->unit,
            min_of(v->rep_us, cfg->reps) / f->scale, max_of(v->rep_us, cfg->reps) / f->scale,
            cfg->reps, cfg->n);
  }
}

static void run_variants(variant *vs, const figure *f, mproc_start_method method,
                         const config *cfg) {
  for (int i = 0; i < 3; i++) warm_up(&vs[i], method);
  for (int r = 0; r < cfg->reps; r++)
    for (int i = 0; i < 3; i++) run_rep(&vs[i], cfg, method, r);
  print_json(f, vs, cfg);
  if (!cfg->json_only) print_human(f, vs, cfg);
}

static void bench_method(mproc_start_method method, const config *cfg) {
  variant vs[3] = {{"mproc", mproc_loop, {0}, 0}, {"raw", NULL, {0}, 0}, {"apr", NULL, {0}, 0}};
  figure f = {"", "us", 1};
  if (!mproc_start_method_available(method)) return;
  snprintf(f.name, sizeof f.name, "process.start_join.%s", mproc_start_method_name(method));
  set_baselines(method, &vs[1], &vs[2]);
  run_variants(vs, &f, method, cfg);
}

/* 128 children alive at once under fork: what a parent's other children cost each start. */
static void bench_many(const config *cfg) {
  variant vs[3] = {{"mproc", mproc_many, {0}, 0}, {"raw", NULL, {0}, 0}, {"apr", NULL, {0}, 0}};
  figure f = {"process.start_join_128.fork", "ms", 1000};
  config many = *cfg;
  many.n = cfg->quick ? 2 : 5;
  if (!mproc_start_method_available(MPROC_START_FORK)) return;
#ifndef _WIN32
  vs[1].run = raw_many;
#endif
  run_variants(vs, &f, MPROC_START_FORK, &many);
}

static int usage(void) {
  fprintf(stderr, "usage: bench_process [--quick] [--json-only] [--n N] [--reps R]\n");
  return 2;
}

/* Full run: 200 starts x 7 reps per variant, a few seconds per method here. Quick: enough
 * for a stable median in well under a second per method. */
static int parse_args(int argc, char **argv, config *cfg) {
  int n = 0, reps = 0, quick = 0;
  cfg->json_only = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0)
      quick = 1;
    else if (strcmp(argv[i], "--json-only") == 0)
      cfg->json_only = 1;
    else if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
      n = atoi(argv[++i]);
    else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
      reps = atoi(argv[++i]);
    else
      return -1;
  }
  cfg->quick = quick;
  cfg->n = n > 0 ? n : quick ? 50 : 200;
  cfg->reps = reps > 0 ? reps : quick ? 3 : 7;
  return cfg->reps <= MAX_REPS ? 0 : -1;
}

static int init_baselines(char **argv) {
#ifndef _WIN32
#ifdef __linux__
  self_path = "/proc/self/exe";
  (void)argv;
#else
  self_path = argv[0]; /* the runner starts us by a path, which exec can use as is */
#endif
  if (build_child_env()) return -1;
#else
  (void)argv;
#endif
#ifdef HAVE_APR
  if (apr_initialize() != APR_SUCCESS || apr_pool_create(&apr_root, NULL) != APR_SUCCESS)
    return -1;
#endif
  return 0;
}

int main(int argc, char **argv) {
  static const mproc_start_method methods[] = {MPROC_START_FORK, MPROC_START_SPAWN,
                                               MPROC_START_FORKSERVER};
  config cfg;
  /* Spawned mproc children re-enter main here and never return from mproc_main. */
  int err = mproc_main(argc, argv);
  if (err) {
    report_mproc_p("mproc_main", err, NULL);
    return 1;
  }
  if (getenv(RAW_CHILD_ENV)) return 0; /* a raw/APR spawn baseline child: done */
  if (parse_args(argc, argv, &cfg)) return usage();
  if (init_baselines(argv)) {
    fprintf(stderr, "bench_process: cannot set up the baselines\n");
    return 1;
  }
  /* fork first: a start method that leaves a thread behind must not skew the fork figure. */
  for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
    bench_method(methods[i], &cfg);
    if (methods[i] == MPROC_START_FORK) bench_many(&cfg);
  }
#ifdef HAVE_APR
  apr_terminate();
#endif
  return any_failed;
}
