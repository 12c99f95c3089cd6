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

/* --- handle lists --------------------------------------------------------------------------- */

size_t mp_handle_list_add(os_handle *list, size_t n, size_t cap, os_handle v) {
  if (v == OS_INVALID)
    return n;
  for (size_t i = 0; i < n && i < cap; i++)
    if (list[i] == v)
      return n;
  if (n < cap && list != NULL)
    list[n] = v;
  return n + 1;
}

os_handle mp_hmap_get(mp_hmap *m, os_handle encoded) {
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

void mp_hmap_claim(mp_hmap *m, os_handle h) {
  for (size_t i = 0; i < m->nseen; i++)
    if (actual_at(m, i) == h)
      m->claimed[i] = 1;
}

void mp_hmap_close_unclaimed(mp_hmap *m) {
  for (size_t i = 0; i < m->nseen; i++)
    if (!m->claimed[i]) {
      os_close(actual_at(m, i));
      m->claimed[i] = 1;
    }
}

/* --- the object record ---------------------------------------------------------------------- */

int mp_shobj_create(mp_shobj *o, size_t size) {
  memset(o, 0, sizeof *o);
  for (int i = 0; i < MP_OBJ_MAX_HANDLES; i++)
    o->h[i] = OS_INVALID;
  o->creator = 1;
  return mp_heap_alloc(size, &o->blk);
}

void mp_shobj_release(mp_shobj *o) {
  for (int i = 0; i < MP_OBJ_MAX_HANDLES; i++) {
    os_close(o->h[i]);
    o->h[i] = OS_INVALID;
  }
  mp_heap_free(&o->blk);
}

void mp_shobj_encode(const mp_shobj *o, mp_buf *b) {
  mp_block_encode(&o->blk, b);
  mp_put_u8(b, MP_OBJ_MAX_HANDLES);
  for (int i = 0; i < MP_OBJ_MAX_HANDLES; i++)
    mp_put_u64(b, (uint64_t)(int64_t)o->h[i]);
}

int mp_shobj_decode(mp_rd *r, mp_hmap *hm, mp_shobj *o) {
  memset(o, 0, sizeof *o);
  for (int i = 0; i < MP_OBJ_MAX_HANDLES; i++)
    o->h[i] = OS_INVALID;
  int rc = mp_block_decode(r, hm, &o->blk);
  if (rc != 0)
    return rc;
  if (mp_get_u8(r) != MP_OBJ_MAX_HANDLES)
    rc = MPROC_EPROTO;
  for (int i = 0; rc == 0 && i < MP_OBJ_MAX_HANDLES; i++) {
    os_handle h = mp_hmap_get(hm, (os_handle)(int64_t)mp_get_u64(r));
    if (r->err)
      rc = r->err;
    else if (h != OS_INVALID) /* the arrived handle is closed after decoding: keep a copy */
      rc = os_handle_dup(h, &o->h[i]);
  }
  if (rc != 0)
    mp_shobj_release(o);
  return rc;
}

size_t mp_shobj_handles(mp_rd *r, os_handle *list, size_t n, size_t cap) {
  n = mp_handle_list_add(list, n, cap, mp_block_read_handle(r));
  if (mp_get_u8(r) != MP_OBJ_MAX_HANDLES)
    r->err = MPROC_EPROTO;
  for (int i = 0; i < MP_OBJ_MAX_HANDLES && !r->err; i++)
    n = mp_handle_list_add(list, n, cap, (os_handle)(int64_t)mp_get_u64(r));
  return n;
}

/* --- parking ----------------------------------------------------------------------------------- */

int mp_timeout_deadline(int64_t timeout_ms, int64_t *deadline) {
  if (timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  *deadline = timeout_ms == MPROC_FOREVER ? OS_NO_DEADLINE : os_deadline(timeout_ms);
  return 0;
}

int mp_park(os_handle h, uint32_t *sleepers, uint32_t *word, uint32_t expected,
            int64_t deadline) {
  /* Count ourselves before looking at the word; the waker changes the word before reading the
   * count. With both sequentially consistent, either we see the change or it sees us. */
  __atomic_add_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
  int rc = 0;
  if (__atomic_load_n(word, __ATOMIC_SEQ_CST) == expected)
    rc = os_park_wait(word, expected, h, deadline);
  __atomic_sub_fetch(sleepers, 1, __ATOMIC_SEQ_CST);
  return rc;
}

void mp_unpark(os_handle h, uint32_t *sleepers, uint32_t *word, uint32_t n) {
  uint32_t s = __atomic_load_n(sleepers, __ATOMIC_SEQ_CST);
  if (s != 0)
    os_park_wake(word, h, n < s ? n : s);
}

/* --- dispatch ------------------------------------------------------------------------------------ */

int mp_obj_is_object(uint8_t type) { return type >= MPROC_ARG_LOCK && type <= MPROC_ARG_QUEUE; }

int mp_obj_encode(uint8_t type, const void *obj, mp_buf *b) {
  switch (type) {
  case MPROC_ARG_LOCK:
    return mp_lock_encode(obj, b);
  case MPROC_ARG_SEMAPHORE:
    return mp_semaphore_encode(obj, b);
  case MPROC_ARG_CONDITION:
    return mp_condition_encode(obj, b);
  case MPROC_ARG_EVENT:
    return mp_event_encode(obj, b);
  case MPROC_ARG_BARRIER:
    return mp_barrier_encode(obj, b);
  case MPROC_ARG_VALUE: /* a Value is laid out as an Array of one */
  case MPROC_ARG_ARRAY:
    return mp_array_encode(obj, b);
  case MPROC_ARG_QUEUE:
    return mp_queue_encode(obj, b);
  default:
    return MPROC_EINVAL;
  }
}

int mp_obj_adopt(uint8_t type, mp_rd *r, mp_hmap *hm, void **obj) {
  switch (type) {
  case MPROC_ARG_LOCK:
    return mp_lock_adopt(r, hm, (mproc_lock_t **)obj);
  case MPROC_ARG_SEMAPHORE:
    return mp_semaphore_adopt(r, hm, (mproc_semaphore_t **)obj);
  case MPROC_ARG_CONDITION:
    return mp_condition_adopt(r, hm, (mproc_condition_t **)obj);
  case MPROC_ARG_EVENT:
    return mp_event_adopt(r, hm, (mproc_event_t **)obj);
  case MPROC_ARG_BARRIER:
    return mp_barrier_adopt(r, hm, (mproc_barrier_t **)obj);
  case MPROC_ARG_VALUE:
  case MPROC_ARG_ARRAY:
    return mp_array_adopt(r, hm, (mproc_array_t **)obj);
  case MPROC_ARG_QUEUE:
    return mp_queue_adopt(r, hm, (mproc_queue_t **)obj);
  default:
    return MPROC_EPROTO;
  }
}

void mp_obj_release(uint8_t type, void *obj) {
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

size_t mp_obj_handles(const void *payload, size_t len, os_handle *list, size_t n, size_t cap) {
  mp_rd r;
  mp_rd_init(&r, payload, len);
  uint8_t nrec = mp_get_u8(&r);
  for (uint8_t i = 0; i < nrec && !r.err; i++)
    n = mp_shobj_handles(&r, list, n, cap);
  return n;
}
