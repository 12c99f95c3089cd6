/* SPDX-License-Identifier: MIT */
/*
 * Processes with portable POSIX alone (the generic backend; proc.c is Linux's accelerated one).
 *
 * Sections: the death pipe (daemons die with their parent), spawn (posix_spawn), fork, wait,
 * signal.
 *
 * Without pidfd, every child gets an exit pipe: the write end is the child's (inherited, never
 * written), the read end ours, at EOF once the child and anything that inherited the end are
 * gone. It is what mproc__os_wait_any polls; the exit itself is always confirmed by
 * waitpid(pid, WNOHANG), because a grandchild may hold the pipe open after the child exited.
 *
 * Without PR_SET_PDEATHSIG, daemons learn of their parent's death from a death pipe: this
 * process holds the only write end (close-on-exec, closed in every fork child by an atfork
 * handler), each daemon child the read end, on which one idle thread of the daemon (signals
 * blocked, see start_watcher) waits; at EOF, i.e. when this process is gone however it died,
 * the thread SIGKILLs its own process, which is what PDEATHSIG would have done. EOF is sticky,
 * so a parent that died before the thread started is still seen. Unlike PDEATHSIG the pipe
 * belongs to the process, not to the thread that created the child, so any thread may start
 * daemons and proc.c's starter thread is not needed here.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#if defined(__linux__)
#include <dirent.h>
#endif

#include "posix.h"
#include "../atomics.h"
#include "../alloc.h"

#if defined(__APPLE__)
#include <crt_externs.h> /* a dylib cannot refer to environ directly there */
#define environ (*_NSGetEnviron())
#else
extern char **environ;
#endif

/* A spawned daemon finds the read end of its death pipe under this name (read once, before
 * main, then removed from the environment). */
#define PDEATH_ENV "MPROC_PDEATH_FD"

static int cloexec_pipe(int fds[2]) {
#if defined(__linux__) || defined(__FreeBSD__)
  return pipe2(fds, O_CLOEXEC);
#else
  /* macOS has no pipe2: a fork+exec on another thread in between may inherit the ends. */
  if (pipe(fds) != 0)
    return -1;
  fcntl(fds[0], F_SETFD, FD_CLOEXEC);
  fcntl(fds[1], F_SETFD, FD_CLOEXEC);
  return 0;
#endif
}

/* --- the death pipe: the parent's side -- */

static pthread_mutex_t g_dp_mu = PTHREAD_MUTEX_INITIALIZER;
static int g_dp[2] = {-1, -1};

/* A close-on-exec copy of the death pipe's read end for one daemon child (-1 on failure). */
static int death_read_end(void) {
  pthread_mutex_lock(&g_dp_mu);
  if (g_dp[0] < 0 && cloexec_pipe(g_dp) != 0)
    g_dp[0] = g_dp[1] = -1;
  int fd = g_dp[0] < 0 ? -1 : fcntl(g_dp[0], F_DUPFD_CLOEXEC, 0);
  pthread_mutex_unlock(&g_dp_mu);
  return fd;
}

/* --- the death pipe: the daemon's side -- */

static int g_watch_fd = -1; /* read end this process watches; -1: not a daemon */
static int g_watch_up;      /* the watcher thread runs (mproc__os_thread_count leaves it out) */

int mproc__px_starter_running(void) { return MPROC__ATOMIC_LOAD(&g_watch_up,
                                                                MPROC__ATOMIC_RELAXED); }

static void *watcher_main(void *arg) {
  int fd = (int)(intptr_t)arg;
  MPROC__ATOMIC_STORE(&g_watch_up, 1, MPROC__ATOMIC_RELEASE);
  for (;;) {
    struct pollfd pf = {fd, POLLIN, 0};
    if (poll(&pf, 1, -1) < 0)
      continue; /* EINTR cannot happen (signals blocked); anything else: look again */
    char b;
    ssize_t r = read(fd, &b, 1);
    if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
      kill(getpid(), SIGKILL); /* the parent is gone */
  }
  return NULL;
}

static void start_watcher(int fd) {
  pthread_attr_t attr;
  pthread_t th;
  sigset_t all, old;
  sigfillset(&all);
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, PTHREAD_STACK_MIN > 65536 ? PTHREAD_STACK_MIN : 65536);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* the host's handlers never run on it */
  g_watch_fd = fd;
  int err = pthread_create(&th, &attr, watcher_main, (void *)(intptr_t)fd);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (err != 0)
    _exit(255); /* cannot keep the promise to die with the parent: do not run unwatched */
  /* Returns once the thread is past its start-up (which allocates): a fork from here on finds
   * it blocked in poll(), holding no lock a fork child could inherit held (allocators without
   * fork handlers, e.g. ASan's, would otherwise deadlock the child). */
  while (!MPROC__ATOMIC_LOAD(&g_watch_up, MPROC__ATOMIC_ACQUIRE))
    sched_yield();
}

/* Every fork child, ours or the host's: it is not the process the daemons watch, nor (for a
 * daemon's children) a daemon itself, and it has no watcher thread. */
static void death_atfork_child(void) {
  pthread_mutex_unlock(&g_dp_mu);
  for (int i = 0; i < 2; i++)
    if (g_dp[i] >= 0)
      close(g_dp[i]);
  g_dp[0] = g_dp[1] = -1;
  if (g_watch_fd >= 0)
    close(g_watch_fd);
  g_watch_fd = -1;
  g_watch_up = 0;
}
static void death_prepare(void) { pthread_mutex_lock(&g_dp_mu); }
static void death_parent(void) { pthread_mutex_unlock(&g_dp_mu); }

/* Runs before main: registers the fork handlers, and in a spawned daemon starts watching. */
__attribute__((constructor)) static void death_init(void) {
  pthread_atfork(death_prepare, death_parent, death_atfork_child);
  const char *v = getenv(PDEATH_ENV);
  if (v == NULL)
    return;
  char *end;
  long fd = strtol(v, &end, 10);
  unsetenv(PDEATH_ENV);
  if (*end != '\0' || fd < 3 || fd > INT_MAX || fcntl((int)fd, F_SETFD, FD_CLOEXEC) != 0)
    _exit(255);
  start_watcher((int)fd);
}

/* --- spawn ------------------------------------------------------------------------------------ */


/* environ without a stale bootstrap token or death-pipe fd, plus the request's assignment and
 * (daemons) the death pipe's fd. */
static char **build_env(const char *assign, const char *pdeath) {
  size_t n = 0, k = 0, name_len = strcspn(assign, "=") + 1, pd_len = strlen(PDEATH_ENV "=");
  while (environ && environ[n])
    n++;
  char **envp = mproc__malloc((n + 3) * sizeof *envp);
  if (envp == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], assign, name_len) != 0 &&
        strncmp(environ[i], PDEATH_ENV "=", pd_len) != 0)
      envp[k++] = environ[i];
  envp[k++] = (char *)assign;
  if (pdeath != NULL)
    envp[k++] = (char *)pdeath;
  envp[k] = NULL;
  return envp;
}

static int in_list(int fd, const int *keep, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (keep[i] == fd)
      return 1;
  return 0;
}

/* The child inherits exactly `keep`. adddup2(fd, fd) clears close-on-exec (POSIX.1-2024;
 * glibc >= 2.29, FreeBSD 13). The host's own inheritable fds are closed in the child: macOS
 * does that with POSIX_SPAWN_CLOEXEC_DEFAULT, elsewhere each one is named (Linux lists
 * /proc/self/fd; others probe up to getdtablesize()). */
static int narrow_fds(posix_spawn_file_actions_t *fa, const int *keep, size_t n) {
  int rc = 0;
  for (size_t i = 0; i < n && rc == 0; i++)
#if defined(__APPLE__)
    rc = posix_spawn_file_actions_addinherit_np(fa, keep[i]);
#else
    rc = posix_spawn_file_actions_adddup2(fa, keep[i], keep[i]);
#endif
#if defined(__linux__)
  DIR *d = opendir("/proc/self/fd");
  for (struct dirent *e; rc == 0 && d != NULL && (e = readdir(d)) != NULL;) {
    int fd = atoi(e->d_name), fl;
    if (fd > 2 && fd != dirfd(d) && !in_list(fd, keep, n) && (fl = fcntl(fd, F_GETFD)) >= 0 &&
        !(fl & FD_CLOEXEC))
      rc = posix_spawn_file_actions_addclose(fa, fd);
  }
  if (d != NULL)
    closedir(d);
#elif !defined(__APPLE__)
  int top = getdtablesize();
  for (int fd = 3, fl; rc == 0 && fd < top && fd < 65536; fd++)
    if (!in_list(fd, keep, n) && (fl = fcntl(fd, F_GETFD)) >= 0 && !(fl & FD_CLOEXEC))
      rc = posix_spawn_file_actions_addclose(fa, fd);
#endif
  return rc;
}

/* Every signal at its default in the child, none blocked: as mproc__px_reset_signals. */
static int spawn_attrs(posix_spawnattr_t *at) {
  sigset_t all, none;
  sigfillset(&all);
  sigemptyset(&none);
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
#if defined(__APPLE__)
  flags |= POSIX_SPAWN_CLOEXEC_DEFAULT;
#endif
  int rc = posix_spawnattr_setsigdefault(at, &all);
  if (rc == 0)
    rc = posix_spawnattr_setsigmask(at, &none);
  if (rc == 0)
    rc = posix_spawnattr_setflags(at, flags);
  return rc;
}

typedef struct spawn_state {
  int exitp[2], pdeath;
  int *keep;
  char **envp;
  char pd_env[48];
} spawn_state;

static int spawn_prepare(const os_spawn_req *req, spawn_state *s) {
  if (cloexec_pipe(s->exitp) != 0)
    return mproc__os_last_error();
  if (req->die_with_parent && (s->pdeath = death_read_end()) < 0)
    return mproc__os_last_error();
  s->keep = mproc__malloc((req->n_inherit + 2) * sizeof *s->keep);
  if (s->keep == NULL)
    return MPROC_ENOMEM;
  size_t k = 0;
  for (size_t i = 0; i < req->n_inherit; i++)
    s->keep[k++] = (int)req->inherit[i];
  s->keep[k++] = s->exitp[1];
  if (s->pdeath >= 0) {
    s->keep[k++] = s->pdeath;
    snprintf(s->pd_env, sizeof s->pd_env, PDEATH_ENV "=%d", s->pdeath);
  }
  s->envp = build_env(req->env_assign, s->pdeath >= 0 ? s->pd_env : NULL);
  return s->envp == NULL ? MPROC_ENOMEM : 0;
}

static int spawn_run(const os_spawn_req *req, spawn_state *s, pid_t *pid) {
  char exe[PATH_MAX];
  if (req->exe) /* mproc_set_executable */
    snprintf(exe, sizeof exe, "%s", req->exe);
  else
    mproc__px_self_exe(exe, sizeof exe);
  if (exe[0] == '\0')
    return MPROC_ENOENT;
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  int rc = posix_spawn_file_actions_init(&fa);
  if (rc != 0)
    return mproc__os_error(rc);
  if ((rc = posix_spawnattr_init(&at)) != 0) {
    posix_spawn_file_actions_destroy(&fa);
    return mproc__os_error(rc);
  }
  size_t nkeep = req->n_inherit + 1 + (s->pdeath >= 0);
  rc = narrow_fds(&fa, s->keep, nkeep);
  if (rc == 0)
    rc = spawn_attrs(&at);
  if (rc == 0)
    rc = posix_spawn(pid, exe, &fa, &at, req->argv, s->envp);
  posix_spawnattr_destroy(&at);
  posix_spawn_file_actions_destroy(&fa);
  return rc ? mproc__os_error(rc) : 0;
}

int mproc__os_proc_spawn(const os_spawn_req *req, os_proc *out) {
  if (req == NULL || out == NULL || req->argv == NULL || req->argv[0] == NULL)
    return MPROC_EINVAL;
  spawn_state s = {{-1, -1}, -1, NULL, NULL, {0}};
  pid_t pid = -1;
  int rc = spawn_prepare(req, &s);
  if (rc == 0)
    rc = spawn_run(req, &s, &pid);
  if (rc == 0) {
    *out = (os_proc){pid, s.exitp[0], 1, 0, 0, 1};
    s.exitp[0] = -1;
  }
  for (int i = 0; i < 2; i++)
    if (s.exitp[i] >= 0)
      close(s.exitp[i]);
  if (s.pdeath >= 0)
    close(s.pdeath);
  mproc__free(s.keep);
  mproc__free(s.envp);
  return rc;
}

/* --- fork ------------------------------------------------------------------------------------- */


/* The child's side right after fork: the atfork handler has dropped the parent's death pipe. */
static void fork_child_setup(int exit_r, int pdeath) {
  close(exit_r); /* the write end stays open until this process is gone */
  mproc__px_reset_signals(NULL);
  if (pdeath >= 0)
    start_watcher(pdeath);
  sigset_t none;
  sigemptyset(&none);
  pthread_sigmask(SIG_SETMASK, &none, NULL);
}

int mproc__os_proc_fork(int die_with_parent, os_proc *out, void (*in_child)(void *), void *arg) {
  if (out == NULL || in_child == NULL)
    return MPROC_EINVAL;
  int exitp[2], pdeath = -1;
  if (cloexec_pipe(exitp) != 0)
    return mproc__os_last_error();
  if (die_with_parent && (pdeath = death_read_end()) < 0) {
    int rc = mproc__os_last_error();
    close(exitp[0]);
    close(exitp[1]);
    return rc;
  }
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = fork();
  int err = errno;
  if (pid == 0) {
    fork_child_setup(exitp[0], pdeath);
    in_child(arg);
    _exit(255); /* in_child never returns; if it did, nothing of ours may run on */
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  close(exitp[1]);
  if (pdeath >= 0)
    close(pdeath);
  if (pid < 0) {
    close(exitp[0]);
    return mproc__os_error(err);
  }
  *out = (os_proc){pid, exitp[0], 1, 0, 0, 1};
  return 0;
}



/* --- wait -- */

/* One non-blocking look: 1 exited (status recorded), 0 still running. ECHILD: someone else
 * reaped it (SIGCHLD ignored, a host's waitpid(-1)); without pidfd the status is lost. */
static int try_reap(os_proc *p) {
  int st = 0;
  pid_t r;
  do
    r = waitpid((pid_t)p->pid, &st, WNOHANG);
  while (r < 0 && errno == EINTR);
  if (r == 0)
    return 0;
  p->reaped = 1;
  if (r < 0)
    p->status = MPROC_EXIT_UNKNOWN;
  else
    p->status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st)
                                                                  : MPROC_EXIT_UNKNOWN;
  return 1;
}

/* The exit pipe wakes us at the exit; the waitpid that follows confirms it. A pipe held open by
 * a grandchild only costs latency: the look is repeated with a bounded back-off. */
static int wait_child(os_proc *p, int64_t deadline) {
  int64_t backoff_ms = 1;
  while (!try_reap(p)) {
    int64_t now = mproc__os_now_ns();
    if (deadline != OS_NO_DEADLINE && now >= deadline)
      return MPROC_ETIMEDOUT;
    int64_t slice = now + backoff_ms * 1000000;
    int64_t until = slice < deadline ? slice : deadline;
    struct pollfd pf = {(int)p->handle, POLLIN, 0};
    int rc = p->handle != OS_INVALID ? mproc__px_poll(&pf, 1, until) : MPROC_ETIMEDOUT;
    if (rc < 0 && rc != MPROC_ETIMEDOUT)
      return rc;
    if (rc > 0 || p->handle == OS_INVALID) { /* at EOF: the exit is a moment from reapable */
      int64_t left = (until - mproc__os_now_ns()) / 1000000;
      mproc__os_sleep_ms(left < 1 ? 1 : left);
    }
    backoff_ms = backoff_ms < 50 ? backoff_ms * 2 : 50;
  }
  return 0;
}

/* Not our child (a forkserver child): gone once kill(pid, 0) fails, looked at with a back-off. */
static int attached_wait(os_proc *p, int64_t deadline) {
  int64_t backoff_ms = 1;
  while (mproc__os_pid_alive(p->pid)) {
    int64_t now = mproc__os_now_ns();
    if (deadline != OS_NO_DEADLINE && now >= deadline)
      return MPROC_ETIMEDOUT;
    int64_t left = deadline == OS_NO_DEADLINE ? backoff_ms : (deadline - now) / 1000000 + 1;
    mproc__os_sleep_ms(left < backoff_ms ? left : backoff_ms);
    backoff_ms = backoff_ms < 50 ? backoff_ms * 2 : 50;
  }
  p->reaped = 1;
  p->status = MPROC_EXIT_UNKNOWN;
  return 0;
}

int64_t mproc__os_exited_child(void) { return -1; }

int mproc__os_proc_wait(os_proc *p, int64_t deadline) {
  if (p == NULL || p->pid <= 0)
    return MPROC_EINVAL;
  if (p->reaped)
    return 0;
  return p->is_child ? wait_child(p, deadline) : attached_wait(p, deadline);
}

/* --- signal -- */

/* kill(pid) is safe for our own unreaped child (a zombie keeps its pid). An attached process
 * could have been reaped by its parent and its pid reused: look first, never signal one seen
 * gone (the forkserver's status channel is the authority on it). */
int mproc__os_proc_signal(os_proc *p, int hard) {
  if (p == NULL || p->pid <= 0)
    return MPROC_EINVAL;
  if (p->reaped)
    return 0;
  if (!p->is_child && !mproc__os_pid_alive(p->pid)) {
    p->reaped = 1;
    p->status = MPROC_EXIT_UNKNOWN;
    return 0;
  }
  if (kill((pid_t)p->pid, hard ? SIGKILL : SIGTERM) != 0)
    return errno == ESRCH ? 0 : mproc__os_last_error();
  return 0;
}
