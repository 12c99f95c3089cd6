/* SPDX-License-Identifier: MIT */
/* In-process lock and condition variable for library threads: pthread objects, the condition
 * variable on the monotonic clock where the system lets it choose (deadlines are
 * mproc__os_now_ns values), else a relative wait. */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "../internal.h"
#include "../alloc.h"

struct os_tlock {
  pthread_mutex_t m;
};

struct os_tcond {
  pthread_cond_t c;
};

int mproc__os_tlock_new(os_tlock **out) {
  os_tlock *l = mproc__calloc(1, sizeof *l);
  if (l == NULL)
    return MPROC_ENOMEM;
  int rc = pthread_mutex_init(&l->m, NULL);
  if (rc != 0) {
    mproc__free(l);
    return mproc__os_error(rc);
  }
  *out = l;
  return 0;
}

void mproc__os_tlock_free(os_tlock *l) {
  if (l == NULL)
    return;
  pthread_mutex_destroy(&l->m);
  mproc__free(l);
}

void mproc__os_tlock_acquire(os_tlock *l) { pthread_mutex_lock(&l->m); }
void mproc__os_tlock_release(os_tlock *l) { pthread_mutex_unlock(&l->m); }

int mproc__os_tcond_new(os_tcond **out) {
  os_tcond *c = mproc__calloc(1, sizeof *c);
  if (c == NULL)
    return MPROC_ENOMEM;
  pthread_condattr_t a;
  pthread_condattr_init(&a);
#if !defined(__APPLE__)
  pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
#endif
  int rc = pthread_cond_init(&c->c, &a);
  pthread_condattr_destroy(&a);
  if (rc != 0) {
    mproc__free(c);
    return mproc__os_error(rc);
  }
  *out = c;
  return 0;
}

void mproc__os_tcond_free(os_tcond *c) {
  if (c == NULL)
    return;
  pthread_cond_destroy(&c->c);
  mproc__free(c);
}

int mproc__os_tcond_wait(os_tcond *c, os_tlock *l, int64_t deadline) {
  if (deadline == OS_NO_DEADLINE) {
    pthread_cond_wait(&c->c, &l->m);
    return 0;
  }
  int64_t now = mproc__os_now_ns();
  if (deadline <= now)
    return MPROC_ETIMEDOUT;
  struct timespec ts;
#if defined(__APPLE__)
  int64_t left = deadline - now;
  ts.tv_sec = (time_t)(left / 1000000000);
  ts.tv_nsec = (long)(left % 1000000000);
  int rc = pthread_cond_timedwait_relative_np(&c->c, &l->m, &ts);
#else
  ts.tv_sec = (time_t)(deadline / 1000000000);
  ts.tv_nsec = (long)(deadline % 1000000000);
  int rc = pthread_cond_timedwait(&c->c, &l->m, &ts);
#endif
  return rc == ETIMEDOUT ? MPROC_ETIMEDOUT : 0;
}

void mproc__os_tcond_signal(os_tcond *c) { pthread_cond_signal(&c->c); }
void mproc__os_tcond_broadcast(os_tcond *c) { pthread_cond_broadcast(&c->c); }
