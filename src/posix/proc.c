/* SPDX-License-Identifier: MIT */
/* Processes on POSIX (Linux first).
 *
 * Sections: spawn (clone + exec), fork, wait, signal.
 *
 * spawn uses clone(CLONE_VM | CLONE_VFORK | CLONE_PIDFD) with NO exit signal rather than
 * posix_spawn, for three reasons:
 *  - a child whose exit signal is not SIGCHLD is never auto-reaped, even when the host set
 *    SIGCHLD to SIG_IGN, and a host's waitpid(-1) loop (which only sees SIGCHLD children) cannot
 *    steal its status; the host's SIGCHLD handler is not even woken by our children;
 *  - the pidfd arrives atomically with the child, so there is no pid-reuse window;
 *  - fds are narrowed in the child with close_range(CLOSE_RANGE_CLOEXEC): only the handles the
 *    request names survive exec, including the host's own non-CLOEXEC fds.
 * Like posix_spawn, the child shares our memory until exec, so it runs on its own stack with all
 * signals blocked, resets every disposition to default and only then unblocks.
 * Old kernels without CLONE_PIDFD (< 5.2) get the same child without a pidfd.
 *
 * fork uses fork(2) (libc must run its atfork handlers), with signals blocked around it; the
 * pidfd is opened right after. Reaping is waitid(P_PID, __WALL): never a SIGCHLD handler.
 *
 * Daemons and the starter thread: PR_SET_PDEATHSIG fires when the parent THREAD exits, not the
 * parent process, so a daemon created by a short-lived thread would be killed when that thread
 * ends (and a forkserver with all its daemon children with it). Daemons are therefore created
 * by a thread that lives as long as the process: the main thread itself, else one starter
 * thread this file keeps, idle and with every signal blocked, that performs the clone or fork
 * on the caller's behalf. The user's child gets no extra thread, and no signal handler is
 * installed anywhere. A forked daemon's child side then runs on its copy of the starter
 * thread (the caller's data it uses is in the copied memory). */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "posix.h"
#include "../atomics.h"
#include "../alloc.h"

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

extern char **environ;

#define CHILD_STACK (128 * 1024)

typedef struct spawn_ctx {
  const os_spawn_req *req;
  char **envp;
  const char *exe;
  int exit_w;       /* no pidfd: the exit pipe's write end, kept by the child until it exits */
  int want_pidfd;
  volatile int err; /* written by the child before exec fails; we share memory until then */
} spawn_ctx;

/* Runs in the vfork-style child. Only raw system calls: we share the parent's memory. Not
 * instrumented, because sanitizer bookkeeping here would corrupt the parent's state. */
__attribute__((no_sanitize("address", "undefined", "thread"))) static int spawn_child(void *arg) {
  spawn_ctx *ctx = arg;
  const os_spawn_req *req = ctx->req;
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; sig++)
    if (sig != SIGKILL && sig != SIGSTOP)
      sigaction(sig, &dfl, NULL); /* EINVAL for libc-reserved signals: harmless */
  if (req->die_with_parent)
    prctl(PR_SET_PDEATHSIG, SIGKILL);
  syscall(SYS_close_range, 3u, ~0u, CLOSE_RANGE_CLOEXEC); /* ENOSYS < 5.11: CLOEXEC alone */
  for (size_t i = 0; i < req->n_inherit; i++)
    fcntl((int)req->inherit[i], F_SETFD, 0);
  if (ctx->exit_w >= 0)
    fcntl(ctx->exit_w, F_SETFD, 0);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  execve(ctx->exe, req->argv, ctx->envp);
  ctx->err = errno ? errno : ENOEXEC;
  _exit(127);
}

/* environ without any stale bootstrap token, plus the request's assignment. */
static char **build_env(const char *assign) {
  size_t n = 0, k = 0, name_len = strcspn(assign, "=") + 1;
  while (environ && environ[n])
    n++;
  char **envp = mproc__malloc((n + 2) * sizeof *envp);
  if (envp == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++)
    if (strncmp(environ[i], assign, name_len) != 0)
      envp[k++] = environ[i];
  envp[k++] = (char *)assign;
  envp[k] = NULL;
  return envp;
}


typedef int (*clone_fn)(int (*)(void *), void *, int, void *, ...);

/* ThreadSanitizer's clone() interceptor assumes a fork-like child and aborts on CLONE_VM; the
 * child here never touches instrumented state, so test builds call libc's clone directly. */
static clone_fn real_clone(void) {
#ifdef MPROC_TSAN
  static clone_fn fn;
  if (fn == NULL) {
    void *sym = dlsym(RTLD_NEXT, "clone");
    memcpy(&fn, &sym, sizeof fn);
  }
  if (fn != NULL)
    return fn;
#endif
  return clone;
}

static pid_t clone_child(spawn_ctx *ctx, char *stack_top, int *pidfd) {
  *pidfd = -1;
  clone_fn fn = real_clone();
  pid_t pid = -1;
  errno = EINVAL;
  if (ctx->want_pidfd)
    pid = fn(spawn_child, stack_top, CLONE_VM | CLONE_VFORK | CLONE_PIDFD, ctx, pidfd);
  if (pid < 0 && errno == EINVAL) /* kernel without CLONE_PIDFD */
    pid = fn(spawn_child, stack_top, CLONE_VM | CLONE_VFORK, ctx);
  return pid;
}

static void reap_quietly(pid_t pid) {
  siginfo_t si;
  while (waitid(P_PID, (id_t)pid, &si, WEXITED | __WALL) < 0 && errno == EINTR)
    ;
}


static int pidfd_open_(pid_t pid);

/* 1 on kernels without pidfd (< 5.3), or when MPROC_NO_PIDFD=1 asks for that path (to test
 * it on a new kernel). Children then get an exit pipe as their exit handle: the bootstrap
 * channel cannot serve, as it turns readable with the first record (READY), long before the
 * exit. */
static int no_pidfd(void) {
  static int cached = -1;
  int v = MPROC__ATOMIC_LOAD(&cached, MPROC__ATOMIC_RELAXED);
  if (v >= 0)
    return v;
  const char *e = getenv("MPROC_NO_PIDFD");
  v = e != NULL && strcmp(e, "1") == 0;
  if (!v) {
    int fd = pidfd_open_(getpid());
    v = fd < 0 && errno == ENOSYS;
    if (fd >= 0)
      close(fd);
  }
  MPROC__ATOMIC_STORE(&cached, v, MPROC__ATOMIC_RELAXED);
  return v;
}

/* --- the starter thread --------------------------------------------------------------------- */

typedef struct start_job {
  int (*run)(void *);
  void *arg;
  int rc, done;
} start_job;

static pthread_mutex_t s_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t s_cv = PTHREAD_COND_INITIALIZER;
static start_job *s_job; /* the job posted, until it is done */
static int s_up;

int mproc__px_starter_running(void) {
  pthread_mutex_lock(&s_mu);
  int up = s_up;
  pthread_mutex_unlock(&s_mu);
  return up;
}

static void *starter_main(void *unused) {
  (void)unused;
  pthread_mutex_lock(&s_mu);
  for (;;) {
    while (s_job == NULL || s_job->done)
      pthread_cond_wait(&s_cv, &s_mu);
    start_job *j = s_job;
    pthread_mutex_unlock(&s_mu); /* a fork must find it free (see starter_atfork) */
    int rc = j->run(j->arg);     /* in a forked daemon's child this never returns */
    pthread_mutex_lock(&s_mu);
    j->rc = rc;
    j->done = 1;
    s_job = NULL;
    pthread_cond_broadcast(&s_cv);
  }
  return NULL;
}

/* The starter's lock is free at any fork, or taken by a thread that only waits on s_cv (never
 * while holding the global lock), so the order against the global lock's handlers does not
 * matter. The child has no starter thread: it starts its own if it needs one. */
static void starter_prepare(void) { pthread_mutex_lock(&s_mu); }
static void starter_parent(void) { pthread_mutex_unlock(&s_mu); }
static void starter_child(void) {
  /* The lock was taken by this (the forking) thread in prepare: release it, so lock-state
   * checkers (TSan) see it free. The condition may hold the parent's waiters: start it anew. */
  pthread_mutex_unlock(&s_mu);
  pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  memcpy(&s_cv, &cv, sizeof cv);
  s_job = NULL;
  s_up = 0;
}
__attribute__((constructor)) static void starter_atfork(void) {
  pthread_atfork(starter_prepare, starter_parent, starter_child);
}

static int starter_launch(void) {
  pthread_attr_t attr;
  pthread_t th;
  sigset_t all, old;
  sigfillset(&all);
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_sigmask(SIG_SETMASK, &all, &old); /* the host's handlers never run on it */
  int err = pthread_create(&th, &attr, starter_main, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  return err;
}

/* Runs run(arg) on a thread that lives as long as the process. */
static int on_lasting_thread(int (*run)(void *), void *arg) {
  if ((pid_t)syscall(SYS_gettid) == getpid())
    return run(arg); /* the main thread: it ends with the process */
  pthread_mutex_lock(&s_mu);
  if (!s_up && starter_launch() != 0) {
    pthread_mutex_unlock(&s_mu);
    return run(arg); /* no thread to be had: the daemon depends on this thread, as before */
  }
  s_up = 1;
  while (s_job != NULL)
    pthread_cond_wait(&s_cv, &s_mu);
  start_job j = {run, arg, 0, 0};
  s_job = &j;
  pthread_cond_broadcast(&s_cv);
  while (!j.done)
    pthread_cond_wait(&s_cv, &s_mu);
  pthread_mutex_unlock(&s_mu);
  return j.rc;
}

/* --- spawn ------------------------------------------------------------------------------------ */

typedef struct spawn_job {
  const os_spawn_req *req;
  os_proc *out;
} spawn_job;

static int spawn_now(const os_spawn_req *req, os_proc *out);

static int run_spawn(void *arg) {
  spawn_job *j = arg;
  return spawn_now(j->req, j->out);
}

int mproc__os_proc_spawn(const os_spawn_req *req, os_proc *out) {
  if (req == NULL || out == NULL || req->argv == NULL || req->argv[0] == NULL)
    return MPROC_EINVAL;
  if (!req->die_with_parent)
    return spawn_now(req, out);
  spawn_job j = {req, out};
  return on_lasting_thread(run_spawn, &j);
}

static int spawn_now(const os_spawn_req *req, os_proc *out) {
  char exe[4096];
  if (req->exe)
    snprintf(exe, sizeof exe, "%s", req->exe);
  else
    mproc__px_self_exe(exe, sizeof exe);
  int exitp[2] = {-1, -1};
  spawn_ctx ctx = {req, build_env(req->env_assign), exe, -1, !no_pidfd(), 0};
  char *stack = mproc__malloc(CHILD_STACK);
  int rc = 0, pidfd = -1;
  if (ctx.envp == NULL || stack == NULL) {
    rc = MPROC_ENOMEM;
    goto done;
  }
  if (!ctx.want_pidfd && pipe2(exitp, O_CLOEXEC) != 0) {
    rc = mproc__os_last_error();
    goto done;
  }
  ctx.exit_w = exitp[1];
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t pid = clone_child(&ctx, stack + CHILD_STACK, &pidfd);
  int clone_errno = errno;
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (exitp[1] >= 0)
    close(exitp[1]);
  if (pid < 0) {
    rc = mproc__os_error(clone_errno);
  } else if (ctx.err != 0) { /* exec failed: the child has exited; never leave a zombie */
    reap_quietly(pid);
    if (pidfd >= 0)
      close(pidfd);
    rc = mproc__os_error(ctx.err);
  } else if (pidfd < 0 && exitp[0] >= 0) {
    *out = (os_proc){pid, exitp[0], 1, 0, 0, 1};
    exitp[0] = -1;
  } else {
    *out = (os_proc){pid, pidfd, 1, 0, 0, 0};
  }
done:
  if (exitp[0] >= 0)
    close(exitp[0]);
  mproc__free(stack);
  mproc__free(ctx.envp);
  return rc;
}

/* --- fork ------------------------------------------------------------------------------------- */


static int pidfd_open_(pid_t pid) {
#ifdef SYS_pidfd_open
  return (int)syscall(SYS_pidfd_open, pid, 0); /* pidfds are always close-on-exec */
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

static int fork_now(int die_with_parent, os_proc *out, int *in_child) {
  pid_t parent = die_with_parent ? getpid() : 0;
  int exitp[2] = {-1, -1};
  if (no_pidfd() && pipe2(exitp, O_CLOEXEC) != 0)
    return mproc__os_last_error();
  sigset_t all, old, none;
  sigfillset(&all);
  sigemptyset(&none); /* here, not in the child: each call the child makes first costs it more */
  pthread_sigmask(SIG_SETMASK, &all, &old);
  uint64_t handled = 0;
  int known = mproc__px_handled_signals(&handled); /* read here: it costs the child far more */
  pid_t pid = fork();
  int err = errno;
  if (pid == 0) {
    if (exitp[0] >= 0)
      close(exitp[0]); /* the write end stays open until this process is gone */
    mproc__px_reset_signals(known ? &handled : NULL);
    /* The parent may have died between fork and prctl: PDEATHSIG would then never fire. */
    if (die_with_parent && (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent))
      _exit(255);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    *in_child = 1;
    return 0;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (exitp[1] >= 0)
    close(exitp[1]);
  if (pid < 0) {
    if (exitp[0] >= 0)
      close(exitp[0]);
    return mproc__os_error(err);
  }
  *in_child = 0;
  if (exitp[0] >= 0) {
    *out = (os_proc){pid, exitp[0], 1, 0, 0, 1};
    return 0;
  }
  *out = (os_proc){pid, pidfd_open_(pid), 1, 0, 0, 0};
  if (out->handle < 0)
    out->handle = OS_INVALID; /* ESRCH: already reaped by someone else */
  return 0;
}

typedef struct fork_job {
  int die_with_parent;
  os_proc *out;
  void (*in_child)(void *);
  void *arg;
} fork_job;

static int run_fork(void *arg) {
  fork_job *j = arg;
  int in_child = 0;
  int rc = fork_now(j->die_with_parent, j->out, &in_child);
  if (rc == 0 && in_child) {
    j->in_child(j->arg);
    _exit(255); /* in_child never returns; if it did, nothing of ours may run on */
  }
  return rc;
}

int mproc__os_proc_fork(int die_with_parent, os_proc *out, void (*in_child)(void *), void *arg) {
  if (out == NULL || in_child == NULL)
    return MPROC_EINVAL;
  (void)no_pidfd(); /* decided before any fork, so the child never reads the environment */
  fork_job j = {die_with_parent, out, in_child, arg};
  return die_with_parent ? on_lasting_thread(run_fork, &j) : run_fork(&j);
}



/* --- wait --------------------------------------------------------------------------------------- */

static int decode_status(const siginfo_t *si) {
  if (si->si_code == CLD_EXITED)
    return si->si_status;
  return -si->si_status; /* CLD_KILLED / CLD_DUMPED: Python's -signal convention */
}

/* Linux 6.15+: a pidfd keeps the exit status even after someone else reaped the process. */
struct px_pidfd_info {
  uint64_t mask, cgroupid;
  uint32_t pid, tgid, ppid, ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid;
  int32_t exit_code;
};
#define PX_PIDFD_GET_INFO _IOWR(0xFF, 11, struct px_pidfd_info)
#define PX_PIDFD_INFO_EXIT (1ull << 3)

static int lost_status(const os_proc *p) {
  struct px_pidfd_info info;
  memset(&info, 0, sizeof info);
  info.mask = PX_PIDFD_INFO_EXIT;
  if (p->handle == OS_INVALID || p->exit_pipe ||
      ioctl((int)p->handle, PX_PIDFD_GET_INFO, &info) != 0 ||
      !(info.mask & PX_PIDFD_INFO_EXIT))
    return MPROC_EXIT_UNKNOWN;
  int st = info.exit_code;
  return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : MPROC_EXIT_UNKNOWN;
}

/* One non-blocking look: 1 exited (status recorded), 0 still running. */
static int try_reap(os_proc *p) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int rc;
  do
    rc = waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | __WALL);
  while (rc < 0 && errno == EINTR);
  if (rc == 0 && si.si_pid == 0)
    return 0;
  p->reaped = 1;
  p->status = rc == 0 ? decode_status(&si) : lost_status(p); /* ECHILD: reaped elsewhere */
  return 1;
}

/* Not our child: exited once its pidfd polls readable (or kill(pid, 0) fails, without one). */
static int attached_exited(os_proc *p, int64_t deadline) {
  if (p->handle != OS_INVALID) {
    struct pollfd pf = {(int)p->handle, POLLIN, 0};
    return mproc__px_poll(&pf, 1, deadline) > 0;
  }
  return kill((pid_t)p->pid, 0) != 0 && errno == ESRCH;
}

static int wait_child(os_proc *p, int64_t deadline) {
  int64_t backoff_ms = 1;
  while (!try_reap(p)) {
    if (deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline)
      return MPROC_ETIMEDOUT;
    if (p->handle != OS_INVALID && !p->exit_pipe) {
      struct pollfd pf = {(int)p->handle, POLLIN, 0};
      int rc = mproc__px_poll(&pf, 1, deadline);
      if (rc < 0 && rc != MPROC_ETIMEDOUT)
        return rc;
    } else { /* no pidfd (kernel < 5.3): poll with a bounded back-off. The exit pipe is not
              * waited on here: a grandchild holding it open would hide the exit. */
      int64_t left_ms = deadline == OS_NO_DEADLINE ? backoff_ms
                                                   : (deadline - mproc__os_now_ns()) / 1000000 + 1;
      mproc__os_sleep_ms(left_ms < backoff_ms ? left_ms : backoff_ms);
      backoff_ms = backoff_ms < 50 ? backoff_ms * 2 : 50;
    }
  }
  return 0;
}

int64_t mproc__os_exited_child(void) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  int rc;
  do /* WNOWAIT: nothing is reaped, the host's children stay the host's */
    rc = waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT | __WALL);
  while (rc < 0 && errno == EINTR);
  if (rc < 0)
    return errno == ECHILD ? 0 : -1;
  return si.si_pid;
}

int mproc__os_proc_wait(os_proc *p, int64_t deadline) {
  if (p == NULL || p->pid <= 0)
    return MPROC_EINVAL;
  if (p->reaped)
    return 0;
  if (p->is_child)
    return wait_child(p, deadline);
  if (!attached_exited(p, deadline))
    return MPROC_ETIMEDOUT;
  p->reaped = 1;
  p->status = MPROC_EXIT_UNKNOWN;
  return 0;
}

/* --- signal --------------------------------------------------------------------------------------- */

int mproc__os_proc_signal(os_proc *p, int hard) {
  if (p == NULL || p->pid <= 0)
    return MPROC_EINVAL;
  if (p->reaped)
    return 0;
  int sig = hard ? SIGKILL : SIGTERM;
  int rc = -1, pidfd = p->handle != OS_INVALID && !p->exit_pipe;
  errno = ENOSYS;
#ifdef SYS_pidfd_send_signal
  if (pidfd)
    rc = (int)syscall(SYS_pidfd_send_signal, (int)p->handle, sig, NULL, 0);
#endif
  /* Without a pidfd, kill(pid) is safe for our own unreaped child (a zombie keeps its pid).
   * An attached process (not our child) without a pidfd could have been reaped by its parent
   * and its pid reused: look first, and never signal one seen gone. */
  if (rc != 0 && (!pidfd || errno == ENOSYS)) {
    if (!p->is_child && kill((pid_t)p->pid, 0) != 0 && errno == ESRCH) {
      p->reaped = 1;
      p->status = MPROC_EXIT_UNKNOWN;
      return 0;
    }
    rc = kill((pid_t)p->pid, sig);
  }
  if (rc != 0 && errno == ESRCH)
    return 0; /* already exited */
  return rc == 0 ? 0 : mproc__os_last_error();
}
