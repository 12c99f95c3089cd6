/* SPDX-License-Identifier: MIT */
/*
 * Internals shared by the portable core: growable buffers and readers for the wire format,
 * framed records on a channel, argument lists, target references and the per-process state
 * a child learns at bootstrap. Nothing here is platform-specific.
 */
#ifndef MPROC_INTERNAL_H
#define MPROC_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "mproc.h"
#include "os.h"

/* error.c: the calling thread's raw OS error and mproc_last_error_message(). */
void mproc__set_os_error(int raw);
void mproc__set_error_message(const char *fmt, ...) MPROC_PRINTF(1, 2);
void mproc__clear_error_message(void);

/* --- wire.c: little-endian encoding ------------------------------------------------------ */
typedef struct mp_buf {
  unsigned char *data;
  size_t len, cap;
  int err; /* sticky: first failure (MPROC_ENOMEM / MPROC_EMSGSIZE) */
} mp_buf;

void mproc__buf_init(mp_buf *b);
void mproc__buf_free(mp_buf *b);
int mproc__buf_reserve(mp_buf *b, size_t extra);
/* Capacity of exactly n bytes (no doubling: a queue item can be huge), contents kept; a buffer
 * reused across receives. */
int mproc__buf_fit(mp_buf *b, size_t n);
void mproc__put(mp_buf *b, const void *p, size_t n);
void mproc__put_u8(mp_buf *b, uint8_t v);
void mproc__put_u32(mp_buf *b, uint32_t v);
void mproc__put_u64(mp_buf *b, uint64_t v);
void mproc__put_str(mp_buf *b, const char *s); /* u32 length + bytes (no NUL) */
void mproc__put_blob(mp_buf *b, const void *p, size_t n); /* u64 length + bytes */

typedef struct mp_rd {
  const unsigned char *p;
  size_t len, pos;
  int err; /* sticky MPROC_EPROTO on any overrun */
} mp_rd;

void mproc__rd_init(mp_rd *r, const void *p, size_t len);
uint8_t mproc__get_u8(mp_rd *r);
uint32_t mproc__get_u32(mp_rd *r);
uint64_t mproc__get_u64(mp_rd *r);
/* Returns a malloc'd NUL-terminated copy, or NULL (r->err set). */
char *mproc__get_str(mp_rd *r);
/* Points into the reader's memory; NULL with *n = 0 on error. */
const void *mproc__get_blob(mp_rd *r, size_t *n);

/* Records on a channel: u32 type, u64 payload length, payload. */
enum {
  MP_REC_BOOT = 1,      /* parent -> child: everything the child needs */
  MP_REC_READY = 2,     /* reserved: once "target resolved"; no longer sent */
  MP_REC_FAIL = 3,      /* child -> parent: mproc_fail message (i32 code, str) */
  MP_REC_CHILD_ERR = 4, /* child -> parent: bootstrap failed (i32 MPROC_E*, str) */
  MP_REC_EXIT = 5,      /* child -> parent: target returned (i32 code) */
  MP_REC_FS_FORK = 6,   /* client -> forkserver: fork a child (u8 daemon) + 2 handles */
  MP_REC_FS_PID = 7,    /* forkserver -> client: i64 pid (+ pidfd handle) */
  MP_REC_FS_STATUS = 8  /* forkserver -> client: i32 exit status */
};
#define MP_REC_MAX_SMALL ((uint64_t)1 << 20)
int mproc__rec_send(os_handle h, uint32_t type, const void *payload, size_t n, int64_t deadline);
/* Reads one whole record. A record cut short by EOF is MPROC_EPEERGONE; EOF before the first
 * byte is MPROC_EEOF; payloads above max are MPROC_EPROTO. */
int mproc__rec_recv(os_handle h, uint32_t *type, mp_buf *payload, uint64_t max, int64_t deadline);
/* The same for a record whose first k bytes were read already (head; at most the whole
 * record): reads the rest, if any. */
int mproc__rec_recv_rest(os_handle h, const unsigned char *head, size_t k, uint32_t *type,
                         mp_buf *payload, uint64_t max, int64_t deadline);

/* --- args.c ------------------------------------------------------------------------------- */
void mproc__args_encode(const mproc_args_t *a, mp_buf *b);
/* PLAIN: connections and shared objects are refused (typed messages); COPY: a parent-side
 * copy (such items keep their handle values, owning nothing); CHILD: they become connections
 * and objects the args own. Their handles arrive either as the encoded values (inherited as
 * they are; handles == NULL) or renumbered: the k-th distinct handle value, in the order
 * mproc__args_handles lists them, is handles[k]. Arrived handles nobody keeps are closed. */
enum { MP_ARGS_PLAIN, MP_ARGS_COPY, MP_ARGS_CHILD };
int mproc__args_decode(mp_rd *r, mproc_args_t **out, int mode, const os_handle *handles,
                   size_t nhandles);
/* 1 if the list carries handles (connections or shared objects). */
int mproc__args_has_handles(const mproc_args_t *a);
/* Distinct handle values the items carry, in order; returns how many there are. */
size_t mproc__args_handles(const mproc_args_t *a, os_handle *out, size_t cap);
/* Handles a child can receive through a start method (forkserver uses two more itself). */
#define MP_MAX_PASSED_HANDLES (OS_MAX_SEND_HANDLES - 2)
/* Attaches a private copy of the bound state (child side). */
int mproc__args_set_self(mproc_args_t *a, const void *self, size_t size);
size_t mproc__args_encoded_size(const mproc_args_t *a);

/* --- target.c ----------------------------------------------------------------------------- */
#define MP_MODULE_MAX 4096
typedef struct mp_target_ref {
  char module[MP_MODULE_MAX]; /* "" = main executable */
  uint64_t offset;
  uint64_t hash;     /* FNV-1a of the first hash_len code bytes: a build fingerprint */
  uint32_t hash_len;
} mp_target_ref;

int mproc__target_locate(mproc_target_fn fn, mp_target_ref *ref);
void mproc__target_encode(const mp_target_ref *ref, mp_buf *b);
int mproc__target_decode(mp_rd *r, mp_target_ref *ref);
/* MPROC_ENOTARGET (not loadable) or MPROC_EBUILDMISMATCH (different code there). */
int mproc__target_resolve(const mp_target_ref *ref, mproc_target_fn *fn);

/* --- closer.c: handles a fork child drops, closed together -------------------------------- */
#define MP_CLOSER_MAX 256
typedef struct mp_closer {
  os_handle h[MP_CLOSER_MAX];
  size_t n;
} mp_closer;
/* Adds h (OS_INVALID is ignored); a full set is closed first. */
void mproc__closer_add(mp_closer *c, os_handle h);
/* Closes everything added (each distinct handle once) and empties the set. */
void mproc__closer_flush(mp_closer *c);

/* --- boot.c: the child side, the same for every start method ------------------------------ */
#define MP_BOOT_ENV "MPROC_BOOTSTRAP"
/* BOOT records up to this size are sent before the child exists (fits any channel buffer). */
#define MP_BOOT_PRESEND_MAX 4096
/* How a child starts: its channel to the parent, the start method, the handles it was passed
 * (renumbered, for forkserver; NULL when they kept their values) and, under fork, what it
 * has in its copy of the parent's memory. */
typedef struct mp_child_start {
  os_handle chan;
  mproc_start_method method;
  const os_handle *handles;
  size_t nhandles;
  /* fork: the target itself (the child is the parent's image: no lookup in the loader, whose
   * locks another thread may have held at the fork); NULL otherwise */
  mproc_target_fn direct;
  /* fork: the BOOT record as the parent encoded it, read from memory instead of the channel
   * (the same record and the same decoding as every method; only the transport differs) */
  const void *boot;
  size_t boot_len;
  os_handle drop; /* fork: the channel's parent end, closed with the other inherited handles */
} mp_child_start;
/* Runs the target described by the BOOT record; never returns. */
void mproc__child_main(const mp_child_start *cs);
/* fflush of stdout and stderr, skipped for a stream with nothing pending where that is known. */
void mproc__flush_std(void);
/* Fills the BOOT record for p (process.c provides the fields). */
typedef struct mp_boot {
  mproc_start_method method;
  int dies_with_parent; /* a daemon, or started inside a process that dies with its parent */
  int64_t parent_pid;
  const char *name;
  const char *ident; /* the child's identity, for its children's default names */
  const mp_target_ref *target;
  const void *self;
  size_t self_size;
  const mproc_args_t *args;
} mp_boot;
void mproc__boot_encode(const mp_boot *bt, mp_buf *b);
/* State of this process as a child: name, parent pid, its channel to the parent. */
int mproc__is_bootstrapped_child(void);
os_handle mproc__child_chan(void);
/* argv recorded by mproc_main (NULL if it was never called). */
char *const *mproc__main_argv(void);
int mproc__main_called(void);
/* The program and argv a spawned process (a spawn child, the forkserver's server) runs
 * (executable.c): 1 with exe filled when mproc_set_executable named one, else 0 (the running
 * program). *argv: mproc_main's argv, or {exe} in a host that never called mproc_main;
 * self_argv is the caller's storage for that. */
int mproc__spawn_program(char *exe, size_t cap, char *self_argv[2], char *const **argv);
/* 1 when this process was spawned and has not run mproc_main yet (the env token is set). */
int mproc__bootstrap_pending(void);

/* --- process.c ---------------------------------------------------------------------------- */
/* In a fresh fork child: forget the parent's children, close their handles. */
void mproc__process_after_fork_child(mp_closer *c);
/* In a child, from its BOOT record: its identity ("K", "K:J"), which its children's default
 * names extend (CPython: "Process-K:1"). */
void mproc__process_set_identity(const char *ident);
/* In a child that dies with its parent: so do the children it starts (docs/lifecycle.md). */
void mproc__process_set_dies_with_parent(int dies);
/* For mproc_wait: 1 if p has exited already, else 0 and *h = the handle that signals its exit;
 * a negative code for a process that was never started. */
int mproc__process_wait_handle(mproc_process_t *p, os_handle *h);
/* Terminates daemon children and joins the rest (Python's exit function). */
void mproc__process_exit_hook(void);
/* Runs fn at the start of the exit hook (the pool module: terminate live pools). */
void mproc__process_set_exit_prelude(void (*fn)(void));

/* --- forkserver.c ------------------------------------------------------------------------- */
/* Client: asks the server to fork a child that runs the BOOT record sent later on the
 * child's channel. *status_chan becomes readable when the server reports the exit status. */
int mproc__forkserver_fork(int daemon, os_handle child_end, const os_handle *extra, size_t nextra,
                       os_proc *proc, os_handle *status_chan);
/* Reads the exit status the server sent on status_chan (MPROC_ETIMEDOUT if not yet there). */
int mproc__forkserver_status(os_handle status_chan, int64_t deadline, int *status);
/* The server loop, entered from mproc_main; never returns. */
void mproc__forkserver_serve(os_handle ctl);
/* In a fork child: drop the client connection inherited from the parent. */
void mproc__forkserver_after_fork_child(mp_closer *c);

/* shared.c: an integer element of the host's C type (1, 2, 4 or 8 bytes), zero-extended. */
uint64_t mproc__load_uint(const unsigned char *p, size_t size);

#endif /* MPROC_INTERNAL_H */
