/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by the examples: sleeping, clocks, random numbers, the optional
 * `--method fork|spawn|forkserver` argument, joining with a check, a progress bar and the
 * error report of the one example that handles every error by hand. Nothing here is
 * part of mproc; it keeps the example programs close to the Python they mirror. Include it
 * before any other header.
 */
#ifndef MPROC_EXAMPLE_UTIL_H
#define MPROC_EXAMPLE_UTIL_H

#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif

#include <mproc.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>
#endif

/* time.sleep(ms / 1000.0) */
static inline void example_sleep_ms(int ms) {
#ifdef _WIN32
  Sleep((DWORD)ms);
#else
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  while (nanosleep(&ts, &ts) != 0) {
  }
#endif
}

/* Seconds on a monotonic clock (time.perf_counter()). */
static inline double example_now(void) {
#ifdef _WIN32
  LARGE_INTEGER freq, count;
  QueryPerformanceFrequency(&freq);
  QueryPerformanceCounter(&count);
  return (double)count.QuadPart / (double)freq.QuadPart;
#else
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
#endif
}

/* time.time(): seconds since the epoch. */
static inline double example_time(void) {
#ifdef _WIN32
  FILETIME ft;
  GetSystemTimeAsFileTime(&ft);
  ULARGE_INTEGER t;
  t.LowPart = ft.dwLowDateTime;
  t.HighPart = ft.dwHighDateTime;
  return (double)(t.QuadPart - 116444736000000000ULL) / 1e7;
#else
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
#endif
}

/* Wall-clock time of day as "HH:MM:SS.mmm" — time.ctime() with milliseconds, because the
 * examples sleep fractions of a second where the tutorials sleep whole seconds. */
static inline const char *example_clock(char *buf, size_t size) {
#ifdef _WIN32
  SYSTEMTIME st;
  GetLocalTime(&st);
  snprintf(buf, size, "%02u:%02u:%02u.%03u", (unsigned)st.wHour, (unsigned)st.wMinute,
           (unsigned)st.wSecond, (unsigned)st.wMilliseconds);
#else
  struct timespec ts;
  struct tm tm;
  clock_gettime(CLOCK_REALTIME, &ts);
  time_t secs = ts.tv_sec;
  localtime_r(&secs, &tm);
  char hms[16];
  strftime(hms, sizeof hms, "%H:%M:%S", &tm);
  snprintf(buf, size, "%s.%03ld", hms, (long)(ts.tv_nsec / 1000000L));
#endif
  return buf;
}

/* random.randint(lo, hi): lo..hi inclusive (hi - lo small). The generator is seeded per process
 * from its pid and the clock, as Python reseeds `random` in every child, so children started by
 * fork do not all draw the same numbers. */
static inline int example_randint(int lo, int hi) {
  static int64_t seeded_pid = 0;
  static uint64_t state = 0;
  int64_t pid = mproc_current_pid();
  if (seeded_pid != pid) {
    seeded_pid = pid;
    state = (uint64_t)pid * 0x9E3779B97F4A7C15u ^ (uint64_t)(example_now() * 1e9);
    if (state == 0)
      state = 1;
  }
  state ^= state << 13; /* xorshift64 */
  state ^= state >> 7;
  state ^= state << 17;
  return lo + (int)(state % (uint64_t)(hi - lo + 1));
}

/* Applies an optional `--method fork|spawn|forkserver` argument with
 * mproc_set_start_method(). Call after mproc_main(). Returns 0, or -1 after printing why. */
static inline int example_apply_method(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--method") != 0)
      continue;
    mproc_start_method m;
    int rc = i + 1 < argc ? mproc_start_method_parse(argv[i + 1], &m) : MPROC_EINVAL;
    if (rc == 0)
      rc = mproc_set_start_method(m);
    if (rc != 0) {
      fprintf(stderr, "%s: --method %s: %s\n", argv[0], i + 1 < argc ? argv[i + 1] : "(missing)",
              mproc_strerror(rc));
      return -1;
    }
  }
  return 0;
}

/* The first line of main: mproc_main (the C form of `if __name__ == '__main__':`), then the
 * optional --method; a bad --method ends the program with status 2. */
static inline void example_init(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    exit(2);
}

/* p.join(), with the check a Python program gets for free: a child that failed (an exception
 * in Python, a non-zero exit code here) makes the program fail. Closes p. */
static inline void example_join(mproc_process_t *p) {
  int code;
  MPROC_CHECK(mproc_process_join(p, MPROC_FOREVER));
  MPROC_CHECK(mproc_process_exitcode(p, &code));
  if (code != 0) {
    const char *msg = mproc_process_error(p);
    fprintf(stderr, "%s exited with %d: %s\n", mproc_process_name(p), code,
            msg ? msg : "(no message)");
    exit(1);
  }
  mproc_process_free(p);
}

/* for p in procs: p.join(), each with example_join's check. Closes them. */
static inline void example_join_all(mproc_process_t **procs, int n) {
  for (int i = 0; i < n; i++)
    example_join(procs[i]);
}

/* 1 if flag (e.g. "--join") is among the arguments. */
static inline int example_has_flag(int argc, char **argv, const char *flag) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], flag) == 0)
      return 1;
  return 0;
}

/* The number after an option (argparse's `--count N`), or def when it is absent. */
static inline long example_arg_long(int argc, char **argv, const char *flag, long def) {
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], flag) == 0)
      return strtol(argv[i + 1], NULL, 10);
  return def;
}

/* The k-th positional argument (argparse's positionals; k from 0), or NULL. Every --option
 * is taken to have a value (--method spawn), which is skipped with it. */
static inline const char *example_positional(int argc, char **argv, int k) {
  for (int i = 1; i < argc; i++) {
    if (strncmp(argv[i], "--", 2) == 0)
      i++;
    else if (k-- == 0)
      return argv[i];
  }
  return NULL;
}

/* Prints "what: <message> (MPROC_E...)" to stderr and returns 1, for `return example_die(...)`
 * from main. */
static inline int example_die(const char *what, int rc) {
  fprintf(stderr, "%s: %s (%s)\n", what, mproc_strerror(rc), mproc_errname(rc));
  return 1;
}

/* A progress bar as tqdm draws one, for mproc_task_options.progress: one line on stderr,
 * redrawn in place, e.g. "primes  41250/500000   8% | 96210 items/s | 2 failed | 0.4 s".
 * ctx is the label (a const char *, may be NULL). The last call (every item done) ends the
 * line. */
static inline void example_progress(const mproc_progress *pr, void *ctx) {
  const char *label = ctx ? (const char *)ctx : "";
  double pct = pr->total ? 100.0 * (double)pr->done / (double)pr->total : 0.0;
  fprintf(stderr, "\r%s %llu/%llu%s %3.0f%% | %.0f items/s", label,
          (unsigned long long)pr->done, (unsigned long long)pr->total,
          pr->total_known ? "" : "+", pct, pr->items_per_s);
  if (pr->failed)
    fprintf(stderr, " | %llu failed", (unsigned long long)pr->failed);
  fprintf(stderr, " | %.1f s ", (double)pr->elapsed_ms / 1000.0);
  if (pr->total_known && pr->done == pr->total)
    fputc('\n', stderr);
  fflush(stderr);
}

#endif /* MPROC_EXAMPLE_UTIL_H */
