/* SPDX-License-Identifier: MIT */
/*
 * Listener / Client endpoints on Windows, and the CSPRNG.
 *
 * Named pipes (pipe:\\.\pipe\NAME): the listener always keeps one unconnected instance
 * waiting, so a client never finds "no such pipe" between two accepts. Each accepted instance
 * is an ordinary overlapped channel for chan.c.
 *
 * TCP: overlapped Winsock sockets (WSA_FLAG_OVERLAPPED), so chan.c's ReadFile/WriteFile work on
 * them unchanged; what differs (readiness without blocking, closesocket) is behind
 * mproc__w32_sock_poll / mproc__w32_sock_close. Accept and connect wait with select() and the
 * deadline; the listening socket is non-blocking, so a connection another thread took between
 * select() and accept() (WSAEWOULDBLOCK) sends us back to waiting instead of blocking past the
 * deadline. Connected sockets are put back in blocking mode: an overlapped ReadFile on a
 * non-blocking socket fails with WSAEWOULDBLOCK instead of pending. The listening socket's wait
 * handle is an event that WSAEventSelect sets on FD_ACCEPT. AF_UNIX is MPROC_ENOTSUP.
 */
#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>

#include <bcrypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "w32.h"
#include "../alloc.h"

#define PIPE_BUF_SIZE 65536
#define CONNECT_RETRY_MS 10

int mproc__os_random(void *buf, size_t n) {
  unsigned char *p = buf;
  while (n > 0) {
    ULONG chunk = n > 0x10000000 ? 0x10000000 : (ULONG)n;
    NTSTATUS st = BCryptGenRandom(NULL, p, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG);
    if (st < 0)
      return mproc__os_error((int)st);
    p += chunk;
    n -= chunk;
  }
  return 0;
}

/* A pipe listener keeps one ConnectNamedPipe outstanding on `next` (state PIPE_PENDING); its
 * OVERLAPPED lives here, not on a stack, so a wait that times out just leaves it pending (no
 * cancel that could lose a client) and its event is what mproc__os_listener_wait_handle offers. */
enum { PIPE_IDLE = 0, PIPE_PENDING = 1, PIPE_CONNECTED = 2 };

struct os_listener {
  wchar_t *name;  /* pipe listeners */
  HANDLE next;    /* the instance the next client connects to */
  OVERLAPPED ov;  /* its ConnectNamedPipe; ov.hEvent is manual-reset */
  int state;      /* PIPE_* */
  SOCKET sock;    /* TCP listeners */
  HANDLE accept_ev; /* TCP: set by FD_ACCEPT (WSAEventSelect), the wait handle */
  uint16_t port;
};

/* --- Winsock: started on first use, never stopped (other threads may still hold sockets) -- */

static INIT_ONCE ws_once = INIT_ONCE_STATIC_INIT;
static volatile LONG ws_started;

static BOOL CALLBACK ws_start(PINIT_ONCE once, PVOID param, PVOID *ctx) {
  WSADATA d;
  int e = WSAStartup(MAKEWORD(2, 2), &d);
  if (e) {
    SetLastError((DWORD)e);
    return FALSE;
  }
  InterlockedExchange(&ws_started, 1);
  return TRUE;
}

static int ws_init(void) {
  return InitOnceExecuteOnce(&ws_once, ws_start, NULL, NULL) ? 0 : mproc__os_last_error();
}

/* Without WSAStartup in this process no handle of ours can be a socket. */
static int is_socket(HANDLE h) {
  int type, len = sizeof type;
  return ws_started && getsockopt((SOCKET)h, SOL_SOCKET, SO_TYPE, (char *)&type, &len) == 0;
}

int mproc__w32_sock_poll(HANDLE h) {
  if (!is_socket(h))
    return -1;
  fd_set rd, ex;
  struct timeval tv = {0, 0};
  FD_ZERO(&rd);
  FD_ZERO(&ex);
  FD_SET((SOCKET)h, &rd);
  FD_SET((SOCKET)h, &ex);
  return select(0, &rd, NULL, &ex, &tv) != 0; /* an error counts: the read reports it */
}

/* shutdown(SD_SEND) first: the peer then reads everything we sent and a clean end-of-file,
 * even when bytes it sent are still unread here (a bare closesocket may reset instead, and
 * under Wine a peer was seen never to get EOF at all). */
int mproc__w32_sock_close(HANDLE h) {
  if (!is_socket(h))
    return -1;
  shutdown((SOCKET)h, SD_SEND);
  closesocket((SOCKET)h);
  return 0;
}

int mproc__w32_sock_wait_ready(HANDLE h, int write, int64_t deadline, DWORD ms) {
  if (!is_socket(h))
    return -1;
  DWORD left = mproc__w32_wait_ms(deadline);
  if (left < ms)
    ms = left;
  fd_set rw, ex;
  struct timeval tv = {(long)(ms / 1000), (long)(ms % 1000) * 1000};
  FD_ZERO(&rw);
  FD_ZERO(&ex);
  FD_SET((SOCKET)h, &rw);
  FD_SET((SOCKET)h, &ex);
  /* an error counts as ready: the next read or write reports it */
  return select(0, write ? NULL : &rw, write ? &rw : NULL, &ex, &tv) != 0;
}

/* Sends on a socket with send() rather than an overlapped WriteFile: under Wine an overlapped
 * socket write that had to pend (the peer's receive buffer full, messages of 4 MiB and more)
 * was seen never to complete while the peer, having drained everything, waited for more; a
 * write that completed with 0 bytes then ended the stream. select() bounds each wait by the
 * deadline; chunks are small so a send() after "writable" finds room soon; a 0-byte or
 * WSAEWOULDBLOCK result is retried, never fatal. */
#define SOCK_SEND_CHUNK (64 * 1024)

int mproc__w32_sock_send(HANDLE h, const void *buf, size_t n, int64_t deadline) {
  if (!is_socket(h))
    return 1;
  const char *p = buf;
  while (n > 0) {
    int r = mproc__w32_sock_wait_ready(h, 1, deadline, 1000);
    if (r == 0) {
      if (deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline) {
        mproc__set_os_error(WSAETIMEDOUT);
        return MPROC_ETIMEDOUT;
      }
      continue;
    }
    int chunk = n > SOCK_SEND_CHUNK ? SOCK_SEND_CHUNK : (int)n;
    int w = send((SOCKET)h, p, chunk, 0);
    if (w > 0) {
      p += w;
      n -= (size_t)w;
      continue;
    }
    int e = w == 0 ? 0 : WSAGetLastError();
    if (e != 0 && e != WSAEWOULDBLOCK && e != WSAEINTR && e != WSAEINPROGRESS)
      return mproc__os_error(e);
    Sleep(0);
  }
  return 0;
}

/* Waits until s is readable (write = 0) or its connect finished (write = 1; a failed connect
 * shows in the except set on Windows). 1 ready, 0 past the deadline, or an MPROC_E* code. */
static int sock_wait(SOCKET s, int write, int64_t deadline) {
  for (;;) {
    fd_set rw, ex;
    DWORD ms = mproc__w32_wait_ms(deadline);
    struct timeval tv = {(long)(ms / 1000), (long)(ms % 1000) * 1000};
    FD_ZERO(&rw);
    FD_ZERO(&ex);
    FD_SET(s, &rw);
    FD_SET(s, &ex);
    int n = select(0, write ? NULL : &rw, write ? &rw : NULL, &ex, ms == INFINITE ? NULL : &tv);
    if (n > 0)
      return 1;
    if (n < 0)
      return mproc__os_error(WSAGetLastError());
    if (deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline)
      return 0;
  }
}

static int resolve(const os_addr *a, int passive, struct addrinfo **out) {
  struct addrinfo hints;
  char port[8];
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  snprintf(port, sizeof port, "%u", (unsigned)a->port);
  int e = getaddrinfo(a->name, port, &hints, out);
  if (e == 0)
    return 0;
  mproc__set_os_error(e);
  return e == WSAHOST_NOT_FOUND || e == WSANO_DATA ? MPROC_ENOENT : mproc__os_error(e);
}

/* *out is INVALID_SOCKET on failure, so no caller can use an unset socket. */
static int new_socket(int family, SOCKET *out) {
  *out = INVALID_SOCKET;
  SOCKET s = WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                        WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
  if (s == INVALID_SOCKET)
    return mproc__os_error(WSAGetLastError());
  SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0); /* systems without the flag */
  *out = s;
  return 0;
}

/* Small request/response frames: Nagle would hold each one back for the peer's ACK. */
static void set_nodelay(SOCKET s) {
  BOOL on = TRUE;
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *)&on, sizeof on);
}

static uint16_t bound_port(SOCKET s) {
  struct sockaddr_storage ss;
  int len = sizeof ss;
  if (getsockname(s, (struct sockaddr *)&ss, &len) != 0)
    return 0;
  return ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                        : ((struct sockaddr_in *)&ss)->sin_port);
}

static int tcp_listen(const os_addr *a, int backlog, os_listener *l) {
  struct addrinfo *ai;
  int rc = resolve(a, 1, &ai);
  if (rc)
    return rc;
  rc = MPROC_ENOENT;
  for (struct addrinfo *it = ai; it && l->sock == INVALID_SOCKET; it = it->ai_next) {
    SOCKET s;
    BOOL on = TRUE;
    if ((rc = new_socket(it->ai_family, &s)) != 0)
      continue;
    /* Exclusive: nobody else can bind the same port with SO_REUSEADDR and steal clients. */
    setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE, (const char *)&on, sizeof on);
    /* Non-blocking: another thread (or process) may take the connection between our wait
     * and accept(); a blocking accept() would then sleep past the caller's deadline. */
    u_long nonblock = 1;
    if (bind(s, it->ai_addr, (int)it->ai_addrlen) == 0 && listen(s, backlog) == 0 &&
        ioctlsocket(s, FIONBIO, &nonblock) == 0) {
      l->sock = s;
      rc = 0;
    } else {
      rc = mproc__os_error(WSAGetLastError());
      closesocket(s);
    }
  }
  freeaddrinfo(ai);
  if (rc == 0)
    l->port = bound_port(l->sock);
  /* The socket is non-blocking already, which WSAEventSelect would make it anyway. */
  if (rc == 0 && ((l->accept_ev = CreateEventW(NULL, TRUE, FALSE, NULL)) == NULL ||
                  WSAEventSelect(l->sock, l->accept_ev, FD_ACCEPT) != 0))
    rc = l->accept_ev ? mproc__os_error(WSAGetLastError()) : mproc__os_last_error();
  return rc;
}

static int tcp_accept(os_listener *l, int64_t deadline, os_handle *out) {
  for (;;) {
    int rc = sock_wait(l->sock, 0, deadline);
    if (rc <= 0)
      return rc < 0 ? rc : MPROC_ETIMEDOUT;
    SOCKET s = accept(l->sock, NULL, NULL); /* inherits WSA_FLAG_OVERLAPPED and FIONBIO */
    if (s != INVALID_SOCKET) {
      u_long block = 0; /* overlapped ReadFile on a non-blocking socket would not pend */
      SetHandleInformation((HANDLE)s, HANDLE_FLAG_INHERIT, 0);
      WSAEventSelect(s, NULL, 0); /* inherited from the listener; it forbids blocking mode */
      if (ioctlsocket(s, FIONBIO, &block) != 0) {
        int e = WSAGetLastError();
        closesocket(s);
        return mproc__os_error(e);
      }
      set_nodelay(s);
      *out = (os_handle)s;
      return 0;
    }
    int e = WSAGetLastError();
    /* WSAEWOULDBLOCK: someone else took it since select(); WSAECONNRESET: a client that gave
     * up while queued. Either way wait for the next one, by the same deadline. */
    if (e != WSAECONNRESET && e != WSAEWOULDBLOCK)
      return mproc__os_error(e);
  }
}

static int connect_one(const struct addrinfo *it, int64_t deadline, SOCKET *out) {
  SOCKET s;
  u_long nonblock = 1;
  int rc = new_socket(it->ai_family, &s), err = 0, len = sizeof err;
  if (rc)
    return rc;
  ioctlsocket(s, FIONBIO, &nonblock); /* so the deadline bounds the connect */
  if (connect(s, it->ai_addr, (int)it->ai_addrlen) != 0) {
    err = WSAGetLastError();
    if (err == WSAEWOULDBLOCK) {
      if ((rc = sock_wait(s, 1, deadline)) <= 0) {
        rc = rc < 0 ? rc : MPROC_ETIMEDOUT;
        goto fail;
      }
      getsockopt(s, SOL_SOCKET, SO_ERROR, (char *)&err, &len);
    }
  }
  if (err) {
    rc = err == WSAECONNREFUSED ? MPROC_ENOENT : mproc__os_error(err);
    mproc__set_os_error(err);
    goto fail;
  }
  nonblock = 0;
  ioctlsocket(s, FIONBIO, &nonblock);
  set_nodelay(s);
  *out = s;
  return 0;
fail:
  closesocket(s);
  return rc;
}

static int tcp_connect(const os_addr *a, int64_t deadline, os_handle *out) {
  struct addrinfo *ai;
  SOCKET s = INVALID_SOCKET;
  int rc = resolve(a, 0, &ai);
  if (rc)
    return rc;
  rc = MPROC_ENOENT;
  for (struct addrinfo *it = ai; it && s == INVALID_SOCKET && rc != MPROC_ETIMEDOUT;
       it = it->ai_next)
    rc = connect_one(it, deadline, &s); /* e.g. "localhost": ::1 refused, then 127.0.0.1 */
  freeaddrinfo(ai);
  if (rc == 0)
    *out = (os_handle)s;
  return rc;
}

/* --- named pipes ----------------------------------------------------------------------- */

/* first: FILE_FLAG_FIRST_PIPE_INSTANCE, so a name someone else serves is refused (EEXIST)
 * instead of silently sharing their pipe. */
static int new_instance(const wchar_t *name, int first, HANDLE *out) {
  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, FALSE};
  DWORD open = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
               (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0);
  *out = CreateNamedPipeW(name, open,
                          PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
                              PIPE_REJECT_REMOTE_CLIENTS,
                          PIPE_UNLIMITED_INSTANCES, PIPE_BUF_SIZE, PIPE_BUF_SIZE, 0, &sa);
  if (*out != INVALID_HANDLE_VALUE)
    return 0;
  if (first && GetLastError() == ERROR_ACCESS_DENIED) {
    mproc__set_os_error(ERROR_ACCESS_DENIED);
    return MPROC_EEXIST;
  }
  return mproc__os_last_error();
}

static int arm(os_listener *l);

int mproc__os_listen(const os_addr *a, int backlog, os_listener **out) {
  int rc;
  if (a->kind != OS_ADDR_PIPE && a->kind != OS_ADDR_TCP)
    return MPROC_ENOTSUP;
  os_listener *l = mproc__calloc(1, sizeof *l);
  if (!l)
    return MPROC_ENOMEM;
  l->next = INVALID_HANDLE_VALUE;
  l->sock = INVALID_SOCKET;
  if (a->kind == OS_ADDR_TCP)
    rc = (rc = ws_init()) != 0 ? rc : tcp_listen(a, backlog, l);
  else if ((l->name = mproc__w32_to_utf16(a->name, &rc)) != NULL &&
           (rc = new_instance(l->name, 1, &l->next)) == 0) {
    if ((l->ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL)) == NULL)
      rc = mproc__os_last_error();
    else
      rc = arm(l);
  }
  if (rc) {
    mproc__os_listener_close(l);
    return rc;
  }
  *out = l;
  return 0;
}

uint16_t mproc__os_listener_port(const os_listener *l) { return l ? l->port : 0; }

/* Starts ConnectNamedPipe on l->next unless one is outstanding. A client that connected (and
 * maybe left: ERROR_NO_DATA, its channel reads EOF as a socket would) before the call counts
 * as connected; the event is then set by hand so waiters see it. */
static int arm(os_listener *l) {
  if (l->state != PIPE_IDLE)
    return 0;
  HANDLE ev = l->ov.hEvent;
  memset(&l->ov, 0, sizeof l->ov);
  l->ov.hEvent = ev;
  ResetEvent(ev);
  if (ConnectNamedPipe(l->next, &l->ov)) {
    l->state = PIPE_CONNECTED;
    SetEvent(ev);
    return 0;
  }
  DWORD e = GetLastError();
  if (e == ERROR_IO_PENDING) {
    l->state = PIPE_PENDING;
    return 0;
  }
  if (e == ERROR_PIPE_CONNECTED || e == ERROR_NO_DATA) {
    l->state = PIPE_CONNECTED;
    SetEvent(ev);
    return 0;
  }
  return mproc__os_error((int)e);
}

/* Waits for a client on l->next by the deadline; a timeout leaves the connect outstanding. */
static int wait_client(os_listener *l, int64_t deadline) {
  int rc = arm(l);
  if (rc != 0)
    return rc;
  while (l->state == PIPE_PENDING) {
    DWORD w = WaitForSingleObject(l->ov.hEvent, mproc__w32_wait_ms(deadline));
    if (w == WAIT_OBJECT_0) {
      DWORD n, e = GetOverlappedResult(l->next, &l->ov, &n, FALSE) ? 0 : GetLastError();
      if (e == ERROR_IO_INCOMPLETE)
        continue;
      l->state = PIPE_IDLE;
      if (e != 0 && e != ERROR_PIPE_CONNECTED && e != ERROR_NO_DATA)
        return mproc__os_error((int)e);
      l->state = PIPE_CONNECTED;
    } else if (w != WAIT_TIMEOUT) {
      return mproc__os_last_error();
    } else if (deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline) {
      mproc__set_os_error(ERROR_TIMEOUT);
      return MPROC_ETIMEDOUT;
    }
  }
  return 0;
}

int mproc__os_accept(os_listener *l, int64_t deadline, os_handle *out) {
  HANDLE fresh;
  if (l->sock != INVALID_SOCKET)
    return tcp_accept(l, deadline, out);
  int rc = wait_client(l, deadline);
  if (rc)
    return rc;
  /* Open the next instance before handing this one out, so the name never disappears. */
  if ((rc = new_instance(l->name, 0, &fresh)) != 0) {
    DisconnectNamedPipe(l->next); /* drop this client; the listener stays usable */
    l->state = PIPE_IDLE;
    arm(l);
    return rc;
  }
  *out = (os_handle)l->next;
  l->next = fresh;
  l->state = PIPE_IDLE;
  arm(l); /* a failure shows at the next accept, which arms again */
  return 0;
}

/* TCP: the FD_ACCEPT event. Once set it stays set (manual reset) until a later call here
 * clears it; a client still waiting then sets it again at once. */
os_handle mproc__os_listener_wait_handle(os_listener *l) {
  if (l->sock != INVALID_SOCKET) {
    WSANETWORKEVENTS ne; /* clears the event and what was recorded, so the next FD_ACCEPT counts */
    WSAEnumNetworkEvents(l->sock, l->accept_ev, &ne);
    if (mproc__w32_sock_poll((HANDLE)l->sock))
      SetEvent(l->accept_ev);
    return (os_handle)l->accept_ev;
  }
  arm(l);
  return (os_handle)l->ov.hEvent;
}

void mproc__os_listener_close(os_listener *l) {
  if (!l)
    return;
  if (l->state == PIPE_PENDING) { /* the kernel must be done with l->ov before it is freed */
    DWORD n;
    CancelIoEx(l->next, &l->ov);
    GetOverlappedResult(l->next, &l->ov, &n, TRUE);
  }
  if (l->ov.hEvent)
    CloseHandle(l->ov.hEvent);
  if (l->next != INVALID_HANDLE_VALUE)
    CloseHandle(l->next);
  if (l->sock != INVALID_SOCKET)
    closesocket(l->sock);
  if (l->accept_ev)
    CloseHandle(l->accept_ev);
  mproc__free(l->name);
  mproc__free(l);
}

/* ERROR_PIPE_BUSY: every instance is taken until the listener opens the next one. */
static int open_pipe(const wchar_t *name, int64_t deadline, HANDLE *out) {
  for (;;) {
    *out = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                       FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
                       NULL);
    if (*out != INVALID_HANDLE_VALUE)
      return 0;
    DWORD e = GetLastError();
    if (e == ERROR_FILE_NOT_FOUND) {
      mproc__set_os_error((int)e);
      return MPROC_ENOENT;
    }
    if (e != ERROR_PIPE_BUSY)
      return mproc__os_error((int)e);
    if (deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline) {
      mproc__set_os_error((int)e);
      return MPROC_ETIMEDOUT;
    }
    DWORD ms = mproc__w32_wait_ms(deadline);
    WaitNamedPipeW(name, ms < CONNECT_RETRY_MS ? ms : CONNECT_RETRY_MS);
  }
}

int mproc__os_connect(const os_addr *a, int64_t deadline, os_handle *out) {
  int rc;
  HANDLE h;
  if (a->kind == OS_ADDR_TCP)
    return (rc = ws_init()) != 0 ? rc : tcp_connect(a, deadline, out);
  if (a->kind != OS_ADDR_PIPE)
    return MPROC_ENOTSUP;
  wchar_t *name = mproc__w32_to_utf16(a->name, &rc);
  if (!name)
    return rc;
  rc = open_pipe(name, deadline, &h);
  mproc__free(name);
  if (rc == 0)
    *out = (os_handle)h;
  return rc;
}

int mproc__os_chan_peer_pid(os_handle h, int64_t *pid) {
  ULONG p = 0;
  if (!GetNamedPipeClientProcessId((HANDLE)h, &p) || p == 0)
    return MPROC_ENOTSUP; /* a socket, or not the server end of a pipe */
  *pid = (int64_t)p;
  return 0;
}
