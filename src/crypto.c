/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 (FIPS 180-4), MD5 (RFC 1321) and HMAC (RFC 2104) for the Listener/Client handshake.
 * Small and unoptimised on purpose: the handshake hashes well under a kilobyte. MD5 is here
 * only because Python <= 3.11 peers answer challenges with HMAC-MD5; nothing else uses it.
 *
 * Both hashes share the buffering code (64-byte blocks, a 64-bit bit count in the last block);
 * they differ in the compression function and in the byte order of words and of the count
 * (SHA-256 big-endian, MD5 little-endian).
 */
#include "crypto.h"

#include <string.h>

/* --- helpers ------------------------------------------------------------------------------ */

static uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }
static uint32_t rotl(uint32_t x, unsigned n) { return (x << n) | (x >> (32 - n)); }

static uint32_t load_be32(const unsigned char *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t load_le32(const unsigned char *p) {
  return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static void store_be32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24), p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8), p[3] = (unsigned char)v;
}

static void store_le32(unsigned char *p, uint32_t v) {
  p[3] = (unsigned char)(v >> 24), p[2] = (unsigned char)(v >> 16);
  p[1] = (unsigned char)(v >> 8), p[0] = (unsigned char)v;
}

/* Memory the compiler may not drop as a dead store: contexts hold key-derived state. */
static void wipe(void *p, size_t n) {
  volatile unsigned char *v = p;
  while (n--)
    *v++ = 0;
}

/* --- SHA-256 (FIPS 180-4 §6.2) ------------------------------------------------------------ */

/* First 32 bits of the fractional parts of the cube roots of the first 64 primes (§4.2.2). */
static const uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static void sha256_block(uint32_t h[8], const unsigned char *p) {
  uint32_t w[64], s[8];
  for (int t = 0; t < 16; t++)
    w[t] = load_be32(p + 4 * t);
  for (int t = 16; t < 64; t++) {
    uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
    uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
    w[t] = w[t - 16] + s0 + w[t - 7] + s1;
  }
  memcpy(s, h, sizeof s);
  for (int t = 0; t < 64; t++) {
    uint32_t e = s[4], a = s[0];
    uint32_t ch = (e & s[5]) ^ (~e & s[6]);
    uint32_t t1 = s[7] + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ch + K256[t] + w[t];
    uint32_t maj = (a & s[1]) ^ (a & s[2]) ^ (s[1] & s[2]);
    uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + maj;
    memmove(s + 1, s, 7 * sizeof s[0]);
    s[4] += t1;
    s[0] = t1 + t2;
  }
  for (int i = 0; i < 8; i++)
    h[i] += s[i];
  wipe(w, sizeof w);
}

/* --- MD5 (RFC 1321 §3.4) ------------------------------------------------------------------ */

/* floor(2^32 * |sin(i + 1)|), i = 0..63. */
static const uint32_t T_MD5[64] = {
    0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613,
    0xfd469501, 0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193,
    0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d,
    0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed,
    0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122,
    0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa,
    0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244,
    0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
    0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
    0xeb86d391};

/* Per-round left-rotation amounts, four per round. */
static const unsigned char R_MD5[4][4] = {
    {7, 12, 17, 22}, {5, 9, 14, 20}, {4, 11, 16, 23}, {6, 10, 15, 21}};

static void md5_block(uint32_t h[8], const unsigned char *p) {
  uint32_t x[16], a = h[0], b = h[1], c = h[2], d = h[3];
  for (int i = 0; i < 16; i++)
    x[i] = load_le32(p + 4 * i);
  for (int i = 0; i < 64; i++) {
    int round = i / 16;
    uint32_t f;
    int k;
    switch (round) {
    case 0: f = (b & c) | (~b & d), k = i; break;
    case 1: f = (b & d) | (c & ~d), k = (5 * i + 1) % 16; break;
    case 2: f = b ^ c ^ d, k = (3 * i + 5) % 16; break;
    default: f = c ^ (b | ~d), k = (7 * i) % 16; break;
    }
    uint32_t next = b + rotl(a + f + x[k] + T_MD5[i], R_MD5[round][i % 4]);
    a = d, d = c, c = b, b = next;
  }
  h[0] += a, h[1] += b, h[2] += c, h[3] += d;
  wipe(x, sizeof x);
}

/* --- shared buffering --------------------------------------------------------------------- */

size_t mproc__hash_len(mp_hash_alg alg) { return alg == MP_HASH_MD5 ? MP_MD5_LEN : MP_SHA256_LEN; }

void mproc__hash_init(mp_hash_ctx *c, mp_hash_alg alg) {
  /* SHA-256: fractional parts of the square roots of the first 8 primes (§5.3.3). */
  static const uint32_t sha_iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  static const uint32_t md5_iv[8] = {0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476};
  memset(c, 0, sizeof *c);
  c->md5 = alg == MP_HASH_MD5;
  memcpy(c->h, c->md5 ? md5_iv : sha_iv, sizeof c->h);
}

static void compress(mp_hash_ctx *c, const unsigned char *block) {
  if (c->md5)
    md5_block(c->h, block);
  else
    sha256_block(c->h, block);
}

void mproc__hash_update(mp_hash_ctx *c, const void *data, size_t n) {
  const unsigned char *p = data;
  c->total += n;
  if (c->used > 0) {
    size_t take = MP_HASH_BLOCK - c->used < n ? MP_HASH_BLOCK - c->used : n;
    memcpy(c->block + c->used, p, take);
    c->used += take, p += take, n -= take;
    if (c->used < MP_HASH_BLOCK)
      return;
    compress(c, c->block);
    c->used = 0;
  }
  for (; n >= MP_HASH_BLOCK; p += MP_HASH_BLOCK, n -= MP_HASH_BLOCK)
    compress(c, p);
  memcpy(c->block, p, n);
  c->used = n;
}

void mproc__hash_final(mp_hash_ctx *c, unsigned char *out) {
  uint64_t bits = c->total * 8;
  unsigned char pad = 0x80, len[8];
  /* Padding: one 1 bit, zeros up to 56 mod 64, then the 64-bit message length in bits. */
  for (int i = 0; i < 8; i++)
    len[i] = (unsigned char)(c->md5 ? bits >> (8 * i) : bits >> (56 - 8 * i));
  mproc__hash_update(c, &pad, 1);
  pad = 0;
  while (c->used != 56)
    mproc__hash_update(c, &pad, 1);
  mproc__hash_update(c, len, 8);
  int words = c->md5 ? 4 : 8;
  for (int i = 0; i < words; i++) {
    if (c->md5)
      store_le32(out + 4 * i, c->h[i]);
    else
      store_be32(out + 4 * i, c->h[i]);
  }
  wipe(c, sizeof *c);
}

void mproc__hash(mp_hash_alg alg, const void *data, size_t n, unsigned char *out) {
  mp_hash_ctx c;
  mproc__hash_init(&c, alg);
  mproc__hash_update(&c, data, n);
  mproc__hash_final(&c, out);
}

void mproc__sha256(const void *data, size_t n, unsigned char out[MP_SHA256_LEN]) {
  mproc__hash(MP_HASH_SHA256, data, n, out);
}

void mproc__md5(const void *data, size_t n, unsigned char out[MP_MD5_LEN]) {
  mproc__hash(MP_HASH_MD5, data, n, out);
}

/* --- HMAC (RFC 2104) ------------------------------------------------------------------------ */

void mproc__hmac(mp_hash_alg alg, const void *key, size_t keylen, const void *msg, size_t n,
             unsigned char *out) {
  unsigned char k[MP_HASH_BLOCK] = {0}, pad[MP_HASH_BLOCK], inner[MP_HASH_MAX_LEN];
  size_t hl = mproc__hash_len(alg);
  mp_hash_ctx c;
  /* Keys longer than a block are hashed first; shorter ones are zero-padded. */
  if (keylen > MP_HASH_BLOCK)
    mproc__hash(alg, key, keylen, k);
  else if (keylen > 0)
    memcpy(k, key, keylen);
  for (int i = 0; i < MP_HASH_BLOCK; i++)
    pad[i] = k[i] ^ 0x36;
  mproc__hash_init(&c, alg);
  mproc__hash_update(&c, pad, sizeof pad);
  mproc__hash_update(&c, msg, n);
  mproc__hash_final(&c, inner);
  for (int i = 0; i < MP_HASH_BLOCK; i++)
    pad[i] = k[i] ^ 0x5c;
  mproc__hash_init(&c, alg);
  mproc__hash_update(&c, pad, sizeof pad);
  mproc__hash_update(&c, inner, hl);
  mproc__hash_final(&c, out);
  wipe(k, sizeof k);
  wipe(pad, sizeof pad);
  wipe(inner, sizeof inner);
}

int mproc__ct_equal(const void *a, const void *b, size_t n) {
  const volatile unsigned char *x = a, *y = b;
  unsigned char diff = 0;
  for (size_t i = 0; i < n; i++)
    diff |= x[i] ^ y[i];
  return diff == 0;
}
