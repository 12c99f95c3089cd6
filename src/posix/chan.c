/* SPDX-License-Identifier: MIT */
/* Channels: AF_UNIX stream socketpairs. Sockets rather than pipes because one object is
 * bidirectional, send(MSG_NOSIGNAL) never raises SIGPIPE (no handler needed), and SCM_RIGHTS
 * passes fds. Blocking fds; deadlines are enforced with poll() before MSG_DONTWAIT calls, so the
 * fd can be shared with a child that expects blocking semantics. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#if defined(__linux__)
#include <sys/syscall.h>
#endif
#include <sys/time.h>
#include <unistd.h>

#include "posix.h"

/* macOS has neither SOCK_CLOEXEC nor MSG_NOSIGNAL nor MSG_CMSG_CLOEXEC: flags are set right
 * after creation (a fork+exec on another thread in between can inherit the fd: Apple has no
 * atomic form), and SO_NOSIGPIPE on the socket replaces MSG_NOSIGNAL. */
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif
#ifndef MSG_CMSG_CLOEXEC
#define MSG_CMSG_CLOEXEC 0
#define PX_CLOEXEC_AFTER 1
#endif

#ifdef SOCK_CLOEXEC
static int pair(int sv[2]) { return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv); }
#else
static int pair(int sv[2]) {
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
    return -1;
  for (int i = 0; i < 2; i++) {
    fcntl(sv[i], F_SETFD, FD_CLOEXEC);
#ifdef SO_NOSIGPIPE
    int one = 1;
    setsockopt(sv[i], SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
  }
  return 0;
}
#endif

int mproc__os_chan_pair(os_handle out[2]) {
  int sv[2];
  if (pair(sv) != 0)
    return mproc__os_last_error();
  out[0] = sv[0];
  out[1] = sv[1];
  return 0;
}

static int wait_fd(int fd, short events, int64_t deadline) {
  struct pollfd p = {fd, events, 0};
  int rc = mproc__px_poll(&p, 1, deadline);
  return rc > 0 ? 0 : rc;
}

/* Without a deadline the calls block in the kernel: one system call per transfer instead of
 * try / poll / retry, which costs ~15% of a cross-CPU round trip. With a deadline, poll()
 * bounds the wait. */
/* Called through a pointer the loader fills in at startup: a forked child's one write (its
 * EXIT record) is often the first send of the process, and a lazily bound call would cost every
 * child a symbol lookup and a write to a page it shares with its parent. */
static ssize_t (*const volatile send_fn)(int, const void *, size_t, int) = send;

int mproc__os_chan_write(os_handle h, const void *buf, size_t n, int64_t deadline) {
  const char *p = buf;
  int flags = MSG_NOSIGNAL | (deadline == OS_NO_DEADLINE ? 0 : MSG_DONTWAIT);
  while (n > 0) {
    ssize_t w = send_fn((int)h, p, n, flags);
    if (w > 0) {
      p += w, n -= (size_t)w;
      continue;
    }
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
      return mproc__os_last_error();
    int rc = wait_fd((int)h, POLLOUT, deadline);
    if (rc != 0)
      return rc;
  }
  return 0;
}

int mproc__os_chan_read(os_handle h, void *buf, size_t n, size_t *got, int64_t deadline) {
  *got = 0;
  int flags = deadline == OS_NO_DEADLINE ? 0 : MSG_DONTWAIT;
  for (;;) {
    ssize_t r = recv((int)h, buf, n, flags);
    if (r > 0) {
      *got = (size_t)r;
      return 0;
    }
    if (r == 0)
      return MPROC_EEOF;
    if (errno == EINTR)
      continue;
    if (errno == ECONNRESET)
      return MPROC_EEOF;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return mproc__os_last_error();
    int rc = wait_fd((int)h, POLLIN, deadline);
    if (rc != 0)
      return rc;
  }
}

int mproc__os_chan_set_read_slice(os_handle h, int ms) {
  struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
  if (ms <= 0 || setsockopt((int)h, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
    return ms <= 0 ? MPROC_EINVAL : mproc__os_last_error();
  return 0;
}

int mproc__os_chan_read_sliced(os_handle h, void *buf, size_t n, size_t *got, int64_t deadline,
                               int slice_ms) {
  const int64_t slice = (int64_t)slice_ms * 1000000;
  *got = 0;
  for (;;) {
    int64_t start = mproc__os_now_ns();
    if (deadline != OS_NO_DEADLINE && deadline - start < slice)
      return mproc__os_chan_read(h, buf, n, got, deadline);
    ssize_t r = recv((int)h, buf, n, 0); /* returns by the end of the slice */
    if (r > 0) {
      *got = (size_t)r;
      return 0;
    }
    if (r == 0 || (r < 0 && errno == ECONNRESET))
      return MPROC_EEOF;
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return mproc__os_last_error();
    /* A slice passed with nothing: look at the deadline again. An EAGAIN long before the
     * slice's end means the fd is non-blocking after all: poll instead of spinning. */
    if (mproc__os_now_ns() - start < slice / 2)
      return mproc__os_chan_read(h, buf, n, got, deadline);
  }
}

int mproc__os_chan_send_handles(os_handle h, const void *buf, size_t n, const os_handle *hs,
                                size_t nh) {
  if (n == 0 || nh > OS_MAX_SEND_HANDLES)
    return MPROC_EINVAL;
  union {
    struct cmsghdr align;
    char space[CMSG_SPACE(sizeof(int) * OS_MAX_SEND_HANDLES)];
  } ctl;
  memset(&ctl, 0, sizeof ctl);
  struct iovec iov = {(void *)buf, n};
  struct msghdr msg = {0};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (nh > 0) {
    msg.msg_control = ctl.space;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nh);
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nh);
    for (size_t i = 0; i < nh; i++) {
      int fd = (int)hs[i];
      memcpy(CMSG_DATA(c) + i * sizeof(int), &fd, sizeof fd);
    }
  }
  ssize_t w;
  do
    w = sendmsg((int)h, &msg, MSG_NOSIGNAL);
  while (w < 0 && errno == EINTR);
  if (w < 0)
    return mproc__os_last_error();
  /* The handles went with the first byte; anything left is plain data. */
  return (size_t)w < n
             ? mproc__os_chan_write(h, (const char *)buf + w, n - (size_t)w, OS_NO_DEADLINE)
             : 0;
}

static size_t take_fds(struct msghdr *msg, os_handle *hs, size_t cap) {
  size_t k = 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(msg); c; c = CMSG_NXTHDR(msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
      continue;
    size_t cnt = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < cnt; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
#ifdef PX_CLOEXEC_AFTER
      fcntl(fd, F_SETFD, FD_CLOEXEC);
#endif
      if (k < cap)
        hs[k++] = fd;
      else
        close(fd); /* more than the caller can hold: never leak them */
    }
  }
  return k;
}

int mproc__os_chan_recv_handles(os_handle h, void *buf, size_t n, size_t *got, os_handle *hs,
                         size_t cap, size_t *nh, int64_t deadline) {
  union {
    struct cmsghdr align;
    char space[CMSG_SPACE(sizeof(int) * OS_MAX_SEND_HANDLES)];
  } ctl;
  *got = 0, *nh = 0;
  for (;;) {
    struct iovec iov = {buf, n};
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = ctl.space;
    msg.msg_controllen = sizeof ctl.space;
    ssize_t r = recvmsg((int)h, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (r >= 0) {
      *nh = take_fds(&msg, hs, cap);
      *got = (size_t)r;
      return r == 0 ? MPROC_EEOF : 0;
    }
    if (errno == EINTR)
      continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)
      return errno == ECONNRESET ? MPROC_EEOF : mproc__os_last_error();
    int rc = wait_fd((int)h, POLLIN, deadline);
    if (rc != 0)
      return rc;
  }
}

int mproc__os_close(os_handle h) {
  if (h == OS_INVALID)
    return 0;
  close((int)h); /* EINTR: the fd is closed on Linux; never retry */
  return 0;
}

void mproc__os_close_sorted(const os_handle *h, size_t n) {
  for (size_t i = 0, j; i < n; i = j) {
    for (j = i + 1; j < n && h[j] == h[j - 1] + 1; j++)
      ;
#if defined(__linux__) && defined(SYS_close_range)
    if (j - i > 1 && syscall(SYS_close_range, (unsigned)h[i], (unsigned)h[j - 1], 0u) == 0)
      continue;
#endif
    for (size_t k = i; k < j; k++)
      close((int)h[k]);
  }
}

int mproc__os_set_inheritable(os_handle h, int inheritable) {
  int flags = fcntl((int)h, F_GETFD);
  if (flags < 0)
    return mproc__os_last_error();
  flags = inheritable ? flags & ~FD_CLOEXEC : flags | FD_CLOEXEC;
  return fcntl((int)h, F_SETFD, flags) == 0 ? 0 : mproc__os_last_error();
}

int mproc__os_handle_dup(os_handle h, os_handle *out) {
  int fd = fcntl((int)h, F_DUPFD_CLOEXEC, 0);
  if (fd < 0)
    return mproc__os_last_error();
  *out = fd;
  return 0;
}
