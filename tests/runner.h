/* The test runner: one binary per area, one CTest entry per case and start method.
 *
 *   TEST(name, timeout_seconds, FLAGS) { ... }
 *
 * FLAGS: ALL (run once per start method), ONCE (method-independent), POSIX_ALL / POSIX_ONCE
 * (not registered on Windows), PYTHON_ONCE (POSIX-only, adds the label "python": the case
 * talks to python3). tests/CMakeLists.txt reads these lines from the source, so the list needs
 * no configure-time run (which a cross build could not do).
 *
 * The binary is an mproc program: spawned children re-enter its main() and mproc_main() runs
 * them, so targets defined in test files work under every start method. */
#ifndef MPROC_TEST_RUNNER_H
#define MPROC_TEST_RUNNER_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc.h>

typedef void (*t_fn)(void);
void t_register(const char *name, t_fn fn);

#if defined(_MSC_VER)
#pragma section(".CRT$XCU", read)
#define T_CTOR(f)                                                                            \
  static void f(void);                                                                       \
  __declspec(allocate(".CRT$XCU")) void (*f##_)(void) = f;                                   \
  static void f(void)
#else
#define T_CTOR(f) __attribute__((constructor)) static void f(void)
#endif

#define TEST(name, timeout, flags)                                                           \
  static void test_##name(void);                                                             \
  T_CTOR(t_reg_##name) { t_register(#name, test_##name); }                                   \
  static void test_##name(void)

/* Set from a constructor by a test file that must act before mproc_main (misuse tests):
 * return >= 0 to exit main with that code, < 0 to carry on. */
extern int (*t_pre_main_hook)(int argc, char **argv);

/* The start method this run is for (the global default was set to it). */
mproc_start_method t_method(void);
/* Exit code that CTest reads as "skipped". */
#define T_SKIP_CODE 77
void t_skip(const char *why);
void t_fail(const char *file, int line, const char *fmt, ...);
void t_sleep_ms(int ms);
/* Path of a file unique to this test run (in the temp directory). */
void t_temp_path(char *buf, size_t cap, const char *tag);

#define ASSERT_TRUE(c)                                                                       \
  do {                                                                                       \
    if (!(c))                                                                                \
      t_fail(__FILE__, __LINE__, "assertion failed: %s", #c);                                \
  } while (0)

#define ASSERT_EQ(a, b)                                                                      \
  do {                                                                                       \
    int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);                                            \
    if (a_ != b_)                                                                            \
      t_fail(__FILE__, __LINE__, "%s == %s failed: %" PRId64 " != %" PRId64, #a, #b, a_, b_); \
  } while (0)

/* Compares MPROC_E* codes and prints their names. */
#define ASSERT_RC(expr, want)                                                                \
  do {                                                                                       \
    int got_ = (expr), want_ = (want);                                                       \
    if (got_ != want_)                                                                       \
      t_fail(__FILE__, __LINE__, "%s: got %s (%d), want %s (%d)", #expr,                     \
             mproc_errname(got_), got_, mproc_errname(want_), want_);                        \
  } while (0)

#define ASSERT_OK(expr) ASSERT_RC(expr, 0)

/* Targets many cases share: return int argument 0; sleep int argument 0 ms, return 0. */
int t_target_return_arg(const mproc_args_t *a);
int t_target_sleep_arg(const mproc_args_t *a);

/* A started process with the default method. */
mproc_process_t *t_start(mproc_target_fn fn, mproc_args_t *args_or_null);
/* Joins (30 s cap) and returns the exit code. */
int t_join_code(mproc_process_t *p);

#ifndef _WIN32
/* Entries of a directory (without . and ..); for /proc/self/fd this includes opendir's fd. */
int t_count_entries(const char *dir);
/* Names an anonymous segment could leave in /dev/shm ("mproc-" + 16 hex digits, the fallback
 * where memfd is missing); not all of /dev/shm, where other tests make named blocks. */
int t_count_anonymous_shm_names(void);
/* Shared mappings of this process: memfds and /dev/shm objects. */
int t_count_shared_maps(void);
#endif

#endif
