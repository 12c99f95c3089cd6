/* SPDX-License-Identifier: MIT */
/*
 * bench_pool: Pool (Python's multiprocessing.Pool) against the raw limits of the same work.
 *
 * P is the number of worker processes of every pool here: mproc_cpu_count_usable() (mproc's
 * default for processes = 0; 2 on a 2-vCPU machine), or --processes P.
 *
 * Figures:
 *   pool.map_trivial          ms per map of x*x over the ints 0..199,999, automatic chunksize
 *                             (ceil(n / 4P): 25,000 with P = 2). The timed part builds the
 *                             input list too: Python's map turns its range into a list inside
 *                             the call;
 *   pool.map_trivial_1M       the same over 0..999,999 (chunksize 125,000 with P = 2);
 *   pool.map_array_1M         ms per mproc_pool_map_array of x*x over 1,000,000 int64 elements
 *                             of a shared array into a second one (made once), filling the
 *                             input included; raw: the shm workers over the same count;
 *   pool.map_trivial_c1       the same with chunksize 1: one dispatch per item;
 *   pool.map_trivial_c1_pipe  pool.map_trivial_c1's mproc reps again, against a pool that
 *                             sends one pipe message per task and one per result;
 *   pool.apply_async_rtt      us per apply_async(noop) + get() round trip;
 *   pool.cpu_speedup          serial time / pool time of a CPU-bound job: counting the primes
 *                             below N by trial division, split into 4P equal tasks handed out
 *                             one at a time (chunksize 1). Higher is better; ideal is P.
 * Columns:
 *   mproc  one pool for the whole run, mproc_pool_new with P processes and mproc's default
 *          start method (spawn; --method changes it), started before anything is timed.
 *          mproc_args_new + mproc_args_add_int per item + mproc_pool_map (chunksize 0 or 1);
 *          mproc_pool_apply_async + mproc_result_get; mproc_pool_starmap of (task, tasks, N)
 *          lists with chunksize 1. Every result is checked (untimed).
 *   raw    (POSIX) P fork()ed workers, started once and kept for the run like a pool's:
 *          shm   a MAP_SHARED|MAP_ANONYMOUS mapping with an input and an output array; a
 *                job is announced by one byte down each worker's own pipe, workers claim
 *                ranges of indexes with an atomic fetch-and-add on a shared counter (25,000
 *                or 1 per claim) and write x*x into the output array. The parent fills the
 *                input array inside the timed part and then waits for the items-done count
 *                by spinning (sched_yield between checks). For the CPU job workers claim
 *                task numbers the same way and the parent sleeps in read() until the last
 *                worker writes a byte to a pipe;
 *          pipe  (pool.map_trivial_c1_pipe) one task pipe that all workers read and one result
 *                pipe the parent reads: one write() of 16 bytes (index, value) per task by the
 *                parent, one read() per task by a worker, one write() of 16 bytes per result,
 *                one read() per result by the parent, with at most PIPE_WINDOW tasks in flight
 *                so that no write ever blocks for good. What a pool that moves every task
 *                through the kernel (Python's design) costs at best;
 *          rtt   socketpair(AF_UNIX, SOCK_STREAM) + fork() of an echo child, 8-byte messages
 *                with a 4-byte length, one write() and blocking read()s (pipe.rtt_8B's raw);
 *          cpu   the shm workers above; the speed-up's serial time is the rep's own.
 *   apr    null: APR has no process pool.
 * Method: the first operation of every variant is a warm-up and is not timed. A rep of a map
 * figure is one map; of the round trip, N round trips divided by N; of the speed-up, one
 * serial run followed by one run of each parallel variant, each divided into that serial time.
 * The figure is the median of the reps; reps of the variants are interleaved (mproc, raw,
 * mproc, ...).
 *
 * Usage: bench_pool [--quick] [--json-only] [--reps R] [--method M] [--only PREFIX]
 *                   [--processes P] [--rtt-n N] [--primes-below N]
 *   --only runs the groups with a figure whose name starts with PREFIX (pool.map_trivial runs
 *   every map group, pool.map_trivial_c1 only the chunksize-1 one); a trailing $ asks for
 *   that exact name (pool.map_trivial$: the 200,000-item map only).
 * JSON lines go to stdout; the human-readable summary goes to stderr (off with --json-only,
 * except the lines that state the aims).
 */
#define BENCH_NAME "bench_pool"
#include "bench_util.h"

#ifndef _WIN32
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#define HAVE_RAW 1
#if !defined(MAP_ANONYMOUS) && defined(MAP_ANON)
#define MAP_ANONYMOUS MAP_ANON
#endif
#endif

#define MAX_REPS 64
#define MAX_PROCS 64
#define MAP_N 200000
#define MAP_N_BIG 1000000 /* pool.map_trivial_1M */
#define SLOT 128          /* keeps shared counters on cache lines of their own */
#define PIPE_WINDOW 2048  /* tasks in flight in the pipe pool: 32 KiB of tasks or results,
                             half a pipe's default 64 KiB, so no write blocks for good */
#define SPIN_LIMIT_US 30e6 /* a raw worker that died leaves the parent waiting: give up */

/* ----------------------------------------------------------------------------------------
 * Tasks. Plain static functions: workers find them by address.
 * -------------------------------------------------------------------------------------- */
static int square(const mproc_args_t *args, mproc_args_t *result) {
  int64_t x;
  int rc = mproc_args_get_int(args, 0, &x);
  return rc ? rc : mproc_args_add_int(result, x * x);
}

/* pool.map_array_1M: x*x over a chunk of a shared array, written in place. */
static int square_chunk(const void *in, void *out, size_t first, size_t count,
                        const mproc_args_t *args) {
  (void)first;
  (void)args;
  const int64_t *x = in;
  int64_t *y = out;
  for (size_t i = 0; i < count; i++) y[i] = x[i] * x[i];
  return 0;
}

static int noop(const mproc_args_t *args, mproc_args_t *result) {
  (void)args;
  (void)result;
  return 0;
}

static int is_prime_odd(uint32_t n) {
  for (uint32_t d = 3; d * d <= n; d += 2)
    if (n % d == 0) return 0;
  return 1;
}

/* Primes below n among the numbers of task k of `tasks`: the odd numbers 3 + 2k, 3 + 2k +
 * 2*tasks, ... (a stride, so that every task has about the same mix of small and large
 * numbers and costs the same); task 0 also counts 2. */
static int64_t count_task(int64_t k, int64_t tasks, int64_t n) {
  int64_t c = k == 0 && n > 2;
  for (int64_t x = 3 + 2 * k; x < n; x += 2 * tasks) c += is_prime_odd((uint32_t)x);
  return c;
}

static int primes_task(const mproc_args_t *args, mproc_args_t *result) {
  int64_t k, tasks, n;
  int rc = mproc_args_parse(args, "lll", &k, &tasks, &n);
  return rc ? rc : mproc_args_add_int(result, count_task(k, tasks, n));
}

/* ----------------------------------------------------------------------------------------
 * Configuration and variants
 * -------------------------------------------------------------------------------------- */
typedef struct config {
  int procs;
  int reps_map, reps_c1, reps_rtt, reps_cpu;
  int n_rtt;       /* round trips per rep */
  int64_t primes_n; /* the CPU job counts the primes below this */
  int json_only;
  const char *only;
} config;

typedef struct variant {
  const char *name;
  double rep[MAX_REPS];
  int on, failed;
} variant;

static void fail_variant(variant *v, const char *fig, const char *what) {
  fprintf(stderr, BENCH_NAME ": %s/%s: %s failed; reported as null\n", fig, v->name, what);
  v->failed = any_failed = 1;
}

static const variant *usable(const variant *v) { return v && v->on && !v->failed ? v : NULL; }

static void print_value(const variant *v, int reps) {
  if (!usable(v)) {
    printf("null");
    return;
  }
  double m = median(v->rep, reps);
  printf(m < 10 ? "%.3g" : "%.1f", m);
}

static void print_row(const char *name, const char *unit, const char *better, const variant *m,
                      const variant *r, int reps, int procs) {
  printf("{\"bench\":\"%s\",\"unit\":\"%s\",\"better\":\"%s\",\"mproc\":", name, unit, better);
  print_value(m, reps);
  printf(",\"python\":null,\"raw\":");
  print_value(r, reps);
  printf(",\"apr\":null,\"processes\":%d}\n", procs);
  fflush(stdout);
}

static void print_summary(const char *fig, const variant *v, const char *unit, int reps,
                          const config *cfg) {
  if (cfg->json_only || !v->on) return;
  if (v->failed) {
    fprintf(stderr, "  %-24s %-6s FAILED\n", fig, v->name);
    return;
  }
  fprintf(stderr, "  %-24s %-6s median %10.4g %s  (min %.4g, max %.4g; %d reps)\n", fig,
          v->name, median(v->rep, reps), unit, min_of(v->rep, reps), max_of(v->rep, reps), reps);
}

/* --only PREFIX, or --only NAME$ for one figure's group only. */
static int selected(const config *cfg, const char *const *names, int n) {
  if (!cfg->only) return 1;
  size_t len = strlen(cfg->only);
  int exact = len > 0 && cfg->only[len - 1] == '$';
  for (int i = 0; i < n; i++)
    if (exact ? strlen(names[i]) == len - 1 && strncmp(names[i], cfg->only, len - 1) == 0
              : strncmp(names[i], cfg->only, len) == 0)
      return 1;
  return 0;
}

/* ----------------------------------------------------------------------------------------
 * mproc
 * -------------------------------------------------------------------------------------- */
static mproc_pool_t *pool;

static int check_squares(const mproc_args_t *res, int64_t n) {
  if (!res || (int64_t)mproc_args_count(res) != n) return -1;
  for (int64_t i = 0; i < n; i++) {
    int64_t v;
    if (mproc_args_get_int(res, (size_t)i, &v) != 0 || v != i * i) return -1;
  }
  return 0;
}

/* One map of x*x over 0..n-1; *ms covers building the input list and the map. */
static int mp_map(int64_t n, size_t chunksize, double *ms) {
  mproc_args_t *items = NULL, *res = NULL;
  mproc_task_options o;
  memset(&o, 0, sizeof o);
  o.chunksize = chunksize;
  double t0 = now_us();
  int err = mproc_args_new(&items);
  for (int64_t i = 0; i < n && !err; i++) err = mproc_args_add_int(items, i);
  if (!err) err = mproc_pool_map(pool, square, items, &o, &res);
  double t1 = now_us();
  if (err) report_mproc("mproc_pool_map", err);
  else if (check_squares(res, n) != 0) {
    fprintf(stderr, BENCH_NAME ": mproc_pool_map returned wrong values\n");
    err = -1;
  }
  mproc_args_free(items);
  mproc_args_free(res);
  *ms = (t1 - t0) / 1e3;
  return err ? -1 : 0;
}

/* pool.map_array_1M's shared arrays, made once (as the raw workers' arrays are). */
static mproc_array_t *arr_in, *arr_out;

/* One map over the shared arrays; *ms covers filling the input and the map. */
static int mp_map_array(long n, double *ms) {
  int64_t *x = mproc_array_ptr(arr_in), *y = mproc_array_ptr(arr_out);
  memset(y, 0, (size_t)n * sizeof *y);
  double t0 = now_us();
  for (long i = 0; i < n; i++) x[i] = i;
  int err = mproc_pool_map_array(pool, square_chunk, arr_in, arr_out, NULL, NULL);
  double t1 = now_us();
  if (err) {
    fprintf(stderr, BENCH_NAME ": %s\n", mproc_last_error_message());
    return report_mproc("mproc_pool_map_array", err);
  }
  for (long i = 0; i < n; i++)
    if (y[i] != (int64_t)i * i) {
      fprintf(stderr, BENCH_NAME ": mproc_pool_map_array: element %ld is wrong\n", i);
      return -1;
    }
  *ms = (t1 - t0) / 1e3;
  return 0;
}

static mproc_args_t *no_args;

static int mp_rtt(int n) {
  for (int i = 0; i < n; i++) {
    mproc_result_t *r = NULL;
    mproc_args_t *vals = NULL;
    int err = mproc_pool_apply_async(pool, noop, no_args, NULL, &r);
    if (!err) err = mproc_result_get(r, MPROC_FOREVER, &vals);
    if (err && r && mproc_result_error(r, 0))
      fprintf(stderr, BENCH_NAME ": the task failed: %s\n", mproc_result_error(r, 0));
    mproc_args_free(vals);
    mproc_result_free(r);
    if (err) return report_mproc("apply_async(noop).get()", err);
  }
  return 0;
}

/* The CPU job's task lists (task, tasks, n), made once. */
static mproc_args_t *cpu_lists[4 * MAX_PROCS];

static int mp_cpu(int tasks, int64_t *primes) {
  mproc_args_t *res = NULL;
  mproc_task_options o;
  memset(&o, 0, sizeof o);
  o.chunksize = 1;
  int err = mproc_pool_starmap(pool, primes_task, (const mproc_args_t *const *)cpu_lists,
                               (size_t)tasks, &o, &res);
  *primes = 0;
  for (int i = 0; !err && i < tasks; i++) {
    int64_t c;
    err = mproc_args_get_int(res, (size_t)i, &c);
    *primes += c;
  }
  mproc_args_free(res);
  return err ? report_mproc("mproc_pool_starmap", err) : 0;
}

/* ----------------------------------------------------------------------------------------
 * Raw (POSIX): fork()ed workers kept for the whole run
 * -------------------------------------------------------------------------------------- */
#ifdef HAVE_RAW
enum job_kind { JOB_MAP = 1, JOB_CPU = 2 };

typedef struct raw_ctl {
  union {
    long v;
    char pad[SLOT];
  } next; /* next index (or task) to claim */
  union {
    long v;
    char pad[SLOT];
  } items; /* items done (map) */
  union {
    long v;
    char pad[SLOT];
  } finished; /* workers done with the job */
  union {
    long v;
    char pad[SLOT];
  } sum; /* primes counted (cpu) */
  long kind, n, claim, tasks;
  int64_t primes_below;
} raw_ctl;

static raw_ctl *ctl;
static int64_t *raw_in, *raw_out;
static size_t raw_bytes;

static long fetch_add(long *p, long d) { return __atomic_fetch_add(p, d, __ATOMIC_ACQ_REL); }

static int set_cloexec(int fd) {
  int f = fcntl(fd, F_GETFD);
  return f < 0 ? -1 : fcntl(fd, F_SETFD, f | FD_CLOEXEC);
}

/* A pipe whose ends are not inherited by the pool's spawned workers. */
static int cloexec_pipe(int fd[2]) {
  if (pipe(fd) != 0) return -1;
  if (set_cloexec(fd[0]) == 0 && set_cloexec(fd[1]) == 0) return 0;
  close(fd[0]), close(fd[1]);
  return -1;
}

static int read_byte(int fd, char *c) {
  for (;;) {
    ssize_t r = read(fd, c, 1);
    if (r == 1) return 0;
    if (r < 0 && errno == EINTR) continue;
    return -1;
  }
}

/* A set of fork()ed workers. shm workers: go[i] is worker i's own pipe (one byte per job, so
 * that a quick worker cannot take a second worker's byte and start the next job early), and
 * the last worker to finish a CPU job writes a byte to done. pipe workers: task and result
 * pipes shared by all. */
typedef struct raw_pool {
  int n;
  pid_t pid[MAX_PROCS];
  int go[MAX_PROCS];     /* parent's write ends (shm) */
  int done_rd;           /* parent's read end (shm) */
  int task_wr, res_rd;   /* parent's ends (pipe) */
} raw_pool;

static void shm_map_job(void) {
  long claim = ctl->claim, n = ctl->n, mine = 0;
  for (long i; (i = fetch_add(&ctl->next.v, claim)) < n;) {
    long end = i + claim < n ? i + claim : n;
    for (long j = i; j < end; j++) raw_out[j] = raw_in[j] * raw_in[j];
    mine += end - i;
  }
  fetch_add(&ctl->items.v, mine);
}

static void shm_cpu_job(void) {
  long sum = 0;
  for (long k; (k = fetch_add(&ctl->next.v, 1)) < ctl->tasks;)
    sum += (long)count_task(k, ctl->tasks, ctl->primes_below);
  fetch_add(&ctl->sum.v, sum);
}

/* Waits in read() for a job byte ('q': quit), runs the job, says it is done. */
static int shm_worker(int go_rd, int done_wr, long nworkers) {
  char c;
  for (;;) {
    if (read_byte(go_rd, &c) != 0) return 1;
    if (c == 'q') return 0;
    if (ctl->kind == JOB_MAP)
      shm_map_job();
    else
      shm_cpu_job();
    /* The last one wakes the parent of a CPU job (the parent of a map job spins). */
    if (fetch_add(&ctl->finished.v, 1) + 1 == nworkers && ctl->kind == JOB_CPU &&
        write_all(done_wr, "d", 1) != 0)
      return 1;
  }
}

/* Tasks and results are (index, value) pairs; a negative index ends the worker. */
static int pipe_worker(int task_rd, int res_wr) {
  int64_t t[2];
  for (;;) {
    if (read_exact(task_rd, t, sizeof t) != 0) return 1;
    if (t[0] < 0) return 0;
    t[1] *= t[1];
    if (write_all(res_wr, t, sizeof t) != 0) return 1;
  }
}

static void raw_kill(raw_pool *rp) {
  for (int i = 0; i < rp->n; i++)
    if (rp->pid[i] > 0) kill(rp->pid[i], SIGKILL);
}

/* Ends the workers (quit message, or SIGKILL when !ok), reaps them, closes the pipes. */
static int raw_stop(raw_pool *rp, int shm, int ok) {
  int rc = ok ? 0 : -1;
  int64_t quit[2] = {-1, 0};
  for (int i = 0; i < rp->n && ok; i++)
    if ((shm ? write_all(rp->go[i], "q", 1) : write_all(rp->task_wr, quit, sizeof quit)) != 0)
      ok = 0, rc = -1;
  if (!ok) raw_kill(rp);
  for (int i = 0; i < rp->n; i++) {
    if (rp->pid[i] > 0 && wait_child(rp->pid[i]) != 0) rc = -1;
    if (shm && rp->go[i] >= 0) close(rp->go[i]);
  }
  if (shm && rp->done_rd >= 0) close(rp->done_rd);
  if (!shm && rp->task_wr >= 0) close(rp->task_wr);
  if (!shm && rp->res_rd >= 0) close(rp->res_rd);
  memset(rp, 0, sizeof *rp);
  return rc;
}

/* Forks n workers: shm workers (shm != 0) or pipe workers. */
static int raw_start(raw_pool *rp, int n, int shm) {
  int go[2] = {-1, -1}, back[2] = {-1, -1}, task[2] = {-1, -1}, res[2] = {-1, -1};
  memset(rp, 0, sizeof *rp);
  rp->done_rd = rp->task_wr = rp->res_rd = -1;
  if (shm ? cloexec_pipe(back) : cloexec_pipe(task) || cloexec_pipe(res)) {
    perror(BENCH_NAME ": pipe");
    if (task[0] >= 0) close(task[0]), close(task[1]);
    return -1;
  }
  rp->done_rd = back[0], rp->task_wr = task[1], rp->res_rd = res[0];
  fflush(NULL);
  for (int i = 0; i < n; i++) {
    rp->go[i] = -1;
    if (shm && cloexec_pipe(go) != 0) break;
    pid_t pid = fork();
    if (pid == 0)
      _exit(shm ? shm_worker(go[0], back[1], n) : pipe_worker(task[0], res[1]));
    if (shm) close(go[0]), rp->go[i] = go[1];
    if (pid < 0) break;
    rp->pid[i] = pid, rp->n = i + 1;
  }
  if (shm) close(back[1]);
  else close(task[0]), close(res[1]);
  if (rp->n == n) return 0;
  perror(BENCH_NAME ": starting the raw workers");
  if (shm && rp->go[rp->n] >= 0) close(rp->go[rp->n]);
  raw_stop(rp, shm, 0);
  return -1;
}

static void job_reset(enum job_kind kind, long n, long claim) {
  ctl->next.v = ctl->items.v = ctl->finished.v = ctl->sum.v = 0;
  ctl->kind = kind, ctl->n = n, ctl->claim = claim;
}

/* Spins (yielding the CPU between looks) until *p reaches want; -1 after SPIN_LIMIT_US. */
static int spin_until(long *p, long want, double t0) {
  for (unsigned k = 1; atomic_get(p) < want; k++) {
    cpu_yield();
    if ((k & 1023) == 0 && now_us() - t0 > SPIN_LIMIT_US) {
      fprintf(stderr, BENCH_NAME ": raw workers do not finish\n");
      return -1;
    }
  }
  return 0;
}

static int check_raw_out(long n) {
  for (long i = 0; i < n; i++)
    if (raw_out[i] != (int64_t)i * i) {
      fprintf(stderr, BENCH_NAME ": raw output %ld is wrong\n", i);
      return -1;
    }
  return 0;
}

/* One map of x*x over 0..n-1 by the shm workers, claim indexes at a time. */
static int shm_map(raw_pool *rp, long n, long claim, double *ms) {
  memset(raw_out, 0, (size_t)n * sizeof *raw_out);
  job_reset(JOB_MAP, n, claim);
  double t0 = now_us();
  for (long i = 0; i < n; i++) raw_in[i] = i;
  for (int i = 0; i < rp->n; i++)
    if (write_all(rp->go[i], "j", 1) != 0) return -1;
  if (spin_until(&ctl->items.v, n, t0) != 0) return -1;
  *ms = (now_us() - t0) / 1e3;
  if (spin_until(&ctl->finished.v, rp->n, t0) != 0) return -1;
  return check_raw_out(n);
}

/* One map through the pipe workers: one message per task and one per result. */
static int pipe_map(raw_pool *rp, long n, double *ms) {
  long sent = 0, got = 0;
  int64_t m[2];
  memset(raw_out, 0, (size_t)n * sizeof *raw_out);
  double t0 = now_us();
  for (long i = 0; i < n; i++) raw_in[i] = i;
  while (got < n) {
    for (; sent < n && sent - got < PIPE_WINDOW; sent++) {
      m[0] = sent, m[1] = raw_in[sent];
      if (write_all(rp->task_wr, m, sizeof m) != 0) return -1;
    }
    if (read_exact(rp->res_rd, m, sizeof m) != 0 || m[0] < 0 || m[0] >= n) return -1;
    raw_out[m[0]] = m[1];
    got++;
  }
  *ms = (now_us() - t0) / 1e3;
  return check_raw_out(n);
}

/* The CPU job on the shm workers; the parent sleeps until the last one is done. */
static int shm_cpu(raw_pool *rp, long tasks, int64_t below, int64_t *primes) {
  struct pollfd pfd = {rp->done_rd, POLLIN, 0};
  char c;
  job_reset(JOB_CPU, 0, 1);
  ctl->tasks = tasks, ctl->primes_below = below;
  for (int i = 0; i < rp->n; i++)
    if (write_all(rp->go[i], "j", 1) != 0) return -1;
  int ready;
  while ((ready = poll(&pfd, 1, (int)(SPIN_LIMIT_US / 1e3))) < 0 && errno == EINTR) {
  }
  if (ready != 1 || read_byte(rp->done_rd, &c) != 0) {
    fprintf(stderr, BENCH_NAME ": raw workers do not finish\n");
    return -1;
  }
  *primes = atomic_get(&ctl->sum.v);
  return 0;
}

/* Echo child of the round trip: 4-byte length + 8 bytes; a bare zero length ends it. */
static int echo_child(int fd) {
  unsigned char m[12];
  for (;;) {
    if (read_exact(fd, m, 4) != 0) return 1;
    if (get_len(m) == 0) return 0;
    if (get_len(m) != 8 || read_exact(fd, m + 4, 8) != 0 || write_all(fd, m, sizeof m) != 0)
      return 1;
  }
}

static int socket_rtts(int fd, int n) {
  unsigned char m[12] = {0, 0, 0, 8, '0', '1', '2', '3', '4', '5', '6', '7'}, back[12];
  for (int i = 0; i < n; i++)
    if (write_all(fd, m, sizeof m) != 0 || read_exact(fd, back, sizeof back) != 0) return -1;
  return 0;
}

/* A rep: fork an echo child, warm up, time n round trips, stop it. */
static int raw_rtt(int n, double *us) {
  int sv[2], rc = 0;
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) return -1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    close(sv[0]);
    _exit(echo_child(sv[1]));
  }
  close(sv[1]);
  if (pid < 0) {
    close(sv[0]);
    return -1;
  }
  if (socket_rtts(sv[0], 100) != 0) rc = -1;
  double t0 = now_us();
  if (rc == 0 && socket_rtts(sv[0], n) != 0) rc = -1;
  *us = (now_us() - t0) / n;
  unsigned char stop[4] = {0, 0, 0, 0};
  if (rc == 0 && write_all(sv[0], stop, 4) != 0) rc = -1;
  close(sv[0]);
  if (rc != 0) kill(pid, SIGKILL);
  return wait_child(pid) != 0 ? -1 : rc;
}

static int raw_init(void) {
  size_t head = (sizeof(raw_ctl) + 4095) & ~(size_t)4095;
  raw_bytes = head + 2 * (size_t)MAP_N_BIG * sizeof(int64_t);
  void *p = mmap(NULL, raw_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror(BENCH_NAME ": mmap");
    return -1;
  }
  memset(p, 0, raw_bytes); /* every page present before the workers are forked */
  ctl = p;
  raw_in = (int64_t *)((char *)p + head);
  raw_out = raw_in + MAP_N_BIG;
  return 0;
}
#endif /* HAVE_RAW */

/* ----------------------------------------------------------------------------------------
 * Driver
 * -------------------------------------------------------------------------------------- */
enum vkind { V_MPROC, V_SHM, V_PIPE, V_SOCK, V_ARRAY };

#ifdef HAVE_RAW
static raw_pool shm_pool, pipe_pool;
static int shm_up, pipe_up; /* workers running */

/* A raw rep failed: its workers may be half way through a job, so they go. */
static void drop_raw(enum vkind k) {
  if (k == V_SHM && shm_up) raw_stop(&shm_pool, 1, 0), shm_up = 0;
  if (k == V_PIPE && pipe_up) raw_stop(&pipe_pool, 0, 0), pipe_up = 0;
}
#endif

static void init_variant(variant *v, const char *name, enum vkind k) {
  memset(v, 0, sizeof *v);
  v->name = name;
  v->on = 1;
  if (k == V_MPROC || k == V_ARRAY) {
    v->failed = pool == NULL || (k == V_ARRAY && arr_out == NULL);
    return;
  }
#ifdef HAVE_RAW
  v->failed = k == V_SHM ? !shm_up : k == V_PIPE ? !pipe_up : 0;
#else
  v->on = 0;
#endif
}

/* One map of n items by variant kind k into v->rep[r] (r < 0: warm-up, not kept). */
static void map_rep(variant *v, enum vkind k, const char *fig, long n, long chunk, int procs,
                    int r) {
  double ms = 0;
  int rc = -1;
  if (!usable(v)) return;
  if (k == V_MPROC) rc = mp_map(n, (size_t)chunk, &ms);
  if (k == V_ARRAY) rc = mp_map_array(n, &ms);
#ifdef HAVE_RAW
  /* chunk 0 is the automatic size; the shm workers claim that many indexes at a time. */
  long claim = chunk ? chunk : (n + 4 * procs - 1) / (4 * procs);
  if (k == V_SHM) rc = shm_map(&shm_pool, n, claim, &ms);
  if (k == V_PIPE) rc = pipe_map(&pipe_pool, n, &ms);
  if (rc != 0) drop_raw(k);
#else
  (void)procs;
#endif
  if (rc != 0) fail_variant(v, fig, r < 0 ? "warm-up" : "rep");
  else if (r >= 0) v->rep[r] = ms;
}

static void aim_map(const char *fig, const variant *m, int reps) {
  if (!usable(m)) return;
  double ms = median(m->rep, reps);
  fprintf(stderr, BENCH_NAME ": aim %s: >= 20x faster than Python (read 'faster than python' in "
          "bench/run's table): mproc %.3g ms, met if Python takes >= %.3g ms\n", fig, ms,
          20 * ms);
}

/* kind 0: pool.map_trivial, 1: pool.map_trivial_c1, 2: pool.map_trivial_1M. */
static void group_map(const config *cfg, int kind) {
  static const char *const fig[3] = {"pool.map_trivial", "pool.map_trivial_c1",
                                     "pool.map_trivial_1M"};
  const char *names[2] = {fig[kind], "pool.map_trivial_c1_pipe"};
  int c1 = kind == 1;
  int reps = c1 ? cfg->reps_c1 : cfg->reps_map;
  long chunk = c1 ? 1 : 0, n = kind == 2 ? MAP_N_BIG : MAP_N;
  variant v[3];
  enum vkind kinds[3] = {V_MPROC, V_SHM, V_PIPE};
  int nv = c1 ? 3 : 2;
  if (!selected(cfg, names, nv - 1)) return;
  init_variant(&v[0], "mproc", V_MPROC);
  init_variant(&v[1], "shm", V_SHM);
  init_variant(&v[2], "pipe", V_PIPE);
  /* Warm-up: page faults in the workers, cold caches; a shorter one for chunksize 1. */
  for (int i = 0; i < nv; i++) map_rep(&v[i], kinds[i], names[0], c1 ? 2000 : n, chunk,
                                       cfg->procs, -1);
  for (int r = 0; r < reps; r++)
    for (int i = 0; i < nv; i++) map_rep(&v[i], kinds[i], names[0], n, chunk, cfg->procs, r);
  print_row(names[0], "ms", "lower", &v[0], &v[1], reps, cfg->procs);
  if (c1) print_row(names[1], "ms", "lower", &v[0], &v[2], reps, cfg->procs);
  for (int i = 0; i < nv; i++) print_summary(names[0], &v[i], "ms", reps, cfg);
  aim_map(names[0], &v[0], reps);
}

static void aim_array(const char *fig, const variant *m, const variant *r, int reps) {
  if (!usable(m) || !usable(r)) return;
  double a = median(m->rep, reps), b = median(r->rep, reps);
  fprintf(stderr, BENCH_NAME ": aim %s: <= 3x the raw floor: mproc %.3g ms, raw %.3g ms, "
          "%.2fx (%s)\n", fig, a, b, a / b, a <= 3 * b ? "met" : "NOT met");
}

/* pool.map_array_1M: mproc_pool_map_array over shared arrays against the shm workers. */
static void group_map_array(const config *cfg) {
  const char *name = "pool.map_array_1M";
  long n = MAP_N_BIG, claim = (n + 4 * cfg->procs - 1) / (4 * cfg->procs);
  variant v[2];
  enum vkind kinds[2] = {V_ARRAY, V_SHM};
  if (!selected(cfg, &name, 1)) return;
  if (pool && (mproc_raw_array_new(&arr_in, 'q', (size_t)n, NULL) != 0 ||
               mproc_raw_array_new(&arr_out, 'q', (size_t)n, NULL) != 0)) {
    mproc_array_free(arr_in);
    arr_in = NULL;
  }
  init_variant(&v[0], "mproc", V_ARRAY);
  init_variant(&v[1], "shm", V_SHM);
  for (int i = 0; i < 2; i++) map_rep(&v[i], kinds[i], name, n, claim, cfg->procs, -1);
  for (int r = 0; r < cfg->reps_map; r++)
    for (int i = 0; i < 2; i++) map_rep(&v[i], kinds[i], name, n, claim, cfg->procs, r);
  print_row(name, "ms", "lower", &v[0], &v[1], cfg->reps_map, cfg->procs);
  for (int i = 0; i < 2; i++) print_summary(name, &v[i], "ms", cfg->reps_map, cfg);
  aim_map(name, &v[0], cfg->reps_map);
  aim_array(name, &v[0], &v[1], cfg->reps_map);
  mproc_array_free(arr_in);
  mproc_array_free(arr_out);
  arr_in = arr_out = NULL;
}

static void group_rtt(const config *cfg) {
  const char *name = "pool.apply_async_rtt";
  variant v[2];
  if (!selected(cfg, &name, 1)) return;
  init_variant(&v[0], "mproc", V_MPROC);
  init_variant(&v[1], "raw", V_SOCK);
  if (usable(&v[0]) && mp_rtt(100) != 0) fail_variant(&v[0], name, "warm-up");
  for (int r = 0; r < cfg->reps_rtt; r++) {
    if (usable(&v[0])) {
      double t0 = now_us();
      if (mp_rtt(cfg->n_rtt) != 0) fail_variant(&v[0], name, "rep");
      v[0].rep[r] = (now_us() - t0) / cfg->n_rtt;
    }
#ifdef HAVE_RAW
    if (usable(&v[1]) && raw_rtt(cfg->n_rtt, &v[1].rep[r]) != 0)
      fail_variant(&v[1], name, "socketpair round trips");
#endif
  }
  print_row(name, "us", "lower", &v[0], &v[1], cfg->reps_rtt, cfg->procs);
  for (int i = 0; i < 2; i++) print_summary(name, &v[i], "us", cfg->reps_rtt, cfg);
}

/* One parallel run of the CPU job; its speed-up against serial_us goes to v->rep[r]. */
static void cpu_rep(variant *v, enum vkind k, const config *cfg, int64_t below, int64_t want,
                    double serial_us, int r) {
  int tasks = 4 * cfg->procs, rc = -1;
  int64_t primes = -1;
  if (!usable(v)) return;
  double t0 = now_us();
  if (k == V_MPROC) rc = mp_cpu(tasks, &primes);
#ifdef HAVE_RAW
  if (k == V_SHM && (rc = shm_cpu(&shm_pool, tasks, below, &primes)) != 0) drop_raw(k);
#else
  (void)below;
#endif
  double us = now_us() - t0;
  if (rc == 0 && primes != want) {
    fprintf(stderr, BENCH_NAME ": %s counted %lld primes, serial %lld\n", v->name,
            (long long)primes, (long long)want);
    rc = -1;
  }
  if (rc != 0) fail_variant(v, "pool.cpu_speedup", r < 0 ? "warm-up" : "rep");
  else if (r >= 0) v->rep[r] = serial_us / us;
}

static int64_t serial_primes(int tasks, int64_t below, double *us) {
  int64_t c = 0;
  double t0 = now_us();
  for (int k = 0; k < tasks; k++) c += count_task(k, tasks, below);
  *us = now_us() - t0;
  return c;
}

static int make_cpu_lists(int tasks, int64_t below) {
  for (int k = 0; k < tasks; k++) {
    mproc_args_free(cpu_lists[k]);
    cpu_lists[k] = NULL;
    int err = mproc_args_build(&cpu_lists[k], "lll", (int64_t)k, (int64_t)tasks, below);
    if (err) return report_mproc("mproc_args_build", err);
  }
  return 0;
}

static void aim_cpu(const variant *v, int reps, int procs) {
  fprintf(stderr, BENCH_NAME ": aim pool.cpu_speedup: >= 0.9 x %d cores = %.2f:", procs,
          0.9 * procs);
  for (int i = 0; i < 2; i++) {
    if (!usable(&v[i])) continue;
    double s = median(v[i].rep, reps);
    fprintf(stderr, " %s %.2f (%.2f per core%s)", v[i].name, s, s / procs,
            i == 0 ? (s >= 0.9 * procs ? ", met" : ", NOT met") : "");
  }
  fprintf(stderr, "\n");
}

static void group_cpu(const config *cfg) {
  const char *name = "pool.cpu_speedup";
  int tasks = 4 * cfg->procs;
  double serial[MAX_REPS], us;
  variant v[2];
  if (!selected(cfg, &name, 1)) return;
  init_variant(&v[0], "mproc", V_MPROC);
  init_variant(&v[1], "raw", V_SHM);
  /* Warm-up on a small job: the task's code and data in every worker. */
  int64_t want = serial_primes(tasks, 20000, &us);
  if (make_cpu_lists(tasks, 20000) != 0) fail_variant(&v[0], name, "argument lists");
  for (int i = 0; i < 2; i++) cpu_rep(&v[i], i ? V_SHM : V_MPROC, cfg, 20000, want, us, -1);
  if (usable(&v[0]) && make_cpu_lists(tasks, cfg->primes_n) != 0)
    fail_variant(&v[0], name, "argument lists");
  for (int r = 0; r < cfg->reps_cpu; r++) {
    want = serial_primes(tasks, cfg->primes_n, &serial[r]);
    for (int i = 0; i < 2; i++)
      cpu_rep(&v[i], i ? V_SHM : V_MPROC, cfg, cfg->primes_n, want, serial[r], r);
  }
  print_row(name, "x", "higher", &v[0], &v[1], cfg->reps_cpu, cfg->procs);
  if (!cfg->json_only)
    fprintf(stderr, "  %-24s serial median %.1f ms (min %.1f, max %.1f), %d tasks, primes "
            "below %lld: %lld\n", name, median(serial, cfg->reps_cpu) / 1e3,
            min_of(serial, cfg->reps_cpu) / 1e3, max_of(serial, cfg->reps_cpu) / 1e3, tasks,
            (long long)cfg->primes_n, (long long)want);
  for (int i = 0; i < 2; i++) print_summary(name, &v[i], "x", cfg->reps_cpu, cfg);
  aim_cpu(v, cfg->reps_cpu, cfg->procs);
  for (int k = 0; k < tasks; k++) mproc_args_free(cpu_lists[k]), cpu_lists[k] = NULL;
}

static int usage(void) {
  fprintf(stderr, "usage: bench_pool [--quick] [--json-only] [--reps R] [--method M] "
                  "[--only PREFIX] [--processes P] [--rtt-n N] [--primes-below N]\n");
  return 2;
}

static int parse_args(int argc, char **argv, config *cfg) {
  int reps = 0, quick = 0;
  memset(cfg, 0, sizeof *cfg);
  for (int i = 1; i < argc; i++) {
    int common = common_arg(argc, argv, &i, &quick, &cfg->json_only, &reps);
    if (common < 0) return -1;
    if (common > 0) continue;
    if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
      cfg->only = argv[++i];
    else if (strcmp(argv[i], "--processes") == 0 && i + 1 < argc)
      cfg->procs = atoi(argv[++i]);
    else if (strcmp(argv[i], "--rtt-n") == 0 && i + 1 < argc)
      cfg->n_rtt = atoi(argv[++i]);
    else if (strcmp(argv[i], "--primes-below") == 0 && i + 1 < argc)
      cfg->primes_n = atoll(argv[++i]);
    else
      return -1;
  }
  if (cfg->procs <= 0) cfg->procs = mproc_cpu_count_usable();
  cfg->reps_map = reps > 0 ? reps : quick ? 5 : 11;
  cfg->reps_c1 = reps > 0 ? reps : quick ? 3 : 7;
  cfg->reps_rtt = reps > 0 ? reps : quick ? 5 : 11;
  cfg->reps_cpu = reps > 0 ? reps : quick ? 3 : 7;
  if (cfg->n_rtt <= 0) cfg->n_rtt = quick ? 1000 : 2000;
  if (cfg->primes_n <= 0) cfg->primes_n = quick ? 3000000 : 8000000;
  /* Below 2^31, d * d of the trial division stays within 32 bits. */
  return reps <= MAX_REPS && cfg->procs <= MAX_PROCS && cfg->primes_n < ((int64_t)1 << 31) ? 0
                                                                                          : -1;
}

int main(int argc, char **argv) {
  config cfg;
  /* Spawned mproc workers re-enter main here and never return from mproc_main. */
  int err = mproc_main(argc, argv);
  if (err) {
    report_mproc("mproc_main", err);
    return 1;
  }
  if (parse_args(argc, argv, &cfg)) return usage();
  if (!cfg.json_only)
    fprintf(stderr, BENCH_NAME ": %d processes per pool (%s), start method %s\n", cfg.procs,
            cfg.procs == mproc_cpu_count_usable() ? "the usable CPUs" : "--processes",
            mproc_start_method_name(mproc_get_start_method()));
#ifdef HAVE_RAW
  /* The raw workers first, so that they hold none of the pool's descriptors. */
  if (raw_init() == 0) {
    shm_up = raw_start(&shm_pool, cfg.procs, 1) == 0;
    pipe_up = raw_start(&pipe_pool, cfg.procs, 0) == 0;
  }
  if (!shm_up || !pipe_up) any_failed = 1;
#endif
  mproc_pool_options po;
  memset(&po, 0, sizeof po);
  po.processes = cfg.procs;
  if ((err = mproc_pool_new(&pool, &po)) != 0 || (err = mproc_args_new(&no_args)) != 0) {
    report_mproc("mproc_pool_new", err);
    mproc_pool_free(pool);
    pool = NULL;
    any_failed = 1;
  }
  group_map(&cfg, 0);
  group_map(&cfg, 2);
  group_map_array(&cfg);
  group_map(&cfg, 1);
  group_rtt(&cfg);
  group_cpu(&cfg);
  if (pool) {
    if ((err = mproc_pool_close(pool)) == 0) err = mproc_pool_join(pool, 10000);
    if (err) report_mproc("closing the pool", err), any_failed = 1;
    mproc_pool_free(pool);
  }
  mproc_args_free(no_args);
#ifdef HAVE_RAW
  if (shm_up && raw_stop(&shm_pool, 1, 1) != 0) any_failed = 1;
  if (pipe_up && raw_stop(&pipe_pool, 0, 1) != 0) any_failed = 1;
  if (ctl) munmap(ctl, raw_bytes);
#endif
  return any_failed;
}
