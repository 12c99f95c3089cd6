/* SPDX-License-Identifier: MIT */
/* The debug log (mproc_set_log_handler, MPROC_LOG). Off, a log statement costs one relaxed
 * load and one well-predicted branch: the arguments are not even evaluated. */
#ifndef MPROC_LOG_H
#define MPROC_LOG_H

#include "mproc.h"
#include "atomics.h"

/* The lowest level that is written. 0 until the first look at MPROC_LOG, which the first log
 * statement makes (0 lets every statement reach mproc__log_slow, which reads it once). */
extern int mproc__log_min;

void mproc__log_write(int level, const char *fmt, ...) MPROC_PRINTF(2, 3);
/* Whether `level` is written now (reads MPROC_LOG the first time). */
int mproc__log_slow(int level);

#define MPROC__LOG(level, ...)                                                               \
  do {                                                                                       \
    if (MPROC__ATOMIC_LOAD(&mproc__log_min, MPROC__ATOMIC_RELAXED) <= (level) &&             \
        mproc__log_slow(level))                                                              \
      mproc__log_write((level), __VA_ARGS__);                                                \
  } while (0)
#define MPROC__DEBUG(...) MPROC__LOG(MPROC_LOG_DEBUG, __VA_ARGS__)
#define MPROC__INFO(...) MPROC__LOG(MPROC_LOG_INFO, __VA_ARGS__)
#define MPROC__WARN(...) MPROC__LOG(MPROC_LOG_WARN, __VA_ARGS__)

/* The level children inherit (boot record), and setting it there. */
int mproc__log_inherit_level(void);
void mproc__log_set_inherited(int level);
void mproc__log_after_fork_child(void);

#endif
