/* SPDX-License-Identifier: MIT */
/*
 * Readiness of channel ends (named pipes, connected sockets) for mproc__os_wait_any.
 *
 * Such a handle is not signalled by incoming data, so readiness is a zero-byte overlapped read:
 * it completes when data arrives or the peer goes, and moves no bytes. Issuing one per handle
 * per wait, and cancelling it when another handle wins, costs three or four kernel calls per
 * handle per wait (wineserver round trips under Wine): a listener waiting on 200 silent
 * connections paid ~600 of them each time it woke for one.
 *
 * So each handle keeps one read in flight across waits. A wait re-issues only the reads that
 * completed since it last looked (their handle had data, or the peer went); the others are
 * waited on as they are. A completed read says "something happened", not "data is there now"
 * (the caller may have read it meanwhile): it is re-issued, and one that completes at once
 * means ready now. The read is cancelled only when the handle is closed (mproc__os_close calls
 * mproc__w32_watch_forget first), or the process ends.
 *
 * The same read answers "is anything there" without a kernel call (mproc__w32_watch_quiet): a
 * read still in flight means nothing arrived since it was issued. mproc_wait asks that of every
 * other handle after one was found ready, which otherwise cost a call or two per handle.
 *
 * A read waiting here is queued before any read the caller issues on the same handle, and
 * being zero-byte it completes first without taking the data the caller's read then gets.
 *
 * Entries live in a hash table keyed by handle value, under one lock. A waiter holds a
 * reference on each entry it waits on, so an entry whose handle is closed by another thread
 * meanwhile (its read cancelled and finished) is freed by the last waiter.
 */
#include <windows.h>

#include <string.h>

#include "w32.h"
#include "../alloc.h"

typedef struct watch_entry {
  struct watch_entry *next; /* bucket chain */
  HANDLE h;
  HANDLE ev;
  OVERLAPPED ov;
  int pending; /* a read was issued and had not completed when last looked at */
  int refs;    /* waiters using ev */
  int gone;    /* out of the table (its handle was closed) */
} watch_entry;

#define BUCKETS 256

static SRWLOCK lock = SRWLOCK_INIT;
static watch_entry *table[BUCKETS];

static size_t bucket_of(HANDLE h) {
  uintptr_t v = (uintptr_t)h >> 2; /* handle values are multiples of 4 */
  return (size_t)((v ^ (v >> 8)) % BUCKETS);
}

static watch_entry *find(HANDLE h) {
  for (watch_entry *e = table[bucket_of(h)]; e; e = e->next)
    if (e->h == h)
      return e;
  return NULL;
}

static void unlink_entry(watch_entry *e) {
  watch_entry **pp = &table[bucket_of(e->h)];
  while (*pp && *pp != e)
    pp = &(*pp)->next;
  if (*pp)
    *pp = e->next;
  e->gone = 1;
}

/* Only a finished read gives its event back (a pooled event is never the kernel's). */
static void free_entry(watch_entry *e) {
  mproc__w32_event_put(e->ev);
  mproc__free(e);
}

/* Lock held: 1 ready now, 0 a read is in flight. A read that fails at once (a broken pipe, a
 * reset socket) counts as ready: the caller's read reports it. */
static int rearm(watch_entry *e) {
  static char none;
  if (e->pending && !HasOverlappedIoCompleted(&e->ov))
    return 0; /* still waiting: nothing to issue */
  e->pending = 0;
  memset(&e->ov, 0, sizeof e->ov);
  e->ov.hEvent = e->ev;
  if (ReadFile(e->h, &none, 0, NULL, &e->ov))
    return 1;
  if (GetLastError() != ERROR_IO_PENDING)
    return 1;
  e->pending = 1;
  return 0;
}

static watch_entry *entry_new(HANDLE h) {
  watch_entry *e = mproc__calloc(1, sizeof *e);
  if (e == NULL)
    return NULL;
  if ((e->ev = mproc__w32_event_get()) == NULL) {
    mproc__free(e);
    return NULL;
  }
  e->h = h;
  size_t b = bucket_of(h);
  e->next = table[b];
  table[b] = e;
  return e;
}

int mproc__w32_watch_acquire(HANDLE h, HANDLE *ev, void **token) {
  *token = NULL;
  *ev = h;
  AcquireSRWLockExclusive(&lock);
  watch_entry *e = find(h);
  ReleaseSRWLockExclusive(&lock);
  if (e == NULL && GetFileType(h) != FILE_TYPE_PIPE) /* sockets say "pipe" too */
    return 0; /* a process, an event...: waited on itself */
  AcquireSRWLockExclusive(&lock);
  if ((e = find(h)) == NULL && (e = entry_new(h)) == NULL) {
    ReleaseSRWLockExclusive(&lock);
    return MPROC_ENOMEM;
  }
  int rc = rearm(e);
  e->refs++;
  *ev = e->ev;
  *token = e;
  ReleaseSRWLockExclusive(&lock);
  return rc;
}

int mproc__w32_watch_quiet(HANDLE h) {
  AcquireSRWLockExclusive(&lock);
  watch_entry *e = find(h);
  int quiet = e != NULL && e->pending && !HasOverlappedIoCompleted(&e->ov);
  ReleaseSRWLockExclusive(&lock);
  return quiet;
}

int mproc__w32_watch_fired(void *token) {
  watch_entry *e = token;
  if (e == NULL)
    return 1;
  DWORD n, err = ERROR_SUCCESS;
  AcquireSRWLockExclusive(&lock);
  if (e->pending) {
    /* Its event is set, so this does not block; it also makes sure the OVERLAPPED holds the
     * final status before the next wait issues a read into it again. */
    if (!GetOverlappedResult(e->h, &e->ov, &n, TRUE))
      err = GetLastError();
    e->pending = 0;
  }
  int gone = e->gone;
  ReleaseSRWLockExclusive(&lock);
  /* Cancelled by its thread's exit: nothing arrived, look again. Cancelled by a close: ready,
   * the caller's read reports it. */
  return gone || err != ERROR_OPERATION_ABORTED;
}

void mproc__w32_watch_release(void *token) {
  watch_entry *e = token;
  if (e == NULL)
    return;
  AcquireSRWLockExclusive(&lock);
  int last = --e->refs == 0 && e->gone;
  ReleaseSRWLockExclusive(&lock);
  if (last)
    free_entry(e);
}

void mproc__w32_watch_forget(HANDLE h) {
  AcquireSRWLockExclusive(&lock);
  watch_entry *e = find(h);
  if (e != NULL) {
    unlink_entry(e);
    e->refs++; /* ours until the read is finished: a waiter's release must not free it */
  }
  ReleaseSRWLockExclusive(&lock);
  if (e == NULL)
    return;
  if (e->pending) { /* the OVERLAPPED is ours until the kernel is done with it */
    DWORD n;
    CancelIoEx(h, &e->ov);
    GetOverlappedResult(h, &e->ov, &n, TRUE);
    e->pending = 0;
  }
  mproc__w32_watch_release(e);
}
