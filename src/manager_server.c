/* SPDX-License-Identifier: MIT */
/* The manager server's threads: one accepting thread and one thread per connection (at most
 * max_connections; later clients wait in the backlog), as Python's Server. A connection's
 * first request decides its life: accept_connection keeps it for object calls, any other
 * server function is answered and the connection closed. Every request is decoded by the
 * data-only pickle decoder with the server's limits; a request that does not decode is
 * answered with a one-line '#TRACEBACK' and the connection keeps being served. Threads look at
 * the stop flag between requests (at most 100 ms apart) and waiting methods are woken at once. */
#include <stdio.h>
#include <string.h>

#include "manager_server.h"
#include "alloc.h"
#include "atomics.h"
#include "conn.h"
#include "pickle.h"

#define MGR_POLL_MS 100
#define MGR_BACKLOG 128

struct mgr_conn {
  mgr_srv *s;
  mproc_conn_t *c;
  os_thread *th;
  int64_t pid; /* the client process, 0 when unknown (TCP) */
  int done;    /* under s->lock */
  mgr_conn *next;
};

int mproc__mgr_srv_stopping(mgr_srv *s) {
  return MPROC__ATOMIC_LOAD(&s->stopping, MPROC__ATOMIC_ACQUIRE);
}

void mproc__mgr_srv_stop(mgr_srv *s) {
  mproc__os_tlock_acquire(s->gil);
  MPROC__ATOMIC_STORE(&s->stopping, 1, MPROC__ATOMIC_RELEASE);
  mproc__os_tcond_broadcast(s->gil_cv);
  mproc__os_tlock_release(s->gil);
  mproc__os_tlock_acquire(s->lock);
  mproc__os_tcond_broadcast(s->state_cv);
  mproc__os_tlock_release(s->lock);
}

/* --- one connection ------------------------------------------------------------------------ */

/* Answers one request frame; 1 when it was accept_connection. */
static int serve_frame(mgr_srv *s, mgr_conn *k, const void *buf, size_t n, int *sent) {
  mproc_conn_t *c = k->c;
  mproc_args_t *req = NULL, *reply = NULL;
  int accepted = 0;
  mp_pickle_limits lim = {s->max_message, 0, 0};
  mp_buf b;
  mproc__buf_init(&b);
  *sent = -1;
  if (mproc_args_new(&req) != 0 || mproc_args_new(&reply) != 0)
    goto out;
  int rc = n > 0 && *(const char *)buf == '<' ? MPROC_EPROTO
                                                : mproc__pickle_decode(buf, n, &lim, req);
  if (rc != 0) {
    const char *m = mproc_last_error_message();
    mproc__mgr_reply_text(reply, MP_MGR_TRACEBACK, "mproc: request refused: %s",
                          m && *m && n > 0 && *(const char *)buf != '<'
                              ? m : "not a pickle (xmlrpclib serializer?)");
  } else {
    mproc__mgr_handle(s, req, reply, &accepted, k->pid);
  }
  if (mproc_args_count(reply) == 0)
    mproc__mgr_reply_text(reply, MP_MGR_TRACEBACK, "MemoryError: out of memory");
  if (mproc__mgr_encode_reply(reply, &b) == 0)
    *sent = mproc_conn_send_bytes(c, b.data, b.len, 0, b.len);
out:
  mproc__buf_free(&b);
  mproc_args_free(reply);
  mproc_args_free(req);
  return accepted;
}

static void conn_main(void *arg) {
  mgr_conn *k = arg;
  mgr_srv *s = k->s;
  int kept = 0;
  for (;;) {
    void *buf = NULL;
    size_t n = 0;
    int rc = mproc_conn_recv_bytes(k->c, s->max_message, MGR_POLL_MS, &buf, &n);
    if (rc == MPROC_ETIMEDOUT && !mproc__mgr_srv_stopping(s))
      continue;
    if (rc != 0)
      break;
    int sent;
    kept |= serve_frame(s, k, buf, n, &sent);
    mproc_free(buf);
    if (sent != 0 || !kept || mproc__mgr_srv_stopping(s))
      break;
  }
  mproc_conn_close(k->c);
  mproc__os_tlock_acquire(s->lock);
  k->done = 1;
  s->nconns_live--;
  mproc__os_tcond_broadcast(s->state_cv);
  mproc__os_tlock_release(s->lock);
}

/* --- accepting ----------------------------------------------------------------------------- */

/* Joins finished connection threads (their join is immediate). */
static void reap(mgr_srv *s, int all) {
  for (;;) {
    mgr_conn *k = NULL;
    mproc__os_tlock_acquire(s->lock);
    for (mgr_conn **pp = &s->conns; *pp; pp = &(*pp)->next)
      if ((*pp)->done || all) {
        k = *pp;
        *pp = k->next;
        break;
      }
    mproc__os_tlock_release(s->lock);
    if (k == NULL)
      return;
    mproc__os_thread_join(k->th);
    mproc_conn_free(k->c);
    mproc__free(k);
  }
}

static void start_conn(mgr_srv *s, mproc_conn_t *c) {
  mgr_conn *k = mproc__calloc(1, sizeof *k);
  if (k == NULL) {
    mproc_conn_free(c);
    return;
  }
  k->s = s;
  k->c = c;
  if (mproc__os_chan_peer_pid(mproc__conn_handle(c), &k->pid) != 0)
    k->pid = 0;
  mproc__os_tlock_acquire(s->lock);
  s->nconns_live++;
  int rc = mproc__os_thread_start(conn_main, k, &k->th);
  if (rc == 0) {
    k->next = s->conns;
    s->conns = k;
  } else {
    s->nconns_live--;
  }
  mproc__os_tlock_release(s->lock);
  if (rc != 0) {
    mproc_conn_free(c);
    mproc__free(k);
  }
}

/* Waits while max_connections are served; 0 when stopping. */
static int room(mgr_srv *s) {
  mproc__os_tlock_acquire(s->lock);
  while (s->nconns_live >= s->max_connections && !mproc__mgr_srv_stopping(s))
    mproc__os_tcond_wait(s->state_cv, s->lock, mproc__os_deadline(MGR_POLL_MS));
  mproc__os_tlock_release(s->lock);
  return !mproc__mgr_srv_stopping(s);
}

static void accept_main(void *arg) {
  mgr_srv *s = arg;
  while (room(s)) {
    reap(s, 0);
    mproc__mgr_reap_peers(s);
    mproc_conn_t *c = NULL;
    int rc = mproc_listener_accept(s->listener, MGR_POLL_MS, &c);
    if (rc == 0) {
      /* Requests are awaited in recv itself, half a poll at a time (so the stop flag is still
       * seen within MGR_POLL_MS); ENOTSUP (Windows) waits in one call anyway. */
      (void)mproc__conn_read_slice(c, MGR_POLL_MS / 2);
      start_conn(s, c);
    }
    else if (rc != MPROC_ETIMEDOUT && rc != MPROC_EAUTH)
      mproc__os_sleep_ms(10); /* out of handles or memory: let connections end */
  }
  mproc_listener_close(s->listener);
}

/* --- life ---------------------------------------------------------------------------------- */

/* A private address when none is given: a unix socket in the temporary directory, or a named
 * pipe on Windows; both with a random name. */
static char *default_address(void) {
  unsigned char r[8];
  char hex[17], buf[200];
  if (mproc__os_random(r, sizeof r) != 0)
    return NULL;
  for (int i = 0; i < 8; i++)
    snprintf(hex + 2 * i, 3, "%02x", r[i]);
#ifdef _WIN32
  snprintf(buf, sizeof buf, "pipe:\\\\.\\pipe\\mproc-mgr-%lld-%s", (long long)mproc__os_getpid(),
           hex);
#elif defined(__linux__)
  /* The abstract namespace: no file to leave behind when the server is killed (the key,
   * not the file's mode, keeps other users out). */
  snprintf(buf, sizeof buf, "unix:@mproc-mgr-%lld-%s", (long long)mproc__os_getpid(), hex);
#else
  char dir[120];
  if (mproc__os_getenv("TMPDIR", dir, sizeof dir) != 0 || dir[0] != '/' || strlen(dir) > 60)
    snprintf(dir, sizeof dir, "/tmp");
  snprintf(buf, sizeof buf, "unix:%s/mproc-mgr-%lld-%s", dir, (long long)mproc__os_getpid(), hex);
#endif
  return mproc__strdup(buf);
}

/* "tcp::port" (no host) binds loopback, as the server's default; an explicit host is kept. */
static char *bind_address(const char *a) {
  if (a == NULL)
    return default_address();
  if (strncmp(a, "tcp::", 5) == 0) {
    char buf[300];
    snprintf(buf, sizeof buf, "tcp:127.0.0.1:%s", a + 5);
    return mproc__strdup(buf);
  }
  return mproc__strdup(a);
}

static int set_key(mgr_srv *s, const mproc_manager_options *o, const char *address) {
  int tcp = address != NULL && strncmp(address, "tcp:", 4) == 0;
  if (o->authkey == NULL || o->keylen == 0) {
    if (tcp) {
      mproc__set_error_message("manager: a TCP server needs an explicit authkey");
      return MPROC_EINVAL;
    }
    s->keylen = 32;
    return mproc__os_random(s->key, 32);
  }
  if (o->keylen > sizeof s->key)
    return MPROC_EINVAL;
  memcpy(s->key, o->authkey, o->keylen);
  s->keylen = o->keylen;
  return 0;
}

int mproc__mgr_srv_new(const mproc_manager_options *o, mgr_srv **out) {
  mproc_manager_options def;
  memset(&def, 0, sizeof def);
  if (o == NULL)
    o = &def;
  mgr_srv *s = mproc__calloc(1, sizeof *s);
  if (s == NULL)
    return MPROC_ENOMEM;
  s->max_message = o->max_message ? o->max_message : (size_t)64 << 20;
  s->max_objects = o->max_objects ? o->max_objects : (size_t)1 << 20;
  s->shm = o->shared_memory != 0;
  s->max_connections = o->max_connections ? o->max_connections : 256;
  s->stopped = 1; /* until it runs */
  uint32_t r = 0;
  mproc__os_random(&r, sizeof r);
  s->next_id = ((uint64_t)(r | 1) << 16) + 1; /* ids of two servers rarely meet */
  int rc = set_key(s, o, o->address);
  if (rc == 0 && (s->address = bind_address(o->address)) == NULL)
    rc = MPROC_ENOMEM;
  if (rc == 0 && (rc = mproc__os_tlock_new(&s->lock)) == 0 &&
      (rc = mproc__os_tcond_new(&s->state_cv)) == 0 && (rc = mproc__os_tlock_new(&s->gil)) == 0 &&
      (rc = mproc__os_tcond_new(&s->gil_cv)) == 0)
    rc = mproc__mgr_register_builtins(s);
  if (rc != 0) {
    mproc__mgr_srv_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

int mproc__mgr_srv_run(mgr_srv *s) {
  int rc = mproc_listener_new(&s->listener, s->address, s->key, s->keylen, MGR_BACKLOG);
  if (rc != 0)
    return rc;
  char *real = mproc__strdup(mproc_listener_address(s->listener));
  if (real == NULL) {
    mproc_listener_free(s->listener);
    s->listener = NULL;
    return MPROC_ENOMEM;
  }
  mproc__free(s->address);
  s->address = real;
  rc = mproc__os_thread_start(accept_main, s, &s->acceptor);
  if (rc == 0)
    s->stopped = 0;
  if (rc != 0) {
    mproc_listener_free(s->listener);
    s->listener = NULL;
  }
  return rc;
}

int mproc__mgr_srv_wait(mgr_srv *s, int64_t deadline, int stop_first) {
  if (stop_first)
    mproc__mgr_srv_stop(s);
  int rc = 0;
  os_thread *acceptor = NULL;
  mproc__os_tlock_acquire(s->lock);
  while (!s->stopped) {
    if (mproc__mgr_srv_stopping(s) && s->nconns_live == 0 && s->acceptor != NULL) {
      acceptor = s->acceptor; /* this caller joins; others wait for 'stopped' */
      s->acceptor = NULL;
      break;
    }
    if (mproc__os_tcond_wait(s->state_cv, s->lock, deadline) == MPROC_ETIMEDOUT) {
      rc = MPROC_ETIMEDOUT;
      break;
    }
  }
  mproc__os_tlock_release(s->lock);
  if (acceptor == NULL)
    return rc;
  mproc__os_thread_join(acceptor); /* it ends within one poll once stopping */
  reap(s, 1);
  mproc__os_tlock_acquire(s->lock);
  s->stopped = 1;
  mproc__os_tcond_broadcast(s->state_cv);
  mproc__os_tlock_release(s->lock);
  return 0;
}

void mproc__mgr_srv_free(mgr_srv *s) {
  if (s == NULL)
    return;
  if (s->lock != NULL)
    mproc__mgr_srv_wait(s, OS_NO_DEADLINE, 1);
  mproc__mgr_destroy_all(s);
  mproc__mgr_shm_unlink_all(s);
  mproc_listener_free(s->listener);
  mproc__os_tcond_free(s->gil_cv);
  mproc__os_tlock_free(s->gil);
  mproc__os_tcond_free(s->state_cv);
  mproc__os_tlock_free(s->lock);
  mproc__free(s->types);
  mproc__free(s->peers);
  mproc__free(s->address);
  mproc__free(s);
}
