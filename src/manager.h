/* SPDX-License-Identifier: MIT */
/* Manager internals shared by the server side (manager_server*.c, manager_types*.c) and the
 * client side (manager_client.c, proxy*.c). Both speak Python's manager protocol: after the
 * connection handshake every message is one pickle (src/pickle.h) of a request tuple
 * (ident, method, args, kwds) or a reply tuple (kind, result). */
#ifndef MPROC_MANAGER_H
#define MPROC_MANAGER_H

#include "args.h"
#include "mproc.h"

/* Reply kinds, as Python writes them. */
#define MP_MGR_RETURN "#RETURN"
#define MP_MGR_ERROR "#ERROR"
#define MP_MGR_TRACEBACK "#TRACEBACK"
#define MP_MGR_UNSERIALIZABLE "#UNSERIALIZABLE"
#define MP_MGR_PROXY "#PROXY"

/* The one-connection session: a client names its accept_connection connection this; an mproc
 * server answers with the same string (Python's answers None) and then serves server
 * functions (create, incref, decref, ...) on that connection as well as object calls, so an
 * mproc client talking to an mproc server needs no fresh connection per create or decref. */
#define MP_MGR_SESSION "mproc-session/1"

/* The remote exceptions both sides know, with the code a C client maps each to. The server
 * chooses the exception per type and method (a missing dict key is KeyError, a missing
 * Namespace attribute AttributeError, both MPROC_ENOENT here); a client maps any exception
 * not listed to MPROC_EREMOTE. Messages travel as the exception's first argument. */
#define MP_MGR_EXCEPTIONS(X)                         \
  X("builtins", "KeyError", MPROC_ENOENT)            \
  X("builtins", "AttributeError", MPROC_ENOENT)      \
  X("builtins", "IndexError", MPROC_ERANGE)          \
  X("builtins", "TypeError", MPROC_ETYPE)            \
  X("builtins", "ValueError", MPROC_EINVAL)          \
  X("builtins", "RuntimeError", MPROC_EREMOTE)       \
  X("builtins", "TimeoutError", MPROC_ETIMEDOUT)     \
  X("builtins", "StopIteration", MPROC_EEOF)         \
  X("_queue", "Empty", MPROC_EEMPTY)                 \
  X("queue", "Empty", MPROC_EEMPTY)                  \
  X("queue", "Full", MPROC_EFULL)                    \
  X("queue", "ShutDown", MPROC_ECLOSED)              \
  X("threading", "BrokenBarrierError", MPROC_EBROKEN)

/* An mproc address as Python writes it in a Token, appended to a: a str (a unix path, a pipe
 * name, an abstract name with its leading NUL) or a (host, port) tuple (manager_client.c). */
int mproc__mgr_py_address(const char *address, mproc_args_t *a);

typedef struct mp_mgr_server mp_mgr_server; /* manager_server.c */
typedef struct mp_mgr_client mp_mgr_client; /* manager_client.c */

/* A manager handle: the server this process runs (NULL after mproc_manager_connect) and the
 * client session every proxy created through the handle calls through. */
struct mproc_manager {
  mp_mgr_server *server;
  mp_mgr_client *client;
  char **segs; /* segments this handle had a SharedMemoryManager track (manager_shm.c) */
  size_t nsegs;
};

/* At mproc_manager_free (manager_shm.c): unlinks the segments this handle had tracked when
 * their server is gone (killed: it could not unlink them), then forgets them. */
void mproc__mgr_shm_orphans(mproc_manager_t *m);

/* Client side (manager_client.c): a session with the manager at address. o may be NULL
 * (defaults); only its call_timeout_ms and max_message are read. */
int mproc__mgr_client_open(const char *address, const void *authkey, size_t keylen,
                           const mproc_manager_options *o, int64_t timeout_ms,
                           mp_mgr_client **out);
/* Ends the session: closes its connections (references held by its proxies are the proxies'
 * business). NULL is accepted. */
void mproc__mgr_client_free(mp_mgr_client *c);

#endif /* MPROC_MANAGER_H */
