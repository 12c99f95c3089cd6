/* SPDX-License-Identifier: MIT */
/* Library threads and thread tokens, common to every POSIX system. Only the kernel thread id
 * behind a token is per system. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/syscall.h>
#elif defined(__FreeBSD__)
#include <pthread_np.h>
#endif

#include "posix.h"
#include "../atomics.h"
#include "../alloc.h"

/* --- thread tokens ----------------------------------------------------------------------- */

MPROC__THREAD_LOCAL uint64_t mproc__os_token_tls;
static pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

/* After fork() only the forking thread exists, and it has a new tid: forget the old token. */
static void token_atfork_child(void) { mproc__os_token_tls = 0; }
static void token_register(void) { pthread_atfork(NULL, NULL, token_atfork_child); }

/* The kernel's id of the calling thread, or 0 where there is none to be had: the random salt
 * then carries the uniqueness alone. */
static uint32_t kernel_tid(void) {
#if defined(__linux__)
  return (uint32_t)syscall(SYS_gettid);
#elif defined(__APPLE__)
  uint64_t tid = 0;
  pthread_threadid_np(NULL, &tid);
  return (uint32_t)tid;
#elif defined(__FreeBSD__)
  return (uint32_t)pthread_getthreadid_np();
#else
  return 0;
#endif
}

uint64_t mproc__os_thread_token_new(void) {
  if (mproc__os_token_tls == 0) {
    pthread_once(&g_atfork_once, token_register);
    uint64_t salt = 0;
    if (mproc__os_random(&salt, sizeof salt) != 0)
      salt = (uint64_t)mproc__os_now_ns();
    uint32_t tid = kernel_tid();
    mproc__os_token_tls = tid != 0 ? ((salt | 1) << 32) | tid : salt | 1;
  }
  return mproc__os_token_tls;
}

/* --- threads ---------------------------------------------------------------------------------- */

struct os_thread {
  pthread_t t;
  void (*fn)(void *);
  void *arg;
};

static void *thread_main(void *p) {
  os_thread *t = p;
  t->fn(t->arg);
  return NULL;
}

int mproc__os_thread_start(void (*fn)(void *), void *arg, os_thread **out) {
  os_thread *t = mproc__calloc(1, sizeof *t);
  if (t == NULL)
    return MPROC_ENOMEM;
  t->fn = fn;
  t->arg = arg;
  /* The host's signal handlers must not run on a library thread. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&t->t, NULL, thread_main, t);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    mproc__free(t);
    return mproc__os_error(rc);
  }
  *out = t;
  return 0;
}

void mproc__os_thread_join(os_thread *t) {
  if (t == NULL)
    return;
  pthread_join(t->t, NULL);
  mproc__free(t);
}

void mproc__os_cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}
