/* SPDX-License-Identifier: MIT */
/* Connections: Python's Pipe()/Connection over an OS channel.
 *
 * Framing is Python's (multiprocessing/connection.py): a 4-byte big-endian signed length, or
 * -1 followed by an 8-byte length for messages longer than 0x7fffffff. Received bytes go
 * through a buffer owned by the connection; a message is consumed only once it has been handed
 * over whole, so a timeout or a too-small user buffer never loses or splits a message. Large
 * bodies are read straight into their destination; if the deadline passes half way, what was
 * read is put back into the buffer. */
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "alloc.h"

#define RBUF_MIN (64 * 1024)
#define SMALL_SEND (16 * 1024)

struct mproc_conn {
  os_handle h;
  int flags;
  int list_owned; /* an argument list owns it: close shuts the channel, the list frees it */
  int slice_ms;   /* > 0: reads block in the kernel a slice at a time (mproc__conn_read_slice) */
  unsigned char *rbuf;
  size_t rpos, rlen, rcap; /* unconsumed bytes are rbuf[rpos, rlen) */
  struct mproc_conn *prev, *next; /* registry of live connections */
};

/* Every live connection, so a fork child can close the ones it was not given: otherwise a child
 * holding a copy of the parent's end keeps the peer from ever seeing EOF, and code that works
 * under spawn hangs under fork. */
static mproc_conn_t *g_conns;

static void registry_add(mproc_conn_t *c) {
  mproc__os_global_lock();
  c->next = g_conns;
  if (g_conns)
    g_conns->prev = c;
  g_conns = c;
  mproc__os_global_unlock();
}

static void registry_remove(mproc_conn_t *c) {
  mproc__os_global_lock();
  if (c->prev)
    c->prev->next = c->next;
  else if (g_conns == c)
    g_conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  mproc__os_global_unlock();
}

void *mproc__conn_detach_all(void) {
  mproc_conn_t *all = g_conns; /* fork child: single-threaded, no lock needed */
  g_conns = NULL;
  return all;
}

void mproc__conn_close_detached(void *list, const os_handle *keep, size_t nkeep) {
  for (mproc_conn_t *c = list; c; c = c->next) {
    int kept = 0;
    for (size_t i = 0; i < nkeep && !kept; i++)
      kept = keep[i] == c->h;
    if (!kept)
      mproc__os_close(c->h);
    c->h = OS_INVALID; /* the parent's copy: using it here reports MPROC_ECLOSED */
  }
}

size_t mproc__frame_header(uint64_t n, unsigned char hdr[12]) {
  if (n <= 0x7fffffff) {
    for (int i = 0; i < 4; i++)
      hdr[i] = (unsigned char)(n >> (24 - 8 * i));
    return 4;
  }
  memset(hdr, 0xff, 4);
  for (int i = 0; i < 8; i++)
    hdr[4 + i] = (unsigned char)(n >> (56 - 8 * i));
  return 12;
}

int mproc__frame_parse(const unsigned char *p, size_t avail, uint64_t *n, size_t *hdr_len) {
  if (avail < 4)
    return MPROC_EAGAIN;
  uint32_t v = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
  if (v <= 0x7fffffff) {
    *n = v;
    *hdr_len = 4;
    return 0;
  }
  if (v != 0xffffffff) /* a negative length other than -1 */
    return MPROC_EPROTO;
  if (avail < 12)
    return MPROC_EAGAIN;
  uint64_t len = 0;
  for (int i = 0; i < 8; i++)
    len = len << 8 | p[4 + i];
  if (len > MPROC_MSG_MAX)
    return MPROC_EPROTO;
  *n = len;
  *hdr_len = 12;
  return 0;
}

int mproc__conn_wrap(os_handle h, int flags, mproc_conn_t **out) {
  mproc_conn_t *c = mproc__calloc(1, sizeof *c);
  if (c == NULL)
    return MPROC_ENOMEM;
  c->h = h;
  c->flags = flags;
  registry_add(c);
  *out = c;
  return 0;
}

os_handle mproc__conn_handle(const mproc_conn_t *c) { return c ? c->h : OS_INVALID; }
int mproc__conn_flags(const mproc_conn_t *c) { return c ? c->flags : 0; }
intptr_t mproc_conn_fileno(const mproc_conn_t *c) { return c ? (intptr_t)c->h : -1; }
int mproc_conn_readable(const mproc_conn_t *c) { return c && (c->flags & MP_CONN_READ) != 0; }
int mproc_conn_writable(const mproc_conn_t *c) { return c && (c->flags & MP_CONN_WRITE) != 0; }
void mproc_free(void *p) { mproc__free(p); }

int mproc_pipe(int duplex, mproc_conn_t **conn1, mproc_conn_t **conn2) {
  if (conn1 == NULL || conn2 == NULL)
    return MPROC_EINVAL;
  *conn1 = *conn2 = NULL;
  os_handle h[2];
  int rc = mproc__os_chan_pair(h);
  if (rc != 0)
    return rc;
  int f1 = duplex ? MP_CONN_READ | MP_CONN_WRITE : MP_CONN_READ;
  int f2 = duplex ? MP_CONN_READ | MP_CONN_WRITE : MP_CONN_WRITE;
  if ((rc = mproc__conn_wrap(h[0], f1, conn1)) == 0 &&
      (rc = mproc__conn_wrap(h[1], f2, conn2)) != 0) {
    mproc_conn_free(*conn1);
    *conn1 = NULL;
    h[0] = OS_INVALID;
  }
  if (rc != 0) {
    mproc__os_close(h[0]);
    mproc__os_close(h[1]);
  }
  return rc;
}

/* Shuts the channel and drops buffered bytes; the struct stays valid (MPROC_ECLOSED from now
 * on). Idempotent. */
static void shut(mproc_conn_t *c) {
  mproc__os_close(c->h);
  c->h = OS_INVALID;
  mproc__free(c->rbuf);
  c->rbuf = NULL;
  c->rpos = c->rlen = c->rcap = 0;
}

void mproc__conn_set_list_owned(mproc_conn_t *c) { c->list_owned = 1; }

void mproc__conn_release(mproc_conn_t *c) {
  if (c == NULL)
    return;
  registry_remove(c);
  shut(c);
  mproc__free(c);
}

int mproc_conn_close(mproc_conn_t *c) {
  if (c != NULL)
    shut(c);
  return 0;
}

void mproc_conn_free(mproc_conn_t *c) {
  if (c == NULL)
    return;
  if (c->list_owned) /* the child's argument: the list frees it after the target returns */
    shut(c);
  else
    mproc__conn_release(c);
}

static int check(const mproc_conn_t *c, int dir) {
  if (c == NULL)
    return MPROC_EINVAL;
  if (c->h == OS_INVALID)
    return MPROC_ECLOSED;
  return (c->flags & dir) ? 0 : MPROC_EDIRECTION;
}

/* --- sending ---------------------------------------------------------------------------------- */

int mproc__conn_send_msg(mproc_conn_t *c, const void *buf, size_t n, int64_t deadline) {
  unsigned char hdr[12];
  size_t hl = mproc__frame_header(n, hdr);
  if (n <= SMALL_SEND) { /* one write: one wake-up of the reader, not two */
    unsigned char small[SMALL_SEND + 12];
    memcpy(small, hdr, hl);
    if (n)
      memcpy(small + hl, buf, n);
    return mproc__os_chan_write(c->h, small, hl + n, deadline);
  }
  int rc = mproc__os_chan_write(c->h, hdr, hl, deadline);
  return rc ? rc : mproc__os_chan_write(c->h, buf, n, deadline);
}

int mproc_conn_send_bytes(mproc_conn_t *c, const void *buf, size_t buflen, size_t offset,
                          size_t size) {
  int rc = check(c, MP_CONN_WRITE);
  if (rc != 0)
    return rc;
  if (buf == NULL && buflen > 0)
    return MPROC_EINVAL;
  if (offset > buflen) /* Python: "buffer length < offset" */
    return MPROC_ERANGE;
  if (size == MPROC_SIZE_REST)
    size = buflen - offset;
  if (size > buflen - offset) /* "buffer length < offset + size" */
    return MPROC_ERANGE;
  if ((uint64_t)size > MPROC_MSG_MAX)
    return MPROC_EMSGSIZE;
  return mproc__conn_send_msg(c, (const char *)buf + offset, size, OS_NO_DEADLINE);
}

/* --- receiving -------------------------------------------------------------------------------- */

static int rbuf_reserve(mproc_conn_t *c, size_t extra) {
  if (c->rpos == c->rlen)
    c->rpos = c->rlen = 0;
  if (c->rcap - c->rlen >= extra)
    return 0;
  if (c->rpos > 0) { /* slide the unconsumed bytes to the front first */
    memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
    c->rlen -= c->rpos;
    c->rpos = 0;
    if (c->rcap - c->rlen >= extra)
      return 0;
  }
  size_t cap = c->rcap ? c->rcap : RBUF_MIN;
  while (cap - c->rlen < extra) {
    if (cap > SIZE_MAX / 2)
      return MPROC_ENOMEM;
    cap *= 2;
  }
  unsigned char *b = mproc__realloc(c->rbuf, cap);
  if (b == NULL)
    return MPROC_ENOMEM;
  c->rbuf = b;
  c->rcap = cap;
  return 0;
}

/* Drops the connection, as Python does after a message it refuses. */
static void poison(mproc_conn_t *c) {
  mproc__os_close(c->h);
  c->h = OS_INVALID;
  c->rpos = c->rlen = 0;
}

/* Python's _bad_message_length: the rest of the stream cannot be trusted for reading, so a
 * duplex connection stops reading but stays open for sending; a receive-only one is closed.
 * Either way readable()/writable() say what the connection still does. */
static void bad_length(mproc_conn_t *c) {
  if (c->flags & MP_CONN_WRITE) {
    c->flags &= ~MP_CONN_READ;
    c->rpos = c->rlen = 0;
  } else {
    poison(c);
  }
}

/* One read from the channel: through the kernel's own timeout when the connection has one. */
static int chan_read(mproc_conn_t *c, void *buf, size_t n, size_t *got, int64_t deadline) {
  if (c->slice_ms > 0)
    return mproc__os_chan_read_sliced(c->h, buf, n, got, deadline, c->slice_ms);
  return mproc__os_chan_read(c->h, buf, n, got, deadline);
}

int mproc__conn_read_slice(mproc_conn_t *c, int ms) {
  int rc = mproc__os_chan_set_read_slice(c->h, ms);
  if (rc == 0)
    c->slice_ms = ms;
  return rc;
}

/* Reads at least one more byte into the buffer. */
static int fill(mproc_conn_t *c, int64_t deadline) {
  int rc = rbuf_reserve(c, 4096);
  size_t got = 0;
  if (rc == 0)
    rc = chan_read(c, c->rbuf + c->rlen, c->rcap - c->rlen, &got, deadline);
  if (rc == 0)
    c->rlen += got;
  return rc;
}

/* Waits until the next message's header is buffered. */
static int next_header(mproc_conn_t *c, int64_t deadline, uint64_t *n, size_t *hl) {
  for (;;) {
    int rc = mproc__frame_parse(c->rbuf + c->rpos, c->rlen - c->rpos, n, hl);
    if (rc != MPROC_EAGAIN)
      return rc;
    rc = fill(c, deadline);
    if (rc == MPROC_EEOF && c->rlen > c->rpos)
      return MPROC_EPEERGONE; /* the peer closed half way through a header */
    if (rc != 0)
      return rc;
  }
}

/* Copies the body of the buffered message (header hl, body n) to dst, reading what is not yet
 * buffered straight from the channel. On failure the bytes already read are kept buffered. */
static int take_body(mproc_conn_t *c, size_t hl, size_t n, unsigned char *dst,
                     int64_t deadline) {
  size_t have = c->rlen - c->rpos - hl;
  if (have > n)
    have = n;
  memcpy(dst, c->rbuf + c->rpos + hl, have);
  size_t done = have;
  int rc = 0;
  while (rc == 0 && done < n) {
    size_t got = 0;
    rc = chan_read(c, dst + done, n - done, &got, deadline);
    done += got;
  }
  if (rc == 0) {
    c->rpos += hl + have; /* bytes read straight into dst never entered the buffer */
    return 0;
  }
  if (done > have) { /* put back what came straight from the channel */
    if (rbuf_reserve(c, done - have) != 0) {
      bad_length(c); /* the stream cannot be kept whole: never read on from mid-body */
      return MPROC_ENOMEM;
    }
    memcpy(c->rbuf + c->rlen, dst + have, done - have);
    c->rlen += done - have;
  }
  return rc == MPROC_EEOF ? MPROC_EPEERGONE : rc;
}


/* Receives a body of n bytes into a buffer that grows as bytes arrive, so a header claiming a
 * huge length costs nothing until the bytes exist. */
static int take_body_alloc(mproc_conn_t *c, size_t hl, size_t n, int64_t deadline,
                           unsigned char **out) {
  size_t have = c->rlen - c->rpos - hl;
  if (have > n)
    have = n;
  size_t cap = n < ((size_t)1 << 20) ? n : ((size_t)1 << 20);
  if (cap < have)
    cap = have;
  unsigned char *dst = mproc__malloc(cap ? cap : 1);
  if (dst == NULL)
    return MPROC_ENOMEM;
  memcpy(dst, c->rbuf + c->rpos + hl, have);
  size_t done = have;
  int rc = 0;
  while (rc == 0 && done < n) {
    if (done == cap) {
      size_t ncap = cap > n / 2 ? n : cap * 2;
      unsigned char *d = mproc__realloc(dst, ncap);
      if (d == NULL) {
        rc = MPROC_ENOMEM;
        break;
      }
      dst = d, cap = ncap;
    }
    size_t got = 0;
    rc = chan_read(c, dst + done, cap - done, &got, deadline);
    done += got;
  }
  if (rc == 0) {
    c->rpos += hl + have;
    *out = dst;
    return 0;
  }
  if (done > have && rbuf_reserve(c, done - have) == 0) { /* keep what arrived */
    memcpy(c->rbuf + c->rlen, dst + have, done - have);
    c->rlen += done - have;
  } else if (done > have) {
    bad_length(c); /* cannot keep the stream whole: stop reading, as after a refused length */
  }
  mproc__free(dst);
  return rc == MPROC_EEOF ? MPROC_EPEERGONE : rc;
}

int mproc__conn_recv_msg(mproc_conn_t *c, size_t maxlength, int64_t deadline, void **out,
                     size_t *size) {
  uint64_t n;
  size_t hl;
  int rc = next_header(c, deadline, &n, &hl);
  if (rc == MPROC_EPROTO) {
    poison(c);
    return rc;
  }
  if (rc == 0 && n > maxlength) {
    bad_length(c);
    return MPROC_EMSGSIZE;
  }
  if (rc != 0)
    return rc;
  unsigned char *dst = NULL;
  if ((rc = take_body_alloc(c, hl, (size_t)n, deadline, &dst)) != 0)
    return rc;
  *out = dst;
  *size = (size_t)n;
  return 0;
}

int mproc_conn_recv_bytes(mproc_conn_t *c, size_t maxlength, int64_t timeout_ms, void **out,
                          size_t *size) {
  int rc = check(c, MP_CONN_READ);
  if (rc != 0)
    return rc;
  if (out == NULL || size == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  return mproc__conn_recv_msg(c, maxlength, mproc__os_deadline(timeout_ms), out, size);
}

int mproc_conn_recv_bytes_into(mproc_conn_t *c, void *buf, size_t buflen, size_t offset,
                               int64_t timeout_ms, size_t *size) {
  int rc = check(c, MP_CONN_READ);
  if (rc != 0)
    return rc;
  if ((buf == NULL && buflen > 0) || size == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  if (offset > buflen)
    return MPROC_ERANGE;
  uint64_t n;
  size_t hl;
  int64_t deadline = mproc__os_deadline(timeout_ms);
  if ((rc = next_header(c, deadline, &n, &hl)) != 0) {
    if (rc == MPROC_EPROTO)
      poison(c);
    return rc;
  }
  if (n > buflen - offset) { /* report the size; the message stays for the next call */
    *size = (size_t)n;
    return MPROC_ETOOSMALL;
  }
  if ((rc = take_body(c, hl, (size_t)n, (unsigned char *)buf + offset, deadline)) == 0)
    *size = (size_t)n;
  return rc;
}

int mproc_conn_poll(mproc_conn_t *c, int64_t timeout_ms) {
  int rc = check(c, MP_CONN_READ);
  if (rc != 0)
    return rc;
  if (timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  if (c->rlen > c->rpos)
    return 1; /* buffered bytes: a message, or a message under way */
  size_t ready;
  rc = mproc__os_wait_any(&c->h, 1, mproc__os_deadline(timeout_ms), &ready);
  return rc == 0 ? 1 : rc == MPROC_ETIMEDOUT ? 0 : rc;
}

int mproc__conn_ready_now(const mproc_conn_t *c) { return c->rlen > c->rpos; }

/* --- typed values ----------------------------------------------------------------------------- */

int mproc_conn_send(mproc_conn_t *c, const mproc_args_t *values) {
  int rc = check(c, MP_CONN_WRITE);
  if (rc != 0)
    return rc;
  if (mproc__args_has_handles(values))
    return MPROC_ENOTSUP; /* handles cannot travel inside a byte stream (yet) */
  mp_buf b;
  mproc__buf_init(&b);
  mproc__args_encode(values, &b);
  rc = b.err ? b.err : mproc__conn_send_msg(c, b.data, b.len, OS_NO_DEADLINE);
  mproc__buf_free(&b);
  return rc;
}

int mproc_conn_recv(mproc_conn_t *c, int64_t timeout_ms, mproc_args_t **values) {
  if (values == NULL)
    return MPROC_EINVAL;
  void *data = NULL;
  size_t n = 0;
  int rc = mproc_conn_recv_bytes(c, MPROC_ARGS_MAX_BYTES + MP_REC_MAX_SMALL, timeout_ms, &data,
                                 &n);
  if (rc != 0)
    return rc;
  mp_rd r;
  mproc__rd_init(&r, data, n);
  rc = mproc__args_decode(&r, values, MP_ARGS_PLAIN, NULL, 0);
  mproc__free(data);
  return rc;
}
