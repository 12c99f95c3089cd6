/* SPDX-License-Identifier: MIT */
/*
 * Listener / Client (Python's multiprocessing.connection): address parsing, the listening
 * endpoint, and the authkey handshake on each new connection. Sockets and named pipes live in
 * the OS layer (sock.c); the handshake in auth.c; this file ties them together.
 *
 * Handshakes run concurrently, without a thread per connection: every connection accepted is
 * put in the listener's pending set with its own deadline (MP_HANDSHAKE_MS from its arrival)
 * and a non-blocking handshake state machine (mproc__auth_server_step). mproc_listener_accept
 * waits, with one mproc__os_wait_any, on the listening endpoint and every pending connection at
 * once, advances whatever has input, and returns the first connection whose handshake completed. So
 * a silent or trickling client costs nothing but a slot: a legitimate client behind hundreds of
 * them is served as soon as its own bytes arrive. The set is capped (MP_PENDING_MAX): past it the
 * oldest pending handshake is dropped.
 *
 * Threads: the pending set and the endpoint are touched only under the listener's lock, and
 * never while waiting (the wait runs unlocked on a snapshot of the handles, so one caller's
 * long timeout never delays another's short one). A handle closed by another thread meanwhile
 * only causes a spurious wake-up; the set is looked at again under the lock.
 *
 * Time limits: accept's timeout covers waiting for a finished connection; each handshake has
 * its own limit, even under MPROC_FOREVER. The client's timeout covers connect and handshake
 * together: a Python server only starts its side when it calls accept(), which may
 * legitimately be much later than our connect.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "conn.h"
#include "internal.h"
#include "alloc.h"

#define MP_HANDSHAKE_MS 5000
/* Handshakes in progress per listener; more drop the oldest. With the endpoint that is 64
 * handles: one WaitForMultipleObjects on Windows, no helper thread per wait. */
#define MP_PENDING_MAX 63
#define MP_ADMIT_BATCH 16    /* new connections taken per pass, so steps are never starved */
#define MP_WRITE_SLICE_MS 1000 /* our handshake writes are tiny: this is never reached */
#define MP_SHARED_WAIT_MS 50 /* wait slice while other threads accept on the same listener */
#define ADDR_MAX 1024 /* longer addresses are MPROC_EINVAL: no OS takes them anyway */

typedef struct pending {
  mproc_conn_t *c;
  int64_t deadline;
  mp_auth_srv auth;
} pending;

struct mproc_listener {
  os_listener *os;
  os_addr addr;        /* addr.name points into name */
  char *name;
  char *display;       /* mproc_listener_address() */
  unsigned char *key;  /* NULL: no authentication */
  size_t keylen;
  os_mutex_mem mu;     /* guards os and pend */
  os_handle mu_h;
  int mu_ok;
  pending pend[MP_PENDING_MAX]; /* oldest first */
  size_t npend;
  int callers; /* threads inside mproc_listener_accept */
};

/* --- address parsing --------------------------------------------------------------------- */

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* "1".."65535" or "0"; nothing else (no sign, no spaces, no overflow). */
static int parse_port(const char *s, uint16_t *port) {
  unsigned long v = 0;
  if (*s == '\0' || strlen(s) > 5)
    return MPROC_EINVAL;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return MPROC_EINVAL;
    v = v * 10 + (unsigned long)(*s - '0');
  }
  if (v > 65535)
    return MPROC_EINVAL;
  *port = (uint16_t)v;
  return 0;
}

/* "host:port" or "[v6]:port" into a malloc'd host and the port. */
static int parse_tcp(const char *s, char **host, uint16_t *port) {
  const char *colon, *h = s, *hend;
  if (*s == '[') {
    hend = strchr(s, ']');
    if (hend == NULL || hend[1] != ':')
      return MPROC_EINVAL;
    h = s + 1;
    colon = hend + 1;
  } else {
    colon = strrchr(s, ':');
    if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
      return MPROC_EINVAL; /* a bare IPv6 literal is ambiguous: it must be bracketed */
    hend = colon;
  }
  if (hend == h || parse_port(colon + 1, port) != 0)
    return MPROC_EINVAL;
  if ((*host = mproc__malloc((size_t)(hend - h) + 1)) == NULL)
    return MPROC_ENOMEM;
  memcpy(*host, h, (size_t)(hend - h));
  (*host)[hend - h] = '\0';
  return 0;
}

/* Parses an address into a and a malloc'd *name that a->name points to. */
static int parse_address(const char *s, os_addr *a, char **name) {
  const char *rest;
  memset(a, 0, sizeof *a);
  *name = NULL;
  if (s == NULL || strlen(s) > ADDR_MAX)
    return MPROC_EINVAL;
  if (has_prefix(s, "unix:@")) {
    a->kind = OS_ADDR_ABSTRACT, rest = s + 6;
  } else if (has_prefix(s, "unix:")) {
    a->kind = OS_ADDR_UNIX, rest = s + 5;
  } else if (has_prefix(s, "pipe:\\\\.\\pipe\\")) {
    a->kind = OS_ADDR_PIPE, rest = s + 5;
    if (rest[9] == '\0')
      return MPROC_EINVAL; /* no pipe name after the prefix */
  } else if (has_prefix(s, "tcp:")) {
    a->kind = OS_ADDR_TCP;
    int rc = parse_tcp(s + 4, name, &a->port);
    a->name = *name;
    return rc;
  } else {
    return MPROC_EINVAL;
  }
  if (*rest == '\0')
    return MPROC_EINVAL;
  if ((*name = mproc__malloc(strlen(rest) + 1)) == NULL)
    return MPROC_ENOMEM;
  strcpy(*name, rest);
  a->name = *name;
  return 0;
}

/* The address as the caller would write it, with the real port for port 0. */
static char *format_address(const os_addr *a, uint16_t port) {
  size_t cap = strlen(a->name) + 16;
  char *s = mproc__malloc(cap);
  if (s == NULL)
    return NULL;
  switch (a->kind) {
  case OS_ADDR_UNIX: snprintf(s, cap, "unix:%s", a->name); break;
  case OS_ADDR_ABSTRACT: snprintf(s, cap, "unix:@%s", a->name); break;
  case OS_ADDR_PIPE: snprintf(s, cap, "pipe:%s", a->name); break;
  case OS_ADDR_TCP:
    snprintf(s, cap, strchr(a->name, ':') ? "tcp:[%s]:%u" : "tcp:%s:%u", a->name,
             (unsigned)port);
    break;
  }
  return s;
}

/* --- listener ------------------------------------------------------------------------------ */

/* authkey NULL means no authentication. A non-NULL key of length 0 is an empty key that is
 * still used for the handshake, as Python 3.13 does on both sides (and every Python's Client
 * does; a 3.12 Listener skipping it for b"" made its own Client hang). l->key is then a
 * 1-byte allocation with keylen 0. */
static int copy_key(const void *key, size_t keylen, unsigned char **out) {
  *out = NULL;
  if (key == NULL)
    return 0;
  if ((*out = mproc__malloc(keylen ? keylen : 1)) == NULL)
    return MPROC_ENOMEM;
  memcpy(*out, key, keylen);
  return 0;
}

int mproc_listener_new(mproc_listener_t **out, const char *address, const void *authkey,
                       size_t keylen, int backlog) {
  if (out == NULL || (authkey == NULL && keylen > 0) || backlog < 0)
    return MPROC_EINVAL;
  mproc_listener_t *l = mproc__calloc(1, sizeof *l);
  if (l == NULL)
    return MPROC_ENOMEM;
  int rc = parse_address(address, &l->addr, &l->name);
  if (rc == 0 && (rc = mproc__os_mutex_init(&l->mu, &l->mu_h)) == 0)
    l->mu_ok = 1;
  if (rc == 0)
    rc = copy_key(authkey, keylen, &l->key);
  l->keylen = l->key ? keylen : 0;
  if (rc == 0)
    rc = mproc__os_listen(&l->addr, backlog ? backlog : 1, &l->os);
  if (rc != 0)
    goto fail;
  if ((l->display = format_address(&l->addr, mproc__os_listener_port(l->os))) == NULL) {
    rc = MPROC_ENOMEM;
    goto fail;
  }
  *out = l;
  return 0;
fail:
  mproc_listener_free(l);
  return rc;
}

/* --- accepting: the pending set (all under l->mu) ------------------------------------------ */

static void drop(mproc_listener_t *l, size_t i) {
  mproc_conn_free(l->pend[i].c);
  memmove(&l->pend[i], &l->pend[i + 1], (l->npend - i - 1) * sizeof l->pend[0]);
  l->npend--;
}

static int64_t write_deadline(const pending *p) {
  int64_t w = mproc__os_deadline(MP_WRITE_SLICE_MS);
  return w < p->deadline ? w : p->deadline;
}

/* Takes the connections already queued at the endpoint. Without a key the first one is the
 * result (*out). *failed counts clients dropped. */
static int admit(mproc_listener_t *l, mproc_conn_t **out, int *failed) {
  for (int k = 0; k < MP_ADMIT_BATCH; k++) {
    os_handle h;
    mproc_conn_t *c;
    int rc = mproc__os_accept(l->os, mproc__os_deadline(0), &h);
    if (rc == MPROC_ETIMEDOUT)
      return 0;
    if (rc != 0)
      return rc;
    if ((rc = mproc__conn_wrap(h, MP_CONN_READ | MP_CONN_WRITE, &c)) != 0) {
      mproc__os_close(h);
      return rc;
    }
    if (l->key == NULL) {
      *out = c;
      return 0;
    }
    if (l->npend == MP_PENDING_MAX) { /* the oldest has had the longest chance */
      drop(l, 0);
      ++*failed;
    }
    pending *p = &l->pend[l->npend];
    p->c = c;
    p->deadline = mproc__os_deadline(MP_HANDSHAKE_MS);
    if (mproc__auth_server_start(c, &p->auth, write_deadline(p)) != 0) {
      mproc_conn_free(c);
      ++*failed;
      continue;
    }
    l->npend++;
  }
  return 0;
}

/* Advances every pending handshake with what has arrived; the first one complete is *out. */
static void advance(mproc_listener_t *l, mproc_conn_t **out, int *failed) {
  int64_t now = mproc__os_now_ns();
  for (size_t i = 0; i < l->npend && *out == NULL;) {
    pending *p = &l->pend[i];
    int rc = mproc__auth_server_step(p->c, &p->auth, l->key, l->keylen, write_deadline(p));
    if (rc == 0) {
      *out = p->c;
      p->c = NULL;
      drop(l, i);
    } else if (rc != MPROC_EAGAIN || now >= p->deadline) {
      drop(l, i); /* wrong key, garbage, hang-up, or silence past its limit */
      ++*failed;
    } else {
      i++;
    }
  }
}

/* One pass: 1 with *out, MPROC_EAUTH if clients were dropped and none finished, 0 if nothing
 * happened, or an error from the endpoint. On 0, hs[0..*nh) and *wake say what to wait for. */
static int pass(mproc_listener_t *l, mproc_conn_t **out, os_handle *hs, size_t *nh,
                int64_t *wake) {
  int failed = 0;
  int rc = admit(l, out, &failed); /* an endpoint error must not stall handshakes under way */
  if (*out == NULL)
    advance(l, out, &failed);
  if (*out != NULL)
    return 1;
  if (rc != 0)
    return rc;
  if (failed)
    return MPROC_EAUTH;
  /* Another caller may admit a connection our snapshot lacks: look again every slice. */
  if (l->callers > 1 && mproc__os_deadline(MP_SHARED_WAIT_MS) < *wake)
    *wake = mproc__os_deadline(MP_SHARED_WAIT_MS);
  hs[0] = mproc__os_listener_wait_handle(l->os);
  *nh = 1;
  for (size_t i = 0; i < l->npend; i++) {
    hs[(*nh)++] = mproc__conn_handle(l->pend[i].c);
    if (l->pend[i].deadline < *wake)
      *wake = l->pend[i].deadline;
  }
  return 0;
}

int mproc_listener_accept(mproc_listener_t *l, int64_t timeout_ms, mproc_conn_t **out) {
  if (l == NULL || out == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  if (l->os == NULL)
    return MPROC_ECLOSED;
  int64_t deadline = mproc__os_deadline(timeout_ms);
  os_handle hs[1 + MP_PENDING_MAX];
  int rc;
  mproc__os_mutex_lock(&l->mu, l->mu_h, OS_NO_DEADLINE);
  l->callers++;
  for (;;) { /* the lock is held at the top of the loop, never across the wait */
    mproc_conn_t *c = NULL;
    size_t nh = 0, idx;
    int64_t wake = deadline;
    rc = pass(l, &c, hs, &nh, &wake);
    if (rc == 1) {
      *out = c;
      rc = 0;
      break;
    }
    if (rc != 0) /* MPROC_EAUTH: a client failed; the listener carries on */
      break;
    if (deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline) {
      rc = MPROC_ETIMEDOUT;
      break;
    }
    mproc__os_mutex_unlock(&l->mu, l->mu_h);
    rc = mproc__os_wait_any(hs, nh, wake, &idx);
    if (rc != 0 && rc != MPROC_ETIMEDOUT)
      mproc__os_sleep_ms(1); /* a handle another thread just closed: look again, never spin */
    mproc__os_mutex_lock(&l->mu, l->mu_h, OS_NO_DEADLINE);
  }
  l->callers--;
  mproc__os_mutex_unlock(&l->mu, l->mu_h);
  return rc;
}

const char *mproc_listener_address(const mproc_listener_t *l) { return l ? l->display : NULL; }

int mproc_listener_close(mproc_listener_t *l) {
  if (l == NULL || l->os == NULL)
    return 0;
  for (size_t i = 0; i < l->npend; i++)
    mproc_conn_free(l->pend[i].c);
  l->npend = 0;
  mproc__os_listener_close(l->os);
  l->os = NULL; /* accept says MPROC_ECLOSED from now on */
  return 0;
}

void mproc_listener_free(mproc_listener_t *l) {
  if (l == NULL)
    return;
  mproc_listener_close(l);
  if (l->mu_ok)
    mproc__os_close(l->mu_h); /* POSIX: OS_INVALID, nothing to release */
  if (l->key) {
    volatile unsigned char *k = l->key; /* a plain memset before free may be optimised away */
    for (size_t i = 0; i < l->keylen; i++)
      k[i] = 0;
    mproc__free(l->key);
  }
  mproc__free(l->name);
  mproc__free(l->display);
  mproc__free(l);
}

/* --- client --------------------------------------------------------------------------------- */

int mproc_client(const char *address, const void *authkey, size_t keylen, int64_t timeout_ms,
                 mproc_conn_t **out) {
  os_addr a;
  char *name = NULL;
  os_handle h = OS_INVALID;
  mproc_conn_t *c = NULL;
  if (out == NULL || (authkey == NULL && keylen > 0) || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  int64_t deadline = mproc__os_deadline(timeout_ms);
  int rc = parse_address(address, &a, &name);
  if (rc == 0)
    rc = mproc__os_connect(&a, deadline, &h);
  if (rc != 0)
    goto fail;
  if ((rc = mproc__conn_wrap(h, MP_CONN_READ | MP_CONN_WRITE, &c)) != 0)
    goto fail;
  h = OS_INVALID; /* owned by c now */
  if (authkey && (rc = mproc__auth_client(c, authkey, keylen, deadline)) != 0)
    goto fail;
  mproc__free(name);
  *out = c;
  return 0;
fail:
  mproc_conn_free(c);
  mproc__os_close(h);
  mproc__free(name);
  return rc;
}
