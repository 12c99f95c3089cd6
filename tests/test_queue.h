/* SPDX-License-Identifier: MIT */
/* Helpers of the queue tests: defined in test_queue.c, used by test_queue_life.c too (the
 * same binary). */
#ifndef MPROC_TEST_QUEUE_H
#define MPROC_TEST_QUEUE_H

#include "runner.h"

void qt_start_n(mproc_process_t **ps, int n, mproc_target_fn fn, mproc_args_t *a, int daemon);
mproc_process_t *qt_start(mproc_target_fn fn, mproc_args_t *a);
void qt_finish(mproc_process_t *p);
uint64_t qt_rand(uint64_t *state);
void qt_fill(void *buf, size_t size, uint64_t seed);
int qt_intact(const void *buf, size_t size, uint64_t seed);
int qt_put(mproc_queue_t *q, size_t size, uint64_t seed, int64_t ms);
int qt_get_check(mproc_queue_t *q, int64_t ms, size_t size, uint64_t seed, char *msg,
                 size_t cap);
int qt_get_any(mproc_queue_t *q, int64_t ms, uint64_t *seed, size_t *size, char *msg,
               size_t cap);
int qt_target_echo(const mproc_args_t *a);

/* A qt_* check that fills `msg` on failure. */
#define C_CHECK(expr)                                                                        \
  do {                                                                                       \
    if ((expr) != 0)                                                                         \
      return mproc_fail(97, "line %d: %s", __LINE__, msg);                                   \
  } while (0)
#define ASSERT_CHECK(expr)                                                                   \
  do {                                                                                       \
    if ((expr) != 0)                                                                         \
      t_fail(__FILE__, __LINE__, "%s: %s", #expr, msg);                                      \
  } while (0)
#define KIB ((size_t)1024)
#define MIB ((size_t)1024 * 1024)

#endif
