/* SPDX-License-Identifier: MIT */
/*
 * bench_shared: cost of shared state (Value, Array) within one process and between two.
 *
 * Figures:
 *   value.locked_incr       ns per increment of a shared int under its lock, one process:
 *                           acquire, ++*ptr, release, N = 1,000,000 times;
 *   value.locked_incr_2p    ns per increment, two processes each doing N/2 = 500,000 of the
 *                           same increments on the same value: the time from the first
 *                           process's start to the last one's end, divided by N. On Linux with
 *                           2 CPUs or more child i pins itself to the i-th allowed CPU (two
 *                           processes on one CPU take turns by time slice and never contest
 *                           the lock; the figure would flip between contended and not);
 *   value.atomic_incr       ns per lock-free atomic increment of the shared int, one process;
 *   value.atomic_incr_2p    the same from two processes, 500,000 each, pinned as above;
 *   array.create_256MiB     ms to create a 256 MiB shared array (zero-filled, usable);
 *   array.fill_256MiB       GiB/s: a child (not the creator) memsets the fresh array to 1,
 *                           timed in the child: the faults of its first touch of every page
 *                           are part of it (for raw they allocate the pages; mproc's exist);
 *   array.sum_256MiB        GiB/s: the parent then sums the array as 64-bit words;
 *   array.bandwidth_256MiB  GiB/s: 256 MiB / (create + fill + sum time), per rep: how fast a
 *                           fresh array goes from a child's hands into the parent's result.
 *                           create is in because it decides where the pages are allocated:
 *                           mproc reserves them (posix_fallocate) and zero-fills the array in
 *                           the creator, so its child and parent find them present, while the
 *                           raw mapping is allocated by the child's first touch. fill + sum
 *                           alone would credit mproc for work it did in create.
 * Columns:
 *   mproc  mproc_value_new('i', NULL, MPROC_LOCK_NEW) (Python's Value('i'): a new RLock) with
 *          mproc_lock_acquire / ++*(int *)mproc_value_ptr / mproc_lock_release, and
 *          mproc_value_add(v, 1, NULL) for the atomic figures; mproc_raw_array_new('q', 256 MiB
 *          / 8) for the array. The second process (and the array's filler) is an mproc child
 *          started with the default start method (spawn; --method changes it) that gets the
 *          objects as arguments (mproc_args_add_value / mproc_args_add_array); the gate and
 *          the children's clocks are in a raw record Value (mproc_value_new_record).
 *   raw    (POSIX except macOS) a robust, process-shared pthread mutex (no priority
 *          inheritance) and an int in a MAP_SHARED|MAP_ANONYMOUS mapping, on different cache
 *          lines; __atomic_fetch_add on that int; a fresh MAP_SHARED|MAP_ANONYMOUS mapping for
 *          the array (mmap + munmap for create). The other process is made with fork(). Fill
 *          and sum run the same C code as for mproc (memset; a sum over 4 accumulators).
 *   apr    null: APR has no shared value or array (apr_shm + apr_proc_mutex would be a raw
 *          composition, and APR's default mutex is measured by bench_sync).
 *
 * Method: a figure is the median of R reps; the reps of a group's variants are interleaved
 * (mproc, raw, mproc, ...) so that a slow minute on the host hits both alike. One-process reps
 * warm up with 1,000 untimed increments, then time N back to back. Two-process reps start both
 * children, which meet at a spinning gate in shared memory before starting their clocks, so
 * process start-up is not timed. Array reps create the array, start the filler, join it, sum,
 * check the sum and free the array: the array is fresh in every rep. Every rep checks the
 * result (counter = N, sum = what the fill gives).
 *
 * Usage: bench_shared [--quick] [--json-only] [--reps R] [--method fork|spawn|forkserver]
 *                     [--only PREFIX] [--mib M]
 *   --only runs the groups with a figure whose name starts with PREFIX (groups: the
 *   one-process value.*_incr, the two-process value.*_2p, array.*); --mib sets the array size
 *   (the figure names follow it).
 *   JSON lines go to stdout; the human-readable summary goes to stderr.
 */
#define BENCH_NAME "bench_shared"
#include "bench_util.h"

#if !defined(_WIN32) && !defined(__APPLE__)
#define HAVE_RAW 1 /* robust pshared mutexes */
#include <pthread.h>
#endif

#define MAX_REPS 64
#define WARM 1000
#define SLOT 128

typedef struct config {
  long n_loop;    /* increments per one-process rep */
  long n_2p;      /* increments per process per two-process rep */
  size_t bytes;   /* array size */
  int reps_loop, reps_2p, reps_arr;
  int json_only;
  const char *only;
} config;


/* ----------------------------------------------------------------------------------------
 * Control block shared with the children: the gate, the children's clocks. For mproc it is a
 * raw record Value; for the fork variants it sits at the start of the anonymous mapping.
 * -------------------------------------------------------------------------------------- */
typedef struct ctl {
  union {
    long v; /* processes arrived at the gate */
    char pad[SLOT];
  } gate;
  union {
    double v[4]; /* t_start[2], t_end[2] in us (two-process reps); v[0] = fill us (array) */
    char pad[SLOT];
  } times;
} ctl;

static void gate_pass(ctl *c) { gate_spin(&c->gate.v, 2); }

/* ns per increment: first start to last end, over the 2n increments. */
static double two_proc_ns(const ctl *c, long n) { return two_proc_span_ns(c->times.v, n); }

/* ----------------------------------------------------------------------------------------
 * Pinning (Linux): the CPU each two-process child pins itself to (-1: none).
 * -------------------------------------------------------------------------------------- */
static int cont_cpu[2] = {-1, -1};

#ifdef __linux__
static void pin_setup(void) {
  cpu_set_t mask;
  int cpus[2];
  if (allowed_cpus(&mask, cpus) == 2) cont_cpu[0] = cpus[0], cont_cpu[1] = cpus[1];
}
#endif

/* ----------------------------------------------------------------------------------------
 * The work, shared by every variant
 * -------------------------------------------------------------------------------------- */
enum op { OP_LOCKED, OP_ATOMIC };

static void fill(void *p, size_t bytes) { memset(p, 1, bytes); }

static uint64_t sum_words(const uint64_t *p, size_t n) {
  uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) s0 += p[i], s1 += p[i + 1], s2 += p[i + 2], s3 += p[i + 3];
  for (; i < n; i++) s0 += p[i];
  return s0 + s1 + s2 + s3;
}

/* What sum_words gives for an array filled by fill(). */
static uint64_t expected_sum(size_t bytes) {
  return (uint64_t)(bytes / 8) * UINT64_C(0x0101010101010101);
}

static double gib_per_s(size_t bytes, double us) {
  return (double)bytes / (1024.0 * 1024.0 * 1024.0) / (us / 1e6);
}

/* ----------------------------------------------------------------------------------------
 * mproc
 * -------------------------------------------------------------------------------------- */
typedef struct mp_state {
  mproc_value_t *v;   /* Value('i') with its RLock */
  mproc_lock_t *lock; /* mproc_value_get_lock(v) */
  mproc_value_t *ctl; /* raw record Value: ctl */
} mp_state;

static int mp_incr(mproc_value_t *v, mproc_lock_t *lock, enum op op, long n) {
  volatile int *p = mproc_value_ptr(v);
  int err = 0;
  if (op == OP_LOCKED) {
    for (long i = 0; i < n; i++) {
      if ((err = mproc_lock_acquire(lock, MPROC_FOREVER)) != 0) break;
      ++*p;
      if ((err = mproc_lock_release(lock)) != 0) break;
    }
  } else {
    for (long i = 0; i < n && !err; i++) err = mproc_value_add(v, 1, NULL);
  }
  return err;
}

static int mp_counter(const mp_state *s, int64_t *out) { return mproc_value_load(s->v, out); }

static int check_counter(const char *who, int64_t got, long want) {
  if (got == want) return 0;
  fprintf(stderr, "bench_shared: %s counter is %lld, not %ld\n", who, (long long)got, want);
  return -1;
}

static int rep_loop_mproc(mp_state *s, enum op op, long n, double *out) {
  int64_t got = 0;
  int err = mproc_value_store(s->v, 0);
  if (!err) err = mp_incr(s->v, s->lock, op, WARM);
  if (err) return report_mproc("mproc warm-up", err);
  double t0 = now_us();
  err = mp_incr(s->v, s->lock, op, n);
  double us = now_us() - t0;
  if (err) return report_mproc(op == OP_LOCKED ? "mproc locked increment" : "mproc_value_add",
                               err);
  if ((err = mp_counter(s, &got)) != 0) return report_mproc("mproc_value_load", err);
  if (check_counter("mproc", got, WARM + n) != 0) return -1;
  *out = us * 1e3 / (double)n;
  return 0;
}

/* Two-process child: args (value, ctl, op, n, index, cpu). */
static int mproc_incr_child(const mproc_args_t *args) {
  mproc_value_t *v, *cv;
  int64_t op, n, idx, cpu;
  int err = mproc_args_get_value(args, 0, &v);
  if (!err) err = mproc_args_get_value(args, 1, &cv);
  if (!err) err = mproc_args_get_int(args, 2, &op);
  if (!err) err = mproc_args_get_int(args, 3, &n);
  if (!err) err = mproc_args_get_int(args, 4, &idx);
  if (!err) err = mproc_args_get_int(args, 5, &cpu);
  if (err) return mproc_fail(2, "bench_shared child: bad arguments: %s", mproc_strerror(err));
  if (pin_self((int)cpu) != 0) return mproc_fail(2, "bench_shared child: cannot pin to CPU");
  ctl *c = mproc_value_ptr(cv);
  gate_pass(c);
  c->times.v[idx] = now_us();
  err = mp_incr(v, mproc_value_get_lock(v), (enum op)op, (long)n);
  c->times.v[2 + idx] = now_us();
  return err ? mproc_fail(3, "bench_shared child: %s", mproc_strerror(err)) : 0;
}

/* Array filler: args (array, ctl). Writes the fill time (us) to ctl times[0]. */
static int mproc_fill_child(const mproc_args_t *args) {
  mproc_array_t *a;
  mproc_value_t *cv;
  int err = mproc_args_get_array(args, 0, &a);
  if (!err) err = mproc_args_get_value(args, 1, &cv);
  if (err) return mproc_fail(2, "bench_shared child: bad arguments: %s", mproc_strerror(err));
  ctl *c = mproc_value_ptr(cv);
  size_t bytes = mproc_array_length(a) * mproc_array_elem_size(a);
  double t0 = now_us();
  fill(mproc_array_ptr(a), bytes);
  c->times.v[0] = now_us() - t0;
  return 0;
}

static int start_mproc(mproc_process_t **p, mproc_target_fn fn, mproc_args_t *args) {
  int err = mproc_process_new(p, fn, args);
  if (err == 0 && (err = mproc_process_start(*p)) != 0) {
    mproc_process_free(*p);
    *p = NULL;
  }
  return err;
}


static int rep_2p_mproc(mp_state *s, enum op op, long n, double *out) {
  mproc_process_t *p[2] = {NULL, NULL};
  ctl *c = mproc_value_ptr(s->ctl);
  int64_t got = 0;
  int err = mproc_value_store(s->v, 0), rc = 0;
  memset(c, 0, sizeof *c);
  for (int i = 0; i < 2 && !err; i++) {
    mproc_args_t *args = NULL;
    if ((err = mproc_args_new(&args)) == 0 && (err = mproc_args_add_value(args, s->v)) == 0 &&
        (err = mproc_args_add_value(args, s->ctl)) == 0 &&
        (err = mproc_args_add_int(args, op)) == 0 && (err = mproc_args_add_int(args, n)) == 0 &&
        (err = mproc_args_add_int(args, i)) == 0 &&
        (err = mproc_args_add_int(args, cont_cpu[i])) == 0)
      err = start_mproc(&p[i], mproc_incr_child, args);
    mproc_args_free(args);
  }
  if (err) rc = report_mproc("starting an mproc child", err);
  for (int i = 0; i < 2; i++)
    if (p[i] && stop_mproc_child(p[i], rc == 0) != 0) rc = -1;
  if (rc) return -1;
  if ((err = mp_counter(s, &got)) != 0) return report_mproc("mproc_value_load", err);
  if (check_counter("mproc", got, 2 * n) != 0) return -1;
  *out = two_proc_ns(c, n);
  return 0;
}

/* The array figures of one rep: create ms, fill us, sum us. */
typedef struct arr_rep {
  double create_ms, fill_us, sum_us;
} arr_rep;

static int check_sum(const char *who, uint64_t got, size_t bytes) {
  if (got == expected_sum(bytes)) return 0;
  fprintf(stderr, "bench_shared: %s array sum is %llu, not %llu\n", who,
          (unsigned long long)got, (unsigned long long)expected_sum(bytes));
  return -1;
}

static int rep_array_mproc(mp_state *s, size_t bytes, arr_rep *out) {
  mproc_array_t *a = NULL;
  mproc_process_t *p = NULL;
  mproc_args_t *args = NULL;
  ctl *c = mproc_value_ptr(s->ctl);
  memset(c, 0, sizeof *c);
  double t0 = now_us();
  int err = mproc_raw_array_new(&a, 'q', bytes / 8, NULL);
  out->create_ms = (now_us() - t0) / 1e3;
  if (err) return report_mproc("mproc_raw_array_new", err);
  if ((err = mproc_args_new(&args)) == 0 && (err = mproc_args_add_array(args, a)) == 0 &&
      (err = mproc_args_add_value(args, s->ctl)) == 0)
    err = start_mproc(&p, mproc_fill_child, args);
  mproc_args_free(args);
  int rc = err ? report_mproc("starting the mproc filler", err) : 0;
  if (p && stop_mproc_child(p, rc == 0) != 0) rc = -1;
  if (rc == 0) {
    out->fill_us = c->times.v[0];
    t0 = now_us();
    uint64_t sum = sum_words(mproc_array_ptr(a), bytes / 8);
    out->sum_us = now_us() - t0;
    rc = check_sum("mproc", sum, bytes);
  }
  mproc_array_free(a);
  return rc;
}

/* ----------------------------------------------------------------------------------------
 * Raw OS baseline (POSIX except macOS): fork, a robust pshared mutex, __atomic, mmap
 * -------------------------------------------------------------------------------------- */
#ifdef HAVE_RAW
typedef struct raw_area {
  ctl c;
  union {
    pthread_mutex_t m;
    char pad[SLOT];
  } mutex;
  union {
    int v; /* the counter */
    char pad[SLOT];
  } counter;
} raw_area;

static raw_area *ra; /* shared with the fork children */

static int raw_init(void) {
  void *p = mmap(NULL, sizeof(raw_area), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                 -1, 0);
  if (p == MAP_FAILED) {
    perror("bench_shared: mmap");
    return -1;
  }
  ra = p;
  pthread_mutexattr_t at;
  int e = pthread_mutexattr_init(&at);
  if (!e) e = pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
  if (!e) e = pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
  if (!e) e = pthread_mutex_init(&ra->mutex.m, &at);
  pthread_mutexattr_destroy(&at);
  if (e) {
    fprintf(stderr, "bench_shared: robust pshared mutex: %s\n", strerror(e));
    munmap(p, sizeof(raw_area));
    ra = NULL;
    return -1;
  }
  return 0;
}

static int raw_incr(enum op op, long n) {
  volatile int *p = &ra->counter.v;
  if (op == OP_LOCKED) {
    for (long i = 0; i < n; i++) {
      if (pthread_mutex_lock(&ra->mutex.m) != 0) return -1;
      ++*p;
      if (pthread_mutex_unlock(&ra->mutex.m) != 0) return -1;
    }
  } else {
    for (long i = 0; i < n; i++) __atomic_fetch_add(&ra->counter.v, 1, __ATOMIC_SEQ_CST);
  }
  return 0;
}

static int raw_counter(void) { return __atomic_load_n(&ra->counter.v, __ATOMIC_SEQ_CST); }

static int rep_loop_raw(enum op op, long n, double *out) {
  ra->counter.v = 0;
  if (raw_incr(op, WARM) != 0) return -1;
  double t0 = now_us();
  int rc = raw_incr(op, n);
  double us = now_us() - t0;
  if (rc != 0) {
    fprintf(stderr, "bench_shared: raw increment failed\n");
    return -1;
  }
  if (check_counter("raw", raw_counter(), WARM + n) != 0) return -1;
  *out = us * 1e3 / (double)n;
  return 0;
}


static int raw_incr_child(enum op op, long n, int idx) {
  if (pin_self(cont_cpu[idx]) != 0) return 2;
  gate_pass(&ra->c);
  ra->c.times.v[idx] = now_us();
  int rc = raw_incr(op, n);
  ra->c.times.v[2 + idx] = now_us();
  return rc ? 3 : 0;
}

struct raw_pair { enum op op; long n; };
static int raw_pair_child(int idx, void *ctx) {
  struct raw_pair *p = ctx;
  return raw_incr_child(p->op, p->n, idx);
}

static int rep_2p_raw(enum op op, long n, double *out) {
  memset(&ra->c, 0, sizeof ra->c);
  ra->counter.v = 0;
  struct raw_pair p = {op, n};
  if (fork_pair(raw_pair_child, &p) != 0) return -1;
  if (check_counter("raw", raw_counter(), 2 * n) != 0) return -1;
  *out = two_proc_ns(&ra->c, n);
  return 0;
}

static int rep_array_raw(size_t bytes, arr_rep *out) {
  memset(&ra->c, 0, sizeof ra->c);
  double t0 = now_us();
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  out->create_ms = (now_us() - t0) / 1e3;
  if (p == MAP_FAILED) {
    perror("bench_shared: mmap of the array");
    return -1;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    double f0 = now_us();
    fill(p, bytes);
    ra->c.times.v[0] = now_us() - f0;
    _exit(0);
  }
  int rc = pid < 0 ? (perror("bench_shared: fork"), -1) : wait_child(pid);
  if (rc == 0) {
    out->fill_us = ra->c.times.v[0];
    t0 = now_us();
    uint64_t sum = sum_words(p, bytes / 8);
    out->sum_us = now_us() - t0;
    rc = check_sum("raw", sum, bytes);
  }
  munmap(p, bytes);
  return rc;
}
#endif /* HAVE_RAW */

/* ----------------------------------------------------------------------------------------
 * Driver
 * -------------------------------------------------------------------------------------- */
typedef struct series {
  const char *name;
  double v[MAX_REPS];
  int ok; /* measured in every rep */
} series;

/* A figure: its mproc and raw series. */
typedef struct figure {
  char bench[64];
  const char *unit;
  int higher; /* 1: higher is better */
  series s[2];
} figure;

static void figure_init(figure *f, const char *bench, const char *unit, int higher, int mproc_ok,
                        int raw_ok) {
  memset(f, 0, sizeof *f);
  snprintf(f->bench, sizeof f->bench, "%s", bench);
  f->unit = unit;
  f->higher = higher;
  f->s[0].name = "mproc";
  f->s[1].name = "raw";
  f->s[0].ok = mproc_ok;
  f->s[1].ok = raw_ok;
}

static void fail_series(figure *f, int i) {
  if (!f->s[i].ok) return;
  fprintf(stderr, "bench_shared: %s %s failed; reported as null\n", f->bench, f->s[i].name);
  f->s[i].ok = 0;
  any_failed = 1;
}

static void print_col(const series *s, int reps) {
  if (!s->ok) {
    printf("null");
    return;
  }
  double m = median(s->v, reps);
  printf(m < 10 ? "%.3g" : "%.1f", m);
}

static void emit(const figure *f, int reps, const config *cfg, const char *detail) {
  printf("{\"bench\":\"%s\",\"unit\":\"%s\",\"better\":\"%s\",\"mproc\":", f->bench, f->unit,
         f->higher ? "higher" : "lower");
  print_col(&f->s[0], reps);
  printf(",\"python\":null,\"raw\":");
  print_col(&f->s[1], reps);
  printf(",\"apr\":null}\n");
  fflush(stdout);
  if (cfg->json_only) return;
  for (int i = 0; i < 2; i++) {
    const series *s = &f->s[i];
    if (!s->ok) {
      fprintf(stderr, "  %-24s %-5s  not measured\n", f->bench, s->name);
      continue;
    }
    fprintf(stderr, "  %-24s %-5s  median %9.3f %s  (min %.3f, max %.3f; %d reps%s)\n",
            f->bench, s->name, median(s->v, reps), f->unit, min_of(s->v, reps),
            max_of(s->v, reps), reps, detail);
  }
}

static int group_wanted(const config *cfg, const char *const *names, int n) {
  if (!cfg->only) return 1;
  for (int i = 0; i < n; i++)
    if (strncmp(names[i], cfg->only, strlen(cfg->only)) == 0) return 1;
  return 0;
}

static int raw_available(void) {
#ifdef HAVE_RAW
  return ra != NULL;
#else
  return 0;
#endif
}

/* value.locked_incr and value.atomic_incr, one process. */
static void bench_loops(mp_state *s, const config *cfg) {
  figure f[2];
  figure_init(&f[0], "value.locked_incr", "ns", 0, s->v != NULL, raw_available());
  figure_init(&f[1], "value.atomic_incr", "ns", 0, s->v != NULL, raw_available());
  for (int r = 0; r < cfg->reps_loop; r++)
    for (int k = 0; k < 2; k++) {
      enum op op = k == 0 ? OP_LOCKED : OP_ATOMIC;
      if (f[k].s[0].ok && rep_loop_mproc(s, op, cfg->n_loop, &f[k].s[0].v[r]) != 0)
        fail_series(&f[k], 0);
#ifdef HAVE_RAW
      if (f[k].s[1].ok && rep_loop_raw(op, cfg->n_loop, &f[k].s[1].v[r]) != 0)
        fail_series(&f[k], 1);
#endif
    }
  char detail[64];
  snprintf(detail, sizeof detail, " x %ld", cfg->n_loop);
  for (int k = 0; k < 2; k++) emit(&f[k], cfg->reps_loop, cfg, detail);
}

/* value.locked_incr_2p and value.atomic_incr_2p. */
static void bench_2p(mp_state *s, const config *cfg) {
  figure f[2];
  int mp_ok = s->v != NULL && s->ctl != NULL;
  figure_init(&f[0], "value.locked_incr_2p", "ns", 0, mp_ok, raw_available());
  figure_init(&f[1], "value.atomic_incr_2p", "ns", 0, mp_ok, raw_available());
  for (int r = 0; r < cfg->reps_2p; r++)
    for (int k = 0; k < 2; k++) {
      enum op op = k == 0 ? OP_LOCKED : OP_ATOMIC;
      if (f[k].s[0].ok && rep_2p_mproc(s, op, cfg->n_2p, &f[k].s[0].v[r]) != 0)
        fail_series(&f[k], 0);
#ifdef HAVE_RAW
      if (f[k].s[1].ok && rep_2p_raw(op, cfg->n_2p, &f[k].s[1].v[r]) != 0)
        fail_series(&f[k], 1);
#endif
    }
  char detail[64];
  snprintf(detail, sizeof detail, " x 2 x %ld%s", cfg->n_2p,
           cont_cpu[0] >= 0 ? ", pinned to 2 CPUs" : "");
  for (int k = 0; k < 2; k++) emit(&f[k], cfg->reps_2p, cfg, detail);
}

/* array.create / fill / sum / bandwidth. */
static void bench_array(mp_state *s, const config *cfg) {
  static const char *what[4] = {"create", "fill", "sum", "bandwidth"};
  figure f[4];
  char name[64];
  size_t mib = cfg->bytes >> 20;
  for (int k = 0; k < 4; k++) {
    snprintf(name, sizeof name, "array.%s_%zuMiB", what[k], mib);
    figure_init(&f[k], name, k == 0 ? "ms" : "GiB/s", k != 0, s->ctl != NULL, raw_available());
  }
  for (int r = 0; r < cfg->reps_arr; r++)
    for (int i = 0; i < 2; i++) {
      arr_rep a = {0, 0, 0};
      int rc = -1;
      if (!f[0].s[i].ok) continue;
      if (i == 0) rc = rep_array_mproc(s, cfg->bytes, &a);
#ifdef HAVE_RAW
      else
        rc = rep_array_raw(cfg->bytes, &a);
#endif
      if (rc != 0) {
        for (int k = 0; k < 4; k++) fail_series(&f[k], i);
        continue;
      }
      f[0].s[i].v[r] = a.create_ms;
      f[1].s[i].v[r] = gib_per_s(cfg->bytes, a.fill_us);
      f[2].s[i].v[r] = gib_per_s(cfg->bytes, a.sum_us);
      f[3].s[i].v[r] = gib_per_s(cfg->bytes, a.create_ms * 1e3 + a.fill_us + a.sum_us);
    }
  for (int k = 0; k < 4; k++) emit(&f[k], cfg->reps_arr, cfg, "");
}

static int usage(void) {
  fprintf(stderr, "usage: bench_shared [--quick] [--json-only] [--reps R] [--method M] "
                  "[--only PREFIX] [--mib M]\n");
  return 2;
}

static int parse_args(int argc, char **argv, config *cfg) {
  int reps = 0, quick = 0;
  long mib = 256;
  memset(cfg, 0, sizeof *cfg);
  for (int i = 1; i < argc; i++) {
    int common = common_arg(argc, argv, &i, &quick, &cfg->json_only, &reps);
    if (common < 0)
      return -1;
    if (common > 0)
      continue;
    if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
      cfg->only = argv[++i];
    else if (strcmp(argv[i], "--mib") == 0 && i + 1 < argc)
      mib = atol(argv[++i]);
    else
      return -1;
  }
  if (mib < 1 || mib > 65536) return -1;
  cfg->n_loop = 1000000;
  cfg->n_2p = 500000;
  cfg->bytes = (size_t)mib << 20;
  cfg->reps_loop = reps > 0 ? reps : quick ? 9 : 15;
  cfg->reps_2p = reps > 0 ? reps : quick ? 9 : 15;
  cfg->reps_arr = reps > 0 ? reps : quick ? 5 : 11;
  return reps <= MAX_REPS ? 0 : -1;
}

int main(int argc, char **argv) {
  static const char *loop_names[] = {"value.locked_incr", "value.atomic_incr"};
  static const char *two_names[] = {"value.locked_incr_2p", "value.atomic_incr_2p"};
  static const char *arr_names[] = {"array.create", "array.fill", "array.sum",
                                    "array.bandwidth"};
  config cfg;
  mp_state s = {NULL, NULL, NULL};
  /* Spawned mproc children re-enter main here and never return from mproc_main. */
  int err = mproc_main(argc, argv);
  if (err) {
    report_mproc("mproc_main", err);
    return 1;
  }
  if (parse_args(argc, argv, &cfg)) return usage();
#ifdef HAVE_RAW
  if (raw_init() != 0) any_failed = 1;
#endif
#ifdef __linux__
  pin_setup();
#endif
  if ((err = mproc_value_new(&s.v, 'i', NULL, MPROC_LOCK_NEW)) != 0) {
    report_mproc("mproc_value_new", err);
    s.v = NULL;
    any_failed = 1;
  } else {
    s.lock = mproc_value_get_lock(s.v);
  }
  if ((err = mproc_value_new_record(&s.ctl, sizeof(ctl), 64, NULL, MPROC_LOCK_NONE)) != 0) {
    report_mproc("mproc_value_new_record", err);
    s.ctl = NULL;
    any_failed = 1;
  }
  if (group_wanted(&cfg, loop_names, 2)) bench_loops(&s, &cfg);
  if (group_wanted(&cfg, two_names, 2)) bench_2p(&s, &cfg);
  if (group_wanted(&cfg, arr_names, 4)) bench_array(&s, &cfg);
  if (s.ctl) mproc_value_free(s.ctl);
  if (s.v) mproc_value_free(s.v);
#ifdef HAVE_RAW
  if (ra) munmap(ra, sizeof(raw_area));
#endif
  return any_failed;
}
