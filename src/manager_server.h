/* SPDX-License-Identifier: MIT */
/* The manager server's parts: the registry and object table (manager_server_fn.c), the threads
 * and the request loop (manager_server.c), replies (manager_server_reply.c) and the built-in
 * types (manager_types_*.c). Values the built-in types keep are owned copies of data items. */
#ifndef MPROC_MANAGER_SERVER_H
#define MPROC_MANAGER_SERVER_H

#include "manager.h"
#include "os.h"

/* One data value held by the server: an owned copy of an item's payload. */
typedef struct mgr_val {
  uint8_t type;
  unsigned char *p;
  size_t n;
} mgr_val;

typedef struct mgr_type {
  mproc_manager_type t; /* base resolved: every NULL field filled from base_typeid */
  void *single;         /* singleton: the object, once made */
  char single_id[24];
} mgr_type;

/* References one client process holds on an object. */
typedef struct mgr_owner {
  int64_t pid;
  int64_t n;
} mgr_owner;

typedef struct mgr_obj {
  char id[24];
  uint64_t num;
  mgr_type *type;
  void *obj;
  int64_t refs;
  int pins; /* calls using it now */
  int kept; /* a token naming it was stored by a client: kept at refcount 0 (Python's
               id_to_local_proxy_obj), until the server stops */
  mgr_owner *owners; /* per client process, where the connection told its peer */
  size_t nowners;
  struct mgr_obj *next; /* hash chain */
} mgr_obj;

typedef struct mgr_conn mgr_conn;

/* The in-process server. */
typedef struct mgr_srv {
  os_tlock *lock;     /* tables, thread list, state */
  os_tcond *state_cv; /* thread ends, stop */
  os_tlock *gil;      /* the built-in objects' state */
  os_tcond *gil_cv;   /* any change of a built-in object, and stop */
  int stopping;       /* under lock and gil (read with either held, or atomically) */
  int stopped;        /* every thread has ended (under lock) */
  mproc_listener_t *listener;
  char *address;       /* mproc syntax */
  unsigned char key[64];
  size_t keylen;
  size_t max_message, max_objects;
  unsigned max_connections;
  mgr_type *types;
  size_t ntypes;
  mgr_obj **table;
  size_t tcap, nobjs;
  uint64_t next_id;
  os_thread *acceptor;
  mgr_conn *conns; /* live and finished connection threads */
  struct mgr_peer {
    int64_t pid;
    uint64_t birth;
  } *peers; /* client processes holding references, watched for their exit */
  size_t npeers;
  unsigned nconns_live;
  int shm;      /* a SharedMemoryManager server */
  char **segs;  /* the segment names it tracks (under lock), in the order tracked */
  size_t nsegs;
} mgr_srv;

/* --- manager_server.c ----------------------------------------------------------------------- */
int mproc__mgr_srv_new(const mproc_manager_options *o, mgr_srv **out);
/* Starts listening and serving (types are fixed from then on). */
int mproc__mgr_srv_run(mgr_srv *s);
/* Asks every thread to stop and wakes every waiting method (any thread, idempotent). */
void mproc__mgr_srv_stop(mgr_srv *s);
/* Waits for the stop (a 'shutdown' request or mproc__mgr_srv_stop) and then for every
 * thread, by the deadline: 0 or MPROC_ETIMEDOUT. */
int mproc__mgr_srv_wait(mgr_srv *s, int64_t deadline, int stop_first);
/* After the threads ended: destroys every object and frees the server. */
void mproc__mgr_srv_free(mgr_srv *s);
int mproc__mgr_srv_stopping(mgr_srv *s);

/* --- manager_server_fn.c: registry, objects, dispatch --------------------------------------- */
int mproc__mgr_register(mgr_srv *s, const mproc_manager_type *t);
int mproc__mgr_register_builtins(mgr_srv *s);
/* Serves one decoded request from process pid (0: unknown); appends the reply tuple (kind,
 * result) to reply. *accepted is set when the request was accept_connection. */
void mproc__mgr_handle(mgr_srv *s, const mproc_args_t *req, mproc_args_t *reply, int *accepted,
                       int64_t pid);
/* The object of this server that a proxy argument (RebuildProxy value) names, if its typeid is
 * one of typeids (NULL-terminated), marked kept (it lives until the server stops); NULL when v
 * names no such object of ours. */
void *mproc__mgr_proxy_target(mgr_srv *s, const mgr_val *v, const char *const *typeids);
/* Drops the references of client processes that have exited (the accepting thread calls it
 * between accepts). */
void mproc__mgr_reap_peers(mgr_srv *s);
void mproc__mgr_destroy_all(mgr_srv *s);

/* --- manager_shm.c: SharedMemoryManager's server functions -------------------------------- */
/* track_segment, release_segment, list_segments on a shared-memory server: 1 when name is
 * one of them (reply written), else 0. */
int mproc__mgr_shm_fn(mgr_srv *s, const char *name, const mproc_args_t *args,
                      mproc_args_t *reply);
/* Unlinks every tracked segment (the server stops). */
void mproc__mgr_shm_unlink_all(mgr_srv *s);

/* --- manager_server_reply.c ----------------------------------------------------------------- */
/* Reply tuples: (kind, item i of v) / (kind, None) / (kind, str). */
int mproc__mgr_reply_item(mproc_args_t *reply, const char *kind, const mproc_args_t *v, size_t i);
int mproc__mgr_reply_text(mproc_args_t *reply, const char *kind, const char *fmt, ...)
    MPROC_PRINTF(3, 4);
/* An exception object module.name(args...) appended to out; args may be NULL (no args). */
int mproc__mgr_exception(mproc_args_t *out, const char *module, const char *name,
                         const mproc_args_t *args);
/* builtins.name(v) appended to res; returns MPROC_MANAGER_RAISED (or an error). */
int mproc__mgr_raise_val(mproc_args_t *res, const char *name, const mgr_val *v);
/* The exception for a method's error code (user types and built-ins that return codes). */
int mproc__mgr_exception_for(mproc_args_t *out, int code);
/* A Python object (module.name called by kind MP_PY_REDUCE / MP_PY_NEWOBJ with args, or a bare
 * global: args NULL) appended to out; its state is item si of state (NULL: none). */
int mproc__mgr_pyobject(mproc_args_t *out, const char *module, const char *name, int kind,
                        const mproc_args_t *args, const mproc_args_t *state, size_t si);
/* Token(typeid, address, id) appended to out; address in Python's form. */
int mproc__mgr_token(mproc_args_t *out, const char *typeid, const char *address, const char *id);
/* Encodes reply item 0 as a pickle; on failure re-encodes an '#UNSERIALIZABLE' reply. */
int mproc__mgr_encode_reply(mproc_args_t *reply, mp_buf *b);

/* --- values (manager_types_values.c) --------------------------------------------------------- */
int mproc__mgr_val_set(mgr_val *v, const mproc_args_t *a, size_t i); /* copy item i */
int mproc__mgr_val_from(mgr_val *v, const mgr_val *src);
void mproc__mgr_val_free(mgr_val *v);
int mproc__mgr_val_add(mproc_args_t *a, const mgr_val *v); /* appends a copy */
/* Argument pos (or keyword name) of a call: 1 and *out (a view) when present, else 0. */
int mproc__mgr_arg(const mproc_args_t *args, const mproc_args_t *kw, size_t pos,
                   const char *name, mgr_val *out);
/* Python truth of a bool / int / None argument; float timeouts in ms (None: -1). */
int mproc__mgr_truth(const mgr_val *v);
int mproc__mgr_timeout_ms(const mgr_val *v, int64_t *ms);
int mproc__mgr_val_int(const mgr_val *v, int64_t *out);
/* Waits on the gil's condition until woken, the deadline or stop: 0, MPROC_ETIMEDOUT or
 * MPROC_ECLOSED (stopping). gil held. */
int mproc__mgr_wait(mgr_srv *s, int64_t deadline);

/* --- slices (manager_slice.c) ------------------------------------------------------------- */
/* A slice argument: the parts present (has) and their values; after mproc__mgr_slice_indices
 * for a sequence of a given length, the first index, the step and the number of items. */
typedef struct mgr_slice {
  int64_t f[3];
  int has[3];
  int64_t start, stop, step;
  size_t len;
} mgr_slice;
/* 1 when v is builtins.slice(start, stop, step) with int or None parts. */
int mproc__mgr_slice_of(const mgr_val *v, mgr_slice *s);
/* Python's slice.indices(len): MPROC_EINVAL for a zero step. */
int mproc__mgr_slice_indices(mgr_slice *s, size_t len);
/* Raises ValueError('slice step cannot be zero'). */
int mproc__mgr_slice_step_zero(mproc_args_t *res);

/* Built-in methods: the public method signature, the server as ctx, the gil taken inside. */
#define MGR_METHOD(fn)                                                                     \
  static int fn(void *obj, const mproc_args_t *a, const mproc_args_t *kw, mproc_args_t *res, \
                void *ctx)
#define MGR_LOCK(ctx) mproc__os_tlock_acquire(((mgr_srv *)(ctx))->gil)
#define MGR_UNLOCK(ctx) mproc__os_tlock_release(((mgr_srv *)(ctx))->gil)
#define MGR_WAKE(ctx) mproc__os_tcond_broadcast(((mgr_srv *)(ctx))->gil_cv)
static inline mp_val mgr_view(const mgr_val *v) {
  mp_val m = {v->type, v->p, v->n};
  return m;
}

/* Built-in type tables (manager_types_*.c). */
extern const mproc_manager_type mproc__mgr_containers[];
extern const size_t mproc__mgr_ncontainers;
extern const mproc_manager_type mproc__mgr_queues[];
extern const size_t mproc__mgr_nqueues;
extern const mproc_manager_type mproc__mgr_syncs[];
extern const size_t mproc__mgr_nsyncs;
extern const mproc_manager_type mproc__mgr_values[];
extern const size_t mproc__mgr_nvalues;
extern const mproc_manager_type mproc__mgr_arrays[];
extern const size_t mproc__mgr_narrays;

#endif /* MPROC_MANAGER_SERVER_H */
