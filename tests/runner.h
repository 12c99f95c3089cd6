/* SPDX-License-Identifier: MIT */
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

#if defined(_MSC_VER) && !defined(__clang__)
/* MSVC has no constructor attribute. The C runtime calls every function pointer placed in the
 * .CRT$XCU section before main (that is how C++ static initialisers run); the /include
 * directive keeps the linker from dropping the otherwise unreferenced pointer (/OPT:REF).
 * x86 symbol names carry a leading underscore. */
#pragma section(".CRT$XCU", read)
#if defined(_M_IX86)
#define T_SYM_PREFIX "_"
#else
#define T_SYM_PREFIX ""
#endif
#define T_CTOR(f)                                                                            \
  static void f(void);                                                                       \
  __declspec(allocate(".CRT$XCU")) void (*const f##_)(void) = f;                             \
  __pragma(comment(linker, "/include:" T_SYM_PREFIX #f "_")) static void f(void)
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

/* A hang cap inside a case, in ms, stretched by the build's test-timeout multiplier (3 under
 * ASan, 4 under Wine, 5 under TSan): what only a hang reaches natively may be reached by a
 * sanitized process on a busy machine. Never a bound on how fast something must be. */
#ifndef MPROC_TEST_SLOWDOWN
#define MPROC_TEST_SLOWDOWN 1
#endif
#define T_SLOW(ms) ((ms) * MPROC_TEST_SLOWDOWN)
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

/* Open fds (POSIX, -1 if /proc/self/fd cannot be read) or handles (Windows) of this process. */
int t_count_handles(void);

#ifndef _WIN32
/* The state letter of process pid in /proc/<pid>/stat ('R', 'S', 'T' stopped, 'Z' zombie,
 * ...), or 0 when there is no such file (no such process, or no procfs). */
char t_proc_state(int64_t pid);
/* Entries of a directory (without . and ..); for /proc/self/fd this includes opendir's fd. */
int t_count_entries(const char *dir);
/* Names an anonymous segment could leave in /dev/shm ("mproc-" + 16 hex digits, the fallback
 * where memfd is missing); not all of /dev/shm, where other tests make named blocks. */
int t_count_anonymous_shm_names(void);
/* Shared mappings of this process: memfds and /dev/shm objects. */
int t_count_shared_maps(void);
/* The leak check's end: fds, shared maps and anonymous shm names are back at the counts taken
 * before, and no child is left. */
void t_assert_nothing_left(int fds, int maps, int shm);
/* A python3.<minor> interpreter's path in out: pyenv's, else MPROC_TEST_PYTHON (when the
 * binary was built with it) if it is that version. 0 when there is none. */
int t_find_python(int minor, char *out, size_t cap);
#endif

/* --- helpers the area tests share ------------------------------------------------------- */

/* In a child: a failed check ends the target with a message the parent prints. */
#define C_RC(expr, want)                                                                     \
  do {                                                                                       \
    int rc_ = (expr), w_ = (want);                                                           \
    if (rc_ != w_)                                                                           \
      return mproc_fail(98, "line %d: %s: got %s, want %s", __LINE__, #expr,                 \
                        mproc_errname(rc_), mproc_errname(w_));                              \
  } while (0)
#define C_OK(expr) C_RC(expr, 0)
#define C_TRUE(c)                                                                            \
  do {                                                                                       \
    if (!(c))                                                                                \
      return mproc_fail(99, "line %d: %s", __LINE__, #c);                                    \
  } while (0)
#define C_EQ(a, b)                                                                           \
  do {                                                                                       \
    int64_t a_ = (int64_t)(a), b_ = (int64_t)(b);                                            \
    if (a_ != b_)                                                                            \
      return mproc_fail(97, "line %d: %s == %s failed: %lld != %lld", __LINE__, #a, #b,      \
                        (long long)a_, (long long)b_);                                       \
  } while (0)

/* Monotonic clock in milliseconds. */
int64_t t_now_ms(void);
/* expr must give `want` after waiting about ms (at least 3/4 of it: timers are coarse on some
 * platforms) and well before a hang. No other assertion on time. */
void t_assert_waited(int rc, int want, int64_t t0, int64_t ms, const char *what,
                     const char *file, int line);
#define ASSERT_WAITS(expr, want, ms)                                                         \
  do {                                                                                       \
    int64_t t0_ = t_now_ms();                                                                \
    t_assert_waited((expr), (want), t0_, (ms), #expr, __FILE__, __LINE__);                   \
  } while (0)
#define ASSERT_TIMES_OUT(expr, ms) ASSERT_WAITS(expr, MPROC_ETIMEDOUT, ms)

/* Argument list from a kinds string: L lock, S semaphore, C condition, E event, B barrier,
 * Q queue, V value, A array, i int, l int64, s string. The caller frees it once the processes
 * are started (t_start_n and t_start_one do). */
mproc_args_t *t_args(const char *kinds, ...);

/* Starts n processes running fn with the same arguments, then frees the arguments. */
void t_start_n(mproc_process_t **ps, int n, mproc_target_fn fn, mproc_args_t *a);
/* One process; frees the arguments. */
mproc_process_t *t_start_one(mproc_target_fn fn, mproc_args_t *a);
/* Joins p (join_ms cap), fails with the child's message unless it exited with 0, closes it. */
void t_finish_ms(mproc_process_t *p, int64_t join_ms);
/* t_finish_ms with a 30 s cap. */
void t_finish(mproc_process_t *p);
void t_finish_n(mproc_process_t **ps, int n);
/* SIGKILL (TerminateProcess) and reap: the exit code must be -9. */
void t_kill_and_reap(mproc_process_t *p);

/* In a child (a target's return value): unless rc (of building ga) is an error, starts fn with
 * ga as a grandchild (allowed to fork with threads if asked), frees ga, joins it (60 s cap);
 * 0 when it exited with 0, else an mproc_fail code with the story. */
int t_run_grandchild(int rc, mproc_target_fn fn, mproc_args_t *ga, int allow_fork_with_threads);

/* Argument i of a child's list, or NULL (the next call on it then fails with EINVAL). */
mproc_lock_t *t_lock(const mproc_args_t *a, size_t i);
mproc_semaphore_t *t_sem(const mproc_args_t *a, size_t i);
mproc_condition_t *t_cond(const mproc_args_t *a, size_t i);
mproc_event_t *t_event(const mproc_args_t *a, size_t i);
mproc_barrier_t *t_barrier(const mproc_args_t *a, size_t i);
mproc_queue_t *t_queue(const mproc_args_t *a, size_t i);
mproc_value_t *t_value(const mproc_args_t *a, size_t i);
mproc_array_t *t_array(const mproc_args_t *a, size_t i);
const char *t_str(const mproc_args_t *a, size_t i);
/* Integer argument i, -1 when missing. */
int t_int(const mproc_args_t *a, size_t i);
int64_t t_int64(const mproc_args_t *a, size_t i);

/* Threads: pthread on POSIX, CreateThread on Windows (mingw has no C11 threads). */
typedef struct t_thread t_thread;
t_thread *t_thread_start(void (*fn)(void *), void *arg);
void t_thread_join(t_thread *t);

/* --- fault tests (binary test_fault, label "fault") ----------------------------------------
 * Kill-at-random cases draw every random choice from one seeded generator. The seed comes from
 * MPROC_FAULT_SEED when set, else from the clock, and is printed before the first round so a
 * failure can be replayed exactly. Rounds default to what fits CI (tens); MPROC_FAULT_ROUNDS
 * overrides it for soak runs (thousands). */
uint64_t t_fault_seed(void);
int t_fault_rounds(int quick_default);
/* Next pseudo-random value of the case's generator (xorshift64*, seeded by t_fault_seed). */
uint32_t t_rand(void);
/* A value in [lo, hi]. */
int t_rand_range(int lo, int hi);

#endif
