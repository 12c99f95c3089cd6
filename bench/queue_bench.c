/* SPDX-License-Identifier: MIT */
/*
 * bench_queue: throughput of Queue and SimpleQueue between processes.
 *
 * Figures (items are byte strings whose first 8 bytes carry the producer and a sequence
 * number, checked by the consumer: every item arrives once, in order per producer):
 *   queue.spsc_64B            items/s, one producer process -> one consumer process, 64-byte
 *                             items; mproc Queue() (unbounded, Python's default) vs the raw
 *                             shared-memory SPSC ring;
 *   queue.spsc_64B_bounded    the same with Queue(maxsize=10000) vs the same ring;
 *   simplequeue.spsc_64B      the same with SimpleQueue() vs the same ring;
 *   queue.spsc_64B_pipe       Queue() again (the same reps as queue.spsc_64B) vs a raw pipe:
 *                             the kernel channel Python's Queue sits on;
 *   queue.spsc_64KiB, queue.spsc_64KiB_bounded, simplequeue.spsc_64KiB,
 *   queue.spsc_64KiB_pipe     the same four with 64 KiB items, in GiB/s;
 *   queue.spsc_1MiB           the same with 1 MiB items, Queue() vs the ring (4 x 1 MiB slots);
 *                             such items always go to the overflow of an unbounded queue;
 *   queue.spsc_4MiB           the same with 4 MiB items (ring: 4 x 4 MiB slots);
 *   memcpy.1MiB_cold          GiB/s of memcpy in 1 MiB blocks over buffers far larger than the
 *                             caches (raw column only): the reference of the 64 KiB aim, since
 *                             a queue copies every byte twice (in and out);
 *   queue.mpmc_64B            items/s in total, 4 producer processes -> 4 consumer processes
 *                             on one Queue(), 64-byte items (mproc only; raw is null).
 * Columns:
 *   mproc  the queue made by the parent, passed to children started with mproc's default start
 *          method (spawn; --method changes it) with mproc_args_add_queue;
 *          mproc_queue_put(q, item, 64, MPROC_FOREVER), mproc_queue_get(q, MPROC_FOREVER, ...)
 *          + mproc_free. A 0-byte item ends a consumer.
 *   raw    (POSIX) two fork() children and a MAP_SHARED|MAP_ANONYMOUS mapping:
 *          ring  a single-producer single-consumer ring of fixed slots (1024 x 64 B, or
 *                64 x 64 KiB), head and tail on their own cache lines, each side caching the
 *                other's index; the producer copies the item into a slot and publishes tail
 *                (store-release), the consumer copies it out into its own buffer and publishes
 *                head. Both busy-wait (pause; sched_yield after 1000 pauses), never sleep:
 *                the floor for copy in + copy out between two processes;
 *          pipe  pipe(): one write() per item of a 4-byte length + the item, one read() of
 *                the same size per item into a reused buffer (a record of length 0 ends).
 *   apr    null: APR's apr_queue is a thread queue, not one between processes.
 * Method: every rep makes a fresh queue (ring, pipe), starts the producers and consumers, which
 * move a warm-up of untimed items (that faults in the shared pages), meet at a gate in shared
 * memory and read the clock. A producer then puts items until it has put N or its time budget
 * is spent (--quick: 0.1 s, full: 0.4 s), and ends its consumer(s); the figure is the items the
 * consumers took divided by (last consumer end - first start). With more producers, each
 * waits until its overflow is in the ring (mproc_queue_join_thread) and the last one to finish
 * puts one end item per consumer. The producers never run more than a lead of items ahead of
 * the consumers (20,000 of 64 B, 64 of 64 KiB; see keep_lead; --lead 0: no limit), the same
 * limit as queue_bench.py uses. On Linux with 2 CPUs or more, the producer and the consumer of
 * the single-producer figures pin themselves to CPUs of their own (see pin_setup; --no-pin: not;
 * queue.mpmc_64B is never pinned). The reps of a group's variants are interleaved (Queue,
 * bounded, SimpleQueue, ring, pipe, Queue, ...), because the raw ring's speed on a VM changes
 * with where the host puts the two vCPUs, from minute to minute: compare within one run.
 *
 * Usage: bench_queue [--quick] [--json-only] [--reps R] [--budget-ms B] [--lead L] [--no-pin]
 *                    [--method M] [--only PREFIX]
 *   --only runs the groups with a figure whose name starts with PREFIX (queue.spsc_64B,
 *   queue.spsc_64KiB, queue.mpmc_64B, ...).
 * JSON lines go to stdout; the human-readable summary goes to stderr (off with --json-only,
 * except the few lines that state the aims).
 */
#define BENCH_NAME "bench_queue"
#include "bench_util.h"

#ifndef _WIN32
#include <fcntl.h>
#define HAVE_RAW 1
#if !defined(MAP_ANONYMOUS) && defined(MAP_ANON)
#define MAP_ANONYMOUS MAP_ANON
#endif
#endif

#define MAX_REPS 64
#define MAX_PROCS 8 /* 4 producers + 4 consumers */
#define SLOT 128    /* keeps shared counters on cache lines of their own */
#define SMALL ((size_t)64)
#define BIG ((size_t)64 << 10)
#define HUGE ((size_t)1 << 20)
#define GIANT ((size_t)4 << 20)
#define BOUNDED_MAXSIZE 10000
#define SEQ_BITS 40
#define JOIN_TIMEOUT_MS 60000
#define GIB (1024.0 * 1024.0 * 1024.0)


/* ----------------------------------------------------------------------------------------
 * Control block shared by the processes of a rep: the gate, the producers still running, the
 * clocks and counts. For mproc it is a raw record Value; for fork it heads the mapping.
 * Index i < nprod: producer i; nprod + k: consumer k.
 * -------------------------------------------------------------------------------------- */
typedef struct ctl {
  union {
    long v;
    char pad[SLOT];
  } gate;
  union {
    long v;
    char pad[SLOT];
  } left;
  union {
    int64_t v; /* producers: timed items put so far; consumers: taken (every 64 items) */
    char pad[SLOT];
  } progress[MAX_PROCS];
  double t_start[MAX_PROCS]; /* us, after the gate */
  double t_end[MAX_PROCS];   /* us; consumers: when the end item arrived */
  int64_t count[MAX_PROCS];  /* timed items put (producers) or taken (consumers) */
} ctl;

/* What every process of a rep knows (ints in mproc's arguments; memory for fork children). */
typedef struct job {
  int64_t item;      /* bytes per item */
  int64_t n;         /* at most this many timed items per producer */
  int64_t warm;      /* untimed items per producer before the gate */
  int64_t budget_us; /* a producer stops after this long even if it has not put n */
  int64_t lead;      /* producers wait while more than this many items are in flight; 0: never */
  int64_t nprod, ncons;
} job;

static void nap(void) {
#ifdef _WIN32
  Sleep(1);
#else
  struct timespec ts = {0, 20000};
  nanosleep(&ts, NULL);
#endif
}

/* Spins a little, then naps: up to 8 processes wait here on 2 CPUs while the parent is still
 * starting the others. The clock starts after the gate. */
static void gate_pass(ctl *c, long n) {
  atomic_inc(&c->gate.v);
  for (int k = 0; atomic_get(&c->gate.v) < n; k++) k < 200 ? cpu_yield() : nap();
}

/* Pinning (Linux, 2 CPUs or more): with one producer and one consumer, each pins itself to a
 * CPU of its own (the first two this process may use). Unpinned, the scheduler sometimes put
 * both on one CPU (whenever something else ran on the other), and the figure then measured
 * context switches and the waiters' spinning: 5-10x lower, flipping from rep to rep. */
static int pin_cpu[2] = {-1, -1};

static void pin_setup(void) {
#ifdef __linux__
  cpu_set_t mask;
  int cpus[2];
  if (allowed_cpus(&mask, cpus) == 2) pin_cpu[0] = cpus[0], pin_cpu[1] = cpus[1];
#endif
}

/* The CPU process idx of j pins itself to, or -1. */
static int cpu_for(const job *j, int idx) {
  return j->nprod == 1 && j->ncons == 1 && idx < 2 ? pin_cpu[idx] : -1;
}

/* Producer idx has put i timed items: publish that, and wait while the producers are more than
 * j->lead items ahead of the consumers. Called every 64 items. Without a limit, a producer whose
 * put costs less than a get (Python's Queue.put only appends to the feeder thread's buffer;
 * mproc's unbounded Queue past its ring) piles up a backlog that takes far longer to drain than
 * the budget; with it, the figure is the consumers' pace with the producers never idle long. */
static void keep_lead(ctl *c, const job *j, int idx, int64_t i) {
  progress_set(&c->progress[idx].v, i);
  if (j->lead <= 0) return;
  for (;;) {
    int64_t ahead = 0;
    for (int p = 0; p < j->nprod + j->ncons; p++)
      ahead += (p < j->nprod ? 1 : -1) * progress_get(&c->progress[p].v);
    if (ahead <= j->lead) return;
    nap();
  }
}

static void stamp(unsigned char *item, int64_t producer, int64_t seq) {
  uint64_t w = (uint64_t)producer << SEQ_BITS | (uint64_t)seq;
  memcpy(item, &w, sizeof w);
}

/* Consumer-side check: the size, and per producer a sequence that only goes up (with one
 * consumer, by exactly 1: nothing lost, nothing reordered). */
typedef struct checker {
  int64_t last[MAX_PROCS];
  int64_t nprod;
  int exact;
} checker;

static void checker_init(checker *k, const job *j) {
  for (int i = 0; i < MAX_PROCS; i++) k->last[i] = -1;
  k->nprod = j->nprod;
  k->exact = j->ncons == 1;
}

static int check_item(checker *k, const void *d, size_t size, size_t want) {
  uint64_t w;
  if (size != want) return -1;
  memcpy(&w, d, sizeof w);
  int64_t p = (int64_t)(w >> SEQ_BITS), s = (int64_t)(w & (((uint64_t)1 << SEQ_BITS) - 1));
  if (p >= k->nprod || (k->exact ? s != k->last[p] + 1 : s <= k->last[p])) return -1;
  k->last[p] = s;
  return 0;
}

/* Items per second, from the clocks and counts the processes left in c. 0 or -1. */
static int rate_of(const ctl *c, const job *j, const char *who, double *items_per_s) {
  int np = (int)j->nprod, nc = (int)j->ncons;
  double t0 = c->t_start[0], t1 = c->t_end[np];
  int64_t put = 0, got = 0;
  for (int i = 0; i < np + nc; i++) t0 = c->t_start[i] < t0 ? c->t_start[i] : t0;
  for (int i = 0; i < np; i++) put += c->count[i];
  for (int i = np; i < np + nc; i++) {
    got += c->count[i];
    t1 = c->t_end[i] > t1 ? c->t_end[i] : t1;
  }
  if (put != got || got <= 0 || t1 <= t0) {
    fprintf(stderr, "bench_queue: %s: %lld items put, %lld taken\n", who, (long long)put,
            (long long)got);
    return -1;
  }
  *items_per_s = (double)got / ((t1 - t0) / 1e6);
  return 0;
}

/* ----------------------------------------------------------------------------------------
 * mproc
 * -------------------------------------------------------------------------------------- */
enum qtype { Q_QUEUE, Q_BOUNDED, Q_SIMPLE };
enum role { ROLE_PRODUCER, ROLE_CONSUMER };

static int mp_produce(mproc_queue_t *q, ctl *c, const job *j, int idx) {
  size_t size = (size_t)j->item;
  unsigned char *item = malloc(size);
  if (!item) return mproc_fail(2, "bench_queue producer: out of memory");
  memset(item, 'x', size);
  int64_t seq = 0, i = 0;
  int err = 0;
  for (; seq < j->warm && !err; seq++) {
    stamp(item, idx, seq);
    err = mproc_queue_put(q, item, size, MPROC_FOREVER);
  }
  if (!err) {
    gate_pass(c, (long)(j->nprod + j->ncons));
    double t0 = now_us(), deadline = t0 + (double)j->budget_us;
    c->t_start[idx] = t0;
    while (i < j->n) {
      stamp(item, idx, seq++);
      if ((err = mproc_queue_put(q, item, size, MPROC_FOREVER)) != 0) break;
      if ((++i & 63) == 0) {
        if (now_us() >= deadline) break;
        keep_lead(c, j, idx, i);
      }
    }
  }
  c->count[idx] = i;
  /* An unbounded queue may still hold items in this process (its overflow): into the ring
   * first, so that no end item overtakes them. */
  if (!err && j->nprod > 1) err = mproc_queue_join_thread(q);
  if (!err && atomic_dec(&c->left.v) == 0)
    for (int64_t k = 0; k < j->ncons && !err; k++) err = mproc_queue_put(q, "", 0, MPROC_FOREVER);
  c->t_end[idx] = now_us();
  free(item);
  return err ? mproc_fail(3, "bench_queue producer: %s", mproc_strerror(err)) : 0;
}

static int mp_consume(mproc_queue_t *q, ctl *c, const job *j, int idx) {
  checker k;
  void *d = NULL;
  size_t size = 0;
  int64_t warm = j->warm * j->nprod / j->ncons, got = 0;
  int err = 0, bad = 0;
  checker_init(&k, j);
  for (int64_t w = 0; w < warm && !err && !bad; w++) {
    if ((err = mproc_queue_get(q, MPROC_FOREVER, &d, &size)) != 0) break;
    bad = check_item(&k, d, size, (size_t)j->item);
    mproc_free(d);
  }
  if (!err && !bad) {
    gate_pass(c, (long)(j->nprod + j->ncons));
    c->t_start[idx] = now_us();
    for (;;) {
      if ((err = mproc_queue_get(q, MPROC_FOREVER, &d, &size)) != 0) break;
      if (size == 0) {
        mproc_free(d);
        break;
      }
      bad = check_item(&k, d, size, (size_t)j->item);
      mproc_free(d);
      if (bad) break;
      if ((++got & 63) == 0) progress_set(&c->progress[idx].v, got);
    }
  }
  c->t_end[idx] = now_us();
  c->count[idx] = got;
  if (bad) return mproc_fail(3, "bench_queue consumer: wrong item (size %lu)", (unsigned long)size);
  return err ? mproc_fail(3, "bench_queue consumer: %s", mproc_strerror(err)) : 0;
}

/* args: queue, ctl, role, index, item, n, warm, budget_us, lead, nprod, ncons, cpu. */
static int mp_child(const mproc_args_t *args) {
  mproc_queue_t *q;
  mproc_value_t *cv;
  int64_t v[10];
  job j;
  int err = mproc_args_get_queue(args, 0, &q);
  if (!err) err = mproc_args_get_value(args, 1, &cv);
  for (int i = 0; i < 10 && !err; i++) err = mproc_args_get_int(args, 2 + (size_t)i, &v[i]);
  if (err) return mproc_fail(2, "bench_queue child: bad arguments: %s", mproc_strerror(err));
  j.item = v[2], j.n = v[3], j.warm = v[4], j.budget_us = v[5], j.lead = v[6];
  j.nprod = v[7], j.ncons = v[8];
  if (pin_self((int)v[9]) != 0) return mproc_fail(2, "bench_queue child: cannot pin to a CPU");
  ctl *c = mproc_value_ptr(cv);
  return v[0] == ROLE_PRODUCER ? mp_produce(q, c, &j, (int)v[1]) : mp_consume(q, c, &j, (int)v[1]);
}

static int start_mp_child(mproc_process_t **p, mproc_queue_t *q, mproc_value_t *cv,
                          enum role role, int idx, const job *j) {
  mproc_args_t *args = NULL;
  int64_t ints[] = {role,    idx,      j->item,  j->n,
                    j->warm, j->budget_us, j->lead, j->nprod,
                    j->ncons, cpu_for(j, idx)};
  int err = mproc_args_new(&args);
  if (!err) err = mproc_args_add_queue(args, q);
  if (!err) err = mproc_args_add_value(args, cv);
  for (size_t i = 0; i < sizeof ints / sizeof ints[0] && !err; i++)
    err = mproc_args_add_int(args, ints[i]);
  if (!err) err = mproc_process_new(p, mp_child, args);
  if (!err && (err = mproc_process_start(*p)) != 0) {
    mproc_process_free(*p);
    *p = NULL;
  }
  mproc_args_free(args);
  return err;
}

/* Joins (or, when ok is 0 or it hangs, kills) one child; 0 if it exited with 0. */
static int finish_mp_child(mproc_process_t *p, int ok) {
  int code = -1, err;
  if (!ok) mproc_process_kill(p);
  err = mproc_process_join(p, JOIN_TIMEOUT_MS);
  if (err == MPROC_ETIMEDOUT) {
    fprintf(stderr, "bench_queue: an mproc child hangs; killed\n");
    mproc_process_kill(p);
    mproc_process_join(p, MPROC_FOREVER);
  }
  if (err == 0) err = mproc_process_exitcode(p, &code);
  if (err == 0 && code != 0) {
    const char *msg = mproc_process_error(p);
    if (ok) fprintf(stderr, "bench_queue: mproc child exited with %d: %s\n", code, msg ? msg : "");
    err = MPROC_ECHILDFAILED;
  }
  mproc_process_free(p);
  return err ? -1 : 0;
}

static int rep_mproc(enum qtype t, const job *j, mproc_value_t *cv, double *items_per_s) {
  mproc_queue_t *q = NULL;
  mproc_process_t *p[MAX_PROCS] = {NULL};
  ctl *c = mproc_value_ptr(cv);
  int n = (int)(j->nprod + j->ncons), rc = 0;
  int err = t == Q_SIMPLE    ? mproc_simple_queue_new(&q)
            : t == Q_BOUNDED ? mproc_queue_new(&q, BOUNDED_MAXSIZE)
                             : mproc_queue_new(&q, 0);
  if (err) return report_mproc("creating the queue", err);
  memset(c, 0, sizeof *c);
  c->left.v = (long)j->nprod;
  for (int i = 0; i < n && !err; i++)
    err = start_mp_child(&p[i], q, cv, i < j->nprod ? ROLE_PRODUCER : ROLE_CONSUMER, i, j);
  if (err) rc = report_mproc("starting an mproc child", err);
  for (int i = 0; i < n; i++)
    if (p[i] && finish_mp_child(p[i], rc == 0) != 0) rc = -1;
  mproc_queue_free(q);
  return rc ? -1 : rate_of(c, j, "mproc", items_per_s);
}

/* ----------------------------------------------------------------------------------------
 * Raw baselines (POSIX): a busy-waiting SPSC ring and a pipe, fork() children
 * -------------------------------------------------------------------------------------- */
#ifdef HAVE_RAW
typedef struct ring {
  union {
    uint64_t v; /* slots taken; consumer */
    char pad[SLOT];
  } head;
  union {
    uint64_t v; /* slots filled; producer */
    char pad[SLOT];
  } tail;
  union {
    uint64_t v; /* tail once the producer is done, else UINT64_MAX */
    char pad[SLOT];
  } total;
} ring;

#define RING_SMALL_SLOTS 1024
#define RING_BIG_SLOTS 64
#define RING_GIANT_SLOTS 4

typedef struct raw_area {
  ctl c;
  job j;
  ring r;
  uint64_t nslots;
  unsigned char *slots; /* this mapping, after the header */
  int fd[2];            /* the pipe of a pipe rep */
} raw_area;

static raw_area *ra; /* shared with the fork children */
static size_t ra_bytes;

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static void spin(unsigned *spins) {
  if (++*spins < 1000) {
    cpu_relax();
  } else {
    *spins = 0;
    sched_yield(); /* both ends on one CPU: let the other run */
  }
}

static void ring_put(raw_area *a, const unsigned char *item, size_t size, uint64_t *t,
                     uint64_t *head_seen) {
  unsigned spins = 0;
  while (*t - *head_seen >= a->nslots) {
    *head_seen = __atomic_load_n(&a->r.head.v, __ATOMIC_ACQUIRE);
    if (*t - *head_seen >= a->nslots) spin(&spins);
  }
  memcpy(a->slots + (*t & (a->nslots - 1)) * size, item, size);
  __atomic_store_n(&a->r.tail.v, ++*t, __ATOMIC_RELEASE);
}

/* 1 with an item copied into buf, 0 when the producer is done and everything was taken. */
static int ring_get(raw_area *a, unsigned char *buf, size_t size, uint64_t *h,
                    uint64_t *tail_seen) {
  unsigned spins = 0;
  while (*h == *tail_seen) {
    *tail_seen = __atomic_load_n(&a->r.tail.v, __ATOMIC_ACQUIRE);
    if (*h != *tail_seen) break;
    if (__atomic_load_n(&a->r.total.v, __ATOMIC_ACQUIRE) == *h) return 0;
    spin(&spins);
  }
  memcpy(buf, a->slots + (*h & (a->nslots - 1)) * size, size);
  __atomic_store_n(&a->r.head.v, ++*h, __ATOMIC_RELEASE);
  return 1;
}

static int ring_produce(raw_area *a) {
  const job *j = &a->j;
  size_t size = (size_t)j->item;
  unsigned char *item = malloc(size);
  if (!item) return 2;
  memset(item, 'x', size);
  uint64_t t = 0, head_seen = 0;
  int64_t seq = 0, i = 0;
  for (; seq < j->warm; seq++) {
    stamp(item, 0, seq);
    ring_put(a, item, size, &t, &head_seen);
  }
  gate_pass(&a->c, 2);
  double t0 = now_us(), deadline = t0 + (double)j->budget_us;
  a->c.t_start[0] = t0;
  while (i < j->n) {
    stamp(item, 0, seq++);
    ring_put(a, item, size, &t, &head_seen);
    if ((++i & 63) == 0) {
      if (now_us() >= deadline) break;
      keep_lead(&a->c, j, 0, i);
    }
  }
  a->c.count[0] = i;
  __atomic_store_n(&a->r.total.v, t, __ATOMIC_RELEASE);
  a->c.t_end[0] = now_us();
  free(item);
  return 0;
}

static int ring_consume(raw_area *a) {
  const job *j = &a->j;
  size_t size = (size_t)j->item;
  unsigned char *buf = malloc(size);
  checker k;
  uint64_t h = 0, tail_seen = 0;
  int64_t got = 0;
  if (!buf) return 2;
  checker_init(&k, j);
  for (int64_t w = 0; w < j->warm; w++)
    if (!ring_get(a, buf, size, &h, &tail_seen) || check_item(&k, buf, size, size) != 0) return 3;
  gate_pass(&a->c, 2);
  a->c.t_start[1] = now_us();
  while (ring_get(a, buf, size, &h, &tail_seen)) {
    if (check_item(&k, buf, size, size) != 0) return 3;
    if ((++got & 63) == 0) progress_set(&a->c.progress[1].v, got);
  }
  a->c.t_end[1] = now_us();
  a->c.count[1] = got;
  free(buf);
  return 0;
}




/* Every record is 4 + item bytes, the end record too (length 0), so that the reader reads each
 * with one read() of a known size. */
static int pipe_produce(raw_area *a) {
  const job *j = &a->j;
  size_t size = (size_t)j->item;
  unsigned char *rec = malloc(4 + size);
  int fd = a->fd[1];
  if (!rec) return 2;
  memset(rec, 'x', 4 + size);
  put_len(rec, (uint32_t)size);
  int64_t seq = 0, i = 0;
  for (; seq < j->warm; seq++) {
    stamp(rec + 4, 0, seq);
    if (write_all(fd, rec, 4 + size) != 0) return 3;
  }
  gate_pass(&a->c, 2);
  double t0 = now_us(), deadline = t0 + (double)j->budget_us;
  a->c.t_start[0] = t0;
  while (i < j->n) {
    stamp(rec + 4, 0, seq++);
    if (write_all(fd, rec, 4 + size) != 0) return 3;
    if ((++i & 63) == 0) {
      if (now_us() >= deadline) break;
      keep_lead(&a->c, j, 0, i);
    }
  }
  a->c.count[0] = i;
  put_len(rec, 0);
  if (write_all(fd, rec, 4 + size) != 0) return 3;
  a->c.t_end[0] = now_us();
  free(rec);
  return 0;
}

static int pipe_consume(raw_area *a) {
  const job *j = &a->j;
  size_t size = (size_t)j->item;
  unsigned char *rec = malloc(4 + size);
  int fd = a->fd[0];
  checker k;
  int64_t got = 0;
  if (!rec) return 2;
  checker_init(&k, j);
  for (int64_t w = 0; w < j->warm; w++)
    if (read_exact(fd, rec, 4 + size) != 0 || check_item(&k, rec + 4, get_len(rec), size) != 0)
      return 3;
  gate_pass(&a->c, 2);
  a->c.t_start[1] = now_us();
  for (;;) {
    if (read_exact(fd, rec, 4 + size) != 0) return 3;
    if (get_len(rec) == 0) break;
    if (check_item(&k, rec + 4, get_len(rec), size) != 0) return 3;
    if ((++got & 63) == 0) progress_set(&a->c.progress[1].v, got);
  }
  a->c.t_end[1] = now_us();
  a->c.count[1] = got;
  free(rec);
  return 0;
}

static int raw_init(void) {
  ra_bytes = sizeof(raw_area) + 4096 + RING_GIANT_SLOTS * GIANT;
  void *p = mmap(NULL, ra_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    perror("bench_queue: mmap");
    return -1;
  }
  ra = p;
  ra->slots = (unsigned char *)p + ((sizeof(raw_area) + 4095) & ~(size_t)4095);
  return 0;
}

enum rawkind { RAW_RING, RAW_PIPE };

static int rep_raw(enum rawkind kind, const job *j, double *items_per_s) {
  pid_t pid[2] = {-1, -1};
  int rc = 0;
  memset(&ra->c, 0, sizeof ra->c);
  ra->j = *j;
  ra->r.head.v = ra->r.tail.v = 0;
  ra->r.total.v = UINT64_MAX;
  /* Big items: the same 4 MiB of slots (64 x 64 KiB, 4 x 1 MiB); 4 x 4 MiB for 4 MiB items. */
  ra->nslots = j->item == (int64_t)SMALL ? RING_SMALL_SLOTS
               : (size_t)j->item > HUGE  ? RING_GIANT_SLOTS
                                         : RING_BIG_SLOTS * BIG / (size_t)j->item;
  ra->fd[0] = ra->fd[1] = -1;
  if (kind == RAW_PIPE && pipe(ra->fd) != 0) {
    perror("bench_queue: pipe");
    return -1;
  }
  fflush(NULL);
  for (int i = 0; i < 2; i++) {
    pid[i] = fork();
    if (pid[i] < 0) {
      perror("bench_queue: fork");
      rc = -1;
      break;
    }
    if (pid[i] == 0) {
      if (pin_self(cpu_for(j, i)) != 0) _exit(2);
      if (kind == RAW_PIPE) close(ra->fd[i == 0 ? 0 : 1]);
      _exit(kind == RAW_RING ? (i == 0 ? ring_produce(ra) : ring_consume(ra))
                             : (i == 0 ? pipe_produce(ra) : pipe_consume(ra)));
    }
  }
  if (kind == RAW_PIPE) close(ra->fd[0]), close(ra->fd[1]);
  /* Polled, so that a child that fails is seen whichever it is: its peer would wait for it
   * forever and is killed. */
  for (int left = (pid[0] > 0) + (pid[1] > 0); left > 0;) {
    int reaped = 0;
    for (int i = 0; i < 2; i++) {
      int status = 0;
      if (pid[i] <= 0) continue;
      if (rc != 0) kill(pid[i], SIGKILL);
      pid_t w = waitpid(pid[i], &status, WNOHANG);
      if (w == 0 || (w < 0 && errno == EINTR)) continue;
      pid[i] = -1, left--, reaped = 1;
      if (w < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (rc == 0) fprintf(stderr, "bench_queue: raw child failed (status %d)\n", status);
        rc = -1;
      }
    }
    if (!reaped && left > 0) {
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
    }
  }
  return rc ? -1 : rate_of(&ra->c, j, kind == RAW_RING ? "raw ring" : "raw pipe", items_per_s);
}
#endif /* HAVE_RAW */

/* ----------------------------------------------------------------------------------------
 * memcpy bandwidth: 1 MiB blocks walking over buffers much larger than the caches.
 * -------------------------------------------------------------------------------------- */
static unsigned char *mc_src, *mc_dst;
static size_t mc_bytes;

static int memcpy_init(size_t bytes) {
  mc_bytes = bytes;
  mc_src = malloc(bytes);
  mc_dst = malloc(bytes);
  if (!mc_src || !mc_dst) {
    fprintf(stderr, "bench_queue: no memory for the memcpy buffers\n");
    return -1;
  }
  memset(mc_src, 'y', bytes); /* every page present before anything is timed */
  memset(mc_dst, 0, bytes);
  return 0;
}

static double rep_memcpy(size_t total) {
  const size_t block = (size_t)1 << 20;
  size_t off = 0;
  double t0 = now_us();
  for (size_t done = 0; done < total; done += block) {
    memcpy(mc_dst + off, mc_src + off, block);
    off = off + 2 * block <= mc_bytes ? off + block : 0;
  }
  double us = now_us() - t0;
  if (mc_dst[0] != 'y') return -1; /* keeps the copies alive */
  return (double)total / GIB / (us / 1e6);
}

/* ----------------------------------------------------------------------------------------
 * Driver
 * -------------------------------------------------------------------------------------- */
enum vkind { V_MPROC, V_RING, V_PIPE, V_MEMCPY };

typedef struct variant {
  const char *name;
  enum vkind kind;
  enum qtype qtype;
  double rep[MAX_REPS]; /* items/s or GiB/s */
  int on, failed;
} variant;

typedef struct row {
  const char *name;
  int mproc, raw; /* variant indexes, -1: null */
} row;

typedef struct group {
  size_t item;
  int nprod, ncons;
  int64_t n, warm, lead;
  int nvariants;
  variant v[6];
  int nrows;
  row rows[5];
} group;

typedef struct config {
  int reps;
  int64_t budget_us;
  int64_t lead; /* --lead, or -1: each group's own */
  int no_pin;   /* --no-pin */
  size_t memcpy_buf, memcpy_total;
  int json_only;
  const char *only;
} config;

static int selected(const group *g, const config *cfg) {
  if (!cfg->only) return 1;
  for (int i = 0; i < g->nrows; i++)
    if (strncmp(g->rows[i].name, cfg->only, strlen(cfg->only)) == 0) return 1;
  return 0;
}

static double to_unit(const group *g, double items_per_s) {
  return g->item == SMALL ? items_per_s : items_per_s * (double)g->item / GIB;
}

static void run_variant(group *g, variant *v, const config *cfg, mproc_value_t *cv, int r) {
  job j = {(int64_t)g->item, g->n,     g->warm,  cfg->budget_us,
           cfg->lead >= 0 ? cfg->lead : g->lead, g->nprod, g->ncons};
  double x = 0;
  int rc = -1;
  if (!v->on || v->failed) return;
  switch (v->kind) {
  case V_MPROC:
    rc = rep_mproc(v->qtype, &j, cv, &x);
    break;
#ifdef HAVE_RAW
  case V_RING:
    rc = rep_raw(RAW_RING, &j, &x);
    break;
  case V_PIPE:
    rc = rep_raw(RAW_PIPE, &j, &x);
    break;
#endif
  case V_MEMCPY:
    x = rep_memcpy(cfg->memcpy_total);
    v->rep[r] = x;
    rc = x > 0 ? 0 : -1;
    if (rc == 0) return;
    break;
  default:
    break;
  }
  if (rc != 0) {
    fprintf(stderr, "bench_queue: %s/%s failed; reported as null\n", g->rows[0].name, v->name);
    v->failed = any_failed = 1;
    return;
  }
  v->rep[r] = to_unit(g, x);
}

static double med(const variant *v, const config *cfg) { return median(v->rep, cfg->reps); }

static void print_value(const group *g, int vi, const config *cfg) {
  const variant *v = vi >= 0 ? &g->v[vi] : NULL;
  if (!v || !v->on || v->failed)
    printf("null");
  else {
    double m = med(v, cfg);
    printf(m < 10 ? "%.3g" : "%.1f", m);
  }
}

static const variant *usable(const group *g, int vi) {
  const variant *v = vi >= 0 ? &g->v[vi] : NULL;
  return v && v->on && !v->failed ? v : NULL;
}

/* The aims, also under --json-only: bench/run shows them above its table. */
static void print_aims(const group *g, const config *cfg) {
  const variant *q = usable(g, 0), *rg = NULL, *mc = NULL;
  for (int i = 0; i < g->nvariants; i++) {
    if (g->v[i].kind == V_RING) rg = usable(g, i);
    if (g->v[i].kind == V_MEMCPY) mc = usable(g, i);
  }
  if (g->nprod > 1 || !q) return;
  if (g->item == SMALL) {
    fprintf(stderr, "bench_queue: aim queue.spsc_64B: >= 50x Python's Queue (read 'faster than "
                    "python' in bench/run's table) and >= 25%% of the raw SPSC ring:");
    if (rg)
      for (int i = 0; i < g->nvariants; i++)
        if (g->v[i].kind == V_MPROC && usable(g, i)) {
          double pc = 100 * med(&g->v[i], cfg) / med(rg, cfg);
          fprintf(stderr, " %s %.1f%% (%s)", g->v[i].name, pc, pc >= 25 ? "met" : "NOT met");
        }
    fprintf(stderr, rg ? "\n" : " (no ring here)\n");
  } else if (g->item >= HUGE) {
    fprintf(stderr, "bench_queue: aim %s: >= 50%% of the raw SPSC ring", g->rows[0].name);
    if (rg) {
      double pc = 100 * med(q, cfg) / med(rg, cfg);
      fprintf(stderr, ": mproc Queue %.2f GiB/s, ring %.2f GiB/s = %.0f%%: %s", med(q, cfg),
              med(rg, cfg), pc, pc >= 50 ? "met" : "NOT met");
    }
    fprintf(stderr, "\n");
  } else {
    fprintf(stderr, "bench_queue: aim queue.spsc_64KiB: >= 50%% of memcpy/2");
    if (mc) {
      double half = med(mc, cfg) / 2;
      fprintf(stderr, " = %.2f GiB/s (memcpy %.2f GiB/s); mproc Queue %.2f GiB/s = %.0f%% of "
              "memcpy/2: %s", half / 2, med(mc, cfg), med(q, cfg), 100 * med(q, cfg) / half,
              med(q, cfg) >= half / 2 ? "met" : "NOT met");
    }
    fprintf(stderr, "\n");
  }
}

static void bench_group(group *g, const config *cfg, mproc_value_t *cv) {
  if (!selected(g, cfg)) return;
  for (int r = 0; r < cfg->reps; r++)
    for (int i = 0; i < g->nvariants; i++) run_variant(g, &g->v[i], cfg, cv, r);
  for (int i = 0; i < g->nrows; i++) {
    const row *w = &g->rows[i];
    printf("{\"bench\":\"%s\",\"unit\":\"%s\",\"better\":\"higher\",\"mproc\":", w->name,
           g->item == SMALL ? "items/s" : "GiB/s");
    print_value(g, w->mproc, cfg);
    printf(",\"python\":null,\"raw\":");
    print_value(g, w->raw, cfg);
    printf(",\"apr\":null}\n");
  }
  fflush(stdout);
  if (!cfg->json_only) {
    for (int i = 0; i < g->nvariants; i++) {
      const variant *v = &g->v[i];
      if (!v->on) continue;
      if (v->failed) {
        fprintf(stderr, "  %-22s %-8s FAILED\n", g->rows[0].name, v->name);
        continue;
      }
      int small = g->item == SMALL && v->kind != V_MEMCPY;
      fprintf(stderr, "  %-22s %-8s median %11.4g %s  (min %.4g, max %.4g; %d reps)\n",
              v->kind == V_MEMCPY ? "memcpy.1MiB_cold" : g->rows[0].name, v->name, med(v, cfg),
              small ? "items/s" : "GiB/s", min_of(v->rep, cfg->reps), max_of(v->rep, cfg->reps),
              cfg->reps);
    }
  }
  print_aims(g, cfg);
}

static int usage(void) {
  fprintf(stderr, "usage: bench_queue [--quick] [--json-only] [--reps R] [--budget-ms B] "
                  "[--lead L] [--no-pin] [--method M] [--only PREFIX]\n");
  return 2;
}

static int parse_args(int argc, char **argv, config *cfg) {
  int reps = 0, quick = 0, budget_ms = 0;
  cfg->json_only = 0;
  cfg->lead = -1;
  cfg->no_pin = 0;
  cfg->only = NULL;
  for (int i = 1; i < argc; i++) {
    int common = common_arg(argc, argv, &i, &quick, &cfg->json_only, &reps);
    if (common < 0)
      return -1;
    if (common > 0)
      continue;
    if (strcmp(argv[i], "--budget-ms") == 0 && i + 1 < argc)
      budget_ms = atoi(argv[++i]);
    else if (strcmp(argv[i], "--no-pin") == 0)
      cfg->no_pin = 1;
    else if (strcmp(argv[i], "--lead") == 0 && i + 1 < argc)
      cfg->lead = atoll(argv[++i]);
    else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc)
      cfg->only = argv[++i];
    else
      return -1;
  }
  cfg->reps = reps > 0 ? reps : quick ? 5 : 11;
  cfg->budget_us = (budget_ms > 0 ? budget_ms : quick ? 100 : 400) * (int64_t)1000;
  cfg->memcpy_buf = (size_t)(quick ? 64 : 256) << 20;
  cfg->memcpy_total = (size_t)(quick ? 256 : 1024) << 20;
  return cfg->reps <= MAX_REPS ? 0 : -1;
}

int main(int argc, char **argv) {
  config cfg;
  mproc_value_t *cv = NULL;
  /* Spawned mproc children re-enter main here and never return from mproc_main. */
  int err = mproc_main(argc, argv);
  if (err) {
    report_mproc("mproc_main", err);
    return 1;
  }
  if (parse_args(argc, argv, &cfg)) return usage();
  if (!cfg.no_pin) pin_setup();
  /* Variants of the single-producer groups: 0 Queue, 1 bounded, 2 SimpleQueue, 3 ring,
   * 4 pipe (5 memcpy for 64 KiB). Warm-up: enough items to go once round mproc's 1 MiB ring
   * and the raw ring. 1 MiB items: only Queue and the ring. */
  group groups[5] = {
      {SMALL, 1, 1, 100000000, 20000, 20000, 5,
       {{"Queue", V_MPROC, Q_QUEUE, {0}, 1, 0},
        {"bounded", V_MPROC, Q_BOUNDED, {0}, 1, 0},
        {"Simple", V_MPROC, Q_SIMPLE, {0}, 1, 0},
        {"ring", V_RING, Q_QUEUE, {0}, 1, 0},
        {"pipe", V_PIPE, Q_QUEUE, {0}, 1, 0}},
       4,
       {{"queue.spsc_64B", 0, 3},
        {"queue.spsc_64B_bounded", 1, 3},
        {"simplequeue.spsc_64B", 2, 3},
        {"queue.spsc_64B_pipe", 0, 4}}},
      {BIG, 1, 1, 1000000, 128, 64, 6,
       {{"Queue", V_MPROC, Q_QUEUE, {0}, 1, 0},
        {"bounded", V_MPROC, Q_BOUNDED, {0}, 1, 0},
        {"Simple", V_MPROC, Q_SIMPLE, {0}, 1, 0},
        {"ring", V_RING, Q_QUEUE, {0}, 1, 0},
        {"pipe", V_PIPE, Q_QUEUE, {0}, 1, 0},
        {"memcpy", V_MEMCPY, Q_QUEUE, {0}, 1, 0}},
       5,
       {{"queue.spsc_64KiB", 0, 3},
        {"queue.spsc_64KiB_bounded", 1, 3},
        {"simplequeue.spsc_64KiB", 2, 3},
        {"queue.spsc_64KiB_pipe", 0, 4},
        {"memcpy.1MiB_cold", -1, 5}}},
      {HUGE, 1, 1, 1000000, 16, 4, 5,
       {{"Queue", V_MPROC, Q_QUEUE, {0}, 1, 0},
        {"bounded", V_MPROC, Q_BOUNDED, {0}, 0, 0},
        {"Simple", V_MPROC, Q_SIMPLE, {0}, 0, 0},
        {"ring", V_RING, Q_QUEUE, {0}, 1, 0},
        {"pipe", V_PIPE, Q_QUEUE, {0}, 0, 0}},
       1,
       {{"queue.spsc_1MiB", 0, 3}}},
      {GIANT, 1, 1, 1000000, 8, 2, 5,
       {{"Queue", V_MPROC, Q_QUEUE, {0}, 1, 0},
        {"bounded", V_MPROC, Q_BOUNDED, {0}, 0, 0},
        {"Simple", V_MPROC, Q_SIMPLE, {0}, 0, 0},
        {"ring", V_RING, Q_QUEUE, {0}, 1, 0},
        {"pipe", V_PIPE, Q_QUEUE, {0}, 0, 0}},
       1,
       {{"queue.spsc_4MiB", 0, 3}}},
      {SMALL, 4, 4, 100000000, 5000, 20000, 1,
       {{"Queue", V_MPROC, Q_QUEUE, {0}, 1, 0}},
       1,
       {{"queue.mpmc_64B", 0, -1}}},
  };
#ifndef HAVE_RAW
  for (int gi = 0; gi < 4; gi++) groups[gi].v[3].on = groups[gi].v[4].on = 0;
#else
  if (raw_init() != 0)
    for (int gi = 0; gi < 4; gi++) groups[gi].v[3].failed = groups[gi].v[4].failed = any_failed = 1;
#endif
  if (selected(&groups[1], &cfg) && memcpy_init(cfg.memcpy_buf) != 0)
    groups[1].v[5].failed = any_failed = 1;
  if ((err = mproc_value_new_record(&cv, sizeof(ctl), 64, NULL, MPROC_LOCK_NONE)) != 0) {
    report_mproc("mproc_value_new_record", err);
    return 1;
  }
  for (int gi = 0; gi < 5; gi++) bench_group(&groups[gi], &cfg, cv);
  mproc_value_free(cv);
  free(mc_src);
  free(mc_dst);
#ifdef HAVE_RAW
  if (ra) munmap(ra, ra_bytes);
#endif
  return any_failed;
}
