/* SPDX-License-Identifier: MIT */
/*
 * bench_pipe: cost of a Connection (Python's Pipe()) between two processes.
 *
 * Figures:
 *   pipe.rtt_8B          us per round trip of an 8-byte message: the parent sends, a child
 *                        echoes, the parent receives;
 *   pipe.rtt_8B_pinned   the same with the parent and the child pinned to one CPU (Linux only;
 *                        null elsewhere), which takes the cross-CPU wake-up out;
 *   pipe.rtt_8B_cross    the same with the parent on one CPU and the child on another (Linux,
 *                        2 CPUs or more): every wake-up crosses CPUs, as the unpinned figure's
 *                        does only when the scheduler happens to place the child so;
 *   pipe.throughput_1MiB GiB/s of 1 MiB messages from the parent to a child that receives each
 *                        into one reused buffer and acknowledges the end of a rep.
 * Each figure is measured two ways in the same run:
 *   mproc  mproc_pipe(1) + a child started with mproc (default start method, spawn) that gets
 *          its end as a process argument (mproc_args_add_conn); mproc_conn_send_bytes /
 *          mproc_conn_recv_bytes_into on both sides;
 *   raw    socketpair(AF_UNIX, SOCK_STREAM) + fork(), the same framing as mproc and Python (a
 *          4-byte big-endian length before each message), each message written with one
 *          write() of header and body and read back exactly with blocking read()s.
 * APR has no message channel between processes: apr is null.
 * A rep starts a child, warms up, times N operations and divides, and stops the child; the
 * figure is the median of R reps. Only one child exists at a time (see bench_figure), and the
 * reps of the two variants are interleaved (mproc, raw, mproc, ...) so that a slow minute on
 * the host hits both alike.
 *
 * Protocol with a child (both variants): a message of length 0 tells the child to exit; for
 * throughput, a message of length 1 asks for a 1-byte acknowledgement. An explicit stop rather
 * than EOF, because a fork child may hold a copy of another channel's end.
 *
 * Usage: bench_pipe [--quick] [--json-only] [--n N] [--reps R] [--method fork|spawn|forkserver]
 *   --method starts the mproc child with another start method (default: spawn).
 *   --n sets the round trips per RTT rep; throughput reps send N/20 messages (at least 10).
 * JSON lines go to stdout; the human-readable summary goes to stderr (off with --json-only).
 */
#define BENCH_NAME "bench_pipe"
#include "bench_util.h"

#ifndef _WIN32
#include <sys/socket.h>
#endif

#define MAX_REPS 64
#define MSG_SMALL 8
#define MSG_BIG ((size_t)1 << 20)

typedef struct config {
  int n_rtt;  /* round trips per RTT rep */
  int n_tput; /* 1 MiB messages per throughput rep */
  int reps;   /* reps per variant */
  int json_only;
} config;

enum kind { KIND_ECHO = 1, KIND_SINK = 2 };

/* One variant of one figure: the child serving it is started and stopped around every rep. */
typedef struct variant {
  const char *name;
  int (*start)(struct variant *v, enum kind k);
  int (*rtt)(struct variant *v, int n);  /* n round trips */
  int (*tput)(struct variant *v, int n); /* n big messages + ack */
  int (*stop)(struct variant *v);
  /* state */
  mproc_conn_t *conn;
  mproc_process_t *proc;
  int fd;
  long pid;
  double rep[MAX_REPS]; /* us per op (RTT) or GiB/s (throughput) */
  int failed;
} variant;

static unsigned char *big_buf; /* 4-byte header + 1 MiB, filled once */

/* ----------------------------------------------------------------------------------------
 * Clock and statistics
 * -------------------------------------------------------------------------------------- */
/* now_us, median, min_of, max_of: bench_stats.h */

/* ----------------------------------------------------------------------------------------
 * mproc
 * -------------------------------------------------------------------------------------- */

/* The child: args are (conn, kind). Echoes (KIND_ECHO) or swallows (KIND_SINK) messages
 * until a message of length 0. */
static int mproc_child(const mproc_args_t *args) {
  mproc_conn_t *c;
  int64_t kind;
  size_t cap = MSG_BIG, n = 0;
  int rc = mproc_args_get_conn(args, 0, &c);
  if (rc == 0) rc = mproc_args_get_int(args, 1, &kind);
  if (rc != 0) return mproc_fail(2, "bench_pipe child: bad arguments: %s", mproc_strerror(rc));
  unsigned char *buf = malloc(cap);
  if (!buf) return mproc_fail(2, "bench_pipe child: out of memory");
  for (;;) {
    rc = mproc_conn_recv_bytes_into(c, buf, cap, 0, MPROC_FOREVER, &n);
    if (rc != 0 || n == 0) break;
    if (kind == KIND_ECHO)
      rc = mproc_conn_send_bytes(c, buf, n, 0, n);
    else if (n == 1)
      rc = mproc_conn_send_bytes(c, "k", 1, 0, 1);
    if (rc != 0) break;
  }
  free(buf);
  return rc == 0 ? 0 : mproc_fail(3, "bench_pipe child: %s", mproc_strerror(rc));
}

static int mproc_start_child(variant *v, enum kind k) {
  mproc_conn_t *mine = NULL, *theirs = NULL;
  mproc_args_t *args = NULL;
  int err = mproc_pipe(1, &mine, &theirs);
  if (err) return report_mproc("mproc_pipe", err);
  if ((err = mproc_args_new(&args)) == 0 && (err = mproc_args_add_conn(args, theirs)) == 0 &&
      (err = mproc_args_add_int(args, k)) == 0 &&
      (err = mproc_process_new(&v->proc, mproc_child, args)) == 0 &&
      (err = mproc_process_start(v->proc)) != 0) {
    mproc_process_free(v->proc);
    v->proc = NULL;
  }
  mproc_args_free(args);
  mproc_conn_free(theirs); /* the child holds its own end now */
  if (err) {
    mproc_conn_free(mine);
    v->proc = NULL;
    return report_mproc("starting the mproc child", err);
  }
  v->conn = mine;
  return 0;
}

static int mproc_rtt(variant *v, int n) {
  unsigned char msg[MSG_SMALL] = "01234567", back[64];
  size_t got;
  for (int i = 0; i < n; i++) {
    int err = mproc_conn_send_bytes(v->conn, msg, sizeof msg, 0, sizeof msg);
    if (err) return report_mproc("mproc_conn_send_bytes", err);
    err = mproc_conn_recv_bytes_into(v->conn, back, sizeof back, 0, MPROC_FOREVER, &got);
    if (err) return report_mproc("mproc_conn_recv_bytes_into", err);
    if (got != sizeof msg) return report_mproc("echo of the wrong size", MPROC_EPROTO);
  }
  return 0;
}

static int mproc_tput(variant *v, int n) {
  unsigned char ack[8];
  size_t got;
  for (int i = 0; i < n; i++) {
    int err = mproc_conn_send_bytes(v->conn, big_buf + 4, MSG_BIG, 0, MSG_BIG);
    if (err) return report_mproc("mproc_conn_send_bytes", err);
  }
  int err = mproc_conn_send_bytes(v->conn, "a", 1, 0, 1);
  if (err == 0)
    err = mproc_conn_recv_bytes_into(v->conn, ack, sizeof ack, 0, MPROC_FOREVER, &got);
  return err ? report_mproc("throughput ack", err) : 0;
}

static int mproc_stop(variant *v) {
  int code = -1, err = 0;
  if (!v->proc) return 0;
  err = mproc_conn_send_bytes(v->conn, "", 0, 0, 0);
  if (err == 0) err = mproc_process_join(v->proc, 10000);
  if (err == 0) err = mproc_process_exitcode(v->proc, &code);
  mproc_conn_free(v->conn);
  v->conn = NULL;
  if (err) {
    mproc_process_kill(v->proc);
    mproc_process_join(v->proc, MPROC_FOREVER);
  }
  if (err == 0 && code != 0) {
    const char *msg = mproc_process_error(v->proc);
    fprintf(stderr, "bench_pipe: mproc child exited with %d: %s\n", code, msg ? msg : "");
    err = MPROC_ECHILDFAILED;
  }
  mproc_process_free(v->proc);
  v->proc = NULL;
  return err ? report_mproc("stopping the mproc child", err) : 0;
}

/* ----------------------------------------------------------------------------------------
 * Raw OS baseline (POSIX): socketpair + fork, blocking read/write
 * -------------------------------------------------------------------------------------- */
#ifndef _WIN32



/* Echo child: knows the size, so it reads header and body with one read(), as the parent does
 * (a read that returns a bare zero header is the stop message). */
static int raw_echo_child(int fd) {
  unsigned char m[4 + MSG_SMALL];
  for (;;) {
    ssize_t r = read(fd, m, sizeof m);
    if (r < 0 && errno == EINTR) continue;
    if (r < 4) return r == 0 ? 0 : 1;
    if (get_len(m) == 0) return 0;
    if (get_len(m) != MSG_SMALL) return 1;
    if (r < (ssize_t)sizeof m && read_exact(fd, m + r, sizeof m - (size_t)r) != 0) return 1;
    if (write_all(fd, m, sizeof m) != 0) return 1;
  }
}

static int raw_sink_child(int fd) {
  unsigned char *buf = malloc(MSG_BIG), h[5];
  if (!buf) return 1;
  for (;;) {
    if (read_exact(fd, h, 4) != 0) return 1;
    uint32_t n = get_len(h);
    if (n == 0) return 0;
    if (n > MSG_BIG || read_exact(fd, buf, n) != 0) return 1;
    if (n == 1) {
      put_len(h, 1);
      h[4] = 'k';
      if (write_all(fd, h, 5) != 0) return 1;
    }
  }
}

static int raw_start(variant *v, enum kind k) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    perror("bench_pipe: socketpair");
    return -1;
  }
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) {
    perror("bench_pipe: fork");
    close(sv[0]), close(sv[1]);
    return -1;
  }
  if (pid == 0) {
    close(sv[0]);
    _exit(k == KIND_ECHO ? raw_echo_child(sv[1]) : raw_sink_child(sv[1]));
  }
  close(sv[1]);
  v->fd = sv[0];
  v->pid = pid;
  return 0;
}

static int raw_rtt(variant *v, int n) {
  unsigned char m[4 + MSG_SMALL] = {0, 0, 0, MSG_SMALL, '0', '1', '2', '3', '4', '5', '6', '7'};
  unsigned char back[4 + MSG_SMALL];
  for (int i = 0; i < n; i++)
    if (write_all(v->fd, m, sizeof m) != 0 || read_exact(v->fd, back, sizeof back) != 0) {
      perror("bench_pipe: raw round trip");
      return -1;
    }
  return 0;
}

static int raw_tput(variant *v, int n) {
  unsigned char ack[5] = {0, 0, 0, 1, 'a'};
  for (int i = 0; i < n; i++)
    if (write_all(v->fd, big_buf, 4 + MSG_BIG) != 0) {
      perror("bench_pipe: raw write");
      return -1;
    }
  if (write_all(v->fd, ack, 5) != 0 || read_exact(v->fd, ack, 5) != 0) {
    perror("bench_pipe: raw ack");
    return -1;
  }
  return 0;
}

static int raw_stop(variant *v) {
  unsigned char stop[4] = {0, 0, 0, 0};
  int status = 0, rc = write_all(v->fd, stop, 4);
  close(v->fd);
  v->fd = -1;
  while (waitpid((pid_t)v->pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "bench_pipe: raw child failed (status %d)\n", status);
    return -1;
  }
  return 0;
}
#endif /* !_WIN32 */

/* ----------------------------------------------------------------------------------------
 * Pinning (Linux). A child inherits the parent's CPU mask when it is created (fork, and the
 * fork or posix_spawn behind mproc's spawn; a forkserver child would get the server's mask).
 * -------------------------------------------------------------------------------------- */
enum pin { PIN_NONE, PIN_SAME, PIN_CROSS };

#ifdef __linux__
static cpu_set_t saved_mask;
static int pin_cpu[2]; /* the first two CPUs this process may use; CPU 0 and 1 normally */

/* Saves the mask and finds the CPUs; 0, or -1 when there are fewer than `need`. */
static int pin_setup(int need) { return allowed_cpus(&saved_mask, pin_cpu) >= need ? 0 : -1; }

static void unpin(void) { sched_setaffinity(0, sizeof saved_mask, &saved_mask); }
#endif

/* ----------------------------------------------------------------------------------------
 * Driver
 * -------------------------------------------------------------------------------------- */
typedef struct figure {
  const char *name;
  const char *unit;
  int throughput; /* 0: RTT in us (lower is better); 1: GiB/s (higher) */
  enum pin pin;
} figure;

static void fail_variant(variant *v, const figure *f, const char *what) {
  fprintf(stderr, "bench_pipe: %s/%s %s failed; reported as null\n", f->name, v->name, what);
  v->failed = any_failed = 1;
}

/* A rep: start a child, warm up (untimed: page faults, cold caches, the child's first
 * wake-up), time n operations as one block, stop the child. */
static void run_rep(variant *v, const figure *f, enum kind k, const config *cfg, int rep) {
  if (!v->start || v->failed) return;
  int n = f->throughput ? cfg->n_tput : cfg->n_rtt;
#ifdef __linux__
  if (f->pin == PIN_CROSS && pin_to(pin_cpu[1]) != 0) { /* the child's CPU, inherited */
    fail_variant(v, f, "sched_setaffinity");
    return;
  }
#endif
  int rc = v->start(v, k);
#ifdef __linux__
  if (f->pin == PIN_CROSS && pin_to(pin_cpu[0]) != 0) rc = -1; /* the parent's CPU */
#endif
  if (rc != 0) {
    fail_variant(v, f, "start");
    if (v->proc || v->fd >= 0) v->stop(v);
    return;
  }
  if ((f->throughput ? v->tput(v, 2) : v->rtt(v, 100)) != 0) {
    fail_variant(v, f, "warm-up");
  } else {
    double t0 = now_us();
    if ((f->throughput ? v->tput(v, n) : v->rtt(v, n)) != 0) {
      fail_variant(v, f, "rep");
    } else {
      double us = now_us() - t0;
      v->rep[rep] = f->throughput ? (double)n * (double)MSG_BIG / (1024.0 * 1024.0 * 1024.0) /
                                        (us / 1e6)
                                  : us / n;
    }
  }
  if (v->stop(v) != 0) fail_variant(v, f, "stop");
}

static void print_value(const variant *v, const config *cfg) {
  if (!v->start || v->failed)
    printf("null");
  else
    printf(v->rep[0] < 10 ? "%.3g" : "%.1f", median(v->rep, cfg->reps));
}

static void bench_figure(const figure *f, const config *cfg) {
  variant vs[2] = {{"mproc", mproc_start_child, mproc_rtt, mproc_tput, mproc_stop, NULL, NULL,
                    -1, 0, {0}, 0},
                   {"raw", NULL, NULL, NULL, NULL, NULL, NULL, -1, 0, {0}, 0}};
  enum kind k = f->throughput ? KIND_SINK : KIND_ECHO;
#ifndef _WIN32
  vs[1].start = raw_start, vs[1].rtt = raw_rtt, vs[1].tput = raw_tput, vs[1].stop = raw_stop;
#endif
  if (f->pin != PIN_NONE) {
#ifdef __linux__
    if (pin_setup(f->pin == PIN_CROSS ? 2 : 1) != 0)
      vs[0].start = vs[1].start = NULL; /* one CPU only: a cross-CPU figure cannot exist */
    else if (f->pin == PIN_SAME && pin_to(pin_cpu[0]) != 0) {
      perror("bench_pipe: sched_setaffinity");
      vs[0].failed = vs[1].failed = any_failed = 1;
    }
#else
    vs[0].start = vs[1].start = NULL; /* no portable pinning: not measured */
#endif
  }
  /* One child at a time, started afresh for every rep: with a second, idle child around, the
   * scheduler tends to keep one child on the parent's CPU and the other on the other CPU, and
   * an unpinned round trip then measures which child got which CPU rather than the channel. */
  for (int r = 0; r < cfg->reps; r++)
    for (int i = 0; i < 2; i++) run_rep(&vs[i], f, k, cfg, r);
#ifdef __linux__
  if (f->pin != PIN_NONE) unpin();
#endif

  printf("{\"bench\":\"%s\",\"unit\":\"%s\",\"better\":\"%s\",\"mproc\":", f->name, f->unit,
         f->throughput ? "higher" : "lower");
  print_value(&vs[0], cfg);
  printf(",\"python\":null,\"raw\":");
  print_value(&vs[1], cfg);
  printf(",\"apr\":null}\n");
  fflush(stdout);
  if (cfg->json_only) return;
  for (int i = 0; i < 2; i++) {
    const variant *v = &vs[i];
    if (!v->start) continue;
    if (v->failed) {
      fprintf(stderr, "  %-22s %-5s  FAILED\n", f->name, v->name);
      continue;
    }
    fprintf(stderr, "  %-22s %-5s  median %9.3f %s  (min %.3f, max %.3f; %d reps x %d)\n",
            f->name, v->name, median(v->rep, cfg->reps), f->unit, min_of(v->rep, cfg->reps),
            max_of(v->rep, cfg->reps), cfg->reps, f->throughput ? cfg->n_tput : cfg->n_rtt);
  }
}

static int usage(void) {
  fprintf(stderr, "usage: bench_pipe [--quick] [--json-only] [--n N] [--reps R] [--method M]\n");
  return 2;
}

static int parse_args(int argc, char **argv, config *cfg) {
  int n = 0, reps = 0, quick = 0;
  cfg->json_only = 0;
  for (int i = 1; i < argc; i++) {
    int common = common_arg(argc, argv, &i, &quick, &cfg->json_only, &reps);
    if (common < 0)
      return -1;
    if (common > 0)
      continue;
    if (strcmp(argv[i], "--n") == 0 && i + 1 < argc)
      n = atoi(argv[++i]);
    else
      return -1;
  }
  cfg->n_rtt = n > 0 ? n : quick ? 2000 : 10000;
  cfg->n_tput = n > 0 ? (n / 20 > 10 ? n / 20 : 10) : quick ? 100 : 500;
  cfg->reps = reps > 0 ? reps : quick ? 9 : 15;
  return cfg->reps <= MAX_REPS ? 0 : -1;
}

int main(int argc, char **argv) {
  static const figure figures[] = {
      {"pipe.rtt_8B", "us", 0, PIN_NONE},
      {"pipe.rtt_8B_pinned", "us", 0, PIN_SAME},
      {"pipe.rtt_8B_cross", "us", 0, PIN_CROSS},
      {"pipe.throughput_1MiB", "GiB/s", 1, PIN_NONE},
  };
  config cfg;
  /* Spawned mproc children re-enter main here and never return from mproc_main. */
  int err = mproc_main(argc, argv);
  if (err) {
    report_mproc("mproc_main", err);
    return 1;
  }
  if (parse_args(argc, argv, &cfg)) return usage();
  big_buf = malloc(4 + MSG_BIG);
  if (!big_buf) return 1;
  memset(big_buf, 'x', 4 + MSG_BIG);
  big_buf[0] = 0, big_buf[1] = 0x10, big_buf[2] = 0, big_buf[3] = 0; /* 1 MiB, big-endian */
  for (size_t i = 0; i < sizeof figures / sizeof figures[0]; i++) bench_figure(&figures[i], &cfg);
  free(big_buf);
  return any_failed;
}
