/* SPDX-License-Identifier: MIT */
/* Connections, internally: what listener.c and the process-argument code need from
 * connection.c. */
#ifndef MPROC_CONN_H
#define MPROC_CONN_H

#include "internal.h"

enum { MP_CONN_READ = 1, MP_CONN_WRITE = 2 };

/* Wraps an open channel handle (taking ownership) in a connection with the given directions. */
int mproc__conn_wrap(os_handle h, int flags, mproc_conn_t **out);
/* Ownership rule for connections a child receives as arguments: the argument list owns them.
 * mproc_conn_close on such a connection closes its channel only (the pointer stays valid and
 * reports MPROC_ECLOSED); the list frees it once, with mproc__conn_release. */
void mproc__conn_set_list_owned(mproc_conn_t *c);
/* Closes and frees, whoever owns it (the argument list's free). */
void mproc__conn_release(mproc_conn_t *c);
os_handle mproc__conn_handle(const mproc_conn_t *c);
int mproc__conn_flags(const mproc_conn_t *c);
/* Python framing: the header for a message of n bytes (4 bytes, or 12 for n >= 2^31 - 1).
 * Returns the header length. */
size_t mproc__frame_header(uint64_t n, unsigned char hdr[12]);
/* Parses a header from p[0..avail): 0 and *n, *hdr_len when complete; MPROC_EAGAIN when more
 * bytes are needed; MPROC_EPROTO for a negative length other than -1 or an 8-byte length
 * above MPROC_MSG_MAX. */
int mproc__frame_parse(const unsigned char *p, size_t avail, uint64_t *n, size_t *hdr_len);
/* Sends / receives one whole message with a deadline (the handshake uses these). */
int mproc__conn_send_msg(mproc_conn_t *c, const void *buf, size_t n, int64_t deadline);
int mproc__conn_recv_msg(mproc_conn_t *c, size_t maxlength, int64_t deadline, void **out,
                     size_t *size);

/* For a connection this process alone reads, request after reply (a manager's): receives
 * block in the kernel up to ms at a time (mproc__os_chan_set_read_slice) instead of polling
 * first. MPROC_ENOTSUP where the backend waits in one call anyway (Windows); the connection
 * then works as before. */
int mproc__conn_read_slice(mproc_conn_t *c, int ms);

/* 1 if bytes are already buffered (a receive would not need the OS first). */
int mproc__conn_ready_now(const mproc_conn_t *c);

/* Fork child: takes the registry of connections inherited from the parent; then closes those
 * not passed to the child (keep) and marks every inherited copy closed. */
void *mproc__conn_detach_all(void);
void mproc__conn_close_detached(void *list, const os_handle *keep, size_t nkeep);

#endif
