/* SPDX-License-Identifier: MIT */
/* The wire format shared by bootstrap records and (later) connections: little-endian integers,
 * length-prefixed strings and blobs, and framed records on a channel. Readers never trust a
 * length: every overrun sets a sticky MPROC_EPROTO instead of reading past the buffer. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "alloc.h"

void mproc__buf_init(mp_buf *b) { memset(b, 0, sizeof *b); }

void mproc__buf_free(mp_buf *b) {
  mproc__free(b->data);
  mproc__buf_init(b);
}

int mproc__buf_reserve(mp_buf *b, size_t extra) {
  if (b->err)
    return b->err;
  if (extra > SIZE_MAX / 2 - b->len)
    return b->err = MPROC_EMSGSIZE;
  size_t need = b->len + extra;
  if (need <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < need)
    cap *= 2;
  unsigned char *d = mproc__realloc(b->data, cap);
  if (d == NULL)
    return b->err = MPROC_ENOMEM;
  b->data = d;
  b->cap = cap;
  return 0;
}

int mproc__buf_fit(mp_buf *b, size_t n) {
  if (b->cap >= n && b->data != NULL)
    return 0;
  unsigned char *d = mproc__realloc(b->data, n ? n : 1);
  if (d == NULL)
    return MPROC_ENOMEM;
  b->data = d;
  b->cap = n ? n : 1;
  return 0;
}

void mproc__put(mp_buf *b, const void *p, size_t n) {
  if (n == 0 || mproc__buf_reserve(b, n) != 0)
    return;
  memcpy(b->data + b->len, p, n);
  b->len += n;
}

void mproc__put_u8(mp_buf *b, uint8_t v) { mproc__put(b, &v, 1); }

void mproc__put_u32(mp_buf *b, uint32_t v) {
  unsigned char t[4];
  for (int i = 0; i < 4; i++)
    t[i] = (unsigned char)(v >> (8 * i));
  mproc__put(b, t, 4);
}

void mproc__put_u64(mp_buf *b, uint64_t v) {
  unsigned char t[8];
  for (int i = 0; i < 8; i++)
    t[i] = (unsigned char)(v >> (8 * i));
  mproc__put(b, t, 8);
}

void mproc__put_str(mp_buf *b, const char *s) {
  size_t n = s ? strlen(s) : 0;
  if (n > UINT32_MAX) {
    b->err = b->err ? b->err : MPROC_EMSGSIZE;
    return;
  }
  mproc__put_u32(b, (uint32_t)n);
  mproc__put(b, s, n);
}

void mproc__put_blob(mp_buf *b, const void *p, size_t n) {
  mproc__put_u64(b, n);
  mproc__put(b, p, n);
}

void mproc__rd_init(mp_rd *r, const void *p, size_t len) {
  r->p = p;
  r->len = len;
  r->pos = 0;
  r->err = 0;
}

static const unsigned char *take(mp_rd *r, size_t n) {
  if (r->err || n > r->len - r->pos) {
    r->err = MPROC_EPROTO;
    return NULL;
  }
  const unsigned char *q = r->p + r->pos;
  r->pos += n;
  return q;
}

uint8_t mproc__get_u8(mp_rd *r) {
  const unsigned char *q = take(r, 1);
  return q ? q[0] : 0;
}

uint32_t mproc__get_u32(mp_rd *r) {
  const unsigned char *q = take(r, 4);
  uint32_t v = 0;
  for (int i = 0; q && i < 4; i++)
    v |= (uint32_t)q[i] << (8 * i);
  return v;
}

uint64_t mproc__get_u64(mp_rd *r) {
  const unsigned char *q = take(r, 8);
  uint64_t v = 0;
  for (int i = 0; q && i < 8; i++)
    v |= (uint64_t)q[i] << (8 * i);
  return v;
}

char *mproc__get_str(mp_rd *r) {
  uint32_t n = mproc__get_u32(r);
  const unsigned char *q = take(r, n);
  if (q == NULL)
    return NULL;
  char *s = mproc__malloc((size_t)n + 1);
  if (s == NULL) {
    r->err = MPROC_ENOMEM;
    return NULL;
  }
  memcpy(s, q, n);
  s[n] = '\0';
  return s;
}

const void *mproc__get_blob(mp_rd *r, size_t *n) {
  uint64_t len = mproc__get_u64(r);
  const unsigned char *q = (len <= SIZE_MAX) ? take(r, (size_t)len) : NULL;
  if (q == NULL) {
    r->err = MPROC_EPROTO;
    *n = 0;
    return NULL;
  }
  *n = (size_t)len;
  return q;
}

/* A record small enough for the stack goes out without touching the heap: a fork child's
 * EXIT record then writes no page it shares with its parent. */
#define REC_STACK_MAX 256

static void put_le(unsigned char *d, uint64_t v, int n) {
  for (int i = 0; i < n; i++)
    d[i] = (unsigned char)(v >> (8 * i));
}

int mproc__rec_send(os_handle h, uint32_t type, const void *payload, size_t n, int64_t deadline) {
  if (n <= REC_STACK_MAX) {
    unsigned char rec[12 + REC_STACK_MAX];
    put_le(rec, type, 4);
    put_le(rec + 4, n, 8);
    if (n > 0)
      memcpy(rec + 12, payload, n);
    return mproc__os_chan_write(h, rec, 12 + n, deadline);
  }
  mp_buf hdr;
  mproc__buf_init(&hdr);
  mproc__put_u32(&hdr, type);
  mproc__put_u64(&hdr, n);
  int rc = hdr.err;
  /* Small records go out in one write so a reader never sees a header without its body
   * merely because of scheduling; large ones are streamed. */
  if (rc == 0 && n <= 64 * 1024) {
    mproc__put(&hdr, payload, n);
    rc = hdr.err ? hdr.err : mproc__os_chan_write(h, hdr.data, hdr.len, deadline);
  } else if (rc == 0) {
    rc = mproc__os_chan_write(h, hdr.data, hdr.len, deadline);
    if (rc == 0)
      rc = mproc__os_chan_write(h, payload, n, deadline);
  }
  mproc__buf_free(&hdr);
  return rc;
}

/* Reads exactly n bytes. EOF before any byte is MPROC_EEOF only if at_start; EOF or a stall of
 * more than a second once part of the data is here means the writer died mid-record. */
static int read_exact(os_handle h, void *buf, size_t n, int64_t deadline, int at_start) {
  size_t done = 0;
  int extended = 0;
  while (done < n) {
    size_t got = 0;
    int rc = mproc__os_chan_read(h, (char *)buf + done, n - done, &got, deadline);
    if (rc == 0) {
      done += got;
    } else if (rc == MPROC_EEOF) {
      return (at_start && done == 0) ? MPROC_EEOF : MPROC_EPEERGONE;
    } else if (rc == MPROC_ETIMEDOUT && done > 0 && !extended) {
      deadline = mproc__os_deadline(1000); /* the rest follows from a live writer */
      extended = 1;
    } else {
      return (rc == MPROC_ETIMEDOUT && done > 0) ? MPROC_EPEERGONE : rc;
    }
  }
  return 0;
}

int mproc__rec_recv_rest(os_handle h, const unsigned char *head, size_t k, uint32_t *type,
                         mp_buf *payload, uint64_t max, int64_t deadline) {
  unsigned char hdr[12];
  size_t in_hdr = k < sizeof hdr ? k : sizeof hdr;
  memcpy(hdr, head, in_hdr);
  int rc = read_exact(h, hdr + in_hdr, sizeof hdr - in_hdr, deadline, in_hdr == 0);
  if (rc != 0)
    return rc;
  mp_rd r;
  mproc__rd_init(&r, hdr, sizeof hdr);
  *type = mproc__get_u32(&r);
  uint64_t n = mproc__get_u64(&r);
  if (n > max || n > SIZE_MAX / 2 || k - in_hdr > n)
    return MPROC_EPROTO;
  payload->len = 0;
  if ((rc = mproc__buf_reserve(payload, (size_t)n)) != 0)
    return rc;
  if (k > in_hdr)
    memcpy(payload->data, head + in_hdr, k - in_hdr);
  int64_t body_deadline = deadline;
  if (deadline != OS_NO_DEADLINE && deadline < mproc__os_deadline(1000))
    body_deadline = mproc__os_deadline(1000);
  rc = read_exact(h, payload->data + (k - in_hdr), (size_t)n - (k - in_hdr), body_deadline, 0);
  if (rc == MPROC_ETIMEDOUT || (rc == MPROC_EEOF && n > 0))
    rc = MPROC_EPEERGONE;
  if (rc == 0)
    payload->len = (size_t)n;
  return rc;
}

int mproc__rec_recv(os_handle h, uint32_t *type, mp_buf *payload, uint64_t max, int64_t deadline) {
  unsigned char hdr[12];
  int rc = read_exact(h, hdr, sizeof hdr, deadline, 1);
  if (rc != 0)
    return rc;
  mp_rd r;
  mproc__rd_init(&r, hdr, sizeof hdr);
  *type = mproc__get_u32(&r);
  uint64_t n = mproc__get_u64(&r);
  if (n > max || n > SIZE_MAX / 2)
    return MPROC_EPROTO;
  payload->len = 0;
  if ((rc = mproc__buf_reserve(payload, (size_t)n)) != 0)
    return rc;
  /* The header promised a body: give it at least a second even to a non-blocking caller. */
  int64_t body_deadline = deadline;
  if (deadline != OS_NO_DEADLINE && deadline < mproc__os_deadline(1000))
    body_deadline = mproc__os_deadline(1000);
  rc = read_exact(h, payload->data, (size_t)n, body_deadline, 0);
  if (rc == MPROC_ETIMEDOUT)
    rc = MPROC_EPEERGONE;
  if (rc == 0)
    payload->len = (size_t)n;
  return rc;
}
