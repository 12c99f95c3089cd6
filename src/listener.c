/*
 * Listener / Client (Python's multiprocessing.connection): address parsing, the listening
 * endpoint, and the authkey handshake on each new connection. Sockets and named pipes live in
 * the OS layer (sock.c); the handshake in auth.c; this file ties them together.
 *
 * Time limits: accept's timeout covers waiting for a client; the handshake that follows has
 * its own limit (MP_HANDSHAKE_MS), so a client that connects and goes silent costs the server
 * that long at most, even under MPROC_FOREVER. The client's timeout covers connect and
 * handshake together: a Python server only starts its side when it calls accept(), which may
 * legitimately be much later than our connect.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "conn.h"
#include "internal.h"

#define MP_HANDSHAKE_MS 5000
#define ADDR_MAX 1024 /* longer addresses are MPROC_EINVAL: no OS takes them anyway */

struct mproc_listener {
  os_listener *os;
  os_addr addr;        /* addr.name points into name */
  char *name;
  char *display;       /* mproc_listener_address() */
  unsigned char *key;  /* NULL: no authentication */
  size_t keylen;
};

/* --- address parsing --------------------------------------------------------------------- */

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

/* "1".."65535" or "0"; nothing else (no sign, no spaces, no overflow). */
static int parse_port(const char *s, uint16_t *port) {
  unsigned long v = 0;
  if (*s == '\0' || strlen(s) > 5)
    return MPROC_EINVAL;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return MPROC_EINVAL;
    v = v * 10 + (unsigned long)(*s - '0');
  }
  if (v > 65535)
    return MPROC_EINVAL;
  *port = (uint16_t)v;
  return 0;
}

/* "host:port" or "[v6]:port" into a malloc'd host and the port. */
static int parse_tcp(const char *s, char **host, uint16_t *port) {
  const char *colon, *h = s, *hend;
  if (*s == '[') {
    hend = strchr(s, ']');
    if (hend == NULL || hend[1] != ':')
      return MPROC_EINVAL;
    h = s + 1;
    colon = hend + 1;
  } else {
    colon = strrchr(s, ':');
    if (colon == NULL || memchr(s, ':', (size_t)(colon - s)) != NULL)
      return MPROC_EINVAL; /* a bare IPv6 literal is ambiguous: it must be bracketed */
    hend = colon;
  }
  if (hend == h || parse_port(colon + 1, port) != 0)
    return MPROC_EINVAL;
  if ((*host = malloc((size_t)(hend - h) + 1)) == NULL)
    return MPROC_ENOMEM;
  memcpy(*host, h, (size_t)(hend - h));
  (*host)[hend - h] = '\0';
  return 0;
}

/* Parses an address into a and a malloc'd *name that a->name points to. */
static int parse_address(const char *s, os_addr *a, char **name) {
  const char *rest;
  memset(a, 0, sizeof *a);
  *name = NULL;
  if (s == NULL || strlen(s) > ADDR_MAX)
    return MPROC_EINVAL;
  if (has_prefix(s, "unix:@")) {
    a->kind = OS_ADDR_ABSTRACT, rest = s + 6;
  } else if (has_prefix(s, "unix:")) {
    a->kind = OS_ADDR_UNIX, rest = s + 5;
  } else if (has_prefix(s, "pipe:\\\\.\\pipe\\")) {
    a->kind = OS_ADDR_PIPE, rest = s + 5;
    if (rest[9] == '\0')
      return MPROC_EINVAL; /* no pipe name after the prefix */
  } else if (has_prefix(s, "tcp:")) {
    a->kind = OS_ADDR_TCP;
    int rc = parse_tcp(s + 4, name, &a->port);
    a->name = *name;
    return rc;
  } else {
    return MPROC_EINVAL;
  }
  if (*rest == '\0')
    return MPROC_EINVAL;
  if ((*name = malloc(strlen(rest) + 1)) == NULL)
    return MPROC_ENOMEM;
  strcpy(*name, rest);
  a->name = *name;
  return 0;
}

/* The address as the caller would write it, with the real port for port 0. */
static char *format_address(const os_addr *a, uint16_t port) {
  size_t cap = strlen(a->name) + 16;
  char *s = malloc(cap);
  if (s == NULL)
    return NULL;
  switch (a->kind) {
  case OS_ADDR_UNIX: snprintf(s, cap, "unix:%s", a->name); break;
  case OS_ADDR_ABSTRACT: snprintf(s, cap, "unix:@%s", a->name); break;
  case OS_ADDR_PIPE: snprintf(s, cap, "pipe:%s", a->name); break;
  case OS_ADDR_TCP:
    snprintf(s, cap, strchr(a->name, ':') ? "tcp:[%s]:%u" : "tcp:%s:%u", a->name,
             (unsigned)port);
    break;
  }
  return s;
}

/* --- listener ------------------------------------------------------------------------------ */

/* authkey NULL means no authentication. A non-NULL key of length 0 is an empty key that is
 * still used for the handshake, as Python 3.13 does on both sides (and every Python's Client
 * does; a 3.12 Listener skipping it for b"" made its own Client hang). l->key is then a
 * 1-byte allocation with keylen 0. */
static int copy_key(const void *key, size_t keylen, unsigned char **out) {
  *out = NULL;
  if (key == NULL)
    return 0;
  if ((*out = malloc(keylen ? keylen : 1)) == NULL)
    return MPROC_ENOMEM;
  memcpy(*out, key, keylen);
  return 0;
}

int mproc_listener_new(mproc_listener_t **out, const char *address, const void *authkey,
                       size_t keylen, int backlog) {
  if (out == NULL || (authkey == NULL && keylen > 0) || backlog < 0)
    return MPROC_EINVAL;
  mproc_listener_t *l = calloc(1, sizeof *l);
  if (l == NULL)
    return MPROC_ENOMEM;
  int rc = parse_address(address, &l->addr, &l->name);
  if (rc == 0)
    rc = copy_key(authkey, keylen, &l->key);
  l->keylen = l->key ? keylen : 0;
  if (rc == 0)
    rc = os_listen(&l->addr, backlog ? backlog : 1, &l->os);
  if (rc != 0)
    goto fail;
  if ((l->display = format_address(&l->addr, os_listener_port(l->os))) == NULL) {
    rc = MPROC_ENOMEM;
    goto fail;
  }
  *out = l;
  return 0;
fail:
  mproc_listener_close(l);
  return rc;
}

int mproc_listener_accept(mproc_listener_t *l, int64_t timeout_ms, mproc_conn_t **out) {
  os_handle h = OS_INVALID;
  mproc_conn_t *c = NULL;
  if (l == NULL || out == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  if (l->os == NULL)
    return MPROC_ECLOSED;
  int rc = os_accept(l->os, os_deadline(timeout_ms), &h);
  if (rc != 0)
    return rc;
  if ((rc = mp_conn_wrap(h, MP_CONN_READ | MP_CONN_WRITE, &c)) != 0) {
    os_close(h);
    return rc;
  }
  if (l->key && mp_auth_server(c, l->key, l->keylen, os_deadline(MP_HANDSHAKE_MS)) != 0) {
    /* Whatever went wrong (wrong key, garbage, silence, hang-up), this client is dropped and
     * the listener carries on: the caller sees one code for it. */
    mproc_conn_close(c);
    return MPROC_EAUTH;
  }
  *out = c;
  return 0;
}

const char *mproc_listener_address(const mproc_listener_t *l) { return l ? l->display : NULL; }

int mproc_listener_close(mproc_listener_t *l) {
  if (l == NULL)
    return 0;
  os_listener_close(l->os);
  if (l->key) {
    volatile unsigned char *k = l->key; /* a plain memset before free may be optimised away */
    for (size_t i = 0; i < l->keylen; i++)
      k[i] = 0;
    free(l->key);
  }
  free(l->name);
  free(l->display);
  free(l);
  return 0;
}

/* --- client --------------------------------------------------------------------------------- */

int mproc_client(const char *address, const void *authkey, size_t keylen, int64_t timeout_ms,
                 mproc_conn_t **out) {
  os_addr a;
  char *name = NULL;
  os_handle h = OS_INVALID;
  mproc_conn_t *c = NULL;
  if (out == NULL || (authkey == NULL && keylen > 0) || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  int64_t deadline = os_deadline(timeout_ms);
  int rc = parse_address(address, &a, &name);
  if (rc == 0)
    rc = os_connect(&a, deadline, &h);
  if (rc != 0)
    goto fail;
  if ((rc = mp_conn_wrap(h, MP_CONN_READ | MP_CONN_WRITE, &c)) != 0)
    goto fail;
  h = OS_INVALID; /* owned by c now */
  if (authkey && (rc = mp_auth_client(c, authkey, keylen, deadline)) != 0)
    goto fail;
  free(name);
  *out = c;
  return 0;
fail:
  mproc_conn_close(c);
  os_close(h);
  free(name);
  return rc;
}
