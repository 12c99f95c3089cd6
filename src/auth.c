/* SPDX-License-Identifier: MIT */
/*
 * The authkey handshake, byte for byte what CPython's multiprocessing.connection does.
 *
 * One round (the server runs it first as challenger, then the client does):
 *   challenger -> "#CHALLENGE#" + M
 *   answerer   -> response = "{name}" + HMAC-name(key, M)     (M starts with "{name}")
 *              or           HMAC-MD5(key, M), raw 16 bytes   (legacy: M is 20 bytes long)
 *   challenger -> "#WELCOME#" or "#FAILURE#"
 * We challenge with M = "{sha256}" + 40 random bytes, as Python 3.12+ does. A 3.11 peer cannot
 * parse the prefix but needs not: it answers with raw HMAC-MD5 over all of M, which we accept
 * (the prefix is inside the MAC, so a peer cannot downgrade a prefixed answer). That one form
 * serves both generations, so there is no choice to configure.
 *
 * Every message is read with a 256-byte limit under one deadline: an unauthenticated peer can
 * make us buffer a few KiB at most and hold us until the deadline at most.
 */
#include "auth.h"

#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "crypto.h"
#include "alloc.h"

static const char CHALLENGE[] = "#CHALLENGE#";
static const char WELCOME[] = "#WELCOME#";
static const char FAILURE[] = "#FAILURE#";
#define LIT_LEN(s) (sizeof(s) - 1)

/* Python's _MD5ONLY_MESSAGE_LENGTH and _MD5_DIGEST_LEN: a message of either length carries no
 * "{name}" prefix. No prefixed message can be that short, so the length alone decides. */
#define LEGACY_CHALLENGE_LEN 20
#define LEGACY_RESPONSE_LEN 16
#define DIGEST_NAME_MAX 8 /* longest name Python allows: "sha3_384" */

/* --- pure parsing ------------------------------------------------------------------------- */

/* Splits "{name}payload" (or a legacy unprefixed message) into the hash to use and the
 * payload. Names Python allows but we do not implement (sha384, sha3_*) are MPROC_EAUTH: the
 * peer then gets "#FAILURE#", as a Python without that hash would answer. */
static int split_digest(const unsigned char *m, size_t n, mp_hash_alg *alg, int *prefixed,
                        size_t *payload_off) {
  if (n == LEGACY_CHALLENGE_LEN || n == LEGACY_RESPONSE_LEN) {
    *alg = MP_HASH_MD5, *prefixed = 0, *payload_off = 0;
    return 0;
  }
  if (n < 2 || m[0] != '{')
    return MPROC_EAUTH;
  size_t close = 1;
  while (close < n && close <= DIGEST_NAME_MAX + 1 && m[close] != '}')
    close++;
  if (close >= n || m[close] != '}')
    return MPROC_EAUTH;
  size_t len = close - 1;
  if (len == 6 && memcmp(m + 1, "sha256", 6) == 0)
    *alg = MP_HASH_SHA256;
  else if (len == 3 && memcmp(m + 1, "md5", 3) == 0)
    *alg = MP_HASH_MD5;
  else
    return MPROC_EAUTH;
  *prefixed = 1, *payload_off = close + 1;
  return 0;
}

int mproc__auth_respond(const void *key, size_t keylen, const unsigned char *msg, size_t n,
                    unsigned char resp[MP_AUTH_RESPONSE_MAX], size_t *resp_len) {
  if (n < LIT_LEN(CHALLENGE) || memcmp(msg, CHALLENGE, LIT_LEN(CHALLENGE)) != 0)
    return MPROC_EAUTH;
  msg += LIT_LEN(CHALLENGE), n -= LIT_LEN(CHALLENGE);
  if (n < LEGACY_CHALLENGE_LEN) /* too little randomness to be worth answering */
    return MPROC_EAUTH;
  mp_hash_alg alg;
  int prefixed;
  size_t off;
  if (split_digest(msg, n, &alg, &prefixed, &off) != 0)
    return MPROC_EAUTH;
  size_t pre = prefixed ? off : 0; /* "{name}" is echoed in front of the MAC */
  memcpy(resp, msg, pre);
  mproc__hmac(alg, key, keylen, msg, n, resp + pre); /* the MAC covers the prefix too */
  *resp_len = pre + mproc__hash_len(alg);
  return 0;
}

int mproc__auth_verify(const void *key, size_t keylen, const unsigned char *challenge, size_t cn,
                   const unsigned char *resp, size_t rn) {
  unsigned char want[MP_HASH_MAX_LEN];
  mp_hash_alg alg;
  int prefixed;
  size_t off;
  if (split_digest(resp, rn, &alg, &prefixed, &off) != 0)
    return MPROC_EAUTH;
  if (rn - off != mproc__hash_len(alg))
    return MPROC_EAUTH;
  mproc__hmac(alg, key, keylen, challenge, cn, want);
  return mproc__ct_equal(want, resp + off, rn - off) ? 0 : MPROC_EAUTH;
}

/* --- on a connection ------------------------------------------------------------------------ */

/* One bounded handshake message. Oversized or badly framed input is the peer failing the
 * handshake, not a transport problem. */
static int recv_small(mproc_conn_t *c, int64_t deadline, unsigned char **m, size_t *n) {
  void *p = NULL;
  int rc = mproc__conn_recv_msg(c, MP_AUTH_MSG_MAX, deadline, &p, n);
  if (rc == MPROC_EMSGSIZE || rc == MPROC_EPROTO)
    return MPROC_EAUTH;
  *m = p;
  return rc;
}

static int is_msg(const unsigned char *m, size_t n, const char *lit, size_t len) {
  return n == len && memcmp(m, lit, len) == 0;
}

/* Challenger side of one round. */
static int deliver(mproc_conn_t *c, const void *key, size_t keylen, int64_t deadline) {
  unsigned char msg[LIT_LEN(CHALLENGE) + 8 + MP_AUTH_NONCE_LEN], *resp = NULL;
  const size_t pre = LIT_LEN(CHALLENGE) + 8; /* "#CHALLENGE#{sha256}" */
  size_t rn = 0;
  memcpy(msg, CHALLENGE, LIT_LEN(CHALLENGE));
  memcpy(msg + LIT_LEN(CHALLENGE), "{sha256}", 8);
  int rc = mproc__os_random(msg + pre, MP_AUTH_NONCE_LEN);
  if (rc == 0)
    rc = mproc__conn_send_msg(c, msg, sizeof msg, deadline);
  if (rc == 0)
    rc = recv_small(c, deadline, &resp, &rn);
  if (rc != 0)
    goto done;
  rc = mproc__auth_verify(key, keylen, msg + LIT_LEN(CHALLENGE), sizeof msg - LIT_LEN(CHALLENGE),
                      resp, rn);
  if (rc == 0)
    rc = mproc__conn_send_msg(c, WELCOME, LIT_LEN(WELCOME), deadline);
  else /* tell the peer, as Python does; its failure to read that changes nothing here */
    mproc__conn_send_msg(c, FAILURE, LIT_LEN(FAILURE), deadline);
done:
  mproc__free(resp);
  return rc;
}

/* Answerer side of one round. */
static int answer(mproc_conn_t *c, const void *key, size_t keylen, int64_t deadline) {
  unsigned char *m = NULL, resp[MP_AUTH_RESPONSE_MAX];
  size_t n = 0, rn = 0;
  int rc = recv_small(c, deadline, &m, &n);
  if (rc == 0)
    rc = mproc__auth_respond(key, keylen, m, n, resp, &rn);
  mproc__free(m);
  m = NULL;
  if (rc == 0)
    rc = mproc__conn_send_msg(c, resp, rn, deadline);
  if (rc == 0)
    rc = recv_small(c, deadline, &m, &n);
  if (rc == 0 && !is_msg(m, n, WELCOME, LIT_LEN(WELCOME)))
    rc = MPROC_EAUTH;
  mproc__free(m);
  return rc;
}

/* --- the server side without waiting -------------------------------------------------------- */

enum { AWAIT_ANSWER = 1, AWAIT_CHALLENGE = 2, AWAIT_VERDICT = 3 };

int mproc__auth_server_start(mproc_conn_t *c, mp_auth_srv *s, int64_t write_deadline) {
  unsigned char msg[LIT_LEN(CHALLENGE) + MP_AUTH_CHALLENGE_LEN];
  memcpy(s->challenge, "{sha256}", 8);
  int rc = mproc__os_random(s->challenge + 8, MP_AUTH_NONCE_LEN);
  if (rc != 0)
    return rc;
  memcpy(msg, CHALLENGE, LIT_LEN(CHALLENGE));
  memcpy(msg + LIT_LEN(CHALLENGE), s->challenge, MP_AUTH_CHALLENGE_LEN);
  s->state = AWAIT_ANSWER;
  return mproc__conn_send_msg(c, msg, sizeof msg, write_deadline);
}

/* Acts on one whole message m of n bytes. */
static int server_on_msg(mproc_conn_t *c, mp_auth_srv *s, const void *key, size_t keylen,
                         const unsigned char *m, size_t n, int64_t wd) {
  unsigned char resp[MP_AUTH_RESPONSE_MAX];
  size_t rn = 0;
  int rc;
  switch (s->state) {
  case AWAIT_ANSWER:
    rc = mproc__auth_verify(key, keylen, s->challenge, sizeof s->challenge, m, n);
    if (rc != 0) { /* tell the peer, as Python does; its failure to read that changes nothing */
      mproc__conn_send_msg(c, FAILURE, LIT_LEN(FAILURE), wd);
      return rc;
    }
    s->state = AWAIT_CHALLENGE;
    return mproc__conn_send_msg(c, WELCOME, LIT_LEN(WELCOME), wd);
  case AWAIT_CHALLENGE:
    rc = mproc__auth_respond(key, keylen, m, n, resp, &rn);
    s->state = AWAIT_VERDICT;
    return rc ? rc : mproc__conn_send_msg(c, resp, rn, wd);
  case AWAIT_VERDICT:
    s->state = 0;
    return is_msg(m, n, WELCOME, LIT_LEN(WELCOME)) ? 1 : MPROC_EAUTH;
  default:
    return MPROC_ESTATE;
  }
}

int mproc__auth_server_step(mproc_conn_t *c, mp_auth_srv *s, const void *key, size_t keylen,
                        int64_t write_deadline) {
  for (;;) {
    unsigned char *m = NULL;
    size_t n = 0;
    /* A deadline already passed reads only what is there; a partial message stays buffered
     * in the connection for the next step. */
    int rc = recv_small(c, mproc__os_deadline(0), &m, &n);
    if (rc == MPROC_ETIMEDOUT)
      return MPROC_EAGAIN;
    if (rc == 0)
      rc = server_on_msg(c, s, key, keylen, m, n, write_deadline);
    mproc__free(m);
    if (rc != 0)
      return rc == 1 ? 0 : rc;
  }
}

/* The blocking form: the same state machine, waiting for input by the deadline. */
int mproc__auth_server(mproc_conn_t *c, const void *key, size_t keylen, int64_t deadline) {
  mp_auth_srv s;
  int rc = mproc__auth_server_start(c, &s, deadline);
  while (rc == 0 && (rc = mproc__auth_server_step(c, &s, key, keylen, deadline)) == MPROC_EAGAIN) {
    os_handle h = mproc__conn_handle(c);
    size_t idx;
    rc = mproc__os_wait_any(&h, 1, deadline, &idx);
  }
  return rc;
}

int mproc__auth_client(mproc_conn_t *c, const void *key, size_t keylen, int64_t deadline) {
  int rc = answer(c, key, keylen, deadline);
  return rc ? rc : deliver(c, key, keylen, deadline);
}
