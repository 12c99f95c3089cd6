/* SPDX-License-Identifier: MIT */
/* Helpers shared by the POSIX backend's files. */
#ifndef MPROC_POSIX_H
#define MPROC_POSIX_H

#include <poll.h>

#include "../internal.h"

/* poll() until an event or the deadline, retrying EINTR with the remaining time.
 * Returns the number of ready fds (> 0), MPROC_ETIMEDOUT, or an error. */
int mproc__px_poll(struct pollfd *fds, nfds_t n, int64_t deadline);

/* 1 while the backend's own idle thread exists: proc.c's starter thread (it creates daemons),
 * or proc_generic.c's death-pipe watcher in a daemon. mproc__os_thread_count leaves it out. */
int mproc__px_starter_running(void);

/* proc_common.c: the program's own path for spawn ("" when the system cannot tell), and every
 * signal handler back to its default in a fork child. mproc__px_handled_signals, called in the
 * parent with signals blocked, returns 1 with the signals not at their default (bit sig-1) when
 * that set cannot change before the fork (no other thread); mproc__px_reset_signals resets those,
 * or, given NULL, every signal it finds not at its default. */
void mproc__px_self_exe(char *buf, size_t cap);
int mproc__px_handled_signals(uint64_t *mask);
void mproc__px_reset_signals(const uint64_t *handled);

/* ThreadSanitizer builds: some calls are replaced by ones its runtime intercepts. */
#if defined(__SANITIZE_THREAD__)
#define MPROC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MPROC_TSAN 1
#endif
#endif

#endif
