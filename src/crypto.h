/* SPDX-License-Identifier: MIT */
/* Hashes and MACs for the Listener/Client handshake: SHA-256 (FIPS 180-4), MD5 (RFC 1321, only
 * because Python <= 3.11 authenticates with HMAC-MD5), HMAC over either (RFC 2104), and a
 * comparison whose time does not depend on where the inputs differ. */
#ifndef MPROC_CRYPTO_H
#define MPROC_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define MP_SHA256_LEN 32
#define MP_MD5_LEN 16
#define MP_HASH_MAX_LEN 32
#define MP_HASH_BLOCK 64 /* both hashes use 64-byte blocks */

typedef struct mp_hash_ctx {
  uint32_t h[8];
  uint64_t total; /* bytes hashed so far */
  unsigned char block[MP_HASH_BLOCK];
  size_t used;
  int md5; /* 1: MD5, 0: SHA-256 */
} mp_hash_ctx;

typedef enum mp_hash_alg { MP_HASH_SHA256 = 0, MP_HASH_MD5 = 1 } mp_hash_alg;

size_t mproc__hash_len(mp_hash_alg alg);
void mproc__hash_init(mp_hash_ctx *c, mp_hash_alg alg);
void mproc__hash_update(mp_hash_ctx *c, const void *data, size_t n);
/* Writes mproc__hash_len() bytes and wipes the context. */
void mproc__hash_final(mp_hash_ctx *c, unsigned char *out);
void mproc__hash(mp_hash_alg alg, const void *data, size_t n, unsigned char *out);

void mproc__sha256(const void *data, size_t n, unsigned char out[MP_SHA256_LEN]);
void mproc__md5(const void *data, size_t n, unsigned char out[MP_MD5_LEN]);

/* HMAC(key, msg) with the given hash; out receives mproc__hash_len(alg) bytes. */
void mproc__hmac(mp_hash_alg alg, const void *key, size_t keylen, const void *msg, size_t n,
             unsigned char *out);

/* 1 if a[0..n) == b[0..n), else 0; the running time depends only on n. */
int mproc__ct_equal(const void *a, const void *b, size_t n);

#endif
