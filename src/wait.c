/* SPDX-License-Identifier: MIT */
/* mproc_wait: Python's multiprocessing.connection.wait over connections, processes, queues and
 * raw handles. Objects that are ready without asking the OS (buffered bytes, an exited process)
 * return at once; otherwise the OS waits on all handles, and every object found ready is
 * reported, not just the first. */
#include <stdint.h>
#include <stdlib.h>

#include "conn.h"
#include "heap.h"
#include "alloc.h"

/* 1 ready now, 0 wait on *h, or an error. */
static int classify(mproc_waitable *w, os_handle *h) {
  switch (w->kind) {
  case MPROC_WAIT_CONN: {
    mproc_conn_t *c = w->obj;
    if (c == NULL || !mproc_conn_readable(c))
      return c ? MPROC_EDIRECTION : MPROC_EINVAL;
    if (mproc__conn_handle(c) == OS_INVALID)
      return MPROC_ECLOSED;
    *h = mproc__conn_handle(c);
    return mproc__conn_ready_now(c);
  }
  case MPROC_WAIT_PROCESS:
    return mproc__process_wait_handle(w->obj, h);
  case MPROC_WAIT_HANDLE:
    *h = (os_handle)w->handle;
    return *h == OS_INVALID ? MPROC_EINVAL : 0;
  case MPROC_WAIT_QUEUE:
    return mproc__queue_wait_prepare(w->obj, h);
  default:
    return MPROC_EINVAL;
  }
}

/* Classifies every object; *prepared = how many were (queues count pollers until release). */
static int collect(mproc_waitable *objs, size_t n, os_handle *hs, size_t *nready,
                   size_t *prepared) {
  *nready = 0;
  for (*prepared = 0; *prepared < n; (*prepared)++) {
    size_t i = *prepared;
    hs[i] = OS_INVALID;
    int rc = classify(&objs[i], &hs[i]);
    if (rc < 0)
      return rc;
    objs[i].ready = rc;
    *nready += (size_t)rc;
  }
  return 0;
}

static void release(mproc_waitable *objs, size_t prepared) {
  for (size_t i = 0; i < prepared; i++)
    if (objs[i].kind == MPROC_WAIT_QUEUE)
      mproc__queue_wait_done(objs[i].obj);
}

/* After the OS said one is ready (first; SIZE_MAX: none asked), look at each of the others
 * without blocking. */
static size_t sweep(mproc_waitable *objs, size_t n, const os_handle *hs, size_t first) {
  size_t k = 0, idx;
  for (size_t i = 0; i < n; i++) {
    if (i == first || (hs[i] != OS_INVALID && mproc__os_wait_any(&hs[i], 1, 0, &idx) == 0))
      objs[i].ready = 1;
    k += (size_t)objs[i].ready;
  }
  return k;
}

int mproc_wait(mproc_waitable *objs, size_t n, int64_t timeout_ms, size_t *nready) {
  if ((objs == NULL && n > 0) || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  if (n == 0) { /* Python's wait([], t) sleeps t and returns []; "forever" would never end */
    if (timeout_ms != MPROC_FOREVER && timeout_ms > 0)
      mproc__os_sleep_ms(timeout_ms);
    if (nready)
      *nready = 0;
    return 0;
  }
  os_handle *hs = mproc__malloc(n * sizeof *hs);
  if (hs == NULL)
    return MPROC_ENOMEM;
  size_t k = 0, first = 0, prepared = 0;
  int rc = collect(objs, n, hs, &k, &prepared);
  if (rc == 0 && k == 0) {
    rc = mproc__os_wait_any(hs, n, mproc__os_deadline(timeout_ms), &first);
    if (rc == 0)
      k = sweep(objs, n, hs, first);
  } else if (rc == 0) {
    /* Some were ready without asking the OS (an exited, reaped process; buffered bytes): the
     * others may be ready too, and Python's wait reports every ready object. */
    k = sweep(objs, n, hs, SIZE_MAX);
  }
  release(objs, prepared);
  mproc__free(hs);
  if (rc == 0 && nready)
    *nready = k;
  return rc;
}
