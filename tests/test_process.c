/* SPDX-License-Identifier: MIT */
/* Process: exit codes, arguments, state rules, targets, misuse. Lifecycle cases (daemons, reaping
 * under a hostile SIGCHLD, fd inheritance, many children) are in test_process_life.c. */
#include "runner.h"

#include <signal.h>
#include "../src/atomics.h"
#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#include <unistd.h>
#endif

static mproc_process_t *start_int(mproc_target_fn fn, int64_t v) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "l", v));
  mproc_process_t *p = t_start(fn, a);
  mproc_args_free(a);
  return p;
}

TEST(exit_zero, 30, ALL) {
  mproc_process_t *p = start_int(t_target_return_arg, 0);
  ASSERT_EQ(t_join_code(p), 0);
  ASSERT_TRUE(mproc_process_error(p) == NULL);
  ASSERT_EQ(mproc_process_child_error(p), 0);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

TEST(exit_code_n, 30, ALL) {
  mproc_process_t *p = start_int(t_target_return_arg, 7);
  ASSERT_EQ(t_join_code(p), 7);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

static int t_abort(const mproc_args_t *a) {
  (void)a;
  abort();
}

TEST(exit_abort, 30, ALL) {
  mproc_process_t *p = t_start(t_abort, NULL);
#ifdef _WIN32
  ASSERT_EQ(t_join_code(p), 3); /* the C runtime's abort() exits with 3 */
#else
  ASSERT_EQ(t_join_code(p), -SIGABRT);
  const char *msg = mproc_process_error(p); /* the reason, not just a number */
  if (msg == NULL || strcmp(msg, "killed by signal 6 (SIGABRT, Aborted)") != 0)
    t_fail(__FILE__, __LINE__, "error text: %s", msg ? msg : "(null)");
#endif
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

static int t_segv(const mproc_args_t *a) {
  (void)a;
#ifndef _WIN32
  /* Sanitizer runtimes catch SIGSEGV (and UBSan the null store itself) and exit(1): deliver the
   * real signal with its default action instead. */
  signal(SIGSEGV, SIG_DFL);
  raise(SIGSEGV);
#else
  volatile int *volatile nowhere = NULL;
  *nowhere = 1;
#endif
  return 0;
}

TEST(exit_segfault, 30, ALL) {
  mproc_process_t *p = t_start(t_segv, NULL);
#ifdef _WIN32
  ASSERT_EQ(t_join_code(p), (int)0xC0000005); /* NTSTATUS access violation, as it is */
#else
  ASSERT_EQ(t_join_code(p), -SIGSEGV);
#endif
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

TEST(kill_running, 30, ALL) {
  mproc_process_t *p = start_int(t_target_sleep_arg, 60000);
  ASSERT_EQ(mproc_process_is_alive(p), 1);
  ASSERT_OK(mproc_process_kill(p));
  ASSERT_EQ(t_join_code(p), -9);
  ASSERT_OK(mproc_process_kill(p)); /* after exit: a no-op, never a signal to a reused pid */
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

TEST(terminate_running, 30, ALL) {
  mproc_process_t *p = start_int(t_target_sleep_arg, 60000);
  ASSERT_OK(mproc_process_terminate(p));
  ASSERT_EQ(t_join_code(p), -15);
  ASSERT_OK(mproc_process_terminate(p));
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

TEST(join_timeout, 30, ALL) {
  mproc_process_t *p = start_int(t_target_sleep_arg, 60000);
  ASSERT_RC(mproc_process_join(p, 100), MPROC_ETIMEDOUT);
  ASSERT_RC(mproc_process_join(p, 0), MPROC_ETIMEDOUT);
  int code = 0;
  ASSERT_RC(mproc_process_exitcode(p, &code), MPROC_ERUNNING);
  ASSERT_EQ(mproc_process_is_alive(p), 1);
  ASSERT_OK(mproc_process_kill(p));
  ASSERT_OK(mproc_process_join(p, MPROC_FOREVER));
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

TEST(is_alive_transitions, 30, ALL) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "l", (int64_t)300));
  mproc_process_t *p;
  ASSERT_OK(mproc_process_new(&p, t_target_sleep_arg, a));
  mproc_args_free(a);
  ASSERT_EQ(mproc_process_is_alive(p), 0);
  ASSERT_EQ(mproc_process_pid(p), 0);
  ASSERT_OK(mproc_process_start(p));
  ASSERT_TRUE(mproc_process_pid(p) > 0);
  ASSERT_EQ(mproc_process_is_alive(p), 1);
  ASSERT_OK(mproc_process_join(p, MPROC_FOREVER));
  ASSERT_EQ(mproc_process_is_alive(p), 0);
  int code = -1;
  ASSERT_OK(mproc_process_exitcode(p, &code));
  ASSERT_EQ(code, 0);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

TEST(close_running_refused, 30, ALL) {
  mproc_process_t *p = start_int(t_target_sleep_arg, 60000);
  ASSERT_RC(mproc_process_close(p), MPROC_ESTATE);
  ASSERT_EQ(mproc_process_is_alive(p), 1); /* the handle is intact after the refusal */
  ASSERT_OK(mproc_process_kill(p));
  ASSERT_OK(mproc_process_join(p, MPROC_FOREVER));
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
  ASSERT_OK(mproc_process_close(NULL));
}

TEST(state_errors, 30, ALL) {
  mproc_process_t *p;
  ASSERT_RC(mproc_process_new(NULL, t_target_return_arg, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_process_new(&p, NULL, NULL), MPROC_EINVAL);
  ASSERT_OK(mproc_process_new(&p, t_target_return_arg, NULL));
  int code;
  intptr_t s;
  ASSERT_RC(mproc_process_join(p, 0), MPROC_ESTATE);
  ASSERT_RC(mproc_process_exitcode(p, &code), MPROC_ESTATE);
  ASSERT_RC(mproc_process_terminate(p), MPROC_ESTATE);
  ASSERT_RC(mproc_process_sentinel(p, &s), MPROC_ESTATE);
  ASSERT_RC(mproc_process_join(p, -2), MPROC_EINVAL);
  ASSERT_OK(mproc_process_start(p));
  ASSERT_RC(mproc_process_start(p), MPROC_ESTATE);
  ASSERT_RC(mproc_process_set_daemon(p, 1), MPROC_ESTATE);
  ASSERT_RC(mproc_process_set_start_method(p, MPROC_START_SPAWN), MPROC_ESTATE);
  ASSERT_EQ(t_join_code(p), 0);
  ASSERT_RC(mproc_process_join(NULL, 0), MPROC_EINVAL);
  ASSERT_RC(mproc_process_kill(NULL), MPROC_EINVAL);
  ASSERT_EQ(mproc_process_is_alive(NULL), MPROC_EINVAL);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

/* --- arguments ------------------------------------------------------------------------------ */

static const unsigned char k_bytes[] = {0, 1, 2, 0, 255, 128, 0};

static int t_check_args(const mproc_args_t *a) {
  int64_t i;
  double d;
  const char *s;
  const void *b;
  size_t n;
  int rc = mproc_args_parse(a, "l d s y n", &i, &d, &s, &b, &n);
  if (rc != 0)
    return mproc_fail(10, "parse: %s", mproc_errname(rc));
  if (i != INT64_MIN + 5 || d != -2.5e300 || strcmp(s, "héllo wörld") != 0)
    return mproc_fail(11, "values differ: %lld %g %s", (long long)i, d, s);
  if (n != sizeof k_bytes || memcmp(b, k_bytes, n) != 0)
    return mproc_fail(12, "bytes differ (%zu)", n);
  if (mproc_args_count(a) != 5 || mproc_args_get_int(a, 1, &i) != MPROC_ETYPE ||
      mproc_args_type(a, 4) != MPROC_ARG_NONE)
    return mproc_fail(13, "type checks");
  return 0;
}

TEST(args_roundtrip, 30, ALL) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "l d s y n", (int64_t)(INT64_MIN + 5), -2.5e300,
                             "héllo wörld", (const void *)k_bytes, sizeof k_bytes));
  mproc_process_t *p = t_start(t_check_args, a);
  mproc_args_free(a);
  int code = t_join_code(p);
  if (code != 0)
    t_fail(__FILE__, __LINE__, "child: %d %s", code, mproc_process_error(p));
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

TEST(args_errors, 30, ONCE) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_RC(mproc_args_add_str(a, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_args_add_bytes(a, NULL, 3), MPROC_EINVAL);
  ASSERT_OK(mproc_args_add_bytes(a, NULL, 0));
  ASSERT_RC(mproc_args_add_bytes(a, k_bytes, MPROC_ARGS_MAX_BYTES + 1), MPROC_EMSGSIZE);
  ASSERT_EQ(mproc_args_count(a), 1);
  int64_t v;
  ASSERT_RC(mproc_args_get_int(a, 0, &v), MPROC_ETYPE);
  ASSERT_RC(mproc_args_get_int(a, 5, &v), MPROC_ERANGE);
  ASSERT_EQ(mproc_args_type(a, 0), MPROC_ARG_BYTES);
  mproc_args_free(a);
  ASSERT_RC(mproc_args_build(&a, "q", 1), MPROC_EINVAL);
  ASSERT_TRUE(a == NULL);
  ASSERT_OK(mproc_args_build(&a, "i", 5));
  int small;
  double d;
  ASSERT_RC(mproc_args_parse(a, "n"), MPROC_ETYPE);
  ASSERT_RC(mproc_args_parse(a, "d", &d), MPROC_ETYPE);
  ASSERT_RC(mproc_args_parse(a, "ii", &small, &small), MPROC_ERANGE);
  mproc_args_free(a);
  mproc_args_free(NULL);
}

static uint64_t checksum(const unsigned char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++)
    h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

static int t_check_big(const mproc_args_t *a) {
  const void *b;
  size_t n;
  int64_t want;
  if (mproc_args_parse(a, "y l", &b, &n, &want) != 0)
    return 20;
  return n == ((size_t)64 << 20) && (int64_t)checksum(b, n) == want ? 0 : 21;
}

TEST(args_64mib, 120, ALL) {
  size_t n = (size_t)64 << 20;
  unsigned char *buf = malloc(n);
  ASSERT_TRUE(buf != NULL);
  for (size_t i = 0; i < n; i++)
    buf[i] = (unsigned char)(i * 2654435761u >> 13);
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "y l", (const void *)buf, n, (int64_t)checksum(buf, n)));
  free(buf);
  mproc_process_t *p = t_start(t_check_big, a);
  mproc_args_free(a);
  ASSERT_EQ(t_join_code(p), 0);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

/* --- subclass-style state, failures, identity -------------------------------------------------- */

typedef struct counter_proc {
  char label[32];
  int start;
} counter_proc;

static int t_run_bound(const mproc_args_t *a) {
  size_t size = 0;
  counter_proc *self = mproc_args_self(a, &size);
  if (self == NULL || size != sizeof *self || strcmp(self->label, "computer_3") != 0)
    return mproc_fail(30, "bad bound state");
  self->start += 10; /* the child's private copy */
  int64_t add = 0;
  mproc_args_get_int(a, 0, &add);
  return self->start + (int)add;
}

TEST(bound_state, 30, ALL) {
  counter_proc st = {"computer_3", 5};
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "i", 1));
  mproc_process_t *p;
  ASSERT_OK(mproc_process_new(&p, t_run_bound, a));
  mproc_args_free(a);
  ASSERT_OK(mproc_process_bind(p, &st, sizeof st));
  st.start = 1000; /* bound at bind time: later changes don't reach the child */
  ASSERT_OK(mproc_process_start(p));
  ASSERT_EQ(t_join_code(p), 16);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

static int t_failing(const mproc_args_t *a) {
  int64_t v = 0;
  mproc_args_get_int(a, 0, &v);
  return mproc_fail(3, "could not process record %lld", (long long)v);
}

TEST(fail_message, 30, ALL) {
  mproc_process_t *p = start_int(t_failing, 42);
  ASSERT_EQ(t_join_code(p), 3);
  const char *msg = mproc_process_error(p);
  ASSERT_TRUE(msg != NULL && strcmp(msg, "could not process record 42") == 0);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

/* Messages of every size around the parent's first read of the channel (512 bytes), then one
 * of 4,000: each arrives whole, and the last one is what mproc_process_error says. */
static int t_failing_long(const mproc_args_t *a) {
  char msg[4001];
  (void)a;
  for (int n = 490; n <= 530; n += 4) {
    memset(msg, 'a' + n % 26, (size_t)n);
    msg[n] = '\0';
    mproc_fail(1, "%s", msg);
  }
  memset(msg, 'z', 4000);
  msg[4000] = '\0';
  return mproc_fail(9, "%s", msg);
}

TEST(fail_message_long, 30, ALL) {
  mproc_process_t *p = t_start(t_failing_long, NULL);
  ASSERT_EQ(t_join_code(p), 9);
  const char *msg = mproc_process_error(p);
  ASSERT_TRUE(msg != NULL && strlen(msg) == 4000 && msg[0] == 'z' && msg[3999] == 'z');
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

static int t_identity(const mproc_args_t *a) {
  int64_t parent;
  const char *name;
  if (mproc_args_parse(a, "l s", &parent, &name) != 0)
    return 40;
  if (strcmp(mproc_current_process_name(), name) != 0)
    return mproc_fail(41, "name %s", mproc_current_process_name());
  if (mproc_parent_pid() != parent)
    return mproc_fail(42, "parent %lld", (long long)mproc_parent_pid());
  return mproc_current_pid() != parent ? 0 : 43;
}

TEST(current_process, 30, ALL) {
  ASSERT_TRUE(strcmp(mproc_current_process_name(), "MainProcess") == 0);
  ASSERT_TRUE(mproc_parent_pid() != mproc_current_pid()); /* os.getppid(): parent_pid_in_main */
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "l s", mproc_current_pid(), "worker-α"));
  mproc_process_t *p;
  ASSERT_OK(mproc_process_new(&p, t_identity, a));
  mproc_args_free(a);
  ASSERT_TRUE(strncmp(mproc_process_name(p), "Process-", 8) == 0);
  ASSERT_OK(mproc_process_set_name(p, "worker-α"));
  ASSERT_OK(mproc_process_start(p));
  int code = t_join_code(p);
  if (code != 0)
    t_fail(__FILE__, __LINE__, "child %d: %s", code, mproc_process_error(p));
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

TEST(cpu_count, 30, ONCE) {
  int raw = mproc_cpu_count(), usable = mproc_cpu_count_usable();
  ASSERT_TRUE(raw >= 1);
  ASSERT_TRUE(usable >= 1 && usable <= raw);
}

TEST(start_method_api, 30, ONCE) {
  mproc_start_method m;
  ASSERT_EQ(mproc_get_start_method(), MPROC_START_SPAWN); /* the documented default */
  ASSERT_OK(mproc_start_method_parse("spawn", &m));
  ASSERT_EQ(m, MPROC_START_SPAWN);
  ASSERT_RC(mproc_start_method_parse("vfork", &m), MPROC_EINVAL);
  ASSERT_RC(mproc_set_start_method((mproc_start_method)9), MPROC_EINVAL);
  ASSERT_TRUE(mproc_start_method_name((mproc_start_method)9) == NULL);
#ifdef _WIN32
  ASSERT_RC(mproc_set_start_method(MPROC_START_FORK), MPROC_ENOTSUP);
  ASSERT_RC(mproc_set_start_method(MPROC_START_FORKSERVER), MPROC_ENOTSUP);
#else
  ASSERT_OK(mproc_set_start_method(MPROC_START_FORKSERVER));
  ASSERT_EQ(mproc_get_start_method(), MPROC_START_FORKSERVER);
#endif
  ASSERT_TRUE(strcmp(mproc_strerror(MPROC_ETIMEDOUT), "timed out") == 0);
  ASSERT_TRUE(strcmp(mproc_errname(MPROC_ENOTARGET), "MPROC_ENOTARGET") == 0);
  ASSERT_TRUE(strcmp(mproc_errname(12345), "MPROC_UNKNOWN") == 0);
}

/* --- targets ---------------------------------------------------------------------------------- */

TEST(target_not_in_module, 30, ONCE) {
  static unsigned char not_code[64];
  mproc_target_fn fn;
  void *heap = malloc(64);
  memcpy(&fn, &heap, sizeof fn);
  mproc_process_t *p = NULL;
  ASSERT_RC(mproc_process_new(&p, fn, NULL), MPROC_ENOTARGET);
  ASSERT_TRUE(p == NULL);
  free(heap);
  (void)not_code;
}

typedef mproc_target_fn (*get_target_fn)(void);

static int t_noop_target(const mproc_args_t *a) {
  (void)a;
  return 7;
}

static get_target_fn load_plugin(void) {
  void *sym = NULL;
#ifdef _WIN32
  HMODULE m = LoadLibraryA(MPROC_TEST_PLUGIN);
  if (m)
    sym = (void *)GetProcAddress(m, "plugin_get_target");
#else
  void *m = dlopen(MPROC_TEST_PLUGIN_PATH, RTLD_NOW);
  if (m)
    sym = dlsym(m, "plugin_get_target");
#endif
  get_target_fn f = NULL;
  memcpy(&f, &sym, sizeof f);
  return f;
}

TEST(target_in_plugin, 30, ALL) {
  get_target_fn get = load_plugin();
  ASSERT_TRUE(get != NULL);
  mproc_process_t *p = t_start(get(), NULL);
  int code = t_join_code(p);
  if (code != 42)
    t_fail(__FILE__, __LINE__, "exit %d: %s", code, mproc_process_error(p));
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

/* --- another program for spawned children (mproc_set_executable) ------------------------------ */

/* The helper built beside this binary (Windows: found through this binary's own path, which is
 * a Windows path under Wine too). */
static void helper_path(char *buf, size_t cap) {
#ifdef _WIN32
  DWORD n = GetModuleFileNameA(NULL, buf, (DWORD)cap);
  ASSERT_TRUE(n > 0 && n < cap);
  char *slash = strrchr(buf, '\\');
  ASSERT_TRUE(slash != NULL && (size_t)(slash - buf) + 32 < cap);
  strcpy(slash + 1, "mproc_test_helper.exe");
#else
  snprintf(buf, cap, "%s", MPROC_TEST_HELPER_PATH);
#endif
}

TEST(set_executable_helper, 60, ONCE) {
  char helper[4096], got[4096];
  helper_path(helper, sizeof helper);
  ASSERT_RC(mproc_get_executable(got, sizeof got), MPROC_ENOENT);
  ASSERT_RC(mproc_set_executable(""), MPROC_EINVAL);
  ASSERT_OK(mproc_set_executable(helper));
  ASSERT_OK(mproc_get_executable(got, sizeof got));
  ASSERT_TRUE(strcmp(got, helper) == 0);
  ASSERT_RC(mproc_get_executable(got, 3), MPROC_ERANGE);
  /* a target in a shared library runs in the helper, which loads the library by path */
  get_target_fn get = load_plugin();
  ASSERT_TRUE(get != NULL);
  mproc_process_t *p;
  ASSERT_OK(mproc_process_new(&p, get(), NULL));
  ASSERT_OK(mproc_process_set_start_method(p, MPROC_START_SPAWN));
  ASSERT_OK(mproc_process_start(p));
  ASSERT_OK(mproc_process_join(p, 30000));
  int code = -1;
  ASSERT_OK(mproc_process_exitcode(p, &code));
  if (code != 42)
    t_fail(__FILE__, __LINE__, "exit %d: %s", code, mproc_process_error(p));
  mproc_process_free(p);
  /* a target of this program cannot run there: the child is the helper, not this program, and
   * says so instead of running wrong code */
  ASSERT_OK(mproc_process_new(&p, t_noop_target, NULL));
  ASSERT_OK(mproc_process_set_start_method(p, MPROC_START_SPAWN));
  int rc = mproc_process_start(p);
  if (rc == 0) {
    ASSERT_OK(mproc_process_join(p, 30000));
    rc = mproc_process_child_error(p);
  }
  ASSERT_TRUE(rc == MPROC_ENOTARGET || rc == MPROC_EBUILDMISMATCH);
  mproc_process_free(p);
  ASSERT_OK(mproc_set_executable(NULL));
  ASSERT_RC(mproc_get_executable(got, sizeof got), MPROC_ENOENT);
}

/* --- misuse: starting a process before bootstrapping / without mproc_main ---------------------- */

static int t_noop(const mproc_args_t *a) {
  (void)a;
  return 0;
}

/* Runs before mproc_main in every process of this binary. */
static int pre_main(int argc, char **argv) {
  mproc_process_t *p = NULL;
  if (argc >= 2 && strcmp(argv[1], "--no-main") == 0) {
    /* A program that never called mproc_main must not be re-executed by spawn. */
    int rc = mproc_process_new(&p, t_noop, NULL);
    if (rc == 0)
      rc = mproc_process_set_start_method(p, MPROC_START_SPAWN);
    if (rc == 0)
      rc = mproc_process_start(p);
    printf("start without mproc_main: %s\n", mproc_errname(rc));
    mproc_process_free(p);
    return rc == MPROC_ENOMAIN ? 0 : 1;
  }
  if (getenv("MPROC_TEST_START_BEFORE_MAIN") != NULL) {
    /* A spawned child whose main starts a process before mproc_main. */
    int rc = mproc_process_new(&p, t_noop, NULL);
    if (rc == 0)
      rc = mproc_process_start(p);
    if (rc != MPROC_EBOOTSTRAP)
      fprintf(stderr, "start before mproc_main: %s\n", mproc_errname(rc));
    mproc_process_free(p);
    return rc == MPROC_EBOOTSTRAP ? 42 : 1;
  }
  return -1;
}

T_CTOR(install_pre_main) { t_pre_main_hook = pre_main; }

static void set_env(const char *name, const char *value) {
#ifdef _WIN32
  SetEnvironmentVariableA(name, value);
#else
  if (value)
    setenv(name, value, 1);
  else
    unsetenv(name);
#endif
}

TEST(start_before_bootstrap, 30, ALL) {
  /* Re-entry is what spawn does, whatever this run's default: the child re-runs main. */
  set_env("MPROC_TEST_START_BEFORE_MAIN", "1");
  mproc_process_t *p;
  ASSERT_OK(mproc_process_new(&p, t_noop, NULL));
  ASSERT_OK(mproc_process_set_start_method(p, MPROC_START_SPAWN));
  ASSERT_OK(mproc_process_start(p));
  set_env("MPROC_TEST_START_BEFORE_MAIN", NULL);
  ASSERT_EQ(t_join_code(p), 42);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

static int t_nested(const mproc_args_t *a) {
  (void)a;
  mproc_process_t *p;
  mproc_args_t *args;
  if (mproc_args_build(&args, "l", (int64_t)9) != 0 || mproc_process_new(&p, t_target_return_arg, args))
    return 50;
  mproc_args_free(args);
  int rc = mproc_process_start(p);
  if (rc != 0)
    return mproc_fail(51, "nested start: %s", mproc_errname(rc));
  int code = -1;
  if (mproc_process_join(p, 30000) != 0 || mproc_process_exitcode(p, &code) != 0)
    return 52;
  mproc_process_free(p);
  return code + 1;
}

TEST(nested_children, 30, ALL) {
  mproc_process_t *p = t_start(t_nested, NULL);
  int code = t_join_code(p);
  if (code != 10)
    t_fail(__FILE__, __LINE__, "exit %d: %s", code, mproc_process_error(p));
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

/* --- Python conformance: grandchild names, stdio flushed before a start, daemons' children --- */

/* Creates two processes and checks their default names against the bound prefix:
 * CPython names child K's children "Process-K:1", "Process-K:2" (by identity, not by name). */
static int t_name_children(const mproc_args_t *a) {
  char want[64];
  size_t size = 0;
  const char *prefix = mproc_args_self(a, &size);
  C_TRUE(prefix != NULL && size > 0 && prefix[size - 1] == '\0');
  mproc_process_t *p[2];
  for (int i = 0; i < 2; i++) {
    C_OK(mproc_process_new(&p[i], t_target_return_arg, NULL));
    snprintf(want, sizeof want, "%s:%d", prefix, i + 1);
    if (strcmp(mproc_process_name(p[i]), want) != 0)
      return mproc_fail(70, "name %s, want %s", mproc_process_name(p[i]), want);
  }
  mproc_process_free(p[0]);
  mproc_process_free(p[1]);
  return 0;
}

TEST(grandchild_default_names, 30, ALL) {
  mproc_process_t *p;
  ASSERT_OK(mproc_process_new(&p, t_name_children, NULL));
  char prefix[64];
  snprintf(prefix, sizeof prefix, "%s", mproc_process_name(p));
  ASSERT_OK(mproc_process_bind(p, prefix, strlen(prefix) + 1));
  /* The identity follows the default name given at creation, even after a rename. */
  ASSERT_OK(mproc_process_set_name(p, "renamed"));
  ASSERT_OK(mproc_process_start(p));
  int code = t_join_code(p);
  if (code != 0)
    t_fail(__FILE__, __LINE__, "child %d: %s", code, mproc_process_error(p));
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

/* A27: a daemon may start children (CPython refuses with "daemonic processes are not allowed
 * to have children"; mproc's daemons mean "dies with its parent", not "childless"). */
TEST(daemon_may_start_children, 30, ALL) {
  mproc_process_t *p;
  ASSERT_OK(mproc_process_new(&p, t_nested, NULL));
  ASSERT_OK(mproc_process_set_daemon(p, 1));
  ASSERT_OK(mproc_process_start(p));
  int code = t_join_code(p);
  if (code != 10)
    t_fail(__FILE__, __LINE__, "exit %d: %s", code, mproc_process_error(p));
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

#ifndef _WIN32
#include <fcntl.h>
#include <unistd.h>
static int t_print_child(const mproc_args_t *a) {
  (void)a;
  printf("child\n");
  return 0;
}
#endif

/* Python flushes stdout and stderr before every start: what the parent printed comes first. */
TEST(stdio_flushed_before_start, 30, POSIX_ALL) {
#ifndef _WIN32
  char path[512];
  t_temp_path(path, sizeof path, "flush");
  fflush(stdout);
  int saved = dup(1);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ASSERT_TRUE(saved >= 0 && fd >= 0);
  dup2(fd, 1);
  close(fd);
  static char buf[BUFSIZ];
  setvbuf(stdout, buf, _IOFBF, sizeof buf); /* as when stdout is a file or a pipe */
  printf("parent\n");
  mproc_process_t *p = t_start(t_print_child, NULL);
  int code = t_join_code(p);
  fflush(stdout);
  dup2(saved, 1);
  close(saved);
  setvbuf(stdout, NULL, _IOLBF, 0);
  ASSERT_EQ(code, 0);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
  char got[64] = {0};
  FILE *f = fopen(path, "rb");
  ASSERT_TRUE(f != NULL);
  size_t n = fread(got, 1, sizeof got - 1, f);
  fclose(f);
  remove(path);
  got[n] = '\0';
  if (strcmp(got, "parent\nchild\n") != 0)
    t_fail(__FILE__, __LINE__, "output order: [%s]", got);
#endif
}

/* --- fork while other threads hold the library's lock or the loader's ---------------------------- */

#ifndef _WIN32
static int g_busy_stop;
static void busy_global_lock(void *arg) {
  (void)arg;
  size_t n;
  while (!MPROC__ATOMIC_LOAD(&g_busy_stop, MPROC__ATOMIC_RELAXED)) {
    (void)mproc_get_start_method(); /* takes and drops the global lock */
    mproc_active_children(NULL, 0, &n);
  }
}
static void busy_loader(void *arg) {
  (void)arg;
  while (!MPROC__ATOMIC_LOAD(&g_busy_stop, MPROC__ATOMIC_RELAXED)) {
    void *m = dlopen(MPROC_TEST_PLUGIN_PATH, RTLD_NOW);
    if (m)
      dlclose(m);
  }
}
#endif

/* A forked child starts with whatever locks other threads held at the fork: it must not need
 * any of them before the target runs (every child here would hang otherwise). */
TEST(fork_while_threads_hold_locks, 120, POSIX_ALL) {
#ifndef _WIN32
  MPROC__ATOMIC_STORE(&g_busy_stop, 0, MPROC__ATOMIC_RELAXED);
  t_thread *th[3] = {t_thread_start(busy_global_lock, NULL),
                     t_thread_start(busy_global_lock, NULL), t_thread_start(busy_loader, NULL)};
  for (int i = 0; i < 48; i++) {
    mproc_process_t *p;
    mproc_args_t *a;
    ASSERT_OK(mproc_args_build(&a, "i", i));
    ASSERT_OK(mproc_process_new(&p, t_target_return_arg, a));
    mproc_args_free(a);
    ASSERT_OK(mproc_process_allow_fork_with_threads(p, 1));
    ASSERT_OK(mproc_process_start(p));
    ASSERT_OK(mproc_process_join(p, 20000)); /* a hung child is a failure, not a hang */
    int code = -1;
    ASSERT_OK(mproc_process_exitcode(p, &code));
    ASSERT_EQ(code, i);
    ASSERT_OK(mproc_process_close(p));
    mproc_process_free(p);
  }
  MPROC__ATOMIC_STORE(&g_busy_stop, 1, MPROC__ATOMIC_RELAXED);
  for (int i = 0; i < 3; i++)
    t_thread_join(th[i]);
#endif
}
