/* SPDX-License-Identifier: MIT */
/*
 * Cross-process objects in transit: the record every object is written as inside a process
 * argument (its shared block and its kernel handles), handle bookkeeping for children that get
 * handles renumbered, the parking helpers objects sleep with, and the dispatch from argument
 * type to the object's own encode/adopt/release.
 */
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "atomics.h"

/* --- handle lists --------------------------------------------------------------------------- */

size_t mproc__handle_list_add(os_handle *list, size_t n, size_t cap, os_handle v) {
  if (v == OS_INVALID)
    return n;
  for (size_t i = 0; i < n && i < cap; i++)
    if (list[i] == v)
      return n;
  if (n < cap && list != NULL)
    list[n] = v;
  return n + 1;
}

os_handle mproc__hmap_get(mp_hmap *m, os_handle encoded) {
  if (encoded == OS_INVALID)
    return OS_INVALID;
  size_t before = m->nseen;
  size_t idx = before;
  for (size_t i = 0; i < before; i++)
    if (m->seen[i] == encoded)
      idx = i;
  if (idx == before) {
    if (before == MP_MAX_PASSED_HANDLES)
      return OS_INVALID;
    m->seen[m->nseen++] = encoded;
  }
  if (m->actual == NULL)
    return encoded;
  return idx < m->nactual ? m->actual[idx] : OS_INVALID;
}

static os_handle actual_at(const mp_hmap *m, size_t i) {
  if (m->actual == NULL)
    return m->seen[i];
  return i < m->nactual ? m->actual[i] : OS_INVALID;
}

void mproc__hmap_claim(mp_hmap *m, os_handle h) {
  for (size_t i = 0; i < m->nseen; i++)
    if (actual_at(m, i) == h)
      m->claimed[i] = 1;
}

void mproc__hmap_close_unclaimed(mp_hmap *m) {
  for (size_t i = 0; i < m->nseen; i++)
    if (!m->claimed[i]) {
      mproc__os_close(actual_at(m, i));
      m->claimed[i] = 1;
    }
}

/* --- the object record ---------------------------------------------------------------------- */

int mproc__shobj_create(mp_shobj *o, size_t size) {
  memset(o, 0, sizeof *o);
  for (int i = 0; i < MP_OBJ_MAX_HANDLES; i++)
    o->h[i] = OS_INVALID;
  o->creator = 1;
  return mproc__heap_alloc(size, &o->blk);
}

void mproc__shobj_release(mp_shobj *o) {
  for (int i = 0; i < MP_OBJ_MAX_HANDLES; i++) {
    mproc__os_close(o->h[i]);
    o->h[i] = OS_INVALID;
  }
  mproc__heap_free(&o->blk);
}

void mproc__shobj_encode(const mp_shobj *o, mp_buf *b) {
  mproc__block_encode(&o->blk, b);
  mproc__put_u8(b, MP_OBJ_MAX_HANDLES);
  for (int i = 0; i < MP_OBJ_MAX_HANDLES; i++)
    mproc__put_u64(b, (uint64_t)(int64_t)o->h[i]);
}

int mproc__shobj_decode(mp_rd *r, mp_hmap *hm, mp_shobj *o) {
  memset(o, 0, sizeof *o);
  for (int i = 0; i < MP_OBJ_MAX_HANDLES; i++)
    o->h[i] = OS_INVALID;
  int rc = mproc__block_decode(r, hm, &o->blk);
  if (rc != 0)
    return rc;
  if (mproc__get_u8(r) != MP_OBJ_MAX_HANDLES)
    rc = MPROC_EPROTO;
  for (int i = 0; rc == 0 && i < MP_OBJ_MAX_HANDLES; i++) {
    os_handle h = mproc__hmap_get(hm, (os_handle)(int64_t)mproc__get_u64(r));
    if (r->err)
      rc = r->err;
    else if (h != OS_INVALID) /* the arrived handle is closed after decoding: keep a copy */
      rc = mproc__os_handle_dup(h, &o->h[i]);
  }
  if (rc != 0)
    mproc__shobj_release(o);
  return rc;
}

size_t mproc__shobj_handles(mp_rd *r, os_handle *list, size_t n, size_t cap) {
  n = mproc__handle_list_add(list, n, cap, mproc__block_read_handle(r));
  if (mproc__get_u8(r) != MP_OBJ_MAX_HANDLES)
    r->err = MPROC_EPROTO;
  for (int i = 0; i < MP_OBJ_MAX_HANDLES && !r->err; i++)
    n = mproc__handle_list_add(list, n, cap, (os_handle)(int64_t)mproc__get_u64(r));
  return n;
}

/* --- parking ----------------------------------------------------------------------------------- */

int mproc__timeout_deadline(int64_t timeout_ms, int64_t *deadline) {
  if (timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  *deadline = timeout_ms == MPROC_FOREVER ? OS_NO_DEADLINE : mproc__os_deadline(timeout_ms);
  return 0;
}

int mproc__park(os_handle h, uint32_t *sleepers, uint32_t *word, uint32_t expected,
            int64_t deadline) {
  /* Count ourselves before looking at the word; the waker changes the word before reading the
   * count. With both sequentially consistent, either we see the change or it sees us. */
  MPROC__ATOMIC_ADD_FETCH(sleepers, 1, MPROC__ATOMIC_SEQ_CST);
  int rc = 0;
  if (MPROC__ATOMIC_LOAD(word, MPROC__ATOMIC_SEQ_CST) == expected)
    rc = mproc__os_park_wait(word, expected, h, deadline);
  MPROC__ATOMIC_SUB_FETCH(sleepers, 1, MPROC__ATOMIC_SEQ_CST);
  return rc;
}

void mproc__unpark(os_handle h, uint32_t *sleepers, uint32_t *word, uint32_t n) {
  uint32_t s = MPROC__ATOMIC_LOAD(sleepers, MPROC__ATOMIC_SEQ_CST);
  if (s != 0)
    mproc__os_park_wake(word, h, n < s ? n : s);
}

/* --- dispatch ------------------------------------------------------------------------------------ */

int mproc__obj_is_object(uint8_t type) { return type >= MPROC_ARG_LOCK && type <= MPROC_ARG_QUEUE; }

int mproc__obj_encode(uint8_t type, const void *obj, mp_buf *b) {
  switch (type) {
  case MPROC_ARG_LOCK:
    return mproc__lock_encode(obj, b);
  case MPROC_ARG_SEMAPHORE:
    return mproc__semaphore_encode(obj, b);
  case MPROC_ARG_CONDITION:
    return mproc__condition_encode(obj, b);
  case MPROC_ARG_EVENT:
    return mproc__event_encode(obj, b);
  case MPROC_ARG_BARRIER:
    return mproc__barrier_encode(obj, b);
  case MPROC_ARG_VALUE: /* a Value is laid out as an Array of one */
  case MPROC_ARG_ARRAY:
    return mproc__array_encode(obj, b);
  case MPROC_ARG_QUEUE:
    return mproc__queue_encode(obj, b);
  default:
    return MPROC_EINVAL;
  }
}

static int obj_adopt_kind(uint8_t type, mp_rd *r, mp_hmap *hm, void **obj) {
  switch (type) {
  case MPROC_ARG_LOCK:
    return mproc__lock_adopt(r, hm, (mproc_lock_t **)obj);
  case MPROC_ARG_SEMAPHORE:
    return mproc__semaphore_adopt(r, hm, (mproc_semaphore_t **)obj);
  case MPROC_ARG_CONDITION:
    return mproc__condition_adopt(r, hm, (mproc_condition_t **)obj);
  case MPROC_ARG_EVENT:
    return mproc__event_adopt(r, hm, (mproc_event_t **)obj);
  case MPROC_ARG_BARRIER:
    return mproc__barrier_adopt(r, hm, (mproc_barrier_t **)obj);
  case MPROC_ARG_VALUE:
  case MPROC_ARG_ARRAY:
    return mproc__array_adopt(r, hm, (mproc_array_t **)obj);
  case MPROC_ARG_QUEUE:
    return mproc__queue_adopt(r, hm, (mproc_queue_t **)obj);
  default:
    return MPROC_EPROTO;
  }
}

/* The child's copy of an object from its argument list. The list owns it: a _free in the
 * target does nothing (a queue's closes it), and mproc__obj_release frees it after the target
 * returns. */
int mproc__obj_adopt(uint8_t type, mp_rd *r, mp_hmap *hm, void **obj) {
  int rc = obj_adopt_kind(type, r, hm, obj);
  if (rc == 0)
    ((mp_shobj *)*obj)->list_owned = 1;
  return rc;
}

void mproc__obj_release(uint8_t type, void *obj) {
  if (obj == NULL)
    return;
  ((mp_shobj *)obj)->list_owned = 0;
  switch (type) {
  case MPROC_ARG_LOCK:
    mproc_lock_free(obj);
    break;
  case MPROC_ARG_SEMAPHORE:
    mproc_semaphore_free(obj);
    break;
  case MPROC_ARG_CONDITION:
    mproc_condition_free(obj);
    break;
  case MPROC_ARG_EVENT:
    mproc_event_free(obj);
    break;
  case MPROC_ARG_BARRIER:
    mproc_barrier_free(obj);
    break;
  case MPROC_ARG_VALUE:
  case MPROC_ARG_ARRAY:
    mproc_array_free(obj);
    break;
  case MPROC_ARG_QUEUE:
    mproc_queue_free(obj);
    break;
  default:
    break;
  }
}

size_t mproc__obj_handles(const void *payload, size_t len, os_handle *list, size_t n, size_t cap) {
  mp_rd r;
  mproc__rd_init(&r, payload, len);
  uint8_t nrec = mproc__get_u8(&r);
  for (uint8_t i = 0; i < nrec && !r.err; i++)
    n = mproc__shobj_handles(&r, list, n, cap);
  return n;
}
