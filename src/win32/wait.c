/* SPDX-License-Identifier: MIT */
/*
 * mproc__os_wait_any on Windows: process handles (and any other waitable kernel object) go to
 * WaitForMultipleObjects; channel ends are named pipes, whose handles are not "signalled" by
 * incoming data, so they are polled with PeekNamedPipe.
 *
 * Two paths:
 *  - up to 64 waitables and no pipes (join, sentinel waits): one blocking
 *    WaitForMultipleObjects, re-armed with the remaining time;
 *  - anything else (pipes present, or more than MAXIMUM_WAIT_OBJECTS = 64 handles): sweep every
 *    pipe and every group of 64 without blocking, then block on the first group for a short
 *    slice (1 ms doubling to 10 ms). That bounds latency for the other groups and pipes at one
 *    slice without spinning a CPU. Interim: overlapped zero-byte reads (or one waiter thread
 *    per group) would make pipes and large sets wake immediately.
 */
#include <windows.h>

#include <stdlib.h>

#include "w32.h"
#include "../alloc.h"

#define SWEEP_SLICE_MAX_MS 10

typedef struct wait_set {
  HANDLE *wh;    /* waitable handles, in order */
  size_t *widx;  /* their index in the caller's array */
  size_t nw;
  HANDLE *ph;    /* pipe handles, polled */
  size_t *pidx;
  size_t np;
} wait_set;

/* Splits hs into waitables and pipes, skipping OS_INVALID. Arrays come from one allocation. */
static int classify(const os_handle *hs, size_t n, wait_set *s, void **mem) {
  char *m = mproc__malloc(n * 2 * (sizeof(HANDLE) + sizeof(size_t)) + 1);
  if (!m)
    return MPROC_ENOMEM;
  *mem = m;
  s->wh = (HANDLE *)m;
  s->ph = s->wh + n;
  s->widx = (size_t *)(s->ph + n);
  s->pidx = s->widx + n;
  s->nw = s->np = 0;
  for (size_t i = 0; i < n; i++) {
    HANDLE h = (HANDLE)hs[i];
    if (hs[i] == OS_INVALID)
      continue;
    if (GetFileType(h) == FILE_TYPE_PIPE) {
      s->ph[s->np] = h;
      s->pidx[s->np++] = i;
    } else {
      s->wh[s->nw] = h;
      s->widx[s->nw++] = i;
    }
  }
  return 0;
}

/* Waits on at most 64 handles: 1 with *which set, 0 on timeout, or an MPROC_E* code. An
 * abandoned mutex counts as ready: the caller's acquire reports the owner's death. *which is
 * set on every path (0 when nothing is ready), so no caller can read it unset. */
static int wait_group(const HANDLE *h, size_t n, DWORD ms, size_t *which) {
  *which = 0;
  DWORD w = WaitForMultipleObjects((DWORD)n, h, FALSE, ms);
  if (w < WAIT_OBJECT_0 + n) {
    *which = w - WAIT_OBJECT_0;
    return 1;
  }
  if (w >= WAIT_ABANDONED_0 && w < WAIT_ABANDONED_0 + n) {
    *which = w - WAIT_ABANDONED_0;
    return 1;
  }
  return w == WAIT_TIMEOUT ? 0 : mproc__os_last_error();
}

/* A pipe is ready when data is waiting or the peer is gone (the read then reports EOF). A
 * socket (GetFileType says "pipe" for those too) asks select(). Any other failure also counts,
 * so the caller's read surfaces the error instead of us hanging. */
static int pipe_ready(HANDLE h) {
  DWORD avail = 0;
  if (PeekNamedPipe(h, NULL, 0, NULL, &avail, NULL))
    return avail > 0;
  return mproc__w32_sock_poll(h) != 0;
}

static int deadline_passed(int64_t deadline) {
  return deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline;
}

static int wait_blocking(const wait_set *s, int64_t deadline, size_t *ready) {
  size_t which;
  for (;;) {
    int rc = wait_group(s->wh, s->nw, mproc__w32_wait_ms(deadline), &which);
    if (rc == 1)
      *ready = s->widx[which];
    if (rc != 0)
      return rc < 0 ? rc : 0;
    if (deadline_passed(deadline))
      return MPROC_ETIMEDOUT;
  }
}

/* One non-blocking pass over everything: 1 with *ready set, 0 if nothing, or an error. */
static int sweep(const wait_set *s, size_t *ready) {
  size_t which;
  for (size_t i = 0; i < s->np; i++)
    if (pipe_ready(s->ph[i])) {
      *ready = s->pidx[i];
      return 1;
    }
  for (size_t g = 0; g < s->nw; g += MAXIMUM_WAIT_OBJECTS) {
    size_t cnt = s->nw - g < MAXIMUM_WAIT_OBJECTS ? s->nw - g : MAXIMUM_WAIT_OBJECTS;
    int rc = wait_group(s->wh + g, cnt, 0, &which);
    if (rc == 1)
      *ready = s->widx[g + which];
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int wait_sweeping(const wait_set *s, int64_t deadline, size_t *ready) {
  DWORD slice = 1;
  size_t which;
  for (;;) {
    int rc = sweep(s, ready);
    if (rc != 0)
      return rc < 0 ? rc : 0;
    if (deadline_passed(deadline))
      return MPROC_ETIMEDOUT;
    DWORD ms = mproc__w32_wait_ms(deadline);
    ms = ms < slice ? ms : slice;
    if (s->nw == 0) {
      Sleep(ms);
    } else {
      size_t cnt = s->nw < MAXIMUM_WAIT_OBJECTS ? s->nw : MAXIMUM_WAIT_OBJECTS;
      rc = wait_group(s->wh, cnt, ms, &which);
      if (rc == 1)
        *ready = s->widx[which];
      if (rc != 0)
        return rc < 0 ? rc : 0;
    }
    slice = slice * 2 > SWEEP_SLICE_MAX_MS ? SWEEP_SLICE_MAX_MS : slice * 2;
  }
}

int mproc__os_wait_any(const os_handle *hs, size_t n, int64_t deadline, size_t *ready) {
  wait_set s;
  void *mem = NULL;
  int rc = classify(hs, n, &s, &mem);
  if (rc)
    return rc;
  if (s.nw == 0 && s.np == 0) {
    /* Nothing to wait for: a timed wait just times out; an untimed one would hang forever. */
    rc = MPROC_EINVAL;
    if (deadline != OS_NO_DEADLINE) {
      while (!deadline_passed(deadline))
        Sleep(mproc__w32_wait_ms(deadline));
      rc = MPROC_ETIMEDOUT;
    }
  } else if (s.np == 0 && s.nw <= MAXIMUM_WAIT_OBJECTS) {
    rc = wait_blocking(&s, deadline, ready);
  } else {
    rc = wait_sweeping(&s, deadline, ready);
  }
  mproc__free(mem);
  return rc;
}
