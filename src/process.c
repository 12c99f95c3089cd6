/* SPDX-License-Identifier: MIT */
/* mproc_process_*: Python's Process on top of the OS layer.
 *
 * Sections: global state and start methods; create/configure; start (one function per method);
 * collecting the exit (poll / finish); queries and signals; close/free and the detached list;
 * module functions (active_children, wait_any, atexit).
 *
 * Every started process stays on one global list until it is closed, so that the atexit handler
 * can join non-daemon children and terminate daemon ones as Python does, and so a freed but still
 * running child keeps being reaped (it is "detached", never a zombie). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "alloc.h"
#include "log.h"

enum { ST_NEW, ST_STARTED, ST_DONE };

struct mproc_process {
  mproc_target_fn target;
  mp_target_ref ref;
  mproc_args_t *args;
  void *self;
  size_t self_size;
  char *name;
  char ident[64]; /* "K" or "<parent's identity>:K": what default names of its children use */
  int daemon, allow_threads, detached, state;
  int closed; /* mproc_process_close ran: OS handles released, calls say MPROC_ECLOSED */
  int refs;   /* the caller's handle, the global list, snapshots in use (global lock) */
  int linked; /* on g_children (global lock) */
  mproc_start_method method;
  os_proc proc;
  os_handle chan;      /* our end of the bootstrap/status channel */
  os_handle fs_status; /* forkserver children: the server reports the exit status here */
  int exitcode;
  int reported, reported_code; /* EXIT record seen, and its value */
  int child_err;
  char *errmsg;
  struct mproc_process *next;
};

static mproc_process_t *g_children;
static unsigned g_counter;
/* This process's identity, as CPython's Process._identity: "" in the main process, "K" in its
 * K-th child, "K:J" in that child's J-th child. Default names are "Process-" + identity. */
static char g_ident[48];
static mproc_start_method g_default = MPROC_START_SPAWN;
static int g_atexit_done;
static int64_t g_owner_pid; /* the process whose atexit handler this is */

/* --- start methods ------------------------------------------------------------------------ */

int mproc_start_method_available(mproc_start_method m) {
  if (m == MPROC_START_SPAWN)
    return 1;
  if (m == MPROC_START_FORK || m == MPROC_START_FORKSERVER)
    return mproc__os_can_fork();
  return 0;
}

int mproc_set_start_method(mproc_start_method m) {
  if (m == MPROC_START_DEFAULT)
    m = MPROC_START_SPAWN;
  if (mproc_start_method_name(m) == NULL)
    return MPROC_EINVAL;
  if (!mproc_start_method_available(m))
    return MPROC_ENOTSUP;
  mproc__os_global_lock();
  g_default = m;
  mproc__os_global_unlock();
  return 0;
}

mproc_start_method mproc_get_start_method(void) {
  mproc__os_global_lock();
  mproc_start_method m = g_default;
  mproc__os_global_unlock();
  return m;
}

const char *mproc_start_method_name(mproc_start_method m) {
  switch (m) {
  case MPROC_START_FORK:
    return "fork";
  case MPROC_START_SPAWN:
    return "spawn";
  case MPROC_START_FORKSERVER:
    return "forkserver";
  default:
    return NULL;
  }
}

int mproc_start_method_parse(const char *name, mproc_start_method *out) {
  static const mproc_start_method all[] = {MPROC_START_FORK, MPROC_START_SPAWN,
                                           MPROC_START_FORKSERVER};
  if (name == NULL || out == NULL)
    return MPROC_EINVAL;
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (strcmp(name, mproc_start_method_name(all[i])) == 0)
      return *out = all[i], 0;
  return MPROC_EINVAL;
}

/* The state as another thread's collect() may have just changed it (STARTED -> DONE happens
 * under the global lock; NEW -> STARTED only in the caller's own start). */
static int state_of(const mproc_process_t *p) {
  mproc__os_global_lock();
  int st = p->state;
  mproc__os_global_unlock();
  return st;
}

/* MPROC_EINVAL for NULL, MPROC_ECLOSED once mproc_process_close ran, else 0. */
static int usable(const mproc_process_t *p) {
  if (p == NULL)
    return MPROC_EINVAL;
  return p->closed ? MPROC_ECLOSED : 0;
}

/* --- create / configure -------------------------------------------------------------------- */

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = mproc__malloc(n);
  return d ? memcpy(d, s, n) : NULL;
}

static int copy_args(const mproc_args_t *src, mproc_args_t **dst) {
  mp_buf b;
  mproc__buf_init(&b);
  mproc__args_encode(src, &b);
  int rc = b.err;
  if (rc == 0) {
    mp_rd r;
    mproc__rd_init(&r, b.data, b.len);
    rc = mproc__args_decode(&r, dst, MP_ARGS_COPY, NULL, 0);
  }
  mproc__buf_free(&b);
  return rc;
}

/* "<parent>:<k>", or "<k>" in the main process (parent ""): Python's identity. Written by hand
 * rather than with snprintf, whose deep stack frame is one more page to copy after each fork. */
static void make_ident(char out[64], const char *parent, unsigned k) {
  char digits[12];
  size_t nd = 0, n = strlen(parent); /* parent fits: g_ident holds at most 47 characters */
  do
    digits[nd++] = (char)('0' + k % 10);
  while ((k /= 10) != 0);
  memcpy(out, parent, n);
  if (n > 0)
    out[n++] = ':';
  while (nd > 0)
    out[n++] = digits[--nd];
  out[n] = '\0';
}

int mproc_process_new(mproc_process_t **out, mproc_target_fn target, const mproc_args_t *args) {
  if (out == NULL || target == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  mproc_process_t *p = mproc__calloc(1, sizeof *p);
  if (p == NULL)
    return MPROC_ENOMEM;
  p->target = target;
  p->refs = 1;
  p->chan = p->fs_status = OS_INVALID;
  p->proc.handle = OS_INVALID;
  char name[80];
  mproc__os_global_lock();
  unsigned k = ++g_counter;
  make_ident(p->ident, g_ident, k);
  mproc__os_global_unlock();
  memcpy(name, "Process-", 8);
  memcpy(name + 8, p->ident, strlen(p->ident) + 1);
  int rc = mproc__target_locate(target, &p->ref);
  if (rc == 0)
    rc = (p->name = dup_str(name)) ? 0 : MPROC_ENOMEM;
  if (rc == 0)
    rc = copy_args(args, &p->args);
  if (rc != 0) {
    mproc_process_free(p);
    return rc;
  }
  *out = p;
  return 0;
}

int mproc_process_set_name(mproc_process_t *p, const char *name) {
  if (p == NULL || name == NULL)
    return MPROC_EINVAL;
  char *d = dup_str(name);
  if (d == NULL)
    return MPROC_ENOMEM;
  mproc__free(p->name);
  p->name = d;
  return 0;
}

const char *mproc_process_name(const mproc_process_t *p) { return p ? p->name : NULL; }

int mproc_process_set_daemon(mproc_process_t *p, int daemon) {
  if (p == NULL)
    return MPROC_EINVAL;
  if (state_of(p) != ST_NEW)
    return MPROC_ESTATE;
  p->daemon = daemon != 0;
  return 0;
}

int mproc_process_daemon(const mproc_process_t *p) { return p ? p->daemon : MPROC_EINVAL; }

int mproc_process_set_start_method(mproc_process_t *p, mproc_start_method m) {
  if (p == NULL || (m != MPROC_START_DEFAULT && mproc_start_method_name(m) == NULL))
    return MPROC_EINVAL;
  if (state_of(p) != ST_NEW)
    return MPROC_ESTATE;
  p->method = m;
  return 0;
}

int mproc_process_allow_fork_with_threads(mproc_process_t *p, int allow) {
  if (p == NULL)
    return MPROC_EINVAL;
  p->allow_threads = allow != 0;
  return 0;
}

int mproc_process_bind(mproc_process_t *p, const void *self, size_t size) {
  if (p == NULL || (self == NULL && size > 0) || size > MPROC_ARGS_MAX_BYTES)
    return MPROC_EINVAL;
  if (state_of(p) != ST_NEW)
    return MPROC_ESTATE;
  void *copy = NULL;
  if (size > 0 && (copy = mproc__malloc(size)) == NULL)
    return MPROC_ENOMEM;
  if (size > 0)
    memcpy(copy, self, size);
  mproc__free(p->self);
  p->self = copy;
  p->self_size = size;
  return 0;
}

/* --- start ---------------------------------------------------------------------------------- */

static void at_exit_join(void) { mproc__process_exit_hook(); }

static int fork_allowed(const mproc_process_t *p) {
  if (p->allow_threads)
    return 1;
  char v[8];
  if (mproc__os_getenv("MPROC_ALLOW_FORK_WITH_THREADS", v, sizeof v) == 0 && strcmp(v, "1") == 0)
    return 1;
  return mproc__os_thread_count() <= 1;
}

/* A program set with mproc_set_executable runs spawned children: the host need not have
 * called mproc_main (it may be an application the library is embedded in). */
static int has_executable(void) {
  char one[2];
  return mproc_get_executable(one, sizeof one) != MPROC_ENOENT;
}

/* Refuses what would fail in the child anyway, before anything is created. */
static int check_start(mproc_process_t *p, mproc_start_method *m) {
  if (p->closed)
    return MPROC_ECLOSED;
  if (state_of(p) != ST_NEW)
    return MPROC_ESTATE;
  if (mproc__bootstrap_pending())
    return MPROC_EBOOTSTRAP;
  *m = p->method ? p->method : mproc_get_start_method();
  if (!mproc_start_method_available(*m))
    return MPROC_ENOTSUP;
  if (*m != MPROC_START_FORK && !mproc__main_called() && !has_executable())
    return MPROC_ENOMAIN; /* spawn and the forkserver's server run the set executable too */
  if (*m == MPROC_START_FORK && !fork_allowed(p))
    return MPROC_EUNSAFE;
  os_handle distinct[MP_MAX_PASSED_HANDLES + 1]; /* objects in one segment share a handle */
  if (mproc__args_handles(p->args, distinct, MP_MAX_PASSED_HANDLES + 1) > MP_MAX_PASSED_HANDLES)
    return MPROC_EMSGSIZE; /* more handles than one start can carry */
  return 0;
}

/* 1 in a child that dies with its parent (a daemon, or a process started inside one). */
static int g_dies_with_parent;

void mproc__process_set_dies_with_parent(int dies) {
  if (g_dies_with_parent != (dies != 0))
    g_dies_with_parent = dies != 0;
}

/* A daemon dies with its parent, and so does everything started inside it, daemon or not:
 * "killed with its parent" must hold transitively, or a daemon killed with its parent would
 * leave its own non-daemon children running. Whether a child is terminated or joined at this
 * process's normal exit still follows its own daemon flag. */
static int dies_with_parent(const mproc_process_t *p) { return p->daemon || g_dies_with_parent; }

static int start_spawn(mproc_process_t *p, os_handle child_end) {
  char env[64];
  snprintf(env, sizeof env, "%s=spawn:%lld", MP_BOOT_ENV, (long long)child_end);
  os_handle inherit[1 + MP_MAX_PASSED_HANDLES];
  inherit[0] = child_end; /* connections passed as arguments keep their values in the child */
  size_t n = 1 + mproc__args_handles(p->args, inherit + 1, MP_MAX_PASSED_HANDLES);
  char exe[4096], *self_argv[2];
  char *const *argv;
  int own_exe = mproc__spawn_program(exe, sizeof exe, self_argv, &argv);
  os_spawn_req req = {argv, env, inherit, n, dies_with_parent(p), own_exe ? exe : NULL};
  return mproc__os_proc_spawn(&req, &p->proc);
}

static void run_fork_child(void *arg) {
  /* The parent's stack, copied with the rest of its memory: the record is in it too. */
  const mp_child_start *cs = arg;
  mproc__child_main(cs); /* never returns */
}

static int start_fork(mproc_process_t *p, const os_handle ch[2], const mp_buf *boot) {
  mp_child_start cs = {ch[1], MPROC_START_FORK, NULL, 0, p->target, boot->data, boot->len, ch[0]};
  return mproc__os_proc_fork(dies_with_parent(p), &p->proc, run_fork_child, &cs);
}

static int create_child(mproc_process_t *p, mproc_start_method m, os_handle ch[2],
                        const mp_buf *boot) {
  /* Python flushes both streams before every start: under fork, unflushed buffers would be
   * written twice, once by each process; under spawn and forkserver, what the parent printed
   * before the start would come out after the child's output. */
  mproc__flush_std();
  switch (m) {
  case MPROC_START_FORK:
    return start_fork(p, ch, boot);
  case MPROC_START_FORKSERVER:
  {
    os_handle hs[MP_MAX_PASSED_HANDLES];
    size_t n = mproc__args_handles(p->args, hs, MP_MAX_PASSED_HANDLES);
    return mproc__forkserver_fork(dies_with_parent(p), ch[1], hs, n, &p->proc, &p->fs_status);
  }
  default:
    return start_spawn(p, ch[1]);
  }
}

static void encode_boot(const mproc_process_t *p, mproc_start_method m, mp_buf *b) {
  mp_boot bt = {m,      dies_with_parent(p), mproc__os_getpid(),   p->name,  p->ident,
                &p->ref, p->self,   p->self_size, p->args};
  mproc__boot_encode(&bt, b);
}

static void link_child(mproc_process_t *p) {
  mproc__os_global_lock();
  if (!g_atexit_done) {
    g_atexit_done = 1;
    g_owner_pid = mproc__os_getpid();
    atexit(at_exit_join);
  }
  p->next = g_children;
  g_children = p;
  p->linked = 1;
  p->refs++;
  mproc__os_global_unlock();
}

static void reap_detached(void);
static int poll_exit(mproc_process_t *p, int64_t deadline);

/* For the debug log: where the target is, as the child will look it up. */
static void log_start(const mproc_process_t *p, mproc_start_method m, int rc) {
  const char *mod = p->ref.module[0] ? p->ref.module : "the program";
  if (rc != 0)
    MPROC__WARN("could not start %s (%s): %s", p->name, mproc_start_method_name(m),
                mproc_strerror(rc));
  else
    MPROC__DEBUG("started %s: pid %lld, method %s, target at %s+0x%llx", p->name,
                 (long long)p->proc.pid, mproc_start_method_name(m), mod,
                 (unsigned long long)p->ref.offset);
}

int mproc_process_start(mproc_process_t *p) {
  if (p == NULL)
    return MPROC_EINVAL;
  mproc_start_method m;
  int rc = check_start(p, &m);
  if (rc != 0)
    return rc;
  if ((rc = mproc__os_init()) != 0)
    return rc;
  reap_detached();
  mp_buf boot;
  mproc__buf_init(&boot);
  encode_boot(p, m, &boot);
  os_handle ch[2] = {OS_INVALID, OS_INVALID};
  if ((rc = boot.err) != 0 || (rc = mproc__os_chan_pair(ch)) != 0)
    goto fail;
  /* A forked child decodes the record from its copy of our memory. For the others, a small
   * record fits the fresh channel's buffer: sending it before the child exists lets the child
   * read it at once instead of sleeping until we get round to it (a cross-CPU wake-up costs
   * more than the fork itself on a VM). */
  int sent = m == MPROC_START_FORK, presend = !sent && boot.len <= MP_BOOT_PRESEND_MAX;
  if (presend &&
      (rc = mproc__rec_send(ch[0], MP_REC_BOOT, boot.data, boot.len, mproc__os_deadline(1000))))
    goto fail;
  rc = create_child(p, m, ch, &boot);
  log_start(p, m, rc);
  if (rc != 0)
    goto fail;
  mproc__os_close(ch[1]);
  ch[1] = OS_INVALID;
  p->chan = ch[0];
  p->state = ST_STARTED;
  p->method = m;
  link_child(p);
  /* A large argument list streams while the child reads it. */
  rc = sent || presend ? 0
                       : mproc__rec_send(p->chan, MP_REC_BOOT, boot.data, boot.len, OS_NO_DEADLINE);
  mproc__buf_free(&boot);
  if (rc == MPROC_EPEERGONE)
    return 0; /* it started and died before reading what to run: join reports how */
  if (rc != 0) {
    mproc__os_proc_signal(&p->proc, 1);
    poll_exit(p, OS_NO_DEADLINE);
    return rc;
  }
  return 0;
fail:
  mproc__buf_free(&boot);
  mproc__os_close(ch[0]);
  mproc__os_close(ch[1]);
  return rc;
}

/* --- collecting the exit ----------------------------------------------------------------------- */

static void take_record(mproc_process_t *p, uint32_t type, const mp_buf *rec) {
  mp_rd r;
  mproc__rd_init(&r, rec->data, rec->len);
  int code = (int)mproc__get_u32(&r);
  if (type == MP_REC_EXIT && r.err == 0) {
    p->reported = 1;
    p->reported_code = code;
  } else if ((type == MP_REC_FAIL || type == MP_REC_CHILD_ERR) && r.err == 0) {
    char *msg = mproc__get_str(&r);
    if (msg != NULL) {
      mproc__free(p->errmsg);
      p->errmsg = msg;
    }
    if (type == MP_REC_CHILD_ERR)
      p->child_err = code;
  }
}

/* Whole records at the front of buf[0..n): each taken, *used set past the last one. 1 if the
 * last was EXIT or CHILD_ERR (the child said all it will say). */
static int take_records(mproc_process_t *p, const unsigned char *buf, size_t n, size_t *used) {
  size_t pos = 0;
  int last = 0;
  while (n - pos >= 12) {
    mp_rd r;
    mproc__rd_init(&r, buf + pos, n - pos);
    uint32_t type = mproc__get_u32(&r);
    uint64_t len = mproc__get_u64(&r);
    if (len > n - pos - 12)
      break;
    mp_buf rec = {(unsigned char *)buf + pos + 12, (size_t)len, (size_t)len, 0};
    take_record(p, type, &rec);
    last = type == MP_REC_EXIT || type == MP_REC_CHILD_ERR;
    pos += 12 + (size_t)len;
  }
  *used = pos;
  return last && pos == n;
}

/* The record whose first k bytes are in head (fewer than it has): read whole, then taken. */
static int finish_record(mproc_process_t *p, const unsigned char *head, size_t k) {
  mp_buf rec;
  mproc__buf_init(&rec);
  uint32_t type = 0;
  int rc = mproc__rec_recv_rest(p->chan, head, k, &type, &rec, MP_REC_MAX_SMALL, 0);
  if (rc == 0)
    take_record(p, type, &rec);
  mproc__buf_free(&rec);
  return rc;
}

/* Reads whatever the exited child left on its channel. Usually that is one EXIT record: one
 * read takes it, and its being last says nothing follows (a re-executed child may still run
 * atexit handlers after it, which may report: its channel is read to the end). Anything more
 * goes through the record reader. */
static void drain_records(mproc_process_t *p) {
  unsigned char buf[512];
  size_t got = 0, used = 0;
  if (mproc__os_chan_read(p->chan, buf, sizeof buf, &got, 0) != 0)
    return;
  if (take_records(p, buf, got, &used) && p->method != MPROC_START_SPAWN)
    return;
  if (used < got && finish_record(p, buf + used, got - used) != 0)
    return;
  mp_buf rec;
  mproc__buf_init(&rec);
  uint32_t type;
  while (mproc__rec_recv(p->chan, &type, &rec, MP_REC_MAX_SMALL, 0) == 0)
    take_record(p, type, &rec);
  mproc__buf_free(&rec);
}

/* Names of the signals whose numbers POSIX fixes (and every Unix shares); the backends report
 * a signal death as -N in the platform's numbering, so other numbers are given bare. */
static const char *signal_name(int sig, const char **what) {
  static const struct {
    int sig;
    const char *name, *what;
  } known[] = {{1, "SIGHUP", "Hangup"},
               {2, "SIGINT", "Interrupt"},
               {3, "SIGQUIT", "Quit"},
               {4, "SIGILL", "Illegal instruction"},
               {5, "SIGTRAP", "Trace/breakpoint trap"},
               {6, "SIGABRT", "Aborted"},
               {8, "SIGFPE", "Floating point exception"},
               {9, "SIGKILL", "Killed"},
               {11, "SIGSEGV", "Segmentation fault"},
               {13, "SIGPIPE", "Broken pipe"},
               {14, "SIGALRM", "Alarm clock"},
               {15, "SIGTERM", "Terminated"}};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (known[i].sig == sig)
      return *what = known[i].what, known[i].name;
  return NULL;
}

/* A child killed by a signal says nothing itself: the reason is the signal (A5). */
static void describe_signal_death(mproc_process_t *p) {
  if (p->errmsg != NULL || p->exitcode >= 0 || p->exitcode < -127) /* also EXIT_UNKNOWN */
    return;
  char msg[96];
  const char *what = NULL, *name = signal_name(-p->exitcode, &what);
  if (name != NULL)
    snprintf(msg, sizeof msg, "killed by signal %d (%s, %s)", -p->exitcode, name, what);
  else
    snprintf(msg, sizeof msg, "killed by signal %d", -p->exitcode);
  p->errmsg = dup_str(msg);
}

static void finish(mproc_process_t *p, int os_status) {
  drain_records(p);
  if (os_status != MPROC_EXIT_UNKNOWN)
    p->exitcode = os_status;
  else if (p->reported) /* reaped by someone else: the child's own report is the truth */
    p->exitcode = p->reported_code;
  else
    p->exitcode = MPROC_EXIT_UNKNOWN;
  describe_signal_death(p);
  p->state = ST_DONE;
  MPROC__LOG(p->exitcode == 0 ? MPROC_LOG_DEBUG : MPROC_LOG_INFO,
             "%s (pid %lld) exited: %s%d%s%s", p->name, (long long)p->proc.pid,
             p->exitcode < 0 && p->exitcode != MPROC_EXIT_UNKNOWN ? "signal " : "code ",
             p->exitcode < 0 && p->exitcode != MPROC_EXIT_UNKNOWN ? -p->exitcode : p->exitcode,
             p->errmsg ? ": " : "", p->errmsg ? p->errmsg : "");
}

/* One look without blocking, under the global lock: several threads may look at the same
 * process (a join, and active_children or a start reaping opportunistically), and only one
 * may collect the status, or the other's waitid would find nothing and lose it. */
static int collect(mproc_process_t *p) {
  mproc__os_global_lock();
  int rc = 0, status = MPROC_EXIT_UNKNOWN;
  if (p->state == ST_STARTED) {
    if (p->fs_status != OS_INVALID) {
      rc = mproc__forkserver_status(p->fs_status, 0, &status);
      p->proc.reaped = (rc == 0);
    } else {
      rc = mproc__os_proc_wait(&p->proc, 0);
      status = p->proc.status;
    }
    if (rc == 0)
      finish(p, status);
  }
  mproc__os_global_unlock();
  return rc;
}

/* Blocks until the exit can be collected. The blocking part holds no lock: it waits for the
 * exit handle (pidfd, process handle, forkserver status channel) to become ready. An exit pipe
 * (POSIX kernels without pidfd) is only a hint, as a grandchild may hold it open after the
 * child exited: the exit itself is what collect() finds, so the wait is sliced. Without any
 * handle, it looks again with a bounded back-off. */
static int poll_exit(mproc_process_t *p, int64_t deadline) {
  int64_t backoff_ms = 1;
  /* Without a deadline, a wait on a handle that turns ready only at the exit (a pidfd or
   * process handle, the forkserver's status channel) may come first: a look before it would
   * mostly find the child still running, one system call for nothing. */
  int wait_first = deadline == OS_NO_DEADLINE && state_of(p) == ST_STARTED &&
                   (p->fs_status != OS_INVALID ||
                    (p->proc.handle != OS_INVALID && !p->proc.exit_pipe));
  for (;;) {
    int rc = wait_first ? MPROC_ETIMEDOUT : collect(p);
    wait_first = 0;
    if (rc != MPROC_ETIMEDOUT)
      return rc;
    int64_t now = mproc__os_now_ns();
    if (deadline != OS_NO_DEADLINE && now >= deadline)
      return MPROC_ETIMEDOUT;
    os_handle h = p->fs_status != OS_INVALID ? p->fs_status : p->proc.handle;
    if (h != OS_INVALID) {
      size_t ready;
      int64_t until = deadline;
      if (p->fs_status == OS_INVALID && p->proc.exit_pipe) {
        until = mproc__os_deadline(backoff_ms);
        until = until < deadline ? until : deadline;
        backoff_ms = backoff_ms < 50 ? backoff_ms * 2 : 50;
      }
      rc = mproc__os_wait_any(&h, 1, until, &ready);
      if (rc != 0 && rc != MPROC_ETIMEDOUT)
        return rc;
      if (rc == 0 && until != deadline)
        mproc__os_sleep_ms(1); /* EOF shows a moment before the exit can be reaped: no busy loop */
    } else {
      int64_t left_ms = deadline == OS_NO_DEADLINE ? backoff_ms : (deadline - now) / 1000000 + 1;
      mproc__os_sleep_ms(left_ms < backoff_ms ? left_ms : backoff_ms);
      backoff_ms = backoff_ms < 50 ? backoff_ms * 2 : 50;
    }
  }
}

int mproc_process_join(mproc_process_t *p, int64_t timeout_ms) {
  if (p == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  if (p->closed)
    return MPROC_ECLOSED;
  if (state_of(p) == ST_NEW)
    return MPROC_ESTATE;
  return poll_exit(p, mproc__os_deadline(timeout_ms));
}

int mproc_process_is_alive(mproc_process_t *p) {
  int rc = usable(p);
  if (rc != 0)
    return rc;
  if (state_of(p) != ST_STARTED)
    return 0;
  rc = poll_exit(p, 0);
  return rc == MPROC_ETIMEDOUT ? 1 : (rc == 0 ? 0 : rc);
}

int64_t mproc_process_pid(const mproc_process_t *p) { return p ? p->proc.pid : 0; }

int mproc_process_exitcode(mproc_process_t *p, int *code) {
  if (p == NULL || code == NULL)
    return MPROC_EINVAL;
  if (p->closed)
    return MPROC_ECLOSED;
  if (state_of(p) == ST_NEW)
    return MPROC_ESTATE;
  int rc = poll_exit(p, 0);
  if (rc == MPROC_ETIMEDOUT)
    return MPROC_ERUNNING;
  if (rc == 0)
    *code = p->exitcode;
  return rc;
}

const char *mproc_process_error(mproc_process_t *p) {
  if (p == NULL)
    return NULL;
  if (state_of(p) == ST_STARTED)
    poll_exit(p, 0);
  return p->errmsg;
}

int mproc_process_child_error(mproc_process_t *p) {
  if (p == NULL)
    return MPROC_EINVAL;
  if (state_of(p) == ST_STARTED)
    poll_exit(p, 0);
  return p->child_err;
}

static int send_signal(mproc_process_t *p, int hard) {
  int rc = usable(p);
  if (rc != 0)
    return rc;
  if (state_of(p) == ST_NEW)
    return MPROC_ESTATE;
  if (poll_exit(p, 0) == 0)
    return 0; /* already gone: never signal a pid that may have been reused */
  /* Under the lock, so no other thread's collect() reaps it between the look and the signal
   * (a reaped pid is free for reuse). */
  mproc__os_global_lock();
  rc = p->state == ST_DONE ? 0 : mproc__os_proc_signal(&p->proc, hard);
  mproc__os_global_unlock();
  return rc;
}

int mproc_process_terminate(mproc_process_t *p) { return send_signal(p, 0); }
int mproc_process_kill(mproc_process_t *p) { return send_signal(p, 1); }

int mproc_process_stop(mproc_process_t *p, int64_t grace_ms) {
  if (p == NULL || grace_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  if (p->closed)
    return MPROC_ECLOSED;
  int rc = send_signal(p, 0);
  if (rc == 0 && poll_exit(p, mproc__os_deadline(grace_ms)) == MPROC_ETIMEDOUT)
    rc = send_signal(p, 1);
  /* After SIGKILL (or TerminateProcess) the exit is the kernel's business and does not wait
   * for the process's cooperation. */
  if (rc == 0)
    rc = poll_exit(p, OS_NO_DEADLINE);
  return rc;
}

static os_handle sentinel_of(const mproc_process_t *p) {
  if (p->fs_status != OS_INVALID)
    return p->fs_status;
  return p->proc.handle != OS_INVALID ? p->proc.handle : p->chan;
}

int mproc__process_wait_handle(mproc_process_t *p, os_handle *h) {
  int rc = usable(p);
  if (rc != 0)
    return rc;
  if (state_of(p) == ST_NEW)
    return MPROC_ESTATE;
  if (state_of(p) == ST_DONE)
    return 1;
  *h = sentinel_of(p);
  return 0;
}

int mproc_process_sentinel(const mproc_process_t *p, intptr_t *out) {
  if (p == NULL || out == NULL)
    return MPROC_EINVAL;
  if (p->closed)
    return MPROC_ECLOSED;
  if (state_of(p) == ST_NEW)
    return MPROC_ESTATE;
  *out = (intptr_t)sentinel_of(p);
  return 0;
}

/* --- close / free / detached ------------------------------------------------------------------ *
 * A process is referenced by the caller's handle, by the global list while started, and by
 * every snapshot of the list in use; it is destroyed when the last reference goes. So two
 * threads reaping the same detached process (active_children, start) cannot both free it. */

static void release_os(mproc_process_t *p);

static void destroy(mproc_process_t *p) {
  release_os(p);
  mproc_args_free(p->args);
  mproc__free(p->self);
  mproc__free(p->name);
  mproc__free(p->errmsg);
  mproc__free(p);
}

static void unref(mproc_process_t *p) {
  mproc__os_global_lock();
  int left = --p->refs;
  mproc__os_global_unlock();
  if (left == 0)
    destroy(p);
}

/* Takes p off the global list (once), dropping the list's reference. */
static void unlink_child(mproc_process_t *p) {
  mproc__os_global_lock();
  int was = p->linked;
  for (mproc_process_t **pp = &g_children; was && *pp; pp = &(*pp)->next)
    if (*pp == p) {
      *pp = p->next;
      break;
    }
  p->linked = 0;
  mproc__os_global_unlock();
  if (was)
    unref(p);
}

/* The OS objects a finished (or never started) process still holds. */
static void release_os(mproc_process_t *p) {
  mproc__os_close(p->chan);
  mproc__os_close(p->fs_status);
  p->chan = p->fs_status = OS_INVALID;
  mproc__os_proc_release(&p->proc);
}

int mproc_process_close(mproc_process_t *p) {
  if (p == NULL || p->closed)
    return 0;
  if (state_of(p) != ST_NEW && poll_exit(p, 0) != 0)
    return MPROC_ESTATE;
  unlink_child(p);
  release_os(p);
  p->closed = 1;
  return 0;
}

void mproc_process_free(mproc_process_t *p) {
  if (p == NULL)
    return;
  if (!p->closed && state_of(p) != ST_NEW && poll_exit(p, 0) != 0) {
    mproc__os_global_lock();
    p->detached = 1; /* still running: reaped later, joined at exit if not a daemon */
    mproc__os_global_unlock();
  } else {
    unlink_child(p);
  }
  unref(p);
}

/* Snapshot of the list (each entry referenced) so that no lock is held while waiting on
 * children. */
static size_t snapshot(mproc_process_t ***out) {
  mproc__os_global_lock();
  size_t n = 0;
  for (mproc_process_t *c = g_children; c; c = c->next)
    n++;
  mproc_process_t **v = n ? mproc__malloc(n * sizeof *v) : NULL;
  size_t i = 0;
  for (mproc_process_t *c = g_children; v && c; c = c->next, i++) {
    v[i] = c;
    c->refs++;
  }
  mproc__os_global_unlock();
  *out = v;
  return v ? n : 0;
}

static void release_snapshot(mproc_process_t **v, size_t n) {
  for (size_t i = 0; i < n; i++)
    unref(v[i]);
  mproc__free(v);
}

static int is_detached(mproc_process_t *p) {
  mproc__os_global_lock();
  int d = p->detached;
  mproc__os_global_unlock();
  return d;
}

/* With every started child one of ours that only a wait reaps (none detached, none forked by
 * the server), the kernel names the exited ones: each is collected alone, and the others are
 * not even looked at. The list is only read: its pages are copies of the parent's in a fork
 * child, and shared with the last child in the parent, so a write there costs a page copy.
 * 1 when that is done; 0 when every child must be looked at (the host's own child is waiting to
 * be reaped, or the OS cannot tell). */
static int reap_named(void) {
  for (;;) {
    int plain = 1;
    mproc__os_global_lock();
    for (mproc_process_t *c = g_children; c && plain; c = c->next)
      plain = !c->detached && (c->state != ST_STARTED || (c->proc.is_child && !c->proc.reaped &&
                                                          c->fs_status == OS_INVALID));
    int any = g_children != NULL;
    mproc__os_global_unlock();
    if (!any)
      return 1;
    int64_t pid = plain ? mproc__os_exited_child() : -1;
    if (pid <= 0)
      return pid == 0;
    mproc_process_t *p = NULL;
    mproc__os_global_lock();
    for (mproc_process_t *c = g_children; c && !p; c = c->next)
      if (c->state == ST_STARTED && c->proc.pid == pid)
        p = c, p->refs++;
    mproc__os_global_unlock();
    if (p == NULL)
      return 0; /* not ours: the host reaps it when it will */
    int rc = collect(p);
    unref(p);
    if (rc != 0)
      return 0;
  }
}

/* Python's _cleanup: every child that has exited is reaped now, so a handle kept but never
 * joined leaves no zombie (its exit code stays readable); detached ones are forgotten. Each
 * start does this; with many children running, looking at each costs a system call apiece. */
static void reap_detached(void) {
  if (reap_named())
    return;
  mproc_process_t **v;
  size_t n = snapshot(&v);
  for (size_t i = 0; i < n; i++)
    if (collect(v[i]) == 0 && is_detached(v[i]))
      unlink_child(v[i]);
  release_snapshot(v, n);
}

void mproc__process_set_identity(const char *ident) {
  size_t n = strlen(ident);
  n = n < sizeof g_ident - 1 ? n : sizeof g_ident - 1;
  mproc__os_global_lock();
  memcpy(g_ident, ident, n); /* not snprintf: a fork child runs as little code as it can */
  g_ident[n] = '\0';
  if (g_counter != 0)
    g_counter = 0; /* this child's own children count from 1 */
  mproc__os_global_unlock();
}

void mproc__process_after_fork_child(mp_closer *cl) {
  /* The parent's children are not ours: close our copies of their handles and forget them
   * (the memory is the parent's copy-on-write image; leaking it is harmless). Only what
   * differs is written: every page written is one more copy. */
  for (mproc_process_t *c = g_children; c; c = c->next) {
    mproc__closer_add(cl, c->chan);
    mproc__closer_add(cl, c->fs_status);
    mproc__closer_add(cl, c->proc.handle);
  }
  if (g_children != NULL)
    g_children = NULL;
  if (g_atexit_done)
    g_atexit_done = 0;
}

/* Python's _exit_function: terminate daemonic children, then join every child. Runs from
 * atexit, and explicitly when a forked child exits through _exit. */
static void (*g_exit_prelude)(void);

void mproc__process_set_exit_prelude(void (*fn)(void)) {
  mproc__os_global_lock();
  g_exit_prelude = fn;
  mproc__os_global_unlock();
}

void mproc__process_exit_hook(void) {
  mproc__os_global_lock();
  void (*prelude)(void) = g_exit_prelude;
  mproc__os_global_unlock();
  if (prelude)
    prelude(); /* pools stop their workers (and stop replacing them) first */
  if (!g_atexit_done || mproc__os_getpid() != g_owner_pid)
    return;
  mproc_process_t **v;
  size_t n = snapshot(&v);
  for (size_t i = 0; i < n; i++)
    if (v[i]->daemon && state_of(v[i]) == ST_STARTED)
      send_signal(v[i], 0);
  for (size_t i = 0; i < n; i++)
    if (state_of(v[i]) == ST_STARTED)
      poll_exit(v[i], OS_NO_DEADLINE);
  release_snapshot(v, n);
}

/* --- module functions ------------------------------------------------------------------------- */

int mproc_active_children(mproc_process_t **out, size_t cap, size_t *count) {
  if ((out == NULL && cap > 0) || count == NULL)
    return MPROC_EINVAL;
  reap_detached();
  mproc_process_t **v;
  size_t n = snapshot(&v), k = 0;
  for (size_t i = 0; i < n; i++) {
    if (is_detached(v[i]) || collect(v[i]) == 0)
      continue;
    if (k < cap)
      out[k] = v[i];
    k++;
  }
  release_snapshot(v, n);
  *count = k;
  return 0;
}

int mproc_process_wait_any(mproc_process_t *const *procs, size_t n, int64_t timeout_ms,
                           size_t *index) {
  if (procs == NULL || n == 0 || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  os_handle *hs = mproc__malloc(n * sizeof *hs);
  if (hs == NULL)
    return MPROC_ENOMEM;
  int rc = 0;
  size_t ready = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    if ((rc = usable(procs[i])) != 0)
      break;
    if (state_of(procs[i]) == ST_NEW)
      rc = MPROC_ESTATE;
    else if (state_of(procs[i]) == ST_DONE)
      rc = 1, ready = i; /* already exited: no need to wait */
    else
      hs[i] = sentinel_of(procs[i]);
  }
  if (rc == 0)
    rc = mproc__os_wait_any(hs, n, mproc__os_deadline(timeout_ms), &ready);
  mproc__free(hs);
  if (rc == 1)
    rc = 0;
  if (rc == 0 && index)
    *index = ready;
  return rc;
}

int mproc_cpu_count(void) {
  int n = mproc__os_cpu_count();
  return n > 0 ? n : 1;
}

int mproc_cpu_count_usable(void) {
  int n = mproc__os_cpu_count_usable();
  return n > 0 ? n : 1;
}
