/* SPDX-License-Identifier: MIT */
/* Process lifecycle: daemons, joining at exit, nothing inherited, reaping under a hostile
 * SIGCHLD setup, many children, sentinels, detached handles, fork with threads. */
#include "runner.h"

#include <errno.h>
#include <signal.h>
#include "../src/atomics.h"
#ifdef _WIN32
#include <windows.h>
#else
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#endif

static mproc_process_t *start_sleeper(int64_t ms, int daemon) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "l", ms));
  mproc_process_t *p;
  ASSERT_OK(mproc_process_new(&p, t_target_sleep_arg, a));
  mproc_args_free(a);
  ASSERT_OK(mproc_process_set_daemon(p, daemon));
  ASSERT_OK(mproc_process_start(p));
  return p;
}

static int file_exists(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f)
    fclose(f);
  return f != NULL;
}

static void write_file(const char *path, int64_t v) {
  char tmp[600];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "wb");
  if (f) {
    fprintf(f, "%lld\n", (long long)v);
    fclose(f);
    rename(tmp, path); /* readers see the whole file or none */
  }
}

static int64_t wait_file(const char *path, int ms) {
  for (int i = 0; i < ms / 10; i++) {
    FILE *f = fopen(path, "rb");
    long long v = 0;
    if (f) {
      int ok = fscanf(f, "%lld", &v) == 1;
      fclose(f);
      if (ok)
        return v;
    }
    t_sleep_ms(10);
  }
  return -1;
}

/* Gone = no such process, or a zombie waiting for init. */
static int process_gone(int64_t pid) {
#ifdef _WIN32
  HANDLE h = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid);
  if (h == NULL)
    return 1;
  DWORD w = WaitForSingleObject(h, 0);
  CloseHandle(h);
  return w == WAIT_OBJECT_0;
#else
  char st = t_proc_state(pid);
  return st == 0 || st == 'Z' || st == 'X';
#endif
}

static int wait_gone(int64_t pid, int ms) {
  for (int i = 0; i < ms / 10; i++) {
    if (process_gone(pid))
      return 1;
    t_sleep_ms(10);
  }
  return process_gone(pid);
}

/* The grandchild: records its pid and sleeps far longer than any test. */
static int t_record_and_sleep(const mproc_args_t *a) {
  const char *path;
  if (mproc_args_parse(a, "s", &path) != 0)
    return 60;
  write_file(path, mproc_current_pid());
  t_sleep_ms(60000);
  return 0;
}

/* The middle process: starts a daemon or non-daemon grandchild, waits for it to record its pid,
 * then returns (exit) or sleeps (to be killed). */
static int t_middle(const mproc_args_t *a) {
  const char *path;
  int64_t daemon, then_sleep;
  if (mproc_args_parse(a, "s l l", &path, &daemon, &then_sleep) != 0)
    return 61;
  mproc_args_t *ga;
  mproc_process_t *g;
  if (mproc_args_build(&ga, "s", path) || mproc_process_new(&g, t_record_and_sleep, ga))
    return 62;
  mproc_args_free(ga);
  mproc_process_set_daemon(g, (int)daemon);
  int rc = mproc_process_start(g);
  if (rc != 0)
    return mproc_fail(63, "start: %s", mproc_errname(rc));
  if (wait_file(path, 20000) < 0)
    return 64;
  if (then_sleep)
    t_sleep_ms(60000);
  return 0; /* exit: the daemon grandchild must be terminated by the exit handler */
}

static int64_t run_middle(const char *tag, int daemon, int kill_middle) {
  char path[512];
  t_temp_path(path, sizeof path, tag);
  remove(path);
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "s l l", path, (int64_t)daemon, (int64_t)kill_middle));
  mproc_process_t *m = t_start(t_middle, a);
  mproc_args_free(a);
  int64_t grandchild = wait_file(path, 20000);
  ASSERT_TRUE(grandchild > 0);
  if (kill_middle) {
    ASSERT_OK(mproc_process_kill(m));
    ASSERT_EQ(t_join_code(m), -9);
  } else {
    ASSERT_EQ(t_join_code(m), 0);
  }
  ASSERT_OK(mproc_process_close(m));
  mproc_process_free(m);
  remove(path);
  return grandchild;
}

TEST(daemon_killed_at_parent_exit, 60, ALL) {
  int64_t g = run_middle("daemon-exit", 1, 0);
  ASSERT_TRUE(wait_gone(g, 5000));
}

TEST(daemon_killed_at_parent_sigkill, 60, ALL) {
  int64_t g = run_middle("daemon-kill", 1, 1);
  ASSERT_TRUE(wait_gone(g, 5000));
}

/* The outer process: starts t_middle as a daemon that starts a NON-daemon grandchild, then
 * sleeps to be killed. */
static int t_outer_daemon_middle(const mproc_args_t *a) {
  const char *path;
  if (mproc_args_parse(a, "s", &path) != 0)
    return 65;
  mproc_args_t *ma;
  mproc_process_t *m;
  if (mproc_args_build(&ma, "s l l", path, (int64_t)0, (int64_t)1) ||
      mproc_process_new(&m, t_middle, ma))
    return 66;
  mproc_args_free(ma);
  mproc_process_set_daemon(m, 1);
  int rc = mproc_process_start(m);
  if (rc != 0)
    return mproc_fail(67, "start: %s", mproc_errname(rc));
  t_sleep_ms(60000);
  return 0;
}

/* Daemons may start children (A27), and "dies with its parent" holds transitively: a daemon
 * killed because its parent was killed takes its own non-daemon children with it. */
TEST(daemon_childs_children_die_with_it, 60, ALL) {
  char path[512];
  t_temp_path(path, sizeof path, "daemon-chain");
  remove(path);
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "s", path));
  mproc_process_t *outer = t_start(t_outer_daemon_middle, a);
  mproc_args_free(a);
  int64_t g = wait_file(path, 20000);
  ASSERT_TRUE(g > 0);
  ASSERT_OK(mproc_process_kill(outer));
  ASSERT_EQ(t_join_code(outer), -9);
  ASSERT_OK(mproc_process_close(outer));
  mproc_process_free(outer);
  ASSERT_TRUE(wait_gone(g, 5000));
  remove(path);
}

static int t_touch_later(const mproc_args_t *a) {
  const char *path;
  if (mproc_args_parse(a, "s", &path) != 0)
    return 70;
  t_sleep_ms(300);
  write_file(path, 1);
  return 0;
}

static int t_start_and_leave(const mproc_args_t *a) {
  mproc_process_t *g;
  if (mproc_process_new(&g, t_touch_later, a) != 0 || mproc_process_start(g) != 0)
    return 71;
  mproc_process_free(g); /* not joined, handle gone: the exit handler must still join it */
  return 0;
}

TEST(nondaemon_joined_at_exit, 60, ALL) {
  char path[512];
  t_temp_path(path, sizeof path, "joined");
  remove(path);
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "s", path));
  mproc_process_t *m = t_start(t_start_and_leave, a);
  mproc_args_free(a);
  ASSERT_EQ(t_join_code(m), 0);
  ASSERT_TRUE(file_exists(path)); /* written before the middle process could exit */
  ASSERT_OK(mproc_process_close(m));
  mproc_process_free(m);
  remove(path);
}

/* --- nothing inherited ---------------------------------------------------------------------- */

static int t_count(const mproc_args_t *a) {
  (void)a;
  return t_count_handles();
}

static int probe_count(void) {
  mproc_process_t *p = t_start(t_count, NULL);
  int n = t_join_code(p);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
  return n;
}

/* An inheritable handle the host program created: spawn must not pass it on. */
static intptr_t make_host_handle(void) {
#ifdef _WIN32
  HANDLE h = NULL;
  DuplicateHandle(GetCurrentProcess(), GetCurrentProcess(), GetCurrentProcess(), &h, 0, TRUE,
                  DUPLICATE_SAME_ACCESS);
  return (intptr_t)h;
#else
  return dup(1); /* dup() does not set FD_CLOEXEC */
#endif
}

static void close_host_handle(intptr_t h) {
#ifdef _WIN32
  CloseHandle((HANDLE)h);
#else
  close((int)h);
#endif
}

TEST(no_handles_leak_into_child, 60, ALL) {
  int alone = probe_count();
  ASSERT_TRUE(alone > 0);
  /* Now with three other children alive (their channels and pidfds are ours) and, except under
   * fork (which copies every fd by definition), an inheritable host handle. */
  mproc_process_t *s[3];
  for (int i = 0; i < 3; i++)
    s[i] = start_sleeper(60000, 0);
  intptr_t host = t_method() == MPROC_START_FORK ? -1 : make_host_handle();
  int crowded = probe_count();
  if (host != -1)
    close_host_handle(host);
  for (int i = 0; i < 3; i++) {
    ASSERT_OK(mproc_process_kill(s[i]));
    ASSERT_OK(mproc_process_join(s[i], MPROC_FOREVER));
    ASSERT_OK(mproc_process_close(s[i]));
    mproc_process_free(s[i]);
  }
  ASSERT_EQ(crowded, alone);
}

/* --- reaping when the host's SIGCHLD setup fights us ------------------------------------------ */

#ifndef _WIN32 /* SIGCHLD exists only on POSIX */
static void check_codes_survive(void) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "l", (int64_t)5));
  mproc_process_t *p = t_start(t_target_return_arg, a);
  mproc_args_free(a);
  ASSERT_EQ(t_join_code(p), 5);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
  p = start_sleeper(60000, 0);
  ASSERT_OK(mproc_process_kill(p));
#if defined(MPROC_POSIX_GENERIC)
  /* A killed child reports nothing itself, and without a pidfd (Linux >= 6.15 keeps the status
   * there) nothing holds its status once the kernel discarded it for the host: unknown, and
   * said so, never a made-up code (docs/portability.md). Under forkserver the server is the
   * parent and still knows. */
  int code = t_join_code(p);
  if (t_method() == MPROC_START_FORKSERVER)
    ASSERT_EQ(code, -9);
  else
    ASSERT_EQ(code, MPROC_EXIT_UNKNOWN);
#else
  ASSERT_EQ(t_join_code(p), -9);
#endif
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

static void reap_everything(int sig) {
  (void)sig;
  int saved = errno;
  while (waitpid(-1, NULL, WNOHANG) > 0)
    ;
  errno = saved;
}
#endif

TEST(exitcode_with_sigchld_ignored, 60, POSIX_ALL) {
#ifndef _WIN32
  signal(SIGCHLD, SIG_IGN); /* the kernel auto-reaps SIGCHLD children */
  check_codes_survive();
#endif
}

TEST(exitcode_with_host_reaper, 60, POSIX_ALL) {
#ifndef _WIN32
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = reap_everything; /* a host that reaps every child it can see */
  sa.sa_flags = SA_RESTART;
  sigaction(SIGCHLD, &sa, NULL);
  check_codes_survive();
#endif
}

/* --- many children, sentinels, active_children, detached ---------------------------------------- */

TEST(many_processes_200, 300, ALL) {
  enum { N = 200 };
  mproc_process_t *live[N];
  int want[N];
  for (int i = 0; i < N; i++) {
    mproc_args_t *a;
    ASSERT_OK(mproc_args_build(&a, "l", (int64_t)(i % 50)));
    live[i] = t_start(t_target_return_arg, a);
    want[i] = i % 50;
    mproc_args_free(a);
  }
  size_t n = N;
  while (n > 0) {
    size_t idx = n;
    ASSERT_OK(mproc_process_wait_any(live, n, 60000, &idx));
    ASSERT_TRUE(idx < n);
    ASSERT_OK(mproc_process_join(live[idx], 5000)); /* wait_any said it exited */
    int code = -1;
    ASSERT_OK(mproc_process_exitcode(live[idx], &code));
    ASSERT_EQ(code, want[idx]);
    ASSERT_OK(mproc_process_close(live[idx]));
    mproc_process_free(live[idx]);
    live[idx] = live[n - 1]; /* keep the array dense */
    want[idx] = want[n - 1];
    n--;
  }
}

TEST(sentinel_waits_with_others, 60, ALL) {
  mproc_process_t *slow = start_sleeper(60000, 0), *fast = start_sleeper(50, 0);
  mproc_process_t *both[2] = {slow, fast};
  size_t idx = 9;
  ASSERT_OK(mproc_process_wait_any(both, 2, 30000, &idx));
  ASSERT_EQ(idx, 1);
  ASSERT_RC(mproc_process_wait_any(both, 1, 50, &idx), MPROC_ETIMEDOUT);
  intptr_t s;
  ASSERT_OK(mproc_process_sentinel(slow, &s));
#ifdef _WIN32
  ASSERT_EQ(WaitForSingleObject((HANDLE)s, 0), WAIT_TIMEOUT);
  ASSERT_OK(mproc_process_kill(slow));
  ASSERT_EQ(WaitForSingleObject((HANDLE)s, 10000), WAIT_OBJECT_0);
#else
  /* The sentinel is an ordinary fd: poll it next to an unrelated pipe. */
  int pfd[2];
  ASSERT_EQ(pipe(pfd), 0);
  struct pollfd fds[2] = {{pfd[0], POLLIN, 0}, {(int)s, POLLIN, 0}};
  ASSERT_EQ(poll(fds, 2, 0), 0);
  ASSERT_OK(mproc_process_kill(slow));
  ASSERT_EQ(poll(fds, 2, 10000), 1);
  ASSERT_TRUE(fds[1].revents != 0 && fds[0].revents == 0);
  close(pfd[0]);
  close(pfd[1]);
#endif
  ASSERT_EQ(t_join_code(slow), -9);
  ASSERT_EQ(t_join_code(fast), 0);
  ASSERT_OK(mproc_process_close(slow));
  mproc_process_free(slow);
  ASSERT_OK(mproc_process_close(fast));
  mproc_process_free(fast);
}

TEST(active_children, 60, ALL) {
  size_t n = 99;
  ASSERT_OK(mproc_active_children(NULL, 0, &n));
  ASSERT_EQ(n, 0);
  mproc_process_t *s[3], *got[3];
  for (int i = 0; i < 3; i++)
    s[i] = start_sleeper(60000, i == 0);
  ASSERT_OK(mproc_active_children(got, 3, &n));
  ASSERT_EQ(n, 3);
  ASSERT_OK(mproc_process_kill(s[1]));
  ASSERT_OK(mproc_process_join(s[1], MPROC_FOREVER));
  ASSERT_OK(mproc_active_children(got, 1, &n));
  ASSERT_EQ(n, 2);
  for (int i = 0; i < 3; i++) {
    mproc_process_kill(s[i]);
    ASSERT_OK(mproc_process_join(s[i], MPROC_FOREVER));
    ASSERT_OK(mproc_process_close(s[i]));
    mproc_process_free(s[i]);
  }
  ASSERT_OK(mproc_active_children(NULL, 0, &n));
  ASSERT_EQ(n, 0);
}

TEST(freed_running_child_is_reaped, 60, ALL) {
  mproc_process_t *p = start_sleeper(200, 0);
  int64_t pid = mproc_process_pid(p);
  mproc_process_free(p); /* still running: detached, not killed */
  ASSERT_TRUE(!process_gone(pid));
  size_t n = 9;
  for (int i = 0; i < 300 && !process_gone(pid); i++) {
    ASSERT_OK(mproc_active_children(NULL, 0, &n)); /* reaps detached children as a side effect */
    t_sleep_ms(10);
  }
  ASSERT_TRUE(process_gone(pid));
  ASSERT_EQ(n, 0);
}

/* --- fork and threads ------------------------------------------------------------------------------ */

#ifdef _WIN32
static DWORD WINAPI idle_thread(LPVOID arg) {
  WaitForSingleObject((HANDLE)arg, INFINITE);
  return 0;
}
#else
static int g_stop_pipe[2];
static void *idle_thread(void *arg) {
  (void)arg;
  char c;
  while (read(g_stop_pipe[0], &c, 1) < 0)
    ;
  return NULL;
}
#endif

TEST(fork_refused_with_threads, 60, ALL) {
#ifdef _WIN32
  HANDLE stop = CreateEventA(NULL, TRUE, FALSE, NULL);
  HANDLE th = CreateThread(NULL, 0, idle_thread, stop, 0, NULL);
#else
  unsetenv("MPROC_ALLOW_FORK_WITH_THREADS");
  ASSERT_EQ(pipe(g_stop_pipe), 0);
  pthread_t th;
  ASSERT_EQ(pthread_create(&th, NULL, idle_thread, NULL), 0);
#endif
  mproc_process_t *p;
  ASSERT_OK(mproc_process_new(&p, t_target_return_arg, NULL));
  if (t_method() == MPROC_START_FORK) {
    ASSERT_RC(mproc_process_start(p), MPROC_EUNSAFE);
    ASSERT_OK(mproc_process_allow_fork_with_threads(p, 1));
  }
  ASSERT_OK(mproc_process_start(p)); /* spawn and forkserver are safe with threads */
  ASSERT_EQ(t_join_code(p), 0);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
#ifdef _WIN32
  SetEvent(stop);
  WaitForSingleObject(th, INFINITE);
  CloseHandle(th);
  CloseHandle(stop);
#else
  ASSERT_EQ(write(g_stop_pipe[1], "x", 1), 1);
  pthread_join(th, NULL);
#endif
}

#ifndef _WIN32
static int t_stdio_open(const mproc_args_t *a) {
  (void)a;
  for (int fd = 0; fd < 3; fd++)
    if (fcntl(fd, F_GETFD) < 0)
      return 10 + fd;
  return 0;
}
#endif

TEST(child_keeps_stdio, 30, POSIX_ALL) {
#ifndef _WIN32
  /* Warm up the library state a forked child inherits (e.g. the forkserver client), then
   * check the child still has fds 0, 1 and 2. */
  mproc_process_t *p = t_start(t_target_return_arg, NULL);
  ASSERT_EQ(t_join_code(p), 0);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
  p = t_start(t_stdio_open, NULL);
  ASSERT_EQ(t_join_code(p), 0);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
#endif
}

/* --- signal dispositions ---------------------------------------------------------------------- */

#ifndef _WIN32
static void t_noop_handler(int sig) { (void)sig; }

/* Bit k set: the k-th of SIGUSR1, SIGUSR2, SIGHUP, SIGPIPE is not at its default here. */
static int t_dispositions(const mproc_args_t *a) {
  static const int sigs[] = {SIGUSR1, SIGUSR2, SIGHUP, SIGPIPE};
  int bits = 0;
  (void)a;
  for (int k = 0; k < 4; k++) {
    struct sigaction cur;
    if (sigaction(sigs[k], NULL, &cur) != 0 || cur.sa_handler != SIG_DFL)
      bits |= 1 << k;
  }
  return bits;
}
#endif

/* A child never runs the parent's handlers nor keeps what it ignores: every signal is at its
 * default there, whichever way the parent set it, and set again between two starts. */
TEST(child_signals_at_default, 30, POSIX_ALL) {
#ifndef _WIN32
  struct sigaction h, old[3];
  memset(&h, 0, sizeof h);
  h.sa_handler = t_noop_handler;
  sigaction(SIGUSR1, &h, &old[0]);
  h.sa_handler = SIG_IGN;
  sigaction(SIGUSR2, &h, &old[1]);
  for (int round = 0; round < 2; round++) {
    mproc_process_t *p = t_start(t_dispositions, NULL);
    ASSERT_EQ(t_join_code(p), 0);
    ASSERT_OK(mproc_process_close(p));
    mproc_process_free(p);
    if (round > 0)
      break;
    h.sa_handler = t_noop_handler; /* changed between starts: the second child sees this */
    sigaction(SIGHUP, &h, &old[2]);
    h.sa_handler = SIG_IGN;
    sigaction(SIGUSR1, &h, NULL);
  }
  sigaction(SIGUSR1, &old[0], NULL);
  sigaction(SIGUSR2, &old[1], NULL);
  sigaction(SIGHUP, &old[2], NULL);
#endif
}

/* --- a lock held when the target returns ------------------------------------------------------ */

static int t_lock_and_return(const mproc_args_t *a) {
  C_OK(mproc_lock_acquire(t_lock(a, 0), 0));
  return 0; /* still holding it: the exit must hand it on as owner-dead */
}

TEST(lock_held_at_return_owner_dead, 60, ALL) {
  mproc_lock_t *l;
  ASSERT_OK(mproc_lock_new(&l));
  mproc_process_t *p = t_start_one(t_lock_and_return, t_args("L", l));
  t_finish(p);
  ASSERT_RC(mproc_lock_acquire(l, 20000), MPROC_EOWNERDEAD);
  ASSERT_OK(mproc_lock_consistent(l));
  ASSERT_OK(mproc_lock_release(l));
  mproc_lock_free(l);
}

/* --- stop: terminate, grace, kill, reap (B4, A26) ----------------------------------------------- */

#ifndef _WIN32
static int t_ignore_term(const mproc_args_t *a) {
  signal(SIGTERM, SIG_IGN);
  write_file(t_str(a, 0), 1);
  t_sleep_ms(60000);
  return 0;
}
#endif

TEST(stop_escalates_after_grace, 60, ALL) {
  mproc_process_t *p = start_sleeper(60000, 0);
  ASSERT_OK(mproc_process_stop(p, 5000)); /* a sleeper dies of the terminate */
  int code = 0;
  ASSERT_OK(mproc_process_exitcode(p, &code));
  ASSERT_EQ(code, -15);
  ASSERT_OK(mproc_process_stop(p, 5000)); /* gone already: 0 */
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
#ifndef _WIN32
  char path[512];
  t_temp_path(path, sizeof path, "stop");
  remove(path);
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "s", path));
  p = t_start(t_ignore_term, a);
  mproc_args_free(a);
  ASSERT_TRUE(wait_file(path, 20000) == 1);
  ASSERT_WAITS(mproc_process_stop(p, 300), 0, 300); /* ignores SIGTERM: killed after grace */
  ASSERT_OK(mproc_process_exitcode(p, &code));
  ASSERT_EQ(code, -9);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
  remove(path);
#endif
}

/* B5: a handle kept but never joined leaves no zombie once the library looks again. */
TEST(unjoined_child_not_left_zombie, 60, ALL) {
  mproc_process_t *p = t_start(t_target_return_arg, NULL);
  int64_t pid = mproc_process_pid(p);
  size_t n = 9;
  /* gone = no process left at all, not even a zombie */
  int really_gone = 0;
  for (int i = 0; i < 2000 && !really_gone; i++) {
    ASSERT_OK(mproc_active_children(NULL, 0, &n));
#ifdef _WIN32
    really_gone = process_gone(pid);
#else
    char path[64];
    snprintf(path, sizeof path, "/proc/%lld", (long long)pid);
    FILE *f = fopen(path, "r");
    really_gone = f == NULL;
    if (f)
      fclose(f);
#endif
    if (!really_gone)
      t_sleep_ms(10);
  }
  ASSERT_TRUE(really_gone);
  /* Under forkserver the exit status comes from the server, which reaps the child first and
   * reports it after: the process can be gone a moment before its status is known here. */
  ASSERT_OK(mproc_process_join(p, T_SLOW(10000)));
  int code = -1;
  ASSERT_OK(mproc_process_exitcode(p, &code)); /* still readable */
  ASSERT_EQ(code, 0);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

/* Several threads look at the list (reaping detached children) while detached children exit:
 * each must be destroyed exactly once (ASan catches a second destroy). */
static int g_hammer_stop;
static void hammer_active(void *arg) {
  (void)arg;
  size_t n;
  while (!MPROC__ATOMIC_LOAD(&g_hammer_stop, MPROC__ATOMIC_RELAXED))
    mproc_active_children(NULL, 0, &n);
}

TEST(detached_reaped_once_under_threads, 120, ALL) {
  MPROC__ATOMIC_STORE(&g_hammer_stop, 0, MPROC__ATOMIC_RELAXED);
  t_thread *th[3];
  for (int i = 0; i < 3; i++)
    th[i] = t_thread_start(hammer_active, NULL);
  for (int round = 0; round < 40; round++) {
    mproc_process_t *p;
    ASSERT_OK(mproc_process_new(&p, t_target_return_arg, NULL));
    ASSERT_OK(mproc_process_allow_fork_with_threads(p, 1));
    ASSERT_OK(mproc_process_start(p));
    mproc_process_free(p); /* usually still running: detached */
  }
  size_t n = 1;
  for (int i = 0; i < 3000 && n > 0; i++) {
    ASSERT_OK(mproc_active_children(NULL, 0, &n));
    t_sleep_ms(10);
  }
  MPROC__ATOMIC_STORE(&g_hammer_stop, 1, MPROC__ATOMIC_RELAXED);
  for (int i = 0; i < 3; i++)
    t_thread_join(th[i]);
  ASSERT_EQ(n, 0);
}

/* --- a stalled forkserver ------------------------------------------------------------------------ */

#ifndef _WIN32
/* Our only live child, found through /proc (the forkserver: its children were joined); 0 while
 * there is none or more than one (one that has not been reaped yet, say), so that the caller
 * never stops a process other than the server. */
static int64_t only_child_pid(void) {
  DIR *d = opendir("/proc");
  int64_t found = 0;
  int count = 0;
  struct dirent *e;
  while (d && (e = readdir(d)) != NULL) {
    char path[300], buf[512];
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = e->d_name[0] >= '1' && e->d_name[0] <= '9' ? fopen(path, "r") : NULL;
    if (f == NULL)
      continue;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    char state = 0;
    long long ppid = 0;
    if (p && sscanf(p + 2, "%c %lld", &state, &ppid) == 2 && ppid == (long long)getpid() &&
        state != 'Z' && state != 'X') {
      found = atoll(e->d_name);
      count++;
    }
  }
  if (d)
    closedir(d);
  return count == 1 ? found : 0;
}

static int g_fs_stop;
static long g_fs_calls;
static void count_active(void *arg) {
  (void)arg;
  size_t n;
  while (!MPROC__ATOMIC_LOAD(&g_fs_stop, MPROC__ATOMIC_RELAXED)) {
    mproc_active_children(NULL, 0, &n);
    MPROC__ATOMIC_FETCH_ADD(&g_fs_calls, 1, MPROC__ATOMIC_RELAXED);
    t_sleep_ms(5);
  }
}
#endif

/* A stopped server makes a start fail (not hang) while other calls go on, and the next start
 * gets a fresh server. */
TEST(forkserver_stalled_server, 180, POSIX_ONCE) {
#ifndef _WIN32
  ASSERT_OK(mproc_set_log_handler(NULL, NULL, MPROC_LOG_WARN)); /* why a server was dropped */
  ASSERT_OK(mproc_set_start_method(MPROC_START_FORKSERVER));
  mproc_process_t *p = t_start(t_target_return_arg, NULL);
  ASSERT_EQ(t_join_code(p), 0);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
  int64_t server = 0;
  for (int i = 0; i < 5000 && (server = only_child_pid()) == 0; i++)
    t_sleep_ms(1);
  ASSERT_TRUE(server > 0);
  ASSERT_EQ(kill((pid_t)server, SIGSTOP), 0);
  /* kill() returns before the stop takes effect: a server still running on the other CPU
   * could otherwise answer the start below. */
  for (int i = 0; i < 5000 && t_proc_state(server) != 'T'; i++)
    t_sleep_ms(1);
  ASSERT_EQ(t_proc_state(server), 'T');
  MPROC__ATOMIC_STORE(&g_fs_stop, 0, MPROC__ATOMIC_RELAXED);
  MPROC__ATOMIC_STORE(&g_fs_calls, 0, MPROC__ATOMIC_RELAXED);
  t_thread *th = t_thread_start(count_active, NULL);
  ASSERT_OK(mproc_process_new(&p, t_target_return_arg, NULL));
  int64_t t0 = t_now_ms();
  ASSERT_RC(mproc_process_start(p), MPROC_ETIMEDOUT);
  ASSERT_TRUE(t_now_ms() - t0 < 100000);
  long calls = MPROC__ATOMIC_LOAD(&g_fs_calls, MPROC__ATOMIC_RELAXED);
  MPROC__ATOMIC_STORE(&g_fs_stop, 1, MPROC__ATOMIC_RELAXED);
  t_thread_join(th);
  ASSERT_TRUE(calls > 10); /* other calls kept returning meanwhile */
  ASSERT_TRUE(wait_gone(server, 20000)); /* the stalled server was dropped */
  ASSERT_OK(mproc_process_start(p));     /* a fresh server */
  ASSERT_EQ(t_join_code(p), 0);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
#endif
}

/* --- daemons die with the parent process, not with the thread that started them ------------------ */

static mproc_process_t *g_thread_daemon;
static void start_daemon_in_thread(void *arg) {
  (void)arg;
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "l", (int64_t)60000));
  ASSERT_OK(mproc_process_new(&g_thread_daemon, t_target_sleep_arg, a));
  mproc_args_free(a);
  ASSERT_OK(mproc_process_set_daemon(g_thread_daemon, 1));
  ASSERT_OK(mproc_process_allow_fork_with_threads(g_thread_daemon, 1));
  ASSERT_OK(mproc_process_start(g_thread_daemon));
  t_sleep_ms(200); /* the child is surely past its start-up when this thread ends */
}

/* The middle process starts its daemon grandchild from a thread that ends at once, then
 * sleeps to be killed. */
typedef struct thread_start {
  const char *path;
  int rc;
} thread_start;

static void start_recorder(void *arg) {
  thread_start *ts = arg;
  mproc_args_t *ga;
  mproc_process_t *g;
  ts->rc = mproc_args_build(&ga, "s", ts->path);
  if (ts->rc == 0 && (ts->rc = mproc_process_new(&g, t_record_and_sleep, ga)) == 0) {
    mproc_process_set_daemon(g, 1);
    mproc_process_allow_fork_with_threads(g, 1);
    ts->rc = mproc_process_start(g);
  }
  mproc_args_free(ga);
}

static int t_middle_threaded(const mproc_args_t *a) {
  thread_start ts = {t_str(a, 0), -1};
  t_thread_join(t_thread_start(start_recorder, &ts));
  if (ts.rc != 0)
    return mproc_fail(70, "start: %s", mproc_errname(ts.rc));
  t_sleep_ms(60000);
  return 0;
}

TEST(daemon_from_thread_dies_with_parent_process, 60, ALL) {
  char path[512];
  t_temp_path(path, sizeof path, "daemon-thread");
  remove(path);
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "s", path));
  mproc_process_t *m = t_start(t_middle_threaded, a);
  mproc_args_free(a);
  int64_t g = wait_file(path, 20000);
  ASSERT_TRUE(g > 0);
  t_sleep_ms(200);
  ASSERT_TRUE(!process_gone(g)); /* the starting thread ended: the daemon lives on */
  ASSERT_OK(mproc_process_kill(m));
  ASSERT_EQ(t_join_code(m), -9);
  ASSERT_OK(mproc_process_close(m));
  mproc_process_free(m);
  ASSERT_TRUE(wait_gone(g, 5000)); /* its parent process died: so does it */
  remove(path);
}

TEST(daemon_outlives_starting_thread, 60, ALL) {
  t_thread *th = t_thread_start(start_daemon_in_thread, NULL);
  t_thread_join(th); /* the starting thread is gone */
  t_sleep_ms(300);
  int code = 0;
  if (mproc_process_exitcode(g_thread_daemon, &code) == 0)
    t_fail(__FILE__, __LINE__, "the daemon died with its starting thread: exit %d", code);
  /* Under forkserver the server (started by that thread too) still serves. The ended thread
   * may linger in /proc for a moment: allow fork with threads. */
  mproc_process_t *p;
  ASSERT_OK(mproc_process_new(&p, t_target_return_arg, NULL));
  ASSERT_OK(mproc_process_allow_fork_with_threads(p, 1));
  ASSERT_OK(mproc_process_start(p));
  ASSERT_EQ(t_join_code(p), 0);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
  ASSERT_EQ(mproc_process_is_alive(g_thread_daemon), 1);
  t_kill_and_reap(g_thread_daemon);
}

/* --- kernels without pidfd (forced with MPROC_NO_PIDFD=1) ------------------------------------------ */

#ifndef _WIN32
static int sentinel_ready(mproc_process_t *p, int ms) {
  intptr_t s = -1;
  ASSERT_OK(mproc_process_sentinel(p, &s));
  struct pollfd pf = {(int)s, POLLIN, 0};
  return poll(&pf, 1, ms) > 0;
}
#endif

/* The sentinel means exit: not the first record the child sends (mproc_fail, or EXIT). */
TEST(sentinel_means_exit_without_pidfd, 60, POSIX_ALL) {
#ifndef _WIN32
  setenv("MPROC_NO_PIDFD", "1", 1);
  mproc_process_t *p = start_sleeper(1500, 0);
  ASSERT_TRUE(!sentinel_ready(p, 500)); /* still running */
  ASSERT_EQ(mproc_process_is_alive(p), 1);
  ASSERT_TRUE(sentinel_ready(p, 30000));
  ASSERT_EQ(t_join_code(p), 0);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
  p = start_sleeper(60000, 0); /* signals still reach it, by pid */
  t_kill_and_reap(p);
  unsetenv("MPROC_NO_PIDFD");
#endif
}

/* Timeouts near INT64_MAX saturate to "forever" on every backend: no overflow, no early
 * return, no EINVAL. */
TEST(huge_timeouts_mean_forever, 60, ALL) {
  const int64_t huge[] = {INT64_MAX, INT64_MAX - 1, INT64_MAX / 1000, INT64_MAX / 1000000,
                          (int64_t)1 << 53};
  for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
    mproc_process_t *p = start_sleeper(100, 0);
    size_t idx = 9;
    ASSERT_OK(mproc_process_wait_any(&p, 1, huge[i], &idx));
    ASSERT_EQ(idx, 0);
    ASSERT_OK(mproc_process_join(p, huge[i]));
    ASSERT_OK(mproc_process_stop(p, huge[i]));
    int code = -1;
    ASSERT_OK(mproc_process_exitcode(p, &code));
    ASSERT_EQ(code, 0);
    ASSERT_OK(mproc_process_close(p));
    mproc_process_free(p);
  }
}

#ifndef _WIN32
/* Leaves a raw fork() grandchild behind that keeps every inherited descriptor but stdio (which
 * the test runner waits on) for 20 s, and stores its pid in the Value at args[0]. */
static int t_leave_grandchild(const mproc_args_t *a) {
  mproc_value_t *pid_out = NULL;
  if (mproc_args_parse(a, "V", &pid_out) != MPROC_OK) {
    return 2;
  }
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    for (int fd = 0; fd < 3 && null >= 0; fd++) {
      dup2(null, fd);
    }
    sleep(20);
    _exit(0);
  }
  return pid > 0 && mproc_value_set_int(pid_out, pid) == MPROC_OK ? 0 : 1;
}
#endif

/* B4: the exit is detected from the process, never from a pipe a grandchild may hold. */
TEST(exit_not_hidden_by_grandchild_without_pidfd, 60, POSIX_ALL) {
#ifndef _WIN32
  setenv("MPROC_NO_PIDFD", "1", 1);
  mproc_value_t *grandchild = NULL;
  ASSERT_OK(mproc_raw_value_new(&grandchild, 'q', NULL));
  mproc_args_t *a = NULL;
  ASSERT_OK(mproc_args_build(&a, "V", grandchild));
  mproc_process_t *p = t_start(t_leave_grandchild, a);
  mproc_args_free(a);
  ASSERT_OK(mproc_process_join(p, 10000));
  ASSERT_EQ(t_join_code(p), 0);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
  int64_t pid = 0;
  ASSERT_OK(mproc_value_get_int(grandchild, &pid));
  ASSERT_TRUE(pid > 0);
  kill((pid_t)pid, SIGKILL); /* reaped by init: it is not our child */
  mproc_value_free(grandchild);
  unsetenv("MPROC_NO_PIDFD");
#endif
}
