/* SPDX-License-Identifier: MIT */
/* The client side of the manager, internally: the session (manager_client.c) that proxies
 * (proxy*.c) call through, and the proxy record itself. */
#ifndef MPROC_PROXY_H
#define MPROC_PROXY_H

#include "manager.h"

/* A session: the manager's address and key, and the pool of idle object-call connections.
 * Counted references: the manager handle and every proxy hold one. */
/* A pooled connection at rest, with the replies it still owes: requests sent without waiting
 * (mproc__mgr_server_post), read by whoever takes the connection next. */
struct mgr_idle {
  mproc_conn_t *conn;
  uint32_t owed;
};

struct mp_mgr_client {
  char *address;         /* mproc syntax ("unix:/p", "tcp:h:p", "pipe:...") */
  unsigned char *key;    /* NULL: no key */
  size_t keylen;
  int64_t call_timeout_ms; /* atomic: mproc_manager_set_call_timeout may run beside calls */
  size_t max_message;
  int64_t pid;           /* the process that opened it (a fork child never shares it) */
  int refs;              /* under the module lock */
  int dead;              /* atomic: the server is gone (EOF or refused) */
  int native;            /* atomic: 1 the server serves server functions on pooled connections
                            (an mproc server), -1 it does not (Python's), 0 not known yet */
  struct mgr_idle *idle; /* connections that said accept_connection, not in use */
  size_t nidle, capidle;
  mp_mgr_client *next;   /* the process's list of sessions */
};

struct mproc_proxy {
  mp_mgr_client *c; /* one reference */
  char *typeid;
  char *id;
  char *proxytype;  /* Python's proxy class name for the typeid (DictProxy, AutoProxy, ...) */
  mproc_args_t *exposed; /* the method names (str items) the server reported; may be empty */
};

/* A server function whose reply nobody waits for (a proxy's decref): on a server that speaks
 * the one-connection session, sent now and its reply read before the connection's next
 * request; on any other server, mproc__mgr_server_call. */
void mproc__mgr_server_post(mp_mgr_client *c, const char *fn, const mproc_args_t *args);

/* Deadline of a call whose operation may itself wait op_ms (MPROC_FOREVER: none). */
int64_t mproc__mgr_deadline(const mp_mgr_client *c, int64_t op_ms);
/* A server function (ident None) on a fresh connection: *result gets the reply's value. */
int mproc__mgr_server_call(mp_mgr_client *c, const char *fn, const mproc_args_t *args,
                           const mproc_args_t *kwargs, int64_t deadline, mproc_args_t **result);
/* An object call on a pooled accept_connection connection. *reply is the decoded reply
 * tuple's items (kind, result); the caller interprets them (mproc__mgr_result). */
int mproc__mgr_object_call(mp_mgr_client *c, const char *ident, const char *method,
                           const mproc_args_t *args, const mproc_args_t *kwargs,
                           int64_t deadline, mproc_args_t **reply);
/* A reply's items (kind, result): 0 and *result (a one-item list) for '#RETURN'; 1 for
 * '#PROXY' (*result: exposed tuple, token); the mapped code for errors (message set). */
int mproc__mgr_result(const mproc_args_t *reply, mproc_args_t **result);
/* Session references (module lock). find: a session of this process for (address, key: NULL
 * for none), opened (not yet connected) when there is none; any_key: whichever session is
 * connected at that address, MPROC_ENOENT when none. */
void mproc__mgr_client_ref(mp_mgr_client *c);
void mproc__mgr_client_unref(mp_mgr_client *c);
int mproc__mgr_client_find(const char *address, const void *key, size_t keylen, int any_key,
                           mp_mgr_client **out);
/* The reverse: item i of a (a token's address) in mproc syntax, into buf. */
int mproc__mgr_mp_address(const mproc_args_t *a, size_t i, char *buf, size_t cap);

/* proxy_args.c: args for the wire (a proxy added with mproc_args_add_proxy loses its key):
 * *out NULL when in can be sent as it is. */
int mproc__proxy_wire_args(const mproc_args_t *in, mproc_args_t **out);

/* proxy.c */
int mproc__proxy_new(mp_mgr_client *c, const char *typeid, const char *id,
                     const char *proxytype, const mproc_args_t *exposed, mproc_proxy_t **out);
/* Python's proxy class for a typeid ("AutoProxy" for those it does not know). */
const char *mproc__proxy_type_for(const char *typeid);
/* A proxy from a '#PROXY' reply's (exposed, token) (adopts the server's reference). */
int mproc__proxy_from_reply(mp_mgr_client *c, const mproc_args_t *res, mproc_proxy_t **out);

#endif /* MPROC_PROXY_H */
