/* SPDX-License-Identifier: MIT */
/* The authkey handshake of Python's multiprocessing.connection (deliver_challenge /
 * answer_challenge), both the modern "{sha256}" form (3.12+) and the legacy raw HMAC-MD5 form
 * (<= 3.11). docs/connection.md has the wire description and the compatibility matrix. */
#ifndef MPROC_AUTH_H
#define MPROC_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "mproc.h"

/* Every handshake message is read with this limit, as Python's recv_bytes(256). */
#define MP_AUTH_MSG_MAX 256
/* Random bytes in our challenge (Python 3.12's MESSAGE_LENGTH). */
#define MP_AUTH_NONCE_LEN 40
/* Longest response: "{sha256}" + 32 bytes. */
#define MP_AUTH_RESPONSE_MAX 48

/* Pure parts, exposed for tests and fuzzing; all return 0 or MPROC_EAUTH. */

/* From a received challenge message (with its "#CHALLENGE#" prefix) to the response bytes. */
int mproc__auth_respond(const void *key, size_t keylen, const unsigned char *msg, size_t n,
                    unsigned char resp[MP_AUTH_RESPONSE_MAX], size_t *resp_len);
/* Checks a response to the challenge payload we sent (without "#CHALLENGE#"). */
int mproc__auth_verify(const void *key, size_t keylen, const unsigned char *challenge, size_t cn,
                   const unsigned char *resp, size_t rn);

/* On a connection, by the deadline: the server side (deliver, then answer) and the client side
 * (answer, then deliver). MPROC_EAUTH for a wrong key or a malformed or oversized message;
 * transport errors (MPROC_ETIMEDOUT, MPROC_EEOF, ...) as they are. */
int mproc__auth_server(mproc_conn_t *c, const void *key, size_t keylen, int64_t deadline);

/* The server side as a state machine that never waits for the peer, so one thread can drive
 * many handshakes at once (the listener). start sends our challenge; each step consumes what
 * has arrived: 0 when the handshake is complete, MPROC_EAGAIN when more input is needed,
 * anything else when the client failed (it was told "#FAILURE#" where the protocol says so).
 * write_deadline bounds our own small writes only. */
#define MP_AUTH_CHALLENGE_LEN (8 + MP_AUTH_NONCE_LEN) /* "{sha256}" + nonce */
typedef struct mp_auth_srv {
  int state; /* what we wait for: their answer, their challenge, their verdict */
  unsigned char challenge[MP_AUTH_CHALLENGE_LEN];
} mp_auth_srv;
int mproc__auth_server_start(mproc_conn_t *c, mp_auth_srv *s, int64_t write_deadline);
int mproc__auth_server_step(mproc_conn_t *c, mp_auth_srv *s, const void *key, size_t keylen,
                        int64_t write_deadline);
int mproc__auth_client(mproc_conn_t *c, const void *key, size_t keylen, int64_t deadline);

#endif
