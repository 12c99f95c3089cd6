/* SPDX-License-Identifier: MIT */
/*
 * Random bytes and stream sockets for Listener / Client: AF_UNIX paths, Linux abstract names,
 * TCP over IPv4 and IPv6. Every socket is born SOCK_CLOEXEC (accept4 on the accepting side) and
 * is a blocking fd: chan.c enforces deadlines with poll() plus MSG_DONTWAIT, so the fd also
 * works for a child that expects blocking semantics.
 *
 * Traps handled here:
 *  - A unix socket file outlives a crashed listener. Binding over it fails with EADDRINUSE; we
 *    unlink it only if a connect to it is refused (nobody listens), never a live one.
 *  - connect() blocks for the kernel's SYN timeout (minutes); we connect non-blocking and poll
 *    for the deadline, then read SO_ERROR for the outcome.
 *  - getaddrinfo may return several addresses (IPv6 and IPv4 for "localhost"): try each.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#if defined(__linux__) || defined(__APPLE__)
#include <sys/random.h>
#endif

#include "posix.h"
#include "../alloc.h"

/* --- random ------------------------------------------------------------------------------------ */

int mproc__os_random(void *buf, size_t n) {
  unsigned char *p = buf;
  while (n > 0) {
#if defined(__linux__)
    ssize_t r = getrandom(p, n, 0);
#else
    size_t chunk = n > 256 ? 256 : n; /* getentropy's limit */
    ssize_t r = getentropy(p, chunk) == 0 ? (ssize_t)chunk : -1;
#endif
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return mproc__os_last_error();
    p += r, n -= (size_t)r;
  }
  return 0;
}

/* --- creating sockets ------------------------------------------------------------------------- */

/* macOS has no SOCK_CLOEXEC, SOCK_NONBLOCK or accept4: the flags are set right after creation
 * there (a fork+exec on another thread in between can leak the fd; Apple has no atomic form). */
static int set_fd_flags(int fd, int nonblock) {
  int fl = fcntl(fd, F_GETFL);
#ifdef SO_NOSIGPIPE
  int one = 1; /* no MSG_NOSIGNAL there: a write to a closed peer must not raise SIGPIPE */
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
  if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fl < 0 ||
      fcntl(fd, F_SETFL, nonblock ? fl | O_NONBLOCK : fl & ~O_NONBLOCK) != 0) {
    int e = errno;
    close(fd);
    errno = e;
    return -1;
  }
  return fd;
}

static int new_socket(int family, int nonblock) {
#if defined(SOCK_CLOEXEC) && defined(SOCK_NONBLOCK)
  return socket(family, SOCK_STREAM | SOCK_CLOEXEC | (nonblock ? SOCK_NONBLOCK : 0), 0);
#else
  int fd = socket(family, SOCK_STREAM, 0);
  return fd < 0 ? fd : set_fd_flags(fd, nonblock);
#endif
}

/* The accepted fd: close-on-exec and blocking, like every channel. */
static int accept_fd(int lfd) {
#if defined(SOCK_CLOEXEC) && !defined(__APPLE__)
  (void)set_fd_flags;
  return accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
#else
  int fd = accept(lfd, NULL, NULL); /* inherits O_NONBLOCK from the listener on BSDs */
  return fd < 0 ? fd : set_fd_flags(fd, 0);
#endif
}

/* --- addresses -------------------------------------------------------------------------------- */

struct os_listener {
  int fd;
  char *unlink_path; /* filesystem unix socket we created: removed on close */
  uint16_t port;
};

/* Fills a sockaddr_un for a path or an abstract name. Abstract names start with a NUL byte
 * and their length is the address length (no terminator), as Python does for "\0name". */
static int unix_addr(const os_addr *a, struct sockaddr_un *sa, socklen_t *len) {
  size_t n = strlen(a->name);
  memset(sa, 0, sizeof *sa);
  sa->sun_family = AF_UNIX;
  if (a->kind == OS_ADDR_ABSTRACT) {
#if defined(__linux__)
    if (n + 1 > sizeof sa->sun_path)
      return MPROC_EINVAL;
    memcpy(sa->sun_path + 1, a->name, n);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
    return 0;
#else
    return MPROC_ENOTSUP;
#endif
  }
  if (n == 0 || n >= sizeof sa->sun_path)
    return MPROC_EINVAL; /* too long to bind: say so instead of truncating the path */
  memcpy(sa->sun_path, a->name, n);
  *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
  return 0;
}

static int tcp_lookup(const os_addr *a, int passive, struct addrinfo **res) {
  struct addrinfo hints;
  char port[8];
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
  snprintf(port, sizeof port, "%u", (unsigned)a->port);
  int rc = getaddrinfo(a->name, port, &hints, res);
  if (rc == 0)
    return 0;
  if (rc == EAI_SYSTEM)
    return mproc__os_last_error();
  if (rc == EAI_MEMORY)
    return MPROC_ENOMEM;
  mproc__set_os_error(rc); /* the EAI_* code: negative, distinct from errno values */
  return rc == EAI_NONAME || rc == EAI_FAMILY ? MPROC_ENOENT : MPROC_EOS;
}

/* --- connecting --------------------------------------------------------------------------------- */

/* Non-blocking connect finished by the deadline; the fd is made blocking again after. */
static int connect_fd(int fd, const struct sockaddr *sa, socklen_t len, int64_t deadline) {
  int fl = fcntl(fd, F_GETFL);
  if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
    return mproc__os_last_error();
  int rc = 0;
  if (connect(fd, sa, len) != 0) {
    if (errno != EINPROGRESS && errno != EINTR && errno != EAGAIN)
      return errno == ECONNREFUSED || errno == ENOENT ? (mproc__os_error(errno), MPROC_ENOENT)
                                                      : mproc__os_last_error();
    /* EINTR: the connect carries on in the background, like EINPROGRESS. EAGAIN: a unix
     * listener's backlog is full; poll for writability to wait for room. */
    struct pollfd p = {fd, POLLOUT, 0};
    if ((rc = mproc__px_poll(&p, 1, deadline)) < 0)
      return rc;
    int err = 0;
    socklen_t el = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
      return mproc__os_last_error();
    if (err == ECONNREFUSED)
      return mproc__os_error(err), MPROC_ENOENT;
    if (err != 0)
      return mproc__os_error(err);
    rc = 0;
  }
  return fcntl(fd, F_SETFL, fl) == 0 ? rc : mproc__os_last_error();
}

static int connect_one(int family, const struct sockaddr *sa, socklen_t len, int64_t deadline,
                       os_handle *out) {
  int fd = new_socket(family, 0);
  if (fd < 0)
    return mproc__os_last_error();
  int rc = connect_fd(fd, sa, len, deadline);
  if (rc != 0) {
    close(fd);
    return rc;
  }
  if (family != AF_UNIX) {
    int one = 1; /* small handshake messages must not wait for Nagle */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  *out = fd;
  return 0;
}

int mproc__os_connect(const os_addr *a, int64_t deadline, os_handle *out) {
  if (a->kind == OS_ADDR_UNIX || a->kind == OS_ADDR_ABSTRACT) {
    struct sockaddr_un sa;
    socklen_t len;
    int rc = unix_addr(a, &sa, &len);
    return rc ? rc : connect_one(AF_UNIX, (struct sockaddr *)&sa, len, deadline, out);
  }
  if (a->kind != OS_ADDR_TCP)
    return MPROC_ENOTSUP;
  struct addrinfo *res, *ai;
  int rc = tcp_lookup(a, 0, &res);
  if (rc)
    return rc;
  rc = MPROC_ENOENT;
  for (ai = res; ai; ai = ai->ai_next) {
    rc = connect_one(ai->ai_family, ai->ai_addr, ai->ai_addrlen, deadline, out);
    if (rc == 0 || rc == MPROC_ETIMEDOUT)
      break;
  }
  freeaddrinfo(res);
  return rc;
}

/* --- listening ---------------------------------------------------------------------------------- */

/* EADDRINUSE on a unix path: a listener that died left its file. Take the path over only if
 * it is a socket and connecting to it is refused. */
static int reclaim_unix_path(const os_addr *a) {
  struct stat st;
  os_handle probe;
  if (lstat(a->name, &st) != 0 || !S_ISSOCK(st.st_mode))
    return MPROC_EEXIST;
  int rc = mproc__os_connect(a, mproc__os_deadline(1000), &probe);
  if (rc == 0) {
    close((int)probe);
    return MPROC_EEXIST; /* somebody is listening there */
  }
  if (rc != MPROC_ENOENT)
    return MPROC_EEXIST;
  return unlink(a->name) == 0 || errno == ENOENT ? 0 : mproc__os_last_error();
}

static int bind_listen(int fd, const struct sockaddr *sa, socklen_t len, int backlog) {
  if (bind(fd, sa, len) != 0)
    return errno == EADDRINUSE ? (mproc__os_error(errno), MPROC_EEXIST) : mproc__os_last_error();
  return listen(fd, backlog) == 0 ? 0 : mproc__os_last_error();
}

static int listen_unix(const os_addr *a, int backlog, os_listener *l) {
  struct sockaddr_un sa;
  socklen_t len;
  int rc = unix_addr(a, &sa, &len);
  if (rc)
    return rc;
  if ((l->fd = new_socket(AF_UNIX, 1)) < 0)
    return mproc__os_last_error();
  rc = bind_listen(l->fd, (struct sockaddr *)&sa, len, backlog);
  if (rc == MPROC_EEXIST && a->kind == OS_ADDR_UNIX && (rc = reclaim_unix_path(a)) == 0)
    rc = bind_listen(l->fd, (struct sockaddr *)&sa, len, backlog);
  if (rc == 0 && a->kind == OS_ADDR_UNIX && (l->unlink_path = mproc__strdup(a->name)) == NULL) {
    unlink(a->name);
    rc = MPROC_ENOMEM;
  }
  return rc;
}

static int listen_tcp_one(const struct addrinfo *ai, int backlog, os_listener *l) {
  int one = 1;
  if ((l->fd = new_socket(ai->ai_family, 1)) < 0)
    return mproc__os_last_error();
  /* As Python does on POSIX: a restarted server can rebind while old connections linger in
   * TIME_WAIT. (POSIX SO_REUSEADDR never lets two live listeners share a port.) */
  setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  int rc = bind_listen(l->fd, ai->ai_addr, ai->ai_addrlen, backlog);
  if (rc == 0) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(l->fd, (struct sockaddr *)&ss, &sl) != 0)
      return mproc__os_last_error();
    l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
  }
  return rc;
}

static int listen_tcp(const os_addr *a, int backlog, os_listener *l) {
  struct addrinfo *res, *ai;
  int rc = tcp_lookup(a, 1, &res);
  if (rc)
    return rc;
  rc = MPROC_ENOENT;
  for (ai = res; ai; ai = ai->ai_next) {
    if ((rc = listen_tcp_one(ai, backlog, l)) == 0)
      break;
    if (l->fd >= 0)
      close(l->fd);
    l->fd = -1;
  }
  freeaddrinfo(res);
  return rc;
}

int mproc__os_listen(const os_addr *a, int backlog, os_listener **out) {
  os_listener *l = mproc__calloc(1, sizeof *l);
  int rc;
  if (l == NULL)
    return MPROC_ENOMEM;
  l->fd = -1;
  if (backlog <= 0)
    backlog = 1;
  if (a->kind == OS_ADDR_UNIX || a->kind == OS_ADDR_ABSTRACT)
    rc = listen_unix(a, backlog, l);
  else if (a->kind == OS_ADDR_TCP)
    rc = listen_tcp(a, backlog, l);
  else
    rc = MPROC_ENOTSUP;
  if (rc != 0)
    goto fail;
  *out = l;
  return 0;
fail:
  if (l->fd >= 0)
    close(l->fd);
  mproc__free(l->unlink_path);
  mproc__free(l);
  return rc;
}

uint16_t mproc__os_listener_port(const os_listener *l) { return l->port; }

int mproc__os_accept(os_listener *l, int64_t deadline, os_handle *out) {
  for (;;) {
    /* The listening fd is non-blocking (from creation) so accept never blocks
     * when another thread or process took the connection between poll and accept. The new
     * fd is a blocking one, like every channel. */
    int fd = accept_fd(l->fd);
    if (fd >= 0) {
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* fails harmlessly on unix */
      *out = fd;
      return 0;
    }
    /* ECONNABORTED etc.: that client gave up while queued; wait for the next one. */
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED &&
        errno != EPROTO)
      return mproc__os_last_error();
    struct pollfd p = {l->fd, POLLIN, 0};
    int rc = mproc__px_poll(&p, 1, deadline);
    if (rc < 0)
      return rc;
  }
}

os_handle mproc__os_listener_wait_handle(os_listener *l) { return l->fd; }

void mproc__os_listener_close(os_listener *l) {
  if (l == NULL)
    return;
  if (l->fd >= 0)
    close(l->fd);
  if (l->unlink_path)
    unlink(l->unlink_path);
  mproc__free(l->unlink_path);
  mproc__free(l);
}

int mproc__os_chan_peer_pid(os_handle h, int64_t *pid) {
#if defined(__linux__) && defined(SO_PEERCRED)
  struct ucred cr;
  socklen_t len = sizeof cr;
  if (getsockopt((int)h, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 || cr.pid <= 0)
    return MPROC_ENOTSUP;
  *pid = cr.pid;
  return 0;
#elif defined(__APPLE__) && defined(LOCAL_PEERPID)
  pid_t p = 0;
  socklen_t len = sizeof p;
  if (getsockopt((int)h, SOL_LOCAL, LOCAL_PEERPID, &p, &len) != 0 || p <= 0)
    return MPROC_ENOTSUP;
  *pid = p;
  return 0;
#else
  (void)h, (void)pid;
  return MPROC_ENOTSUP;
#endif
}
