/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the Win32 backend files only (never included by the core).
 */
#ifndef MPROC_W32_H
#define MPROC_W32_H

#include <windows.h>

#include "os.h"

/* clock.c: milliseconds left until deadline for one wait call: INFINITE for OS_NO_DEADLINE,
 * 0 once passed, rounded up (a wait must not end before the deadline), and capped below
 * INFINITE so callers loop for waits longer than ~24 days. */
DWORD mproc__w32_wait_ms(int64_t deadline);

/* sys.c: UTF-8 -> malloc'd UTF-16 (NULL on failure, error recorded by mproc__os_error). */
wchar_t *mproc__w32_to_utf16(const char *s, int *err);
/* sys.c: UTF-16 -> UTF-8 into buf; MPROC_ERANGE if it does not fit with its NUL. */
int mproc__w32_to_utf8(const wchar_t *w, char *buf, size_t cap);

/* chan.c: waits for the overlapped operation started with ov on h. Returns ERROR_SUCCESS with
 * *n set, WAIT_TIMEOUT when the deadline passed and the operation was cancelled (*n = what it
 * moved anyway), or another Win32 error. Never returns while the kernel still owns ov. */
DWORD mproc__w32_finish_io(HANDLE h, OVERLAPPED *ov, int64_t deadline, DWORD *n);

/* wait.c: a manual-reset event for an OVERLAPPED, from a pool (NULL on failure, with
 * GetLastError set), and back to it once the operation is complete. */
HANDLE mproc__w32_event_get(void);
void mproc__w32_event_put(HANDLE e);

/* watch.c: readiness of channel ends for mproc__os_wait_any, one zero-byte read per handle
 * kept in flight across waits. acquire: *ev is what to wait on for h (h itself unless h is a
 * pipe or socket); 1 ready now, 0 not yet, or an MPROC_E* code; *token (NULL for other
 * handles) goes back to release after the wait. fired: after *ev was found signalled; 0 when
 * that was no readiness after all (the read was cancelled by its thread's exit). forget: h is
 * about to be closed; its read is cancelled and finished. */
int mproc__w32_watch_acquire(HANDLE h, HANDLE *ev, void **token);
int mproc__w32_watch_fired(void *token);
/* watch.c: 1 when h has a zero-byte read in flight that has not completed: nothing arrived
 * since it was issued, so h is not ready (answered without a kernel call). */
int mproc__w32_watch_quiet(HANDLE h);
void mproc__w32_watch_release(void *token);
void mproc__w32_watch_forget(HANDLE h);

/* sock.c: for a socket, 1 if a read would not block (data, EOF or an error) and 0 if not;
 * -1 if h is no socket. Never blocks. */
int mproc__w32_sock_poll(HANDLE h);
/* sock.c: shutdown(SD_SEND) then closesocket(h), and 0, if h is a socket; -1 (nothing done)
 * otherwise. */
int mproc__w32_sock_close(HANDLE h);
/* sock.c: waits (at most ms, and not past the deadline) until socket h can be read from
 * (write = 0: data or EOF) or written to. 1 if it can, 0 if not yet, -1 if h is no socket. */
int mproc__w32_sock_wait_ready(HANDLE h, int write, int64_t deadline, DWORD ms);
/* sock.c: sends all n bytes on socket h by the deadline (mproc__os_chan_write's contract); 1
 * (nothing done) if h is no socket. */
int mproc__w32_sock_send(HANDLE h, const void *buf, size_t n, int64_t deadline);

#endif /* MPROC_W32_H */
