/* SPDX-License-Identifier: MIT */
/* Named shared memory (Python's shared_memory.SharedMemory): create / attach / unlink, the
 * name rules, mode 0600, attaching from a child by name, from an unrelated program
 * (tests/shm_peer.c) and from Python, the lifetime rules of each platform (POSIX: the name
 * stays until unlinked, even after a crash; Windows: it goes with the last handle), and sizes
 * refused up front instead of a SIGBUS later. */
#include "runner.h"

#ifdef _WIN32
#include <windows.h>
#else
#include <dirent.h>
#include <errno.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
#endif
#ifdef __linux__
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#endif

/* Helpers defined in test_shared.c (the same binary). */
void sh_await(const mproc_value_t *v, int64_t want);
/* Defined here, used by test_shareable_list.c too. */
int sh_run_program(const char *const *argv);
void sh_shm_name(char *buf, size_t cap, const char *tag);

/* The same patterns as shm_peer.c. */
static unsigned char pattern_a(size_t i) { return (unsigned char)(i * 7 + 1); }
static unsigned char pattern_b(size_t i) { return (unsigned char)(i * 13 + 5); }

static void fill(mproc_shared_memory_t *s, size_t n, unsigned char (*pat)(size_t)) {
  unsigned char *p = mproc_shared_memory_buf(s);
  for (size_t i = 0; i < n; i++)
    p[i] = pat(i);
}

/* Index of the first byte of p[0, n) not following pat, or n. */
static size_t first_diff(const void *p, size_t n, unsigned char (*pat)(size_t)) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != pat(i))
      return i;
  return n;
}

#define ASSERT_PATTERN(s, n, pat) ASSERT_EQ(first_diff(mproc_shared_memory_buf(s), (n), pat), (n))

/* A name unique to this run. */
void sh_shm_name(char *buf, size_t cap, const char *tag) {
  snprintf(buf, cap, "mproc-test-%lld-%s", (long long)mproc_current_pid(), tag);
}

/* Size attach reports for a block created with size n: the same on POSIX; on Windows a
 * section only tells its size in whole pages (Python's SharedMemory reports the same). */
static void assert_attached_size(const mproc_shared_memory_t *s, size_t n) {
#ifdef _WIN32
  ASSERT_TRUE(mproc_shared_memory_size(s) >= n);
  ASSERT_TRUE(mproc_shared_memory_size(s) < n + 65536);
#else
  ASSERT_EQ(mproc_shared_memory_size(s), n);
#endif
}

/* --- create, attach, unlink ------------------------------------------------------------------- */

TEST(shm_create_attach_unlink, 30, ONCE) {
  enum { N = 10000 }; /* not a whole number of pages */
  char name[64], slashed[80];
  sh_shm_name(name, sizeof name, "basic");
  snprintf(slashed, sizeof slashed, "/%s", name);
  mproc_shared_memory_t *s, *t, *u = (mproc_shared_memory_t *)&u;
  ASSERT_RC(mproc_shared_memory_attach(&u, name), MPROC_ENOENT);
  ASSERT_TRUE(u == NULL);
  ASSERT_OK(mproc_shared_memory_create(&s, name, N));
  ASSERT_TRUE(strcmp(mproc_shared_memory_name(s), name) == 0);
  ASSERT_EQ(mproc_shared_memory_size(s), N);
  ASSERT_TRUE(mproc_shared_memory_buf(s) != NULL);
  static const unsigned char zero[N];
  ASSERT_TRUE(memcmp(mproc_shared_memory_buf(s), zero, N) == 0); /* a new block is zeroed */
  fill(s, N, pattern_a);

  /* A second handle sees the same bytes, both ways. */
  ASSERT_OK(mproc_shared_memory_attach(&t, name));
  assert_attached_size(t, N);
  ASSERT_TRUE(strcmp(mproc_shared_memory_name(t), name) == 0);
  ASSERT_PATTERN(t, N, pattern_a);
  ((unsigned char *)mproc_shared_memory_buf(t))[N - 1] = 0xAB;
  ASSERT_EQ(((unsigned char *)mproc_shared_memory_buf(s))[N - 1], 0xAB);
  mproc_shared_memory_free(t);
  ASSERT_PATTERN(s, N - 1, pattern_a); /* closing one handle leaves the other's memory */

  /* The name is taken, whatever the size asked for. */
  u = (mproc_shared_memory_t *)&u;
  ASSERT_RC(mproc_shared_memory_create(&u, name, N), MPROC_EEXIST);
  ASSERT_TRUE(u == NULL);
  ASSERT_RC(mproc_shared_memory_create(&u, name, 5 * N), MPROC_EEXIST);
  ASSERT_RC(mproc_shared_memory_create(&u, slashed, N), MPROC_EEXIST);
  /* Python names come with a leading '/': the same object, reported without it. */
  ASSERT_OK(mproc_shared_memory_attach(&t, slashed));
  ASSERT_TRUE(strcmp(mproc_shared_memory_name(t), name) == 0);
  ASSERT_PATTERN(t, N - 1, pattern_a);
  mproc_shared_memory_free(t);

  ASSERT_OK(mproc_shared_memory_unlink(s));
#ifdef _WIN32
  /* Unlink has nothing to do: the name lives while a handle is open. */
  ASSERT_OK(mproc_shared_memory_attach(&t, name));
  mproc_shared_memory_free(t);
  mproc_shared_memory_free(s);
  ASSERT_RC(mproc_shared_memory_attach(&t, name), MPROC_ENOENT);
#else
  /* The name is gone; this handle keeps its memory; the name can be created anew, as a new
   * block. */
  ASSERT_RC(mproc_shared_memory_attach(&t, name), MPROC_ENOENT);
  ASSERT_RC(mproc_shared_memory_unlink(s), MPROC_ENOENT);
  ASSERT_PATTERN(s, N - 1, pattern_a);
  ASSERT_OK(mproc_shared_memory_create(&t, name, N));
  ASSERT_TRUE(memcmp(mproc_shared_memory_buf(t), zero, N) == 0);
  fill(t, N, pattern_b);
  ASSERT_PATTERN(s, N - 1, pattern_a);
  ASSERT_OK(mproc_shared_memory_unlink(t));
  mproc_shared_memory_free(t);
  mproc_shared_memory_free(s);
#endif
}

TEST(shm_random_name, 30, ONCE) {
  mproc_shared_memory_t *s, *t, *u;
  ASSERT_OK(mproc_shared_memory_create(&s, NULL, 4096));
  ASSERT_OK(mproc_shared_memory_create(&t, NULL, 4096));
  const char *n1 = mproc_shared_memory_name(s), *n2 = mproc_shared_memory_name(t);
  ASSERT_TRUE(n1 != NULL && n2 != NULL);
  ASSERT_TRUE(strlen(n1) > 0 && strlen(n1) <= MPROC_SHM_NAME_MAX);
  ASSERT_TRUE(strspn(n1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") ==
              strlen(n1));
  ASSERT_TRUE(strcmp(n1, n2) != 0);
  fill(s, 4096, pattern_a);
  ASSERT_OK(mproc_shared_memory_attach(&u, n1)); /* a real name, attachable like any other */
  ASSERT_PATTERN(u, 4096, pattern_a);
  mproc_shared_memory_free(u);
  ASSERT_OK(mproc_shared_memory_unlink(s));
  ASSERT_OK(mproc_shared_memory_unlink(t));
  mproc_shared_memory_free(s);
  mproc_shared_memory_free(t);
}

TEST(shm_bad_names, 30, ONCE) {
  char long_ok[MPROC_SHM_NAME_MAX + 2], too_long[MPROC_SHM_NAME_MAX + 2];
  char slash_long_ok[MPROC_SHM_NAME_MAX + 3], slash_too_long[MPROC_SHM_NAME_MAX + 3];
  sh_shm_name(long_ok, sizeof long_ok, "");
  size_t base = strlen(long_ok);
  memset(long_ok + base, 'x', MPROC_SHM_NAME_MAX - base);
  long_ok[MPROC_SHM_NAME_MAX] = '\0';
  memcpy(too_long, long_ok, MPROC_SHM_NAME_MAX);
  too_long[MPROC_SHM_NAME_MAX] = 'y';
  too_long[MPROC_SHM_NAME_MAX + 1] = '\0';
  snprintf(slash_long_ok, sizeof slash_long_ok, "/%s", long_ok);
  snprintf(slash_too_long, sizeof slash_too_long, "/%s", too_long);
  const char *bad[] = {"",     "/",     "//",     "a/b",      "/a/b",    "//a",   "a/",
                       "a b",  " a",    "a ",     "a\tb",     "a\nb",    ".",     "..",
                       "/.",   "/..",   "../a",   "a\\b",     "a:b",     "a*b",   "a%b",
                       "a?b",  "a\"b",  "Global\\mproc", "caf\xc3\xa9", "a\x7f", too_long,
                       slash_too_long};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    mproc_shared_memory_t *s = (mproc_shared_memory_t *)&s;
    int rc = mproc_shared_memory_create(&s, bad[i], 4096);
    if (rc != MPROC_EINVAL) {
      if (rc == 0) {
        mproc_shared_memory_unlink(s);
        mproc_shared_memory_free(s);
      }
      t_fail(__FILE__, __LINE__, "create \"%s\": %s, want MPROC_EINVAL", bad[i],
             mproc_errname(rc));
    }
    ASSERT_TRUE(s == NULL);
    s = (mproc_shared_memory_t *)&s;
    ASSERT_RC(mproc_shared_memory_attach(&s, bad[i]), MPROC_EINVAL);
    ASSERT_TRUE(s == NULL);
    ASSERT_RC(mproc_shared_memory_unlink_name(bad[i]), MPROC_EINVAL);
  }
  /* Every allowed character, and the longest name, with or without '/'. */
  char all_chars[128];
  sh_shm_name(all_chars, sizeof all_chars, "AZaz09._-");
  const char *good[] = {all_chars, long_ok, slash_long_ok};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    mproc_shared_memory_t *s, *t;
    ASSERT_OK(mproc_shared_memory_create(&s, good[i], 100));
    ASSERT_OK(mproc_shared_memory_attach(&t, good[i]));
    mproc_shared_memory_free(t);
    ASSERT_OK(mproc_shared_memory_unlink(s));
    mproc_shared_memory_free(s);
  }
}

TEST(shm_bad_arguments, 30, ONCE) {
  char name[64];
  sh_shm_name(name, sizeof name, "args");
  mproc_shared_memory_t *s = (mproc_shared_memory_t *)&s;
  ASSERT_RC(mproc_shared_memory_create(&s, name, 0), MPROC_EINVAL); /* as Python */
  ASSERT_TRUE(s == NULL);
  s = (mproc_shared_memory_t *)&s;
  ASSERT_RC(mproc_shared_memory_create(&s, NULL, 0), MPROC_EINVAL);
  ASSERT_TRUE(s == NULL);
  ASSERT_RC(mproc_shared_memory_attach(&s, name), MPROC_ENOENT); /* size 0 left nothing */
  ASSERT_RC(mproc_shared_memory_create(NULL, name, 100), MPROC_EINVAL);
  ASSERT_RC(mproc_shared_memory_create(NULL, NULL, 100), MPROC_EINVAL);
  ASSERT_RC(mproc_shared_memory_attach(NULL, name), MPROC_EINVAL);
  s = (mproc_shared_memory_t *)&s;
  ASSERT_RC(mproc_shared_memory_attach(&s, NULL), MPROC_EINVAL);
  ASSERT_TRUE(s == NULL);
  ASSERT_RC(mproc_shared_memory_unlink(NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_shared_memory_unlink_name(NULL), MPROC_EINVAL);
  mproc_shared_memory_free(NULL);
  ASSERT_TRUE(mproc_shared_memory_buf(NULL) == NULL);
  ASSERT_EQ(mproc_shared_memory_size(NULL), 0);
  ASSERT_TRUE(mproc_shared_memory_name(NULL) == NULL);
#ifdef _WIN32
  ASSERT_OK(mproc_shared_memory_unlink_name(name)); /* nothing to do on Windows */
#else
  ASSERT_RC(mproc_shared_memory_unlink_name(name), MPROC_ENOENT);
#endif
}

TEST(shm_mode_0600, 30, POSIX_ONCE) {
#ifndef _WIN32
  char name[64], path[128];
  sh_shm_name(name, sizeof name, "mode");
  snprintf(path, sizeof path, "/dev/shm/%s", name);
  static const mode_t masks[] = {0, 022, 077, 0177};
  mode_t old = umask(0);
  for (size_t i = 0; i < sizeof masks / sizeof masks[0]; i++) {
    umask(masks[i]); /* exactly 0600, whatever the umask */
    mproc_shared_memory_t *s;
    ASSERT_OK(mproc_shared_memory_create(&s, name, 4096));
    struct stat st;
    ASSERT_EQ(stat(path, &st), 0);
    ASSERT_TRUE(S_ISREG(st.st_mode));
    if ((st.st_mode & 07777) != 0600)
      t_fail(__FILE__, __LINE__, "umask %03o: mode %04o, want 0600", (unsigned)masks[i],
             (unsigned)(st.st_mode & 07777));
    ASSERT_EQ(st.st_uid, getuid());
    ASSERT_EQ(st.st_size, 4096);
    ASSERT_OK(mproc_shared_memory_unlink(s));
    mproc_shared_memory_free(s);
    ASSERT_TRUE(stat(path, &st) != 0 && errno == ENOENT);
  }
  umask(old);
#endif
}

/* --- other processes by name ------------------------------------------------------------------ */

/* Args: name, size. Attaches, expects pattern A, writes pattern B; the name is taken. */
static int t_attach_by_name(const mproc_args_t *a) {
  const char *name = t_str(a, 0);
  size_t n = (size_t)t_int(a, 1);
  C_TRUE(name != NULL);
  mproc_shared_memory_t *s, *dup = NULL;
  C_OK(mproc_shared_memory_attach(&s, name));
#ifdef _WIN32
  C_TRUE(mproc_shared_memory_size(s) >= n);
#else
  C_TRUE(mproc_shared_memory_size(s) == n);
#endif
  size_t at = first_diff(mproc_shared_memory_buf(s), n, pattern_a);
  if (at != n)
    return mproc_fail(3, "byte %u differs from what the parent wrote", (unsigned)at);
  fill(s, n, pattern_b);
  C_RC(mproc_shared_memory_create(&dup, name, n), MPROC_EEXIST);
  mproc_shared_memory_free(s);
  return 0;
}

TEST(shm_child_attaches_by_name, 60, ALL) {
  enum { N = 70000 };
  char name[64];
  sh_shm_name(name, sizeof name, "child");
  mproc_shared_memory_t *s;
  ASSERT_OK(mproc_shared_memory_create(&s, name, N));
  fill(s, N, pattern_a);
  t_finish(t_start_one(t_attach_by_name, t_args("si", name, N)));
  ASSERT_PATTERN(s, N, pattern_b);
  ASSERT_OK(mproc_shared_memory_unlink(s));
  mproc_shared_memory_free(s);
}

/* Runs a program (not through mproc) and returns its exit code; -N for a signal. */
int sh_run_program(const char *const *argv) {
  fflush(NULL);
#ifdef _WIN32
  char cmd[4096] = "";
  for (size_t i = 0; argv[i]; i++) {
    size_t len = strlen(cmd);
    snprintf(cmd + len, sizeof cmd - len, "%s\"%s\"", i ? " " : "", argv[i]);
  }
  STARTUPINFOA si;
  PROCESS_INFORMATION pi;
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  if (!CreateProcessA(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
    t_fail(__FILE__, __LINE__, "CreateProcess(%s): error %lu", cmd, GetLastError());
  if (WaitForSingleObject(pi.hProcess, 60000) != WAIT_OBJECT_0) {
    TerminateProcess(pi.hProcess, 1);
    t_fail(__FILE__, __LINE__, "%s did not finish", cmd);
  }
  DWORD code = 0;
  GetExitCodeProcess(pi.hProcess, &code);
  CloseHandle(pi.hThread);
  CloseHandle(pi.hProcess);
  return (int)code;
#else
  pid_t pid;
  int err = posix_spawn(&pid, argv[0], NULL, NULL, (char *const *)argv, environ);
  if (err != 0)
    t_fail(__FILE__, __LINE__, "posix_spawn(%s): %s", argv[0], strerror(err));
  int st;
  while (waitpid(pid, &st, 0) < 0)
    ASSERT_EQ(errno, EINTR);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -WTERMSIG(st);
#endif
}

/* The peer program's path: next to this test binary. */
static void peer_path(char *buf, size_t cap) {
#ifdef _WIN32
  /* The build passes a Unix path under Wine; the module's own directory works everywhere. */
  char self[MAX_PATH];
  DWORD n = GetModuleFileNameA(NULL, self, sizeof self);
  ASSERT_TRUE(n > 0 && n < sizeof self);
  char *slash = strrchr(self, '\\');
  if (slash)
    slash[1] = '\0';
  snprintf(buf, cap, "%s%s", slash ? self : "", MPROC_TEST_SHM_PEER_NAME);
#else
  snprintf(buf, cap, "%s", MPROC_TEST_SHM_PEER);
#endif
}

TEST(shm_unrelated_process, 60, ONCE) {
  enum { N = 12345 };
  char name[64], size[32], peer[1024];
  sh_shm_name(name, sizeof name, "peer");
  snprintf(size, sizeof size, "%d", N);
  peer_path(peer, sizeof peer);
  mproc_shared_memory_t *s, *t;
  ASSERT_OK(mproc_shared_memory_create(&s, name, N));
  /* A program using mproc, and one using the OS alone, as any other program (or Python) would. */
  static const char *const modes[] = {"check", "rawcheck"};
  for (int i = 0; i < 2; i++) {
    fill(s, N, pattern_a);
    const char *argv[] = {peer, modes[i], name, size, NULL};
    int code = sh_run_program(argv);
    if (code != 0)
      t_fail(__FILE__, __LINE__, "peer %s exited with %d", modes[i], code);
    ASSERT_PATTERN(s, N, pattern_b);
  }
  ASSERT_OK(mproc_shared_memory_unlink(s));
  mproc_shared_memory_free(s);
  const char *argv[] = {peer, "check", name, size, NULL};
  ASSERT_EQ(sh_run_program(argv), 3); /* unlinked (POSIX) / last handle closed (Windows) */

  /* The other way round: the peer creates a block and exits without unlinking. */
  const char *create[] = {peer, "create", name, size, NULL};
  ASSERT_EQ(sh_run_program(create), 0);
#ifdef _WIN32
  /* The last handle went with the peer, and the block with it. */
  ASSERT_RC(mproc_shared_memory_attach(&t, name), MPROC_ENOENT);
#else
  ASSERT_OK(mproc_shared_memory_attach(&t, name));
  ASSERT_EQ(mproc_shared_memory_size(t), N);
  ASSERT_PATTERN(t, N, pattern_a);
  mproc_shared_memory_free(t);
  ASSERT_OK(mproc_shared_memory_unlink_name(name));
  ASSERT_RC(mproc_shared_memory_attach(&t, name), MPROC_ENOENT);
#endif
}

TEST(shm_python_attaches, 60, PYTHON_ONCE) {
#if defined(MPROC_TEST_PYTHON) && !defined(_WIN32)
  /* Python's SharedMemory(name) opens the same object. Python 3.8-3.12 also registers an
   * attached block with its resource tracker, which would unlink it at exit: unregister. */
  static const char script[] =
      "import sys\n"
      "from multiprocessing import shared_memory, resource_tracker\n"
      "name, n = sys.argv[1], int(sys.argv[2])\n"
      "s = shared_memory.SharedMemory(name)\n"
      "try:\n"
      "    resource_tracker.unregister(s._name, 'shared_memory')\n"
      "except Exception:\n"
      "    pass\n"
      "if s.size != n: sys.exit(4)\n"
      "b = s.buf\n"
      "if any(b[i] != (i * 7 + 1) % 256 for i in range(n)): sys.exit(5)\n"
      "b[:n] = bytes((i * 13 + 5) % 256 for i in range(n))\n"
      "del b\n"
      "s.close()\n";
  enum { N = 5000 };
  char name[64], size[32];
  sh_shm_name(name, sizeof name, "python");
  snprintf(size, sizeof size, "%d", N);
  mproc_shared_memory_t *s;
  ASSERT_OK(mproc_shared_memory_create(&s, name, N));
  fill(s, N, pattern_a);
  const char *argv[] = {MPROC_TEST_PYTHON, "-c", script, name, size, NULL};
  int code = sh_run_program(argv);
  ASSERT_EQ(code, 0);
  ASSERT_PATTERN(s, N, pattern_b);
  mproc_shared_memory_t *t;
  ASSERT_OK(mproc_shared_memory_attach(&t, name)); /* Python left the name in place */
  mproc_shared_memory_free(t);
  ASSERT_OK(mproc_shared_memory_unlink(s));
  mproc_shared_memory_free(s);
#else
  t_skip("python3 not found at configure time");
#endif
}

/* --- lifetime --------------------------------------------------------------------------------- */

/* Args: name, size, ready ('i' Value). Creates the block, writes pattern A, signals, waits to
 * be killed: a program that crashes before unlinking. */
static int t_create_and_wait(const mproc_args_t *a) {
  mproc_shared_memory_t *s;
  C_OK(mproc_shared_memory_create(&s, t_str(a, 0), (size_t)t_int(a, 1)));
  fill(s, (size_t)t_int(a, 1), pattern_a);
  C_OK(mproc_value_store(t_value(a, 2), 1));
  t_sleep_ms(60000);
  return 0;
}

TEST(shm_lifetime, 60, ONCE) {
  enum { N = 4096 };
  char name[64];
  sh_shm_name(name, sizeof name, "life");
  mproc_shared_memory_t *s, *t;
  ASSERT_OK(mproc_shared_memory_create(&s, name, N));
  fill(s, N, pattern_a);
  mproc_shared_memory_free(s); /* closed, not unlinked */
#ifdef _WIN32
  ASSERT_RC(mproc_shared_memory_attach(&t, name), MPROC_ENOENT); /* gone with its last handle */
#else
  ASSERT_OK(mproc_shared_memory_attach(&t, name)); /* a name is like a file: it stays */
  ASSERT_PATTERN(t, N, pattern_a);
  mproc_shared_memory_free(t);
  ASSERT_OK(mproc_shared_memory_unlink_name(name));
  ASSERT_RC(mproc_shared_memory_attach(&t, name), MPROC_ENOENT);
  ASSERT_RC(mproc_shared_memory_unlink_name(name), MPROC_ENOENT);
#endif

  /* A creator killed before it could unlink. */
  mproc_value_t *ready;
  ASSERT_OK(mproc_raw_value_new(&ready, 'i', NULL));
  mproc_process_t *p = t_start_one(t_create_and_wait, t_args("siV", name, N, ready));
  sh_await(ready, 1);
  ASSERT_OK(mproc_process_kill(p));
  ASSERT_EQ(t_join_code(p), -9);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
  mproc_value_free(ready);
#ifdef _WIN32
  ASSERT_RC(mproc_shared_memory_attach(&t, name), MPROC_ENOENT); /* nothing left behind */
  ASSERT_OK(mproc_shared_memory_unlink_name(name));
#else
  /* The stale name is still there, with its contents; unlink_name clears it. */
  ASSERT_OK(mproc_shared_memory_attach(&t, name));
  ASSERT_PATTERN(t, N, pattern_a);
  ASSERT_OK(mproc_shared_memory_unlink_name(name));
  ASSERT_PATTERN(t, N, pattern_a); /* a holder keeps its memory */
  mproc_shared_memory_free(t);
  ASSERT_RC(mproc_shared_memory_attach(&t, name), MPROC_ENOENT);
  ASSERT_RC(mproc_shared_memory_unlink_name(name), MPROC_ENOENT);
  ASSERT_OK(mproc_shared_memory_create(&t, name, N)); /* the name is free again */
  ASSERT_OK(mproc_shared_memory_unlink(t));
  mproc_shared_memory_free(t);
#endif
}

/* --- sizes that cannot be reserved ------------------------------------------------------------ */

/* After MPROC_ENOSPC: the message names the block, where it would have lived, and the sizes. */
static void assert_nospace_message(const char *name, const char *where, uint64_t asked) {
  const char *msg = mproc_last_error_message();
  char want[64];
  printf("message: %s\n", msg);
  ASSERT_TRUE(msg != NULL);
  ASSERT_TRUE(strstr(msg, name) != NULL);
  ASSERT_TRUE(strstr(msg, where) != NULL);
  ASSERT_TRUE(strstr(msg, "free") != NULL);
  snprintf(want, sizeof want, "(%llu bytes) asked", (unsigned long long)asked);
  ASSERT_TRUE(strstr(msg, want) != NULL);
}

TEST(shm_oversize_refused, 60, ONCE) {
  char name[64];
  sh_shm_name(name, sizeof name, "huge");
  mproc_shared_memory_t *s = (mproc_shared_memory_t *)&s;
#ifdef _WIN32
  /* Far beyond the commit limit (RAM + pagefile): SEC_COMMIT charges it all at creation. */
  uint64_t huge = (uint64_t)1 << 40;
  MEMORYSTATUSEX ms;
  ms.dwLength = sizeof ms;
  if (GlobalMemoryStatusEx(&ms) && ms.ullTotalPageFile > huge / 4)
    huge = ms.ullTotalPageFile * 4;
  ASSERT_RC(mproc_shared_memory_create(&s, name, (size_t)huge), MPROC_ENOSPC);
  ASSERT_TRUE(s == NULL);
  assert_nospace_message(name, "commit limit", huge);
  ASSERT_RC(mproc_shared_memory_attach(&s, name), MPROC_ENOENT);
#else
  /* More than /dev/shm holds in all: posix_fallocate refuses it now, where an unreserved
   * mapping would die of SIGBUS on first touch of a missing page. */
  struct statvfs fs;
  ASSERT_EQ(statvfs("/dev/shm", &fs), 0);
  uint64_t total = (uint64_t)fs.f_blocks * fs.f_frsize;
  if (total == 0)
    t_skip("/dev/shm has no size limit");
  int fds = t_count_entries("/proc/self/fd");
  uint64_t asked = total + ((uint64_t)1 << 20);
  ASSERT_RC(mproc_shared_memory_create(&s, name, (size_t)asked), MPROC_ENOSPC);
  ASSERT_TRUE(s == NULL);
  assert_nospace_message(name, "/dev/shm", asked);
  ASSERT_RC(mproc_shared_memory_attach(&s, name), MPROC_ENOENT); /* no name left behind */
  s = (mproc_shared_memory_t *)&s;
  ASSERT_RC(mproc_shared_memory_create(&s, NULL, (size_t)(total * 2)), MPROC_ENOSPC);
  ASSERT_TRUE(s == NULL);
  ASSERT_EQ(t_count_entries("/proc/self/fd"), fds); /* nor an fd */
#endif
  /* The name is still usable for a sensible size. */
  ASSERT_OK(mproc_shared_memory_create(&s, name, 1 << 20));
  memset(mproc_shared_memory_buf(s), 0x5A, 1 << 20);
  ASSERT_OK(mproc_shared_memory_unlink(s));
  mproc_shared_memory_free(s);
}

/* --- a /dev/shm that is full, read-only or missing (USER-PAIN A17, A18) ----------------------- */

#ifdef __linux__
static int write_text(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}
#endif

/* This process (and every child it starts, by any method) sees its own /dev/shm: a fresh tmpfs
 * mounted with opts (e.g. "size=1m", or "ro"), in a private mount namespace, so the rest of
 * the machine is untouched. Must be called while the process has one thread. Skips the case
 * where namespaces are not allowed. */
void sh_private_dev_shm(const char *opts) {
#ifdef __linux__
  if (unshare(CLONE_NEWNS) != 0) {
    char map[64];
    unsigned uid = (unsigned)getuid(), gid = (unsigned)getgid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0)
      t_skip("no private mount namespace (unshare refused)");
    write_text("/proc/self/setgroups", "deny");
    snprintf(map, sizeof map, "0 %u 1", uid);
    ASSERT_EQ(write_text("/proc/self/uid_map", map), 0);
    snprintf(map, sizeof map, "0 %u 1", gid);
    ASSERT_EQ(write_text("/proc/self/gid_map", map), 0);
  }
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
    t_skip("cannot make the mount namespace private");
  int ro = strcmp(opts, "ro") == 0;
  if (mount("none", "/dev/shm", "tmpfs", ro ? MS_RDONLY : 0, ro ? NULL : opts) != 0)
    t_skip("cannot mount a tmpfs on /dev/shm");
#else
  (void)opts;
  t_skip("Linux only");
#endif
}

TEST(shm_tmpfs_full, 60, POSIX_ONCE) {
#ifndef _WIN32
  /* A 1 MiB /dev/shm (Docker's --shm-size=1m): the block that does not fit is refused at
   * once, and the message names /dev/shm with what was free and what was asked. */
  sh_private_dev_shm("size=1m");
  struct statvfs fs;
  ASSERT_EQ(statvfs("/dev/shm", &fs), 0);
  ASSERT_EQ((uint64_t)fs.f_bavail * fs.f_frsize, 1 << 20);
  char name[64], half[64];
  sh_shm_name(name, sizeof name, "big");
  sh_shm_name(half, sizeof half, "half");
  mproc_shared_memory_t *s = (mproc_shared_memory_t *)&s, *h;
  ASSERT_RC(mproc_shared_memory_create(&s, name, 2 << 20), MPROC_ENOSPC);
  ASSERT_TRUE(s == NULL);
  assert_nospace_message(name, "/dev/shm", 2 << 20);
  ASSERT_TRUE(strstr(mproc_last_error_message(), "1.0 MiB (1048576 bytes) free") != NULL);
  ASSERT_RC(mproc_shared_memory_attach(&s, name), MPROC_ENOENT);
  ASSERT_OK(mproc_shared_memory_create(&h, half, 512 << 10));
  ASSERT_EQ(mproc_last_error_message()[0], 0); /* a call that succeeds leaves no message */
  ASSERT_RC(mproc_shared_memory_create(&s, name, 768 << 10), MPROC_ENOSPC);
  assert_nospace_message(name, "/dev/shm", 768 << 10);
  ASSERT_TRUE(strstr(mproc_last_error_message(), "(524288 bytes) free") != NULL);
  mproc_array_t *a;
#if defined(MPROC_POSIX_GENERIC)
  /* Without memfd, anonymous objects are unlinked shm objects in /dev/shm too: refused the
   * same way (docs/portability.md). */
  ASSERT_RC(mproc_array_new(&a, 'B', 4 << 20, NULL, MPROC_LOCK_NEW), MPROC_ENOSPC);
#else
  /* Anonymous objects do not live in /dev/shm: a 4 MiB Array is fine. */
  ASSERT_OK(mproc_array_new(&a, 'B', 4 << 20, NULL, MPROC_LOCK_NEW));
  memset(mproc_array_ptr(a), 7, 4 << 20);
  mproc_array_free(a);
#endif
  ASSERT_OK(mproc_shared_memory_unlink(h));
  mproc_shared_memory_free(h);
#endif
}

#ifndef _WIN32
/* Args: value (locked), array, lock, queue. Adds 1 to the value under the lock, fills the
 * array under the lock it shares with the value, puts the sum of the array in the queue. */
static int t_use_anonymous(const mproc_args_t *a) {
  mproc_value_t *v = t_value(a, 0);
  mproc_array_t *arr = t_array(a, 1);
  mproc_lock_t *l = t_lock(a, 2);
  mproc_queue_t *q = t_queue(a, 3);
  int rc;
  MPROC_WITH_LOCK(mproc_value_get_lock(v), rc) { ++*(int64_t *)mproc_value_ptr(v); }
  C_OK(rc);
  C_OK(mproc_lock_acquire(l, 10000));
  int64_t sum = 0;
  for (size_t i = 0; i < mproc_array_length(arr); i++) {
    C_OK(mproc_array_store(arr, i, (int64_t)i));
    sum += (int64_t)i;
  }
  C_OK(mproc_lock_release(l));
  char text[32];
  snprintf(text, sizeof text, "%lld", (long long)sum);
  return mproc_queue_put(q, text, strlen(text) + 1, 10000);
}

static int t_square_task(const mproc_args_t *args, mproc_args_t *result) {
  int64_t x;
  int rc = mproc_args_get_int(args, 0, &x);
  return rc ? rc : mproc_args_add_int(result, x * x);
}

/* Value, Array, Lock, Queue and Pool between processes: none of them needs /dev/shm. */
void sh_anonymous_objects_work(void) {
  mproc_value_t *v;
  mproc_array_t *arr;
  mproc_lock_t *l;
  mproc_queue_t *q;
  ASSERT_OK(mproc_value_new(&v, 'q', NULL, MPROC_LOCK_NEW));
  ASSERT_OK(mproc_array_new(&arr, 'q', 1000, NULL, MPROC_LOCK_NEW));
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_queue_new(&q, 0));
  mproc_process_t *ps[2];
  t_start_n(ps, 2, t_use_anonymous, t_args("VALQ", v, arr, l, q));
  for (int i = 0; i < 2; i++) {
    void *data = NULL;
    size_t size = 0;
    ASSERT_OK(mproc_queue_get(q, 30000, &data, &size));
    ASSERT_TRUE(strcmp(data, "499500") == 0);
    mproc_free(data);
  }
  t_finish_n(ps, 2);
  int64_t x = 0;
  ASSERT_OK(mproc_value_get(v, &x));
  ASSERT_EQ(x, 2);
  mproc_pool_options po;
  memset(&po, 0, sizeof po);
  po.processes = 2;
  mproc_pool_t *pool;
  ASSERT_OK(mproc_pool_new(&pool, &po));
  mproc_args_t *items, *out = NULL;
  ASSERT_OK(mproc_args_new(&items));
  for (int i = 0; i < 50; i++)
    ASSERT_OK(mproc_args_add_int(items, i));
  ASSERT_OK(mproc_pool_map(pool, t_square_task, items, NULL, &out));
  ASSERT_EQ(mproc_args_count(out), 50);
  for (int i = 0; i < 50; i++) {
    int64_t y = -1;
    ASSERT_OK(mproc_args_get_int(out, (size_t)i, &y));
    ASSERT_EQ(y, (int64_t)i * i);
  }
  mproc_args_free(items);
  mproc_args_free(out);
  mproc_pool_free(pool);
  mproc_queue_free(q);
  mproc_lock_free(l);
  mproc_array_free(arr);
  mproc_value_free(v);
}
#endif

TEST(no_usable_dev_shm, 120, POSIX_ALL) {
#ifndef _WIN32
  /* /dev/shm read-only (or absent: Lambda, locked-down containers). Python's Value, Lock and
   * SharedMemory all fail there; here only named blocks need it, and they say so. */
  sh_private_dev_shm("ro");
  char name[64];
  sh_shm_name(name, sizeof name, "nowhere");
  mproc_shared_memory_t *s = (mproc_shared_memory_t *)&s;
  int rc = mproc_shared_memory_create(&s, name, 4096);
  const char *msg = mproc_last_error_message();
  printf("%s: %s\n", mproc_errname(rc), msg);
  ASSERT_TRUE(rc != 0 && s == NULL);
  ASSERT_TRUE(strstr(msg, name) != NULL && strstr(msg, "/dev/shm") != NULL);
  ASSERT_TRUE(strstr(msg, "anonymous objects do not need it") != NULL);
  sh_anonymous_objects_work();
#endif
}
