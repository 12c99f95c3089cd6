/* SPDX-License-Identifier: MIT */
/*
 * Byte channels on Windows: one duplex named pipe per channel, both ends opened overlapped.
 *
 * Why overlapped: a synchronous ReadFile cannot be given a deadline, and synchronous pipe I/O
 * serialises every operation on the file object, so a blocked read would also block a write
 * from another thread (and libuv PR #1273 saw it deadlock other processes opening the pipe).
 *
 * Traps handled here (ANCHORS §8.4):
 *  - CancelIoEx can lose the race with a read that already took bytes from the pipe (libuv
 *    PR #5037, bpo-33694). After every cancel we wait for the operation's final result and
 *    return whatever it transferred; bytes are never dropped.
 *  - The OVERLAPPED lives on our stack, so no path returns while the kernel may still write
 *    into it: a cancel is always followed by GetOverlappedResult(..., TRUE).
 *  - "Only what is already there" reads (deadline passed) peek first instead of issuing a read
 *    that would need cancelling.
 *
 * TCP sockets from sock.c are overlapped too and are read with the same ReadFile code; writes
 * (mproc__w32_sock_send), "is anything there" and close differ (mproc__w32_sock_poll,
 * mproc__w32_sock_close).
 *
 * Sections: naming and creating a pair; finishing overlapped I/O; write; read; handle misc.
 */
#include <windows.h>

#include <ntsecapi.h> /* RtlGenRandom, in advapi32 which every Windows link includes */
#include <stdio.h>

#include "internal.h"
#include "w32.h"

#define CHAN_BUF_SIZE 65536
#define CHAN_IO_MAX ((DWORD)1 << 20) /* per WriteFile/ReadFile call */
#define CHAN_ZERO_WRITES_MAX 2000    /* zero-byte pipe writes in a row: give up */

/* --- naming and creating a pair --------------------------------------------------------- */

/* A name nobody can guess and pre-create: pid + counter keep it unique, 128 random bits keep a
 * squatter from creating it first (FILE_FLAG_FIRST_PIPE_INSTANCE would then fail us, not
 * hand our data to them). */
static int pipe_name(wchar_t *name, size_t cap) {
  static volatile LONG counter;
  unsigned char rnd[16];
  if (!RtlGenRandom(rnd, sizeof rnd))
    return mproc__os_last_error();
  int len = swprintf(name, cap, L"\\\\.\\pipe\\mproc-%lu-%ld-", GetCurrentProcessId(),
                     InterlockedIncrement(&counter));
  for (size_t i = 0; i < sizeof rnd && len > 0 && (size_t)len + 3 < cap; i++)
    len += swprintf(name + len, cap - (size_t)len, L"%02x", rnd[i]);
  return len > 0 ? 0 : MPROC_EINTERNAL;
}

/* Connects the server end to the client that is already open; the overlapped handle needs an
 * OVERLAPPED even though the answer (ERROR_PIPE_CONNECTED) is immediate. */
static int connect_server(HANDLE srv) {
  OVERLAPPED ov = {0};
  DWORD n;
  ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
  if (!ov.hEvent)
    return mproc__os_last_error();
  int rc = 0;
  if (!ConnectNamedPipe(srv, &ov)) {
    DWORD e = GetLastError();
    if (e == ERROR_IO_PENDING)
      e = GetOverlappedResult(srv, &ov, &n, TRUE) ? ERROR_SUCCESS : GetLastError();
    if (e != ERROR_PIPE_CONNECTED && e != ERROR_SUCCESS)
      rc = mproc__os_error((int)e);
  }
  CloseHandle(ov.hEvent);
  return rc;
}

int mproc__os_chan_pair(os_handle out[2]) {
  /* bInheritHandle = FALSE from birth: proc.c lends inheritance only for one CreateProcessW. */
  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, FALSE};
  HANDLE srv = INVALID_HANDLE_VALUE, cli = INVALID_HANDLE_VALUE;
  wchar_t name[96];
  int rc = pipe_name(name, sizeof name / sizeof name[0]);
  if (rc)
    goto fail;
  srv = CreateNamedPipeW(name,
                         PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
                         PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
                             PIPE_REJECT_REMOTE_CLIENTS,
                         1, CHAN_BUF_SIZE, CHAN_BUF_SIZE, 0, &sa);
  if (srv == INVALID_HANDLE_VALUE)
    goto fail_os;
  /* SECURITY_IDENTIFICATION: the server end may later sit in another process; it must not be
   * able to impersonate whoever opened the client end. */
  cli = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, &sa, OPEN_EXISTING,
                    FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                    NULL);
  if (cli == INVALID_HANDLE_VALUE)
    goto fail_os; /* ERROR_PIPE_BUSY: someone connected first; never use that pipe */
  if ((rc = connect_server(srv)) != 0)
    goto fail;
  out[0] = (os_handle)srv;
  out[1] = (os_handle)cli;
  return 0;
fail_os:
  rc = mproc__os_last_error();
fail:
  if (cli != INVALID_HANDLE_VALUE)
    CloseHandle(cli);
  if (srv != INVALID_HANDLE_VALUE)
    CloseHandle(srv);
  return rc;
}

/* --- finishing overlapped I/O ------------------------------------------------------------ */

/* Contract in w32.h. */
DWORD mproc__w32_finish_io(HANDLE h, OVERLAPPED *ov, int64_t deadline, DWORD *n) {
  DWORD w, err = WAIT_TIMEOUT;
  *n = 0;
  for (;;) {
    w = WaitForSingleObject(ov->hEvent, mproc__w32_wait_ms(deadline));
    if (w == WAIT_OBJECT_0)
      return GetOverlappedResult(h, ov, n, FALSE) ? ERROR_SUCCESS : GetLastError();
    if (w != WAIT_TIMEOUT) {
      err = GetLastError();
      break;
    }
    /* mproc__w32_wait_ms caps long waits; only a real deadline ends the loop. */
    if (deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline)
      break;
  }
  CancelIoEx(h, ov);
  /* The cancel may lose the race: then the operation completed and its bytes count. */
  if (GetOverlappedResult(h, ov, n, TRUE))
    return ERROR_SUCCESS;
  DWORD e = GetLastError();
  return e == ERROR_OPERATION_ABORTED ? err : e;
}

/* Starts ReadFile/WriteFile (write != 0) overlapped and finishes it by the deadline. */
static DWORD overlapped_io(HANDLE h, int write, void *buf, DWORD len, int64_t deadline,
                           DWORD *n) {
  OVERLAPPED ov = {0};
  *n = 0;
  ov.hEvent = mproc__w32_event_get();
  if (!ov.hEvent)
    return GetLastError();
  BOOL ok = write ? WriteFile(h, buf, len, NULL, &ov) : ReadFile(h, buf, len, NULL, &ov);
  DWORD e = ok ? ERROR_SUCCESS : GetLastError();
  /* Completed at once or pending: either way the result comes from the OVERLAPPED. */
  if (ok || e == ERROR_IO_PENDING)
    e = mproc__w32_finish_io(h, &ov, deadline, n);
  mproc__w32_event_put(ov.hEvent); /* the operation is complete: the event is free again */
  return e;
}

/* --- write ---------------------------------------------------------------------------------- */

/* A pipe write that completed having moved nothing: not expected from a blocking pipe, but
 * not worth ending the stream for either. Back off briefly and try again, by the deadline;
 * only a long run of them is a failure. (Sockets never get here: mproc__w32_sock_send.) */
static int after_zero_write(int64_t deadline, unsigned *zeros) {
  if (deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline) {
    mproc__set_os_error(ERROR_TIMEOUT);
    return MPROC_ETIMEDOUT;
  }
  if (++*zeros > CHAN_ZERO_WRITES_MAX)
    return mproc__os_error(ERROR_WRITE_FAULT);
  Sleep(*zeros < 10 ? 0 : 1);
  return 0;
}

int mproc__os_chan_write(os_handle h, const void *buf, size_t n, int64_t deadline) {
  const char *p = buf;
  unsigned zeros = 0;
  int src = mproc__w32_sock_send((HANDLE)h, buf, n, deadline);
  if (src <= 0)
    return src; /* a socket: done (see sock.c for why not WriteFile) */
  while (n > 0) {
    DWORD chunk = n > CHAN_IO_MAX ? CHAN_IO_MAX : (DWORD)n, done;
    DWORD e = overlapped_io((HANDLE)h, 1, (void *)p, chunk, deadline, &done);
    if (done > 0) { /* short completions just continue with the rest */
      p += done;
      n -= done;
      zeros = 0;
      continue;
    }
    if (e == WAIT_TIMEOUT) {
      mproc__set_os_error(ERROR_TIMEOUT);
      return MPROC_ETIMEDOUT;
    }
    if (e != ERROR_SUCCESS)
      return mproc__os_error((int)e); /* ERROR_NO_DATA / ERROR_BROKEN_PIPE -> MPROC_EPEERGONE */
    int rc = after_zero_write(deadline, &zeros);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* --- read ----------------------------------------------------------------------------------- */

/* Pipe errors for a closed peer, and their socket equivalents (a reset counts as EOF). */
static int is_eof_error(DWORD e) {
  return e == ERROR_BROKEN_PIPE || e == ERROR_PIPE_NOT_CONNECTED || e == ERROR_NO_DATA ||
         e == ERROR_NETNAME_DELETED || e == WSAECONNRESET || e == WSAECONNABORTED;
}

/* Bytes already there (MAXDWORD: "some", for a socket); MPROC_EEOF once a pipe's peer is gone
 * and nothing is left (a socket's EOF shows as a zero-byte read instead). */
static int peek_avail(HANDLE h, DWORD *avail) {
  if (PeekNamedPipe(h, NULL, 0, NULL, avail, NULL))
    return 0;
  DWORD e = GetLastError();
  if (is_eof_error(e)) {
    mproc__set_os_error((int)e);
    return MPROC_EEOF;
  }
  int r = mproc__w32_sock_poll(h);
  if (r < 0)
    return mproc__os_error((int)e);
  *avail = r ? MAXDWORD : 0;
  return 0;
}

int mproc__os_chan_read(os_handle h, void *buf, size_t n, size_t *got, int64_t deadline) {
  DWORD want = n > CHAN_IO_MAX ? CHAN_IO_MAX : (DWORD)n, done;
  *got = 0;
  if (n == 0)
    return MPROC_EINVAL;
  if (deadline != OS_NO_DEADLINE && deadline <= mproc__os_now_ns()) {
    if (mproc__w32_watch_quiet((HANDLE)h))
      return MPROC_ETIMEDOUT; /* a wait's read is still in flight: nothing arrived */
    DWORD avail;
    int rc = peek_avail((HANDLE)h, &avail);
    if (rc)
      return rc;
    if (avail == 0)
      return MPROC_ETIMEDOUT;
    if (want > avail)
      want = avail; /* completes at once unless another thread takes the bytes first */
  }
  DWORD e = overlapped_io((HANDLE)h, 0, buf, want, deadline, &done);
  if (done > 0) { /* even after a timeout: a cancelled read that took bytes returns them */
    *got = done;
    return 0;
  }
  if (e == WAIT_TIMEOUT)
    return MPROC_ETIMEDOUT;
  /* Success with 0 bytes is a socket's orderly EOF (our pipe peers never write 0 bytes). */
  if (e == ERROR_SUCCESS || is_eof_error(e)) {
    mproc__set_os_error((int)e);
    return MPROC_EEOF;
  }
  return mproc__os_error((int)e);
}

int mproc__os_chan_set_read_slice(os_handle h, int ms) {
  (void)h;
  (void)ms;
  return MPROC_ENOTSUP; /* an overlapped read already waits in one call */
}

int mproc__os_chan_read_sliced(os_handle h, void *buf, size_t n, size_t *got, int64_t deadline,
                               int slice_ms) {
  (void)slice_ms;
  return mproc__os_chan_read(h, buf, n, got, deadline);
}

/* --- handle passing and misc -------------------------------------------------------------- */

/* Handles reach a Windows child by DuplicateHandle from the parent (DESIGN.md), not over the
 * channel; until that lands these say so instead of pretending. */
int mproc__os_chan_send_handles(os_handle h, const void *buf, size_t n, const os_handle *hs,
                         size_t nh) {
  return MPROC_ENOTSUP;
}

int mproc__os_chan_recv_handles(os_handle h, void *buf, size_t n, size_t *got, os_handle *hs,
                         size_t cap, size_t *nh, int64_t deadline) {
  return MPROC_ENOTSUP;
}

int mproc__os_close(os_handle h) {
  if (h == OS_INVALID)
    return 0;
  mproc__w32_watch_forget((HANDLE)h); /* its zero-byte read, if a wait left one in flight */
  if (mproc__w32_sock_close((HANDLE)h) == 0) /* CloseHandle would leak Winsock's state */
    return 0;
  return CloseHandle((HANDLE)h) ? 0 : mproc__os_last_error();
}

void mproc__os_close_sorted(const os_handle *h, size_t n) {
  for (size_t i = 0; i < n; i++)
    mproc__os_close(h[i]);
}

int mproc__os_set_inheritable(os_handle h, int inheritable) {
  if (!SetHandleInformation((HANDLE)h, HANDLE_FLAG_INHERIT, inheritable ? HANDLE_FLAG_INHERIT : 0))
    return mproc__os_last_error();
  return 0;
}

int mproc__os_handle_dup(os_handle h, os_handle *out) {
  HANDLE self = GetCurrentProcess(), d = NULL;
  if (!DuplicateHandle(self, (HANDLE)h, self, &d, 0, FALSE, DUPLICATE_SAME_ACCESS))
    return mproc__os_last_error();
  *out = (os_handle)d;
  return 0;
}
