/* SPDX-License-Identifier: MIT */
/*
 * bench_sync: cost of the synchronization objects (Lock, Semaphore, Event) within one process
 * and between two.
 *
 * Figures (every one "lower is better"):
 *   lock.uncontended        ns per acquire+release pair, one thread, nobody else near the lock;
 *   lock.uncontended_with   the same written as MPROC_WITH_LOCK (Python: `with lock:`);
 *   lock.uncontended_futex  lock.uncontended's mproc figure again, against the leanest lock
 *                           there is (a three-state futex lock, not robust; Linux only);
 *   lock.uncontended_apr_<mech>  apr_proc_mutex_lock+unlock for every mechanism APR has on
 *                           the platform (sysvsem, posixsem, proc_pthread, fcntl, flock);
 *   semaphore.uncontended   ns per acquire+release pair of a Semaphore(1);
 *   lock.contended_2p       ns per increment: two processes each add 1 to a shared counter N
 *                           times (N = 100,000 quick, 200,000 full), taking the lock around
 *                           every increment; the figure is the time from the first process's
 *                           start to the last one's end, divided by 2N (x 0.4 = ms for
 *                           2 x 200,000). On Linux with 2 CPUs or more each process pins itself
 *                           to its own CPU: two processes sharing a CPU take turns by time slice,
 *                           one does all its increments before the other runs, and the figure
 *                           would be the uncontended cost (it flips between the two otherwise);
 *   lock.contended_2p_futex lock.contended_2p's mproc figure again, against the futex lock;
 *   rlock.contended_2p      lock.contended_2p with an mproc RLock (mproc_rlock_new) against the
 *                           same raw reps (reps interleaved: Lock, raw, ..., RLock);
 *   event.pingpong          us per round trip between two processes over two Events: the
 *                           parent sets e1 and waits for e2, then clears e2; the child waits
 *                           for e1, clears it and sets e2. Unpinned;
 *   event.pingpong_pinned   the same with both processes pinned to one CPU (Linux only);
 *   event.pingpong_cross    the same with the parent on one CPU and the child on another
 *                           (Linux, 2 CPUs or more).
 * Columns:
 *   mproc  mproc_lock_new / mproc_semaphore_new / mproc_event_new; the other process is an mproc
 *          child started with the default start method (spawn; --method changes it) that gets
 *          the objects as arguments (mproc_args_add_lock, ...). The contended counter lives in a
 *          named shared-memory segment (shm_open; a named file mapping on Windows) that the
 *          child opens by name, since a spawned child inherits no mapping.
 *   raw    (POSIX except macOS) the OS primitive, in a MAP_SHARED|MAP_ANONYMOUS mapping, the
 *          other process made with fork(): a robust, process-shared pthread mutex
 *          (PTHREAD_MUTEX_ROBUST + PTHREAD_PROCESS_SHARED, no priority inheritance) for the
 *          locks, a process-shared sem_t for the semaphore, and (Linux only) a futex word per
 *          event (0 clear, 1 set, 2 clear with sleepers; set wakes only when someone sleeps).
 *   apr    (built with HAVE_APR) apr_proc_mutex with APR_LOCK_DEFAULT (on Linux: proc_pthread,
 *          robust + PTHREAD_PRIO_INHERIT) for the lock figures, fork() for the second process
 *          (apr_proc_mutex_child_init in the child). APR has no semaphore or event: null.
 * In the two-process figures the lock and the counter sit on different cache lines in every
 * variant (mproc's lock lives in mproc's own segment).
 *
 * Method: a rep times n operations back to back and divides; a figure is the median of R reps,
 * the reps of all variants of a group interleaved (mproc, raw, apr, ..., mproc, ...). In one
 * process n is 1,000,000 (quick) or 5,000,000 (full) pairs, cut so that a rep of a slow
 * mechanism (fcntl, flock, sysvsem: ~1 us a pair) lasts about 20 ms (100 ms). In the contended
 * figures both processes wait at a spinning gate in shared memory before they start their
 * clocks, so process start-up is not timed. An event rep starts a child, does 100 untimed
 * round trips, times n (1,000 quick, 2,000 full), and joins the child.
 *
 * Usage: bench_sync [--quick] [--json-only] [--reps R] [--method fork|spawn|forkserver]
 *                   [--only PREFIX]
 *   --only runs the groups whose figures start with PREFIX (lock.unc, semaphore, lock.cont,
 *   event). JSON lines go to stdout; the human-readable summary goes to stderr.
 */
#define BENCH_NAME "bench_sync"
#include "bench_util.h"

#include <limits.h>

#ifndef _WIN32
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#endif
#if !defined(_WIN32) && !defined(__APPLE__)
#define HAVE_RAW 1 /* robust pshared mutexes and unnamed pshared semaphores */
#include <semaphore.h>
#endif
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif
#ifdef HAVE_APR
#include <apr_errno.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <apr_proc_mutex.h>
#endif

#define MAX_REPS 64
#define MAX_VARIANTS 12
#define WARM_RTT 100

typedef struct config {
  long n_loop;        /* pairs per one-process rep (before the time cap) */
  double loop_cap_us; /* a one-process rep lasts about this long at most */
  long n_cont;        /* increments per process per contended rep */
  long n_rtt;         /* round trips per event rep */
  int reps_loop, reps_cont, reps_rtt;
  int json_only;
  const char *only;
} config;

/* ----------------------------------------------------------------------------------------
 * Shared area: one cache-line pair per field so that nothing shares a line by accident.
 * Mapped anonymously for the fork variants; by name for mproc's children (spawn).
 * -------------------------------------------------------------------------------------- */
#define SLOT 128
typedef struct area {
  union {
    long v; /* processes arrived at the gate */
    char pad[SLOT];
  } gate;
  union {
    volatile long v; /* the contended counter */
    char pad[SLOT];
  } counter;
  union {
    double v[4]; /* t_start[2], t_end[2] in us, written by the two children */
    char pad[SLOT];
  } times;
#ifdef HAVE_RAW
  union {
    pthread_mutex_t m;
    char pad[SLOT];
  } mutex;
  union {
    sem_t s;
    char pad[SLOT];
  } sem;
#endif
#ifdef __linux__
  union {
    uint32_t v; /* futex lock: 0 free, 1 held, 2 held with sleepers */
    char pad[SLOT];
  } futex;
  union {
    uint32_t v; /* futex event: 0 clear, 1 set, 2 clear with sleepers */
    char pad[SLOT];
  } ev[2];
#endif
} area;

/* Both processes arrive, then start their clocks together. */
static void gate_pass(area *a) { gate_spin(&a->gate.v, 2); }

/* ns per increment from the children's clocks: first start to last end. */
static double contended_ns(const area *a, long n) { return two_proc_span_ns(a->times.v, n); }

#ifndef _WIN32
static area *area_anon(void) {
#ifndef MAP_ANONYMOUS
#define MAP_ANONYMOUS MAP_ANON
#endif
  void *p = mmap(NULL, sizeof(area), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("bench_sync: mmap");
    return NULL;
  }
  return p;
}
#endif

/* Named segment for mproc's children. */
static char named_name[64];
#ifdef _WIN32
static HANDLE named_handle;
#endif

static area *area_create_named(void) {
  static unsigned seq;
  void *p = NULL;
#ifdef _WIN32
  snprintf(named_name, sizeof named_name, "Local\\mproc_bench_sync.%lu.%u",
           (unsigned long)GetCurrentProcessId(), seq++);
  named_handle = CreateFileMappingA(INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, 0,
                                    (DWORD)sizeof(area), named_name);
  if (named_handle) p = MapViewOfFile(named_handle, FILE_MAP_ALL_ACCESS, 0, 0, sizeof(area));
  if (!p) {
    fprintf(stderr, "bench_sync: shared memory %s: error %lu\n", named_name,
            (unsigned long)GetLastError());
    if (named_handle) CloseHandle(named_handle);
    named_handle = NULL;
    return NULL;
  }
#else
  snprintf(named_name, sizeof named_name, "/mproc_bsync.%ld.%u", (long)getpid(), seq++);
  int fd = shm_open(named_name, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    perror("bench_sync: shm_open");
    return NULL;
  }
  if (ftruncate(fd, (off_t)sizeof(area)) == 0)
    p = mmap(NULL, sizeof(area), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (!p || p == MAP_FAILED) {
    perror("bench_sync: shared memory");
    shm_unlink(named_name);
    return NULL;
  }
#endif
  memset(p, 0, sizeof(area));
  return p;
}

static area *area_open_named(const char *name) {
  void *p = NULL;
#ifdef _WIN32
  HANDLE h = OpenFileMappingA(FILE_MAP_ALL_ACCESS, FALSE, name);
  if (!h) return NULL;
  p = MapViewOfFile(h, FILE_MAP_ALL_ACCESS, 0, 0, sizeof(area));
  CloseHandle(h); /* the view keeps the section */
#else
  int fd = shm_open(name, O_RDWR, 0);
  if (fd < 0) return NULL;
  p = mmap(NULL, sizeof(area), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) p = NULL;
#endif
  return p;
}

static void area_unmap(area *a) {
  if (!a) return;
#ifdef _WIN32
  UnmapViewOfFile(a);
#else
  munmap(a, sizeof(area));
#endif
}

static void area_destroy_named(area *a) {
  area_unmap(a);
#ifdef _WIN32
  if (named_handle) CloseHandle(named_handle);
  named_handle = NULL;
#else
  shm_unlink(named_name);
#endif
}

/* ----------------------------------------------------------------------------------------
 * Linux futex lock and event (the leanest possible, for reference)
 * -------------------------------------------------------------------------------------- */
#ifdef __linux__
static void sys_futex(uint32_t *addr, int op, uint32_t val) {
  syscall(SYS_futex, addr, op, val, NULL, NULL, 0); /* shared futexes: cross-process */
}

/* Drepper's "Futexes are tricky" mutex #3. */
static void fx_lock(uint32_t *f) {
  uint32_t c = 0;
  if (__atomic_compare_exchange_n(f, &c, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return;
  if (c != 2) c = __atomic_exchange_n(f, 2, __ATOMIC_ACQUIRE);
  while (c != 0) {
    sys_futex(f, FUTEX_WAIT, 2);
    c = __atomic_exchange_n(f, 2, __ATOMIC_ACQUIRE);
  }
}

static void fx_unlock(uint32_t *f) {
  if (__atomic_fetch_sub(f, 1, __ATOMIC_RELEASE) != 1) {
    __atomic_store_n(f, 0, __ATOMIC_RELEASE);
    sys_futex(f, FUTEX_WAKE, 1);
  }
}

static void fev_set(uint32_t *w) {
  if (__atomic_exchange_n(w, 1, __ATOMIC_ACQ_REL) == 2) sys_futex(w, FUTEX_WAKE, INT_MAX);
}

static void fev_clear(uint32_t *w) {
  uint32_t one = 1;
  __atomic_compare_exchange_n(w, &one, 0, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
}

static void fev_wait(uint32_t *w) {
  for (;;) {
    uint32_t v = __atomic_load_n(w, __ATOMIC_ACQUIRE);
    if (v == 1) return;
    if (v == 0 && !__atomic_compare_exchange_n(w, &v, 2, 0, __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE))
      continue;
    sys_futex(w, FUTEX_WAIT, 2);
  }
}
#endif

/* ----------------------------------------------------------------------------------------
 * Variants. A variant measures one rep into *out; the group runner interleaves the reps of
 * its variants and a row of output names the variant behind each column.
 * -------------------------------------------------------------------------------------- */
typedef struct variant variant;
struct variant {
  const char *name;                              /* for the summary on stderr */
  int (*rep)(variant *v, const config *cfg, double *out); /* NULL: not here, null */
  int (*loop)(void *obj, long n);                /* one-process variants: n pairs */
  void *obj;
  long n; /* ops per rep, set by the warm-up of a loop variant */
  double vals[MAX_REPS];
  int failed;
};

typedef struct row {
  const char *bench;
  const char *unit;
  int col[3]; /* variant index for mproc, raw, apr; -1: null */
} row;


/* --- one process: loops -------------------------------------------------------------- */
static int loop_mproc_lock(void *obj, long n) {
  mproc_lock_t *l = obj;
  for (long i = 0; i < n; i++) {
    int err = mproc_lock_acquire(l, MPROC_FOREVER);
    if (err) return report_mproc("mproc_lock_acquire", err);
    err = mproc_lock_release(l);
    if (err) return report_mproc("mproc_lock_release", err);
  }
  return 0;
}

static int loop_mproc_with(void *obj, long n) {
  mproc_lock_t *l = obj;
  int rc = 0;
  volatile long body = 0;
  for (long i = 0; i < n; i++) {
    MPROC_WITH_LOCK(l, rc) { body++; }
    if (rc) return report_mproc("MPROC_WITH_LOCK", rc);
  }
  return 0;
}

static int loop_mproc_sem(void *obj, long n) {
  mproc_semaphore_t *s = obj;
  for (long i = 0; i < n; i++) {
    int err = mproc_semaphore_acquire(s, MPROC_FOREVER);
    if (err) return report_mproc("mproc_semaphore_acquire", err);
    err = mproc_semaphore_release(s);
    if (err) return report_mproc("mproc_semaphore_release", err);
  }
  return 0;
}

#ifdef HAVE_RAW
static int loop_raw_mutex(void *obj, long n) {
  pthread_mutex_t *m = obj;
  for (long i = 0; i < n; i++)
    if (pthread_mutex_lock(m) != 0 || pthread_mutex_unlock(m) != 0) {
      fprintf(stderr, "bench_sync: pthread_mutex_lock/unlock failed\n");
      return -1;
    }
  return 0;
}

static int loop_raw_sem(void *obj, long n) {
  sem_t *s = obj;
  for (long i = 0; i < n; i++)
    if (sem_wait(s) != 0 || sem_post(s) != 0) {
      perror("bench_sync: sem_wait/sem_post");
      return -1;
    }
  return 0;
}
#endif

#ifdef __linux__
static int loop_futex(void *obj, long n) {
  uint32_t *f = obj;
  for (long i = 0; i < n; i++) {
    fx_lock(f);
    fx_unlock(f);
  }
  return 0;
}
#endif

#ifdef HAVE_APR
static apr_pool_t *apr_root;

static int apr_report(const char *what, apr_status_t st) {
  char buf[256];
  fprintf(stderr, "bench_sync: %s: %s\n", what, apr_strerror(st, buf, sizeof buf));
  return -1;
}

static int loop_apr(void *obj, long n) {
  apr_proc_mutex_t *m = obj;
  for (long i = 0; i < n; i++) {
    apr_status_t st = apr_proc_mutex_lock(m);
    if (st == APR_SUCCESS) st = apr_proc_mutex_unlock(m);
    if (st != APR_SUCCESS) return apr_report("apr_proc_mutex_lock/unlock", st);
  }
  return 0;
}
#endif

/* The first call (1000 pairs, also the warm-up) sizes n: cfg->n_loop pairs, or fewer when
 * that would take longer than cfg->loop_cap_us. */
static int rep_loop(variant *v, const config *cfg, double *out) {
  if (v->n == 0) {
    double t0 = now_us();
    if (v->loop(v->obj, 1000)) return -1;
    double per = (now_us() - t0) / 1000.0;
    v->n = cfg->n_loop;
    if (per * (double)v->n > cfg->loop_cap_us) v->n = (long)(cfg->loop_cap_us / per);
    if (v->n < 1000) v->n = 1000;
  }
  double t0 = now_us();
  if (v->loop(v->obj, v->n)) return -1;
  *out = (now_us() - t0) * 1e3 / (double)v->n;
  return 0;
}

/* --- pinning (Linux) ------------------------------------------------------------------- */
#ifdef __linux__
static cpu_set_t saved_mask;
static int pin_cpu[2]; /* the first two CPUs this process may use; CPU 0 and 1 normally */

/* Saves the mask and finds the CPUs; 0, or -1 when there are fewer than `need`. */
static int pin_setup(int need) { return allowed_cpus(&saved_mask, pin_cpu) >= need ? 0 : -1; }

static void unpin(void) { sched_setaffinity(0, sizeof saved_mask, &saved_mask); }
#endif

/* The CPU each contended child pins itself to (-1: none). Two processes on one CPU take turns
 * by time slice: one does all its increments before the other runs, and the lock is never
 * contested. So on Linux with 2 CPUs or more child i runs on the i-th allowed CPU. */
static int cont_cpu[2] = {-1, -1};

/* --- two processes: contended counter ---------------------------------------------------- */
enum cont_kind { CONT_RAW, CONT_FUTEX, CONT_APR };

/* mproc child: args (lock, segment name, n, index, cpu). */
static int mproc_cont_child(const mproc_args_t *args) {
  mproc_lock_t *l;
  const char *name;
  int64_t n, idx, cpu;
  int err = mproc_args_get_lock(args, 0, &l);
  if (!err) err = mproc_args_get_str(args, 1, &name);
  if (!err) err = mproc_args_get_int(args, 2, &n);
  if (!err) err = mproc_args_get_int(args, 3, &idx);
  if (!err) err = mproc_args_get_int(args, 4, &cpu);
  if (err) return mproc_fail(2, "bench_sync child: bad arguments: %s", mproc_strerror(err));
  if (pin_self((int)cpu) != 0) return mproc_fail(2, "bench_sync child: cannot pin to CPU");
  area *a = area_open_named(name);
  if (!a) return mproc_fail(2, "bench_sync child: cannot open %s", name);
  gate_pass(a);
  a->times.v[idx] = now_us();
  for (int64_t i = 0; i < n; i++) {
    if ((err = mproc_lock_acquire(l, MPROC_FOREVER)) != 0) break;
    a->counter.v++;
    if ((err = mproc_lock_release(l)) != 0) break;
  }
  a->times.v[2 + idx] = now_us();
  area_unmap(a);
  return err ? mproc_fail(3, "bench_sync child: %s", mproc_strerror(err)) : 0;
}

typedef struct cont_mproc {
  mproc_lock_t *lock;
  area *a;
} cont_mproc;


static int rep_cont_mproc(variant *v, const config *cfg, double *out) {
  cont_mproc *c = v->obj;
  mproc_process_t *p[2] = {NULL, NULL};
  int err = 0, rc = 0;
  c->a->gate.v = 0;
  c->a->counter.v = 0;
  for (int i = 0; i < 2 && !err; i++) {
    mproc_args_t *args = NULL;
    if ((err = mproc_args_new(&args)) == 0 && (err = mproc_args_add_lock(args, c->lock)) == 0 &&
        (err = mproc_args_add_str(args, named_name)) == 0 &&
        (err = mproc_args_add_int(args, cfg->n_cont)) == 0 &&
        (err = mproc_args_add_int(args, i)) == 0 &&
        (err = mproc_args_add_int(args, cont_cpu[i])) == 0 &&
        (err = mproc_process_new(&p[i], mproc_cont_child, args)) == 0 &&
        (err = mproc_process_start(p[i])) != 0) {
      mproc_process_free(p[i]);
      p[i] = NULL;
    }
    mproc_args_free(args);
  }
  if (err) rc = report_mproc("starting an mproc child", err);
  for (int i = 0; i < 2; i++)
    if (p[i] && stop_mproc_child(p[i], rc == 0) != 0) rc = -1;
  if (rc) return -1;
  if (c->a->counter.v != 2 * cfg->n_cont) {
    fprintf(stderr, "bench_sync: mproc counter is %ld, not %ld\n", c->a->counter.v,
            2 * cfg->n_cont);
    return -1;
  }
  *out = contended_ns(c->a, cfg->n_cont);
  return 0;
}

#ifndef _WIN32
static area *fork_area; /* the mapping the fork variants share with their children */

static int fork_cont_child(enum cont_kind kind, void *obj, int idx, long n) {
  area *a = fork_area;
#ifdef HAVE_APR
  apr_proc_mutex_t *am = obj;
  if (kind == CONT_APR &&
      apr_proc_mutex_child_init(&am, apr_proc_mutex_lockfile(am), apr_root) != APR_SUCCESS)
    return 2;
#endif
  if (pin_self(cont_cpu[idx]) != 0) return 2;
  gate_pass(a);
  a->times.v[idx] = now_us();
  switch (kind) {
#ifdef HAVE_RAW
  case CONT_RAW: {
    pthread_mutex_t *m = obj;
    for (long i = 0; i < n; i++) {
      if (pthread_mutex_lock(m) != 0) return 3;
      a->counter.v++;
      if (pthread_mutex_unlock(m) != 0) return 3;
    }
    break;
  }
#endif
#ifdef __linux__
  case CONT_FUTEX: {
    uint32_t *f = obj;
    for (long i = 0; i < n; i++) {
      fx_lock(f);
      a->counter.v++;
      fx_unlock(f);
    }
    break;
  }
#endif
#ifdef HAVE_APR
  case CONT_APR:
    for (long i = 0; i < n; i++) {
      if (apr_proc_mutex_lock(am) != APR_SUCCESS) return 3;
      a->counter.v++;
      if (apr_proc_mutex_unlock(am) != APR_SUCCESS) return 3;
    }
    break;
#endif
  default:
    (void)obj;
    return 4;
  }
  a->times.v[2 + idx] = now_us();
  return 0;
}


struct cont_pair { enum cont_kind kind; void *obj; long n; };
static int cont_pair_child(int idx, void *ctx) {
  struct cont_pair *p = ctx;
  return fork_cont_child(p->kind, p->obj, idx, p->n);
}

static int rep_cont_fork(variant *v, const config *cfg, double *out, enum cont_kind kind) {
  fork_area->gate.v = 0;
  fork_area->counter.v = 0;
  struct cont_pair p = {kind, v->obj, cfg->n_cont};
  if (fork_pair(cont_pair_child, &p) != 0) return -1;
  if (fork_area->counter.v != 2 * cfg->n_cont) {
    fprintf(stderr, "bench_sync: %s counter is %ld, not %ld\n", v->name, fork_area->counter.v,
            2 * cfg->n_cont);
    return -1;
  }
  *out = contended_ns(fork_area, cfg->n_cont);
  return 0;
}

#ifdef HAVE_RAW
static int rep_cont_raw(variant *v, const config *cfg, double *out) {
  return rep_cont_fork(v, cfg, out, CONT_RAW);
}
#endif
#ifdef __linux__
static int rep_cont_futex(variant *v, const config *cfg, double *out) {
  return rep_cont_fork(v, cfg, out, CONT_FUTEX);
}
#endif
#ifdef HAVE_APR
static int rep_cont_apr(variant *v, const config *cfg, double *out) {
  return rep_cont_fork(v, cfg, out, CONT_APR);
}
#endif
#endif /* !_WIN32 */

/* --- two processes: event ping-pong ------------------------------------------------------ */
enum pin { PIN_NONE, PIN_SAME, PIN_CROSS };
static enum pin cur_pin;

/* Around the start of the child: for PIN_CROSS the child inherits the second CPU, the parent
 * goes back to the first. */
static int pin_before_start(void) {
#ifdef __linux__
  if (cur_pin == PIN_CROSS) return pin_to(pin_cpu[1]);
#endif
  return 0;
}

static int pin_after_start(void) {
#ifdef __linux__
  if (cur_pin == PIN_CROSS) return pin_to(pin_cpu[0]);
#endif
  return 0;
}

typedef struct ev_mproc {
  mproc_event_t *e[2];
} ev_mproc;

/* mproc child: args (e1, e2, count). */
static int mproc_ev_child(const mproc_args_t *args) {
  mproc_event_t *e1, *e2;
  int64_t count;
  int err = mproc_args_get_event(args, 0, &e1);
  if (!err) err = mproc_args_get_event(args, 1, &e2);
  if (!err) err = mproc_args_get_int(args, 2, &count);
  if (err) return mproc_fail(2, "bench_sync child: bad arguments: %s", mproc_strerror(err));
  for (int64_t i = 0; i < count && !err; i++) {
    err = mproc_event_wait(e1, MPROC_FOREVER);
    if (!err) err = mproc_event_clear(e1);
    if (!err) err = mproc_event_set(e2);
  }
  return err ? mproc_fail(3, "bench_sync child: %s", mproc_strerror(err)) : 0;
}

static int mproc_ev_rounds(ev_mproc *c, long n) {
  for (long i = 0; i < n; i++) {
    int err = mproc_event_set(c->e[0]);
    if (!err) err = mproc_event_wait(c->e[1], MPROC_FOREVER);
    if (!err) err = mproc_event_clear(c->e[1]);
    if (err) return report_mproc("event round trip", err);
  }
  return 0;
}

static int rep_ev_mproc(variant *v, const config *cfg, double *out) {
  ev_mproc *c = v->obj;
  mproc_process_t *p = NULL;
  mproc_args_t *args = NULL;
  int err, rc = 0;
  if (pin_before_start() != 0) return -1;
  if ((err = mproc_args_new(&args)) == 0 && (err = mproc_args_add_event(args, c->e[0])) == 0 &&
      (err = mproc_args_add_event(args, c->e[1])) == 0 &&
      (err = mproc_args_add_int(args, WARM_RTT + cfg->n_rtt)) == 0 &&
      (err = mproc_process_new(&p, mproc_ev_child, args)) == 0 &&
      (err = mproc_process_start(p)) != 0) {
    mproc_process_free(p);
    p = NULL;
  }
  mproc_args_free(args);
  if (pin_after_start() != 0) rc = -1;
  if (err) return report_mproc("starting the mproc child", err);
  double t0 = 0;
  if (rc == 0) rc = mproc_ev_rounds(c, WARM_RTT);
  if (rc == 0) {
    t0 = now_us();
    rc = mproc_ev_rounds(c, cfg->n_rtt);
    *out = (now_us() - t0) / (double)cfg->n_rtt;
  }
  if (stop_mproc_child(p, rc == 0) != 0) rc = -1;
  return rc;
}

#ifdef __linux__
static void futex_ev_rounds(area *a, long n, int child) {
  for (long i = 0; i < n; i++) {
    if (child) {
      fev_wait(&a->ev[0].v);
      fev_clear(&a->ev[0].v);
      fev_set(&a->ev[1].v);
    } else {
      fev_set(&a->ev[0].v);
      fev_wait(&a->ev[1].v);
      fev_clear(&a->ev[1].v);
    }
  }
}

static int rep_ev_futex(variant *v, const config *cfg, double *out) {
  (void)v;
  if (pin_before_start() != 0) return -1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    futex_ev_rounds(fork_area, WARM_RTT + cfg->n_rtt, 1);
    _exit(0);
  }
  int rc = pin_after_start();
  if (pid < 0) {
    perror("bench_sync: fork");
    return -1;
  }
  if (rc != 0) {
    kill(pid, SIGKILL);
    wait_child(pid);
    return -1;
  }
  futex_ev_rounds(fork_area, WARM_RTT, 0);
  double t0 = now_us();
  futex_ev_rounds(fork_area, cfg->n_rtt, 0);
  *out = (now_us() - t0) / (double)cfg->n_rtt;
  return wait_child(pid);
}
#endif

/* ----------------------------------------------------------------------------------------
 * Driver
 * -------------------------------------------------------------------------------------- */
static int group_wanted(const config *cfg, const char *prefix) {
  return !cfg->only || strncmp(prefix, cfg->only, strlen(cfg->only)) == 0 ||
         strncmp(cfg->only, prefix, strlen(prefix)) == 0;
}

static void print_col(const variant *vs, int i, int reps) {
  if (i < 0 || !vs[i].rep || vs[i].failed) {
    printf("null");
    return;
  }
  double m = median(vs[i].vals, reps);
  printf(m < 10 ? "%.3g" : "%.1f", m);
}

static void run_group(variant *vs, int nv, const row *rows, int nr, int reps, const config *cfg,
                      const char *unit) {
  for (int r = 0; r < reps; r++)
    for (int i = 0; i < nv; i++) {
      variant *v = &vs[i];
      if (!v->rep || v->failed) continue;
      if (v->rep(v, cfg, &v->vals[r]) != 0) {
        fprintf(stderr, "bench_sync: %s failed; reported as null\n", v->name);
        v->failed = any_failed = 1;
      }
    }
  for (int k = 0; k < nr; k++) {
    printf("{\"bench\":\"%s\",\"unit\":\"%s\",\"better\":\"lower\",\"mproc\":", rows[k].bench,
           rows[k].unit);
    print_col(vs, rows[k].col[0], reps);
    printf(",\"python\":null,\"raw\":");
    print_col(vs, rows[k].col[1], reps);
    printf(",\"apr\":");
    print_col(vs, rows[k].col[2], reps);
    printf("}\n");
  }
  fflush(stdout);
  if (cfg->json_only) return;
  for (int i = 0; i < nv; i++) {
    const variant *v = &vs[i];
    if (!v->rep) continue;
    if (v->failed) {
      fprintf(stderr, "  %-28s FAILED\n", v->name);
      continue;
    }
    fprintf(stderr, "  %-28s median %9.3f %s  (min %.3f, max %.3f; %d reps", v->name,
            median(v->vals, reps), unit, min_of(v->vals, reps), max_of(v->vals, reps), reps);
    if (v->loop) fprintf(stderr, " x %ld", v->n);
    fprintf(stderr, ")\n");
  }
}

static variant loop_variant(const char *name, int (*loop)(void *, long), void *obj) {
  variant v;
  memset(&v, 0, sizeof v);
  v.name = name;
  v.loop = loop;
  v.obj = obj;
  v.rep = loop && obj ? rep_loop : NULL;
  return v;
}

static variant rep_variant(const char *name, int (*rep)(variant *, const config *, double *),
                           void *obj) {
  variant v;
  memset(&v, 0, sizeof v);
  v.name = name;
  v.rep = obj ? rep : NULL;
  v.obj = obj;
  return v;
}

#ifdef HAVE_RAW
static int init_raw_objects(area *a) {
  pthread_mutexattr_t at;
  int e = pthread_mutexattr_init(&at);
  if (!e) e = pthread_mutexattr_setpshared(&at, PTHREAD_PROCESS_SHARED);
  if (!e) e = pthread_mutexattr_setrobust(&at, PTHREAD_MUTEX_ROBUST);
  if (!e) e = pthread_mutex_init(&a->mutex.m, &at);
  pthread_mutexattr_destroy(&at);
  if (e) {
    fprintf(stderr, "bench_sync: robust pshared mutex: %s\n", strerror(e));
    return -1;
  }
  if (sem_init(&a->sem.s, 1, 1) != 0) {
    perror("bench_sync: sem_init");
    return -1;
  }
  return 0;
}
#endif

#ifdef HAVE_APR
/* In the order of the rows of bench_uncontended: the default first. */
static const apr_lockmech_e apr_mechs[6] = {APR_LOCK_DEFAULT, APR_LOCK_SYSVSEM,
                                            APR_LOCK_POSIXSEM, APR_LOCK_PROC_PTHREAD,
                                            APR_LOCK_FCNTL, APR_LOCK_FLOCK};

/* NULL when the mechanism is not there (APR_ENOTIMPL) or failed (reported). */
static apr_proc_mutex_t *apr_mutex(apr_lockmech_e mech, const char *name) {
  apr_proc_mutex_t *m = NULL;
  apr_status_t st = apr_proc_mutex_create(&m, NULL, mech, apr_root);
  if (st == APR_SUCCESS) return m;
  if (!APR_STATUS_IS_ENOTIMPL(st)) {
    apr_report(name, st);
    any_failed = 1;
  }
  return NULL;
}
#endif

static void bench_uncontended(const config *cfg) {
  mproc_lock_t *lock = NULL;
  mproc_semaphore_t *sem = NULL;
  variant vs[MAX_VARIANTS];
  int nv = 0, err;
  if ((err = mproc_lock_new(&lock)) != 0) {
    report_mproc("mproc_lock_new", err);
    any_failed = 1;
  }
  if ((err = mproc_semaphore_new(&sem, 1)) != 0) {
    report_mproc("mproc_semaphore_new", err);
    any_failed = 1;
  }
  /* 0 */ vs[nv++] = loop_variant("lock mproc", loop_mproc_lock, lock);
  /* 1 */ vs[nv++] = loop_variant("lock mproc WITH_LOCK", loop_mproc_with, lock);
  /* 2 */ vs[nv++] = loop_variant("lock raw robust mutex", NULL, NULL);
  /* 3 */ vs[nv++] = loop_variant("lock raw futex", NULL, NULL);
  /* 4 */ vs[nv++] = loop_variant("semaphore mproc", loop_mproc_sem, sem);
  /* 5 */ vs[nv++] = loop_variant("semaphore raw sem_t", NULL, NULL);
#ifdef HAVE_RAW
  if (fork_area) {
    vs[2] = loop_variant(vs[2].name, loop_raw_mutex, &fork_area->mutex.m);
    vs[5] = loop_variant(vs[5].name, loop_raw_sem, &fork_area->sem.s);
  }
#endif
#ifdef __linux__
  if (fork_area) vs[3] = loop_variant(vs[3].name, loop_futex, &fork_area->futex.v);
#endif
  /* 6 .. 11: APR mechanisms, default first */
  static const char *apr_rows[] = {NULL, "lock.uncontended_apr_sysvsem",
                                   "lock.uncontended_apr_posixsem",
                                   "lock.uncontended_apr_proc_pthread",
                                   "lock.uncontended_apr_fcntl", "lock.uncontended_apr_flock"};
  static const char *apr_names[] = {"lock apr default", "lock apr sysvsem", "lock apr posixsem",
                                    "lock apr proc_pthread", "lock apr fcntl", "lock apr flock"};
  for (int k = 0; k < 6; k++) {
    vs[nv] = loop_variant(apr_names[k], NULL, NULL);
#ifdef HAVE_APR
    vs[nv] = loop_variant(apr_names[k], loop_apr, apr_mutex(apr_mechs[k], apr_names[k]));
#endif
    nv++;
  }
  row rows[4 + 5];
  int nr = 0;
  rows[nr++] = (row){"lock.uncontended", "ns", {0, 2, 6}};
  rows[nr++] = (row){"lock.uncontended_with", "ns", {1, -1, -1}};
  rows[nr++] = (row){"lock.uncontended_futex", "ns", {0, 3, -1}};
  for (int k = 1; k < 6; k++) rows[nr++] = (row){apr_rows[k], "ns", {-1, -1, 6 + k}};
  rows[nr++] = (row){"semaphore.uncontended", "ns", {4, 5, -1}};
#ifdef HAVE_APR
  if (!cfg->json_only) fprintf(stderr, "  (APR default mechanism: %s)\n", apr_proc_mutex_defname());
#endif
  run_group(vs, nv, rows, nr, cfg->reps_loop, cfg, "ns");
#ifdef HAVE_APR
  for (int k = 0; k < 6; k++)
    if (vs[6 + k].obj) apr_proc_mutex_destroy(vs[6 + k].obj);
#endif
  mproc_semaphore_free(sem);
  mproc_lock_free(lock);
}

static void bench_contended(const config *cfg) {
  cont_mproc cm = {NULL, NULL}, crm = {NULL, NULL};
  variant vs[5];
  int err = mproc_lock_new(&cm.lock);
  if (!err) err = mproc_rlock_new(&crm.lock);
  if (err) {
    report_mproc("mproc_lock_new", err);
    any_failed = 1;
  }
  cm.a = crm.a = area_create_named();
  if (!cm.a) any_failed = 1;
  vs[0] = rep_variant("contended mproc", rep_cont_mproc, cm.lock && cm.a ? &cm : NULL);
  vs[4] = rep_variant("contended mproc RLock", rep_cont_mproc, crm.lock && crm.a ? &crm : NULL);
  vs[1] = rep_variant("contended raw robust mutex", NULL, NULL);
  vs[2] = rep_variant("contended raw futex", NULL, NULL);
  vs[3] = rep_variant("contended apr default", NULL, NULL);
#ifdef __linux__
  if (pin_setup(2) == 0) cont_cpu[0] = pin_cpu[0], cont_cpu[1] = pin_cpu[1];
#endif
#ifdef HAVE_RAW
  if (fork_area) vs[1] = rep_variant(vs[1].name, rep_cont_raw, &fork_area->mutex.m);
#endif
#ifdef __linux__
  if (fork_area) vs[2] = rep_variant(vs[2].name, rep_cont_futex, &fork_area->futex.v);
#endif
#ifdef HAVE_APR
  if (fork_area)
    vs[3] = rep_variant(vs[3].name, rep_cont_apr, apr_mutex(APR_LOCK_DEFAULT, vs[3].name));
#endif
  static const row rows[] = {{"lock.contended_2p", "ns", {0, 1, 3}},
                             {"lock.contended_2p_futex", "ns", {0, 2, -1}},
                             {"rlock.contended_2p", "ns", {4, 1, -1}}};
  run_group(vs, 5, rows, 3, cfg->reps_cont, cfg, "ns/incr");
#ifdef HAVE_APR
  if (vs[3].obj) apr_proc_mutex_destroy(vs[3].obj);
#endif
  if (cm.a) area_destroy_named(cm.a);
  mproc_lock_free(crm.lock);
  mproc_lock_free(cm.lock);
}

static void bench_event(const config *cfg, const char *name, enum pin pin) {
  ev_mproc em = {{NULL, NULL}};
  variant vs[2];
  int err = mproc_event_new(&em.e[0]);
  if (!err) err = mproc_event_new(&em.e[1]);
  if (err) {
    report_mproc("mproc_event_new", err);
    any_failed = 1;
  }
  vs[0] = rep_variant("event mproc", rep_ev_mproc, err ? NULL : &em);
  vs[1] = rep_variant("event raw futex", NULL, NULL);
#ifdef __linux__
  if (fork_area) vs[1] = rep_variant(vs[1].name, rep_ev_futex, fork_area);
#endif
  cur_pin = pin;
  if (pin != PIN_NONE) {
#ifdef __linux__
    if (pin_setup(pin == PIN_CROSS ? 2 : 1) != 0)
      vs[0].rep = vs[1].rep = NULL; /* one CPU only: no cross-CPU figure */
    else if (pin == PIN_SAME && pin_to(pin_cpu[0]) != 0) {
      perror("bench_sync: sched_setaffinity");
      vs[0].failed = vs[1].failed = any_failed = 1;
    }
#else
    vs[0].rep = vs[1].rep = NULL; /* no portable pinning: not measured */
#endif
  }
  row rows[1] = {{name, "us", {0, 1, -1}}};
  if (!cfg->json_only) fprintf(stderr, "  %s:\n", name);
  run_group(vs, 2, rows, 1, cfg->reps_rtt, cfg, "us");
#ifdef __linux__
  if (pin != PIN_NONE) unpin();
#endif
  cur_pin = PIN_NONE;
  mproc_event_free(em.e[1]);
  mproc_event_free(em.e[0]);
}

static int usage(void) {
  fprintf(stderr, "usage: bench_sync [--quick] [--json-only] [--reps R] [--method M] "
                  "[--only PREFIX]\n");
  return 2;
}

static int parse_args(int argc, char **argv, config *cfg) {
  int reps = 0, quick = 0;
  memset(cfg, 0, sizeof *cfg);
  for (int i = 1; i < argc; i++) {
    int common = common_arg(argc, argv, &i, &quick, &cfg->json_only, &reps);
    if (common < 0)
      return -1;
    if (common > 0)
      continue;
    if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
      cfg->only = argv[++i];
    else
      return -1;
  }
  cfg->n_loop = quick ? 1000000 : 5000000;
  cfg->loop_cap_us = quick ? 20000 : 100000;
  cfg->n_cont = quick ? 100000 : 200000;
  cfg->n_rtt = quick ? 1000 : 2000;
  cfg->reps_loop = reps > 0 ? reps : quick ? 9 : 15;
  cfg->reps_cont = reps > 0 ? reps : quick ? 9 : 15;
  cfg->reps_rtt = reps > 0 ? reps : quick ? 7 : 15;
  return reps <= MAX_REPS ? 0 : -1;
}

int main(int argc, char **argv) {
  config cfg;
  /* Spawned mproc children re-enter main here and never return from mproc_main. */
  int err = mproc_main(argc, argv);
  if (err) {
    report_mproc("mproc_main", err);
    return 1;
  }
  if (parse_args(argc, argv, &cfg)) return usage();
#ifndef _WIN32
  fork_area = area_anon();
  if (!fork_area) any_failed = 1;
#endif
#ifdef HAVE_RAW
  if (fork_area && init_raw_objects(fork_area) != 0) {
    any_failed = 1;
    area_unmap(fork_area);
    fork_area = NULL;
  }
#endif
#ifdef HAVE_APR
  if (apr_initialize() != APR_SUCCESS || apr_pool_create(&apr_root, NULL) != APR_SUCCESS) {
    fprintf(stderr, "bench_sync: cannot initialize APR\n");
    return 1;
  }
#endif
  if (group_wanted(&cfg, "lock.uncontended") || group_wanted(&cfg, "semaphore"))
    bench_uncontended(&cfg);
  if (group_wanted(&cfg, "lock.contended")) bench_contended(&cfg);
  if (group_wanted(&cfg, "event.pingpong")) {
    bench_event(&cfg, "event.pingpong", PIN_NONE);
    bench_event(&cfg, "event.pingpong_pinned", PIN_SAME);
    bench_event(&cfg, "event.pingpong_cross", PIN_CROSS);
  }
#ifdef HAVE_APR
  apr_terminate();
#endif
  return any_failed;
}
