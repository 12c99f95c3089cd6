/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the bench programs: the feature-test macros and the common headers, the
 * failure flag, mproc error reports, atomics and the start gate, CPU pinning (Linux), the fork
 * children's helpers (POSIX) and the clock and statistics of bench_stats.h.
 *
 * Include it first, after defining BENCH_NAME (the program's name for messages, e.g.
 * "bench_sync"). Everything is static inline, so a program pays only for what it uses.
 */
#ifndef MPROC_BENCH_UTIL_H
#define MPROC_BENCH_UTIL_H

#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET, MAP_ANONYMOUS, pipe2, syscall */
#endif
#if defined(__APPLE__) && !defined(_DARWIN_C_SOURCE)
#define _DARWIN_C_SOURCE /* MAP_ANON */
#endif
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#ifndef BENCH_NAME
#error "define BENCH_NAME before including bench_util.h"
#endif

#include <mproc.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#endif
#ifdef _MSC_VER
#include <intrin.h>
#endif

#include "bench_stats.h"

static int any_failed; /* exit status 1 if some variant could not be measured */

static inline int report_mproc(const char *what, int err) {
  fprintf(stderr, BENCH_NAME ": %s: %s (%s)\n", what, mproc_errname(err), mproc_strerror(err));
  return -1;
}

/* Joins (after killing it unless ok) and frees an mproc child; 0 if it exited with 0. */
static inline int stop_mproc_child(mproc_process_t *p, int ok) {
  int code = -1, err = 0;
  if (!ok) mproc_process_kill(p);
  err = mproc_process_join(p, MPROC_FOREVER);
  if (err == 0) err = mproc_process_exitcode(p, &code);
  if (err == 0 && code != 0) {
    const char *msg = mproc_process_error(p);
    fprintf(stderr, BENCH_NAME ": mproc child exited with %d: %s\n", code, msg ? msg : "");
    err = MPROC_ECHILDFAILED;
  }
  mproc_process_free(p);
  return err && ok ? report_mproc("mproc child", err) : err ? -1 : 0;
}

/* The options every bench program with a start method takes: --quick, --json-only,
 * --method fork|spawn|forkserver (applied here) and --reps R. Returns 1 if argv[*i] is one
 * (*i then past its value), 0 if not, -1 for a bad --method. */
static inline int common_arg(int argc, char **argv, int *i, int *quick, int *json_only,
                             int *reps) {
  const char *a = argv[*i];
  if (strcmp(a, "--quick") == 0) {
    *quick = 1;
  } else if (strcmp(a, "--json-only") == 0) {
    *json_only = 1;
  } else if (strcmp(a, "--method") == 0 && *i + 1 < argc) {
    mproc_start_method m;
    if (mproc_start_method_parse(argv[++*i], &m) != 0 || mproc_set_start_method(m) != 0)
      return -1;
  } else if (strcmp(a, "--reps") == 0 && *i + 1 < argc) {
    *reps = atoi(argv[++*i]);
  } else {
    return 0;
  }
  return 1;
}

/* --- atomics and the start gate ---------------------------------------------------------- */
#ifdef _MSC_VER
static inline long atomic_inc(long *p) { return _InterlockedIncrement((volatile long *)p); }
static inline long atomic_dec(long *p) { return _InterlockedDecrement((volatile long *)p); }
static inline long atomic_get(long *p) {
  return _InterlockedCompareExchange((volatile long *)p, 0, 0);
}
static inline void progress_set(int64_t *p, int64_t v) { *(volatile int64_t *)p = v; }
static inline int64_t progress_get(int64_t *p) { return *(volatile int64_t *)p; }
#else
static inline long atomic_inc(long *p) { return __atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST); }
static inline long atomic_dec(long *p) { return __atomic_sub_fetch(p, 1, __ATOMIC_SEQ_CST); }
static inline long atomic_get(long *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void progress_set(int64_t *p, int64_t v) {
  __atomic_store_n(p, v, __ATOMIC_RELAXED);
}
static inline int64_t progress_get(int64_t *p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }
#endif

static inline void cpu_yield(void) {
#ifdef _WIN32
  SwitchToThread();
#else
  sched_yield();
#endif
}

/* Arrives at the gate, then spins until n processes have: they start their clocks together. */
static inline void gate_spin(long *gate, long n) {
  atomic_inc(gate);
  while (atomic_get(gate) < n) cpu_yield();
}

/* ns per operation of two processes that did n each, from their clocks t = {t_start[2],
 * t_end[2]} in us: first start to last end, over the 2n operations. */
static inline double two_proc_span_ns(const double *t, long n) {
  double t0 = t[0] < t[1] ? t[0] : t[1];
  double t1 = t[2] > t[3] ? t[2] : t[3];
  return (t1 - t0) * 1e3 / (2.0 * (double)n);
}

/* --- pinning (Linux) --------------------------------------------------------------------- */
#ifdef __linux__
/* Saves this process's CPU mask in *saved and the first two CPUs it allows in cpus[];
 * returns how many it found (0..2), or -1. */
static inline int allowed_cpus(cpu_set_t *saved, int cpus[2]) {
  int k = 0;
  if (sched_getaffinity(0, sizeof *saved, saved) != 0) return -1;
  for (int cpu = 0; cpu < CPU_SETSIZE && k < 2; cpu++)
    if (CPU_ISSET(cpu, saved)) cpus[k++] = cpu;
  return k;
}

static inline int pin_to(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  return sched_setaffinity(0, sizeof one, &one);
}
#endif

/* Pins the calling process to cpu; -1: no pinning (and nothing to do off Linux). */
static inline int pin_self(int cpu) {
#ifdef __linux__
  if (cpu >= 0) return pin_to(cpu);
#else
  (void)cpu;
#endif
  return 0;
}

/* --- fork children and their pipes (POSIX) ----------------------------------------------- */
#ifndef _WIN32
static inline int wait_child(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return -1;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, BENCH_NAME ": fork child failed (status %d)\n", status);
    return -1;
  }
  return 0;
}

/* Forks two children that run child(idx, ctx) and exit with its result, then waits for both.
 * 0 when both exited with 0; -1 otherwise (a failed fork kills the child already started). */
static inline int fork_pair(int (*child)(int idx, void *ctx), void *ctx) {
  pid_t pid[2] = {-1, -1};
  int rc = 0;
  fflush(NULL);
  for (int i = 0; i < 2; i++) {
    pid[i] = fork();
    if (pid[i] == 0)
      _exit(child(i, ctx));
    if (pid[i] < 0) {
      perror(BENCH_NAME ": fork");
      if (i == 1)
        kill(pid[0], SIGKILL);
      rc = -1;
      break;
    }
  }
  for (int i = 0; i < 2; i++)
    if (pid[i] > 0 && wait_child(pid[i]) != 0)
      rc = -1;
  return rc;
}

static inline int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w, n -= (size_t)w;
  }
  return 0;
}

/* 0, 1 on EOF before the first byte, -1 on error or EOF half way. */
static inline int read_exact(int fd, void *buf, size_t n) {
  char *p = buf;
  size_t done = 0;
  while (done < n) {
    ssize_t r = read(fd, p + done, n - done);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0 && done == 0) return 1;
    if (r <= 0) return -1;
    done += (size_t)r;
  }
  return 0;
}

/* A 4-byte big-endian length header. */
static inline void put_len(unsigned char *h, uint32_t n) {
  h[0] = (unsigned char)(n >> 24), h[1] = (unsigned char)(n >> 16);
  h[2] = (unsigned char)(n >> 8), h[3] = (unsigned char)n;
}

static inline uint32_t get_len(const unsigned char *h) {
  return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}
#endif

#endif /* MPROC_BENCH_UTIL_H */
