/* SPDX-License-Identifier: MIT */
/*
 * bench_win32 — Windows only (bench/run --wine runs it under Wine): mproc beside the raw Win32
 * primitive it replaces or sits on, in one run.
 *
 *   win32.lock_pair           ns per uncontended acquire + release: mproc_lock_t (a Lock)
 *                             against a kernel mutex (WaitForSingleObject + ReleaseMutex)
 *   win32.pipe_wake_rtt       us per round trip of 1 byte between two threads: mproc (a duplex
 *                             mproc_pipe; the echo side sleeps in mproc_conn_poll, the other in
 *                             mproc_wait, each then receives and answers) against a raw
 *                             overlapped named pipe pair with blocking ReadFile/WriteFile
 *   win32.pool_map_c1_2000    ms per mproc_pool_map of x*x over 2,000 ints with chunksize 1, 2
 *                             workers (no raw counterpart)
 *   win32.tutorial_10x100k    s for the tutorial's 10 processes each adding 100,000 times to two
 *                             Values under their locks (one of them inside an outer Lock):
 *                             measured with N increments per process and extrapolated as
 *                             T(0) + (T(N) - T(0)) * 100000 / N, T(0) being 10 processes
 *                             started and joined doing nothing (no raw counterpart)
 *
 * Usage: bench_win32 [--quick] [--json-only] [--reps R] [--count N]
 */
#define BENCH_NAME "bench_win32"
#include <mproc.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "bench_stats.h"

static int failed;

static void row(const char *name, const char *unit, double mproc, double raw, int have_raw) {
  if (have_raw)
    printf("{\"bench\":\"%s\",\"unit\":\"%s\",\"better\":\"lower\",\"mproc\":%.3f,"
           "\"python\":null,\"raw\":%.3f,\"apr\":null}\n", name, unit, mproc, raw);
  else
    printf("{\"bench\":\"%s\",\"unit\":\"%s\",\"better\":\"lower\",\"mproc\":%.3f,"
           "\"python\":null,\"raw\":null,\"apr\":null}\n", name, unit, mproc);
  fflush(stdout);
}

static void say(int json_only, const char *what, const double *v, int reps, const char *unit) {
  if (!json_only)
    fprintf(stderr, "  %-28s median %12.3f %s (min %.3f, max %.3f; %d reps)\n", what,
            median(v, reps), unit, min_of(v, reps), max_of(v, reps), reps);
}

static int fail(const char *what, int rc) {
  fprintf(stderr, BENCH_NAME ": %s: %s\n", what, mproc_strerror(rc));
  failed = 1;
  return rc;
}

/* --- lock pairs -------------------------------------------------------------------------- */

static double lock_mproc_ns(mproc_lock_t *l, long n) {
  double t0 = now_us();
  for (long i = 0; i < n; i++) {
    mproc_lock_acquire(l, MPROC_FOREVER);
    mproc_lock_release(l);
  }
  return (now_us() - t0) * 1e3 / (double)n;
}

static double lock_kernel_ns(HANDLE mx, long n) {
  double t0 = now_us();
  for (long i = 0; i < n; i++) {
    WaitForSingleObject(mx, INFINITE);
    ReleaseMutex(mx);
  }
  return (now_us() - t0) * 1e3 / (double)n;
}

static void bench_lock(int reps, int quick, int json_only) {
  mproc_lock_t *l;
  HANDLE mx = CreateMutexW(NULL, FALSE, NULL);
  int rc = mproc_lock_new(&l);
  if (rc != 0 || mx == NULL) {
    fail("lock", rc ? rc : MPROC_EOS);
    return;
  }
  long nm = quick ? 200000 : 2000000, nk = quick ? 2000 : 20000;
  double a[256], b[256];
  for (int r = 0; r < reps; r++) { /* interleaved, so drifting load hits both */
    a[r] = lock_mproc_ns(l, nm);
    b[r] = lock_kernel_ns(mx, nk);
  }
  say(json_only, "lock pair mproc", a, reps, "ns");
  say(json_only, "lock pair kernel mutex", b, reps, "ns");
  row("win32.lock_pair", "ns", median(a, reps), median(b, reps), 1);
  mproc_lock_free(l);
  CloseHandle(mx);
}

/* --- pipe wake-up round trips ----------------------------------------------------------- */

typedef struct echo_job {
  mproc_conn_t *c;
  HANDLE h;
  long n;
} echo_job;

static DWORD WINAPI mproc_echo(LPVOID p) {
  echo_job *j = p;
  char b;
  size_t got;
  for (long i = 0; i < j->n; i++) {
    if (mproc_conn_poll(j->c, 30000) != 1 ||
        mproc_conn_recv_bytes_into(j->c, &b, 1, 0, 30000, &got) != 0 ||
        mproc_conn_send_bytes(j->c, &b, 1, 0, MPROC_SIZE_REST) != 0)
      return 1;
  }
  return 0;
}

static double rtt_mproc_us(long n) {
  mproc_conn_t *a, *b;
  int rc = mproc_pipe(1, &a, &b);
  if (rc != 0)
    return fail("mproc_pipe", rc), 0;
  echo_job j = {b, NULL, n};
  HANDLE t = CreateThread(NULL, 0, mproc_echo, &j, 0, NULL);
  char x = 'x';
  double t0 = now_us();
  for (long i = 0; i < n && rc == 0; i++) {
    mproc_waitable w = {MPROC_WAIT_CONN, a, 0, 0};
    size_t k, got;
    rc = mproc_conn_send_bytes(a, &x, 1, 0, MPROC_SIZE_REST);
    if (rc == 0)
      rc = mproc_wait(&w, 1, 30000, &k); /* a cap that only a hang reaches */
    if (rc == 0)
      rc = mproc_conn_recv_bytes_into(a, &x, 1, 0, 30000, &got);
  }
  double us = (now_us() - t0) / (double)n;
  if (rc != 0)
    fail("mproc round trip", rc);
  WaitForSingleObject(t, INFINITE);
  CloseHandle(t);
  mproc_conn_free(a);
  mproc_conn_free(b);
  return us;
}

/* Blocking overlapped I/O on a raw handle: start, then wait for the event. */
static int raw_io(HANDLE h, int write, char *c, HANDLE ev) {
  OVERLAPPED ov = {0};
  DWORD n = 0;
  ov.hEvent = ev;
  BOOL ok = write ? WriteFile(h, c, 1, NULL, &ov) : ReadFile(h, c, 1, NULL, &ov);
  if (!ok && GetLastError() != ERROR_IO_PENDING)
    return -1;
  return GetOverlappedResult(h, &ov, &n, TRUE) && n == 1 ? 0 : -1;
}

static DWORD WINAPI raw_echo(LPVOID p) {
  echo_job *j = p;
  HANDLE ev = CreateEventW(NULL, TRUE, FALSE, NULL);
  char b;
  for (long i = 0; i < j->n; i++)
    if (raw_io(j->h, 0, &b, ev) != 0 || raw_io(j->h, 1, &b, ev) != 0)
      break;
  CloseHandle(ev);
  return 0;
}

static double rtt_raw_us(long n) {
  wchar_t name[64];
  swprintf(name, 64, L"\\\\.\\pipe\\bench-win32-%lu", GetCurrentProcessId());
  HANDLE s = CreateNamedPipeW(name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                              PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT, 1, 65536, 65536,
                              0, NULL);
  HANDLE c = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                         FILE_FLAG_OVERLAPPED, NULL);
  HANDLE ev = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (s == INVALID_HANDLE_VALUE || c == INVALID_HANDLE_VALUE || ev == NULL)
    return fail("raw named pipe", MPROC_EOS), 0;
  echo_job j = {NULL, c, n};
  HANDLE t = CreateThread(NULL, 0, raw_echo, &j, 0, NULL);
  char x = 'x';
  int rc = 0;
  double t0 = now_us();
  for (long i = 0; i < n && rc == 0; i++)
    rc = raw_io(s, 1, &x, ev) || raw_io(s, 0, &x, ev);
  double us = (now_us() - t0) / (double)n;
  if (rc != 0)
    fail("raw round trip", MPROC_EOS);
  WaitForSingleObject(t, INFINITE);
  CloseHandle(t);
  CloseHandle(ev);
  CloseHandle(c);
  CloseHandle(s);
  return us;
}

static void bench_rtt(int reps, int quick, int json_only) {
  long n = quick ? 300 : 2000;
  double a[256], b[256];
  for (int r = 0; r < reps; r++) {
    a[r] = rtt_mproc_us(n);
    b[r] = rtt_raw_us(n);
  }
  say(json_only, "wake-up round trip mproc", a, reps, "us");
  say(json_only, "round trip raw named pipe", b, reps, "us");
  row("win32.pipe_wake_rtt", "us", median(a, reps), median(b, reps), 1);
}

/* --- pool map, chunksize 1 ----------------------------------------------------------------- */

static int square(const mproc_args_t *args, mproc_args_t *result) {
  int64_t x;
  int rc = mproc_args_get_int(args, 0, &x);
  return rc ? rc : mproc_args_add_int(result, x * x);
}

static void bench_map(int reps, int json_only) {
  mproc_pool_options po = MPROC_POOL_OPTIONS_INIT;
  mproc_task_options to = MPROC_TASK_OPTIONS_INIT;
  mproc_pool_t *pool;
  mproc_args_t *items, *res;
  po.processes = 2;
  to.chunksize = 1;
  int rc = mproc_pool_new(&pool, &po);
  if (rc == 0 && (rc = mproc_args_new(&items)) == 0)
    for (int i = 0; i < 2000 && rc == 0; i++)
      rc = mproc_args_add_int(items, i);
  if (rc != 0) {
    fail("pool", rc);
    return;
  }
  double a[256];
  rc = mproc_pool_map(pool, square, items, &to, &res); /* warm-up */
  if (rc == 0)
    mproc_args_free(res);
  for (int r = 0; r < reps && rc == 0; r++) {
    double t0 = now_us();
    rc = mproc_pool_map(pool, square, items, &to, &res);
    a[r] = (now_us() - t0) / 1e3;
    if (rc == 0)
      mproc_args_free(res);
  }
  if (rc != 0) {
    fail("mproc_pool_map", rc);
  } else {
    say(json_only, "pool map 2000 chunksize 1", a, reps, "ms");
    row("win32.pool_map_c1_2000", "ms", median(a, reps), 0, 0);
  }
  mproc_args_free(items);
  mproc_pool_close(pool);
  mproc_pool_join(pool, MPROC_FOREVER);
  mproc_pool_free(pool);
}

/* --- the tutorial: 10 processes, two locked Values --------------------------------------- */

static int add_one(mproc_value_t *v) {
  int32_t x;
  int rc = mproc_value_get(v, &x);
  x += 1;
  return rc ? rc : mproc_value_set(v, &x);
}

static int tutorial_child(const mproc_args_t *args) {
  mproc_value_t *m, *n;
  mproc_lock_t *l;
  int64_t count;
  if (mproc_args_get_value(args, 0, &m) || mproc_args_get_value(args, 1, &n) ||
      mproc_args_get_lock(args, 2, &l) || mproc_args_get_int(args, 3, &count))
    return 2;
  int rc = 0;
  for (int64_t i = 0; i < count && rc == 0; i++)
    rc = add_one(m);
  if (rc == 0 && (rc = mproc_lock_acquire(l, MPROC_FOREVER)) == 0) {
    for (int64_t i = 0; i < count && rc == 0; i++)
      rc = add_one(n);
    mproc_lock_release(l);
  }
  return rc ? 3 : 0;
}

/* Seconds for 10 processes of count increments each; < 0 on failure. */
static double tutorial_s(int64_t count) {
  const int32_t zero = 0;
  mproc_value_t *m = NULL, *n = NULL;
  mproc_lock_t *l = NULL;
  mproc_args_t *a = NULL;
  mproc_process_t *p[10] = {0};
  int rc = mproc_lock_new(&l);
  if (rc == 0)
    rc = mproc_value_new(&m, 'i', &zero, MPROC_LOCK_NEW);
  if (rc == 0)
    rc = mproc_value_new(&n, 'i', &zero, MPROC_LOCK_NEW);
  if (rc == 0 && (rc = mproc_args_new(&a)) == 0 && (rc = mproc_args_add_value(a, m)) == 0 &&
      (rc = mproc_args_add_value(a, n)) == 0 && (rc = mproc_args_add_lock(a, l)) == 0)
    rc = mproc_args_add_int(a, count);
  double t0 = now_us();
  for (int i = 0; i < 10 && rc == 0; i++)
    if ((rc = mproc_process_new(&p[i], tutorial_child, a)) == 0)
      rc = mproc_process_start(p[i]);
  for (int i = 0; i < 10; i++)
    if (p[i] != NULL) {
      int code = 0;
      if (rc != 0)
        mproc_process_kill(p[i]);
      mproc_process_join(p[i], MPROC_FOREVER);
      if (rc == 0 && (rc = mproc_process_exitcode(p[i], &code)) == 0 && code != 0)
        rc = MPROC_ECHILDFAILED;
      mproc_process_free(p[i]);
    }
  double s = (now_us() - t0) / 1e6;
  int32_t got = 0;
  if (rc == 0 && (rc = mproc_value_get(n, &got)) == 0 && got != 10 * count)
    rc = MPROC_EINTERNAL;
  mproc_args_free(a);
  mproc_value_free(m);
  mproc_value_free(n);
  mproc_lock_free(l);
  return rc ? (fail("tutorial", rc), -1.0) : s;
}

static void bench_tutorial(int reps, int64_t count, int json_only) {
  double t0[256], tn[256], ex[256];
  for (int r = 0; r < reps; r++) {
    t0[r] = tutorial_s(0);
    tn[r] = tutorial_s(count);
    if (t0[r] < 0 || tn[r] < 0)
      return;
    /* Start-up noise can exceed a short run's increments: never extrapolate below T(0). */
    ex[r] = t0[r] + (tn[r] > t0[r] ? tn[r] - t0[r] : 0) * 100000.0 / (double)count;
  }
  if (!json_only)
    fprintf(stderr, "  tutorial: 10 processes start+join %.3f s, with %lld increments each "
            "%.3f s (medians)\n", median(t0, reps), (long long)count, median(tn, reps));
  say(json_only, "tutorial extrapolated to 100k", ex, reps, "s");
  row("win32.tutorial_10x100k", "s", median(ex, reps), 0, 0);
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  int quick = 0, json_only = 0, reps = 0;
  int64_t count = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--quick") == 0)
      quick = 1;
    else if (strcmp(argv[i], "--json-only") == 0)
      json_only = 1;
    else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc)
      reps = atoi(argv[++i]);
    else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
      count = atoll(argv[++i]);
    else {
      fprintf(stderr, "usage: bench_win32 [--quick] [--json-only] [--reps R] [--count N]\n");
      return 2;
    }
  }
  if (reps <= 0 || reps > 256)
    reps = quick ? 3 : 7;
  if (count <= 0)
    count = quick ? 5000 : 20000;
  bench_lock(reps, quick, json_only);
  bench_rtt(reps, quick, json_only);
  bench_map(reps, json_only);
  bench_tutorial(quick ? 1 : 3, count, json_only);
  return failed;
}
