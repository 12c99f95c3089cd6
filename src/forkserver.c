/* SPDX-License-Identifier: MIT */
/* The forkserver start method.
 *
 * The server is this program re-executed (like spawn) before main's own initialisation runs:
 * mproc_main sees the "forkserver:" token and serves here, single-threaded, forever. Each request
 * carries two handles: the child's end of its bootstrap channel and the write end of a status
 * channel. The server forks; the child runs the ordinary child path (boot.c); the server answers
 * on the status channel with the pid (and a pidfd, so the client can signal without pid-reuse
 * races), and when the child exits, with its exit status. The server is the child's parent, so
 * only it can reap; the status channel is the client's sentinel.
 *
 * The server exits when the client's control channel reaches EOF (the client exited) and, as a
 * daemon of the client process, when the client is killed (see spawn_server). Children started
 * as daemons die with the server; others outlive it, as in Python. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "alloc.h"
#include "log.h"

#define REPLY_TIMEOUT_MS 30000

static os_handle g_ctl = OS_INVALID;
static os_proc g_server = {0, OS_INVALID, 0, 0, 0, 0}; /* handle 0 would be stdin */
static int64_t g_owner;
static uint64_t g_gen; /* bumped each time a server is installed */

void mproc__forkserver_after_fork_child(mp_closer *c) {
  if (g_ctl == OS_INVALID && g_server.pid == 0 && g_server.handle == OS_INVALID)
    return; /* nothing to forget: write nothing */
  mproc__closer_add(c, g_ctl);
  mproc__closer_add(c, g_server.handle);
  g_ctl = OS_INVALID;
  memset(&g_server, 0, sizeof g_server);
  g_server.handle = OS_INVALID;
}

/* Ends a server we no longer use: its control channel is closed, so it exits on its own; a
 * SIGKILL covers a stalled one. Called without the global lock. */
static void end_server(os_handle ctl, os_proc *server) {
  mproc__os_close(ctl);
  if (server->pid) {
    mproc__os_proc_signal(server, 1);
    mproc__os_proc_wait(server, OS_NO_DEADLINE);
    mproc__os_proc_release(server);
  }
}

static int spawn_server(os_handle *ctl, os_proc *server) {
  os_handle ch[2];
  int rc = mproc__os_chan_pair(ch);
  if (rc != 0)
    return rc;
  char env[64];
  snprintf(env, sizeof env, "%s=forkserver:%lld", MP_BOOT_ENV, (long long)ch[1]);
  /* A daemon of this process: it dies with it, even SIGKILLed. The parent-death signal follows
   * the thread that created the child, so mproc__os_proc_spawn hands daemons started off the main
   * thread to the library's long-lived starter thread (docs/lifecycle.md); a server started by
   * a Pool's thread no longer dies with that pool. It also exits when its control channel
   * reaches EOF. */
  char exe[4096], *self_argv[2]; /* the program set with mproc_set_executable, as Python's */
  char *const *argv;
  int own_exe = mproc__spawn_program(exe, sizeof exe, self_argv, &argv);
  os_spawn_req req = {argv, env, &ch[1], 1, 1, own_exe ? exe : NULL};
  rc = mproc__os_proc_spawn(&req, server);
  mproc__os_close(ch[1]);
  if (rc != 0) {
    mproc__os_close(ch[0]);
    return rc;
  }
  *ctl = ch[0];
  return 0;
}

/* A private copy of the control channel and the generation of the server behind it. The
 * global lock covers only the table (g_ctl, g_server, g_gen): starting a server and talking to
 * it happen outside it, so a stalled server cannot freeze every other call that needs it. */
static int grab_server(os_handle *ctl, uint64_t *gen) {
  mproc__os_global_lock();
  int have = g_ctl != OS_INVALID && g_owner == mproc__os_getpid();
  mproc__os_global_unlock();
  if (!have) {
    os_handle fresh = OS_INVALID;
    os_proc proc = {0, OS_INVALID, 0, 0, 0, 0};
    int rc = spawn_server(&fresh, &proc);
    if (rc != 0)
      return rc;
    mproc__os_global_lock();
    int raced = g_ctl != OS_INVALID && g_owner == mproc__os_getpid();
    if (!raced) {
      g_ctl = fresh, g_server = proc, g_owner = mproc__os_getpid(), g_gen++;
      fresh = OS_INVALID, proc.pid = 0;
    }
    mproc__os_global_unlock();
    if (raced) /* another thread installed one meanwhile: ours is not needed */
      end_server(fresh, &proc);
  }
  mproc__os_global_lock();
  int rc = mproc__os_handle_dup(g_ctl, ctl);
  *gen = g_gen;
  mproc__os_global_unlock();
  return rc;
}

/* Forgets the server of generation gen (dead, or stalled past the deadline) unless a newer one
 * replaced it already; the next start gets a fresh one. */
static void drop_server(uint64_t gen) {
  os_handle ctl = OS_INVALID;
  os_proc server = {0, OS_INVALID, 0, 0, 0, 0};
  mproc__os_global_lock();
  if (gen == g_gen && g_ctl != OS_INVALID) {
    ctl = g_ctl, server = g_server;
    g_ctl = OS_INVALID;
    memset(&g_server, 0, sizeof g_server);
    g_server.handle = OS_INVALID;
  }
  mproc__os_global_unlock();
  end_server(ctl, &server);
}

/* Reads the server's FS_PID answer: 8 bytes of pid, maybe with a pidfd attached. */
static int read_pid_reply(os_handle st, int64_t *pid, os_handle *pidfd) {
  unsigned char b[8];
  size_t got = 0, nh = 0;
  int64_t deadline = mproc__os_deadline(REPLY_TIMEOUT_MS);
  int rc = mproc__os_chan_recv_handles(st, b, sizeof b, &got, pidfd, 1, &nh, deadline);
  while (rc == 0 && got < sizeof b) {
    size_t more = 0;
    rc = mproc__os_chan_read(st, b + got, sizeof b - got, &more, deadline);
    got += more;
  }
  if (nh == 0)
    *pidfd = OS_INVALID;
  if (rc != 0) {
    mproc__os_close(*pidfd);
    return rc == MPROC_EEOF ? MPROC_EPEERGONE : rc;
  }
  mp_rd r;
  mproc__rd_init(&r, b, sizeof b);
  *pid = (int64_t)mproc__get_u64(&r);
  return 0;
}

static int request_fork(os_handle ctl, int daemon, os_handle child_end, os_handle st_remote,
                        const os_handle *extra, size_t nextra) {
  unsigned char req = (unsigned char)(daemon != 0);
  os_handle hs[2 + MP_MAX_PASSED_HANDLES] = {child_end, st_remote};
  for (size_t i = 0; i < nextra && i < MP_MAX_PASSED_HANDLES; i++)
    hs[2 + i] = extra[i];
  return mproc__os_chan_send_handles(ctl, &req, 1, hs, 2 + nextra);
}

/* One request on the current server: MPROC_EPEERGONE if it is dead, MPROC_ETIMEDOUT if it did
 * not answer within the reply deadline (stopped, or wedged); either way it is dropped. */
static int ask_server(int daemon, os_handle child_end, const os_handle *extra, size_t nextra,
                      int64_t *pid, os_handle *pidfd, os_handle *status_chan) {
  os_handle st[2], ctl = OS_INVALID;
  uint64_t gen = 0;
  int rc = mproc__os_chan_pair(st);
  if (rc != 0)
    return rc;
  const char *stage = "reach";
  if ((rc = grab_server(&ctl, &gen)) == 0 &&
      (rc = request_fork(ctl, daemon, child_end, st[1], extra, nextra)) == 0)
    stage = "answer";
  mproc__os_close(ctl);
  mproc__os_close(st[1]);
  if (rc == 0)
    rc = read_pid_reply(st[0], pid, pidfd);
  if (rc == MPROC_EPEERGONE || rc == MPROC_ETIMEDOUT) {
    MPROC__WARN("forkserver (generation %llu) did not %s a fork request: %s; it is dropped",
                (unsigned long long)gen, stage, mproc_errname(rc));
    drop_server(gen);
  }
  if (rc != 0) {
    mproc__os_close(st[0]);
    return rc;
  }
  *status_chan = st[0];
  return 0;
}

int mproc__forkserver_fork(int daemon, os_handle child_end, const os_handle *extra, size_t nextra,
                       os_proc *proc, os_handle *status_chan) {
  int64_t pid = 0;
  os_handle pidfd = OS_INVALID;
  int rc = ask_server(daemon, child_end, extra, nextra, &pid, &pidfd, status_chan);
  if (rc == MPROC_EPEERGONE) /* the server died (e.g. killed): a fresh one, once */
    rc = ask_server(daemon, child_end, extra, nextra, &pid, &pidfd, status_chan);
  if (rc != 0)
    return rc;
  mproc__os_proc_attach(proc, pid, pidfd);
  return 0;
}

int mproc__forkserver_status(os_handle st, int64_t deadline, int *status) {
  mp_buf rec;
  mproc__buf_init(&rec);
  uint32_t type = 0;
  unsigned char head[16]; /* the whole FS_STATUS record: one read, as nothing else comes */
  size_t got = 0;
  int rc = mproc__os_chan_read(st, head, sizeof head, &got, deadline);
  if (rc == 0)
    rc = mproc__rec_recv_rest(st, head, got, &type, &rec, 64, deadline);
  *status = MPROC_EXIT_UNKNOWN;
  if (rc == 0 && type == MP_REC_FS_STATUS && rec.len == 4) {
    mp_rd r;
    mproc__rd_init(&r, rec.data, rec.len);
    *status = (int)mproc__get_u32(&r);
  } else if (rc == MPROC_EEOF || rc == MPROC_EPEERGONE || rc == 0) {
    rc = 0; /* the server went away: the child's fate is unknown */
  }
  mproc__buf_free(&rec);
  return rc;
}

/* ------------------------------------------------------------------------------------------- *
 * Server side.
 * ------------------------------------------------------------------------------------------- */

typedef struct fs_child {
  os_proc proc;
  os_handle status;
} fs_child;

typedef struct fs_table {
  fs_child *v;
  size_t n, cap;
} fs_table;

static void serve_exit(int code) { mproc__os_exit_now(code); }

static void report_and_remove(fs_table *t, size_t i) {
  unsigned char b[4];
  uint32_t s = (uint32_t)t->v[i].proc.status;
  for (int k = 0; k < 4; k++)
    b[k] = (unsigned char)(s >> (8 * k));
  mproc__rec_send(t->v[i].status, MP_REC_FS_STATUS, b, 4, mproc__os_deadline(1000));
  mproc__os_close(t->v[i].status);
  mproc__os_proc_release(&t->v[i].proc);
  t->v[i] = t->v[--t->n];
}

/* Returns how many it reaped. */
static size_t reap_some(fs_table *t) {
  size_t reaped = 0;
  for (size_t i = 0; i < t->n;)
    if (mproc__os_proc_wait(&t->v[i].proc, 0) == 0)
      report_and_remove(t, i), reaped++;
    else
      i++;
  return reaped;
}

static void close_all(const os_handle *hs, size_t n) {
  for (size_t i = 0; i < n; i++)
    mproc__os_close(hs[i]);
}

typedef struct fs_fork {
  os_handle ctl;
  fs_table *t;
  const os_handle *hs;
  size_t nh;
} fs_fork;

static void run_server_child(void *arg) {
  fs_fork *f = arg;
  mp_closer c;
  c.n = 0;
  mproc__closer_add(&c, f->ctl);
  mproc__closer_add(&c, f->hs[1]);
  for (size_t i = 0; i < f->t->n; i++) { /* the server's other children */
    mproc__closer_add(&c, f->t->v[i].status);
    mproc__closer_add(&c, f->t->v[i].proc.handle);
  }
  mproc__closer_flush(&c);
  /* The connections arrived renumbered: the child maps them by position. */
  mp_child_start cs = {f->hs[0], MPROC_START_FORKSERVER, f->hs + 2, f->nh - 2, NULL, NULL, 0,
                       OS_INVALID};
  mproc__child_main(&cs); /* no return */
}

/* hs: the child's channel, its status channel, then the connections it was passed. */
static void fork_one(os_handle ctl, fs_table *t, int daemon, const os_handle *hs, size_t nh) {
  os_handle child_end = hs[0], st = hs[1];
  if (t->n == t->cap) {
    size_t cap = t->cap ? t->cap * 2 : 16;
    fs_child *v = mproc__realloc(t->v, cap * sizeof *v);
    if (v == NULL) {
      close_all(hs, nh); /* the client sees EOF: MPROC_EPEERGONE */
      return;
    }
    t->v = v, t->cap = cap;
  }
  os_proc proc;
  fs_fork f = {ctl, t, hs, nh};
  if (mproc__os_proc_fork(daemon, &proc, run_server_child, &f) != 0) {
    close_all(hs, nh);
    return;
  }
  close_all(hs + 2, nh - 2);
  mproc__os_close(child_end);
  unsigned char b[8];
  for (int k = 0; k < 8; k++)
    b[k] = (unsigned char)((uint64_t)proc.pid >> (8 * k));
  /* Only a pidfd travels: an exit pipe (kernels without pidfd) is the server's own business. */
  int send_pidfd = proc.handle != OS_INVALID && !proc.exit_pipe;
  mproc__os_chan_send_handles(st, b, 8, &proc.handle, send_pidfd ? 1 : 0);
  t->v[t->n++] = (fs_child){proc, st};
}

static void handle_request(os_handle ctl, fs_table *t) {
  unsigned char req = 0;
  os_handle hs[2 + MP_MAX_PASSED_HANDLES];
  size_t got = 0, nh = 0;
  int rc = mproc__os_chan_recv_handles(ctl, &req, 1, &got, hs, 2 + MP_MAX_PASSED_HANDLES, &nh, 0);
  if (rc == MPROC_ETIMEDOUT)
    return;
  if (rc != 0)
    serve_exit(0); /* the client is gone */
  if (nh < 2) {
    close_all(hs, nh);
    return;
  }
  fork_one(ctl, t, req != 0, hs, nh);
}

void mproc__forkserver_serve(os_handle ctl) {
  fs_table t = {0};
  os_handle *hs = NULL;
  for (;;) {
    os_handle *nhs = mproc__realloc(hs, (t.n + 1) * sizeof *hs);
    if (nhs == NULL)
      serve_exit(1);
    hs = nhs;
    hs[0] = ctl;
    int blind = 0; /* a child without a pidfd can only be polled: its exit pipe (if any) may
                      be held open by a grandchild after it exited */
    for (size_t i = 0; i < t.n; i++) {
      hs[i + 1] = t.v[i].proc.handle;
      blind |= hs[i + 1] == OS_INVALID || t.v[i].proc.exit_pipe;
    }
    size_t ready = 0;
    int rc =
        mproc__os_wait_any(hs, t.n + 1, blind ? mproc__os_deadline(50) : OS_NO_DEADLINE, &ready);
    if (rc == 0 && ready == 0)
      handle_request(ctl, &t);
    /* An exit pipe reaches EOF a moment before its child can be reaped, and the dying child
     * may need this very CPU to get there (a low-priority child pinned beside us): never spin
     * on it. */
    if (reap_some(&t) == 0 && rc == 0 && ready > 0)
      mproc__os_sleep_ms(1);
  }
}
