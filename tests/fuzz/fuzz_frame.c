/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the parsers that see bytes from an unauthenticated peer without any
 * connection around them: Python frame headers (mproc__frame_parse) and the handshake messages
 * (a challenge to answer, a response to verify). Built with -DMPROC_FUZZ=ON (clang). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "auth.h"
#include "conn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t n = 0;
  size_t hl = 0;
  int rc = mproc__frame_parse(data, size, &n, &hl);
  /* A complete header never claims more than it read, nor a body above the maximum. */
  if (rc == 0 && (hl > size || (hl != 4 && hl != 12) || n > MPROC_MSG_MAX))
    __builtin_trap();
  if (rc != 0 && rc != MPROC_EAGAIN && rc != MPROC_EPROTO)
    __builtin_trap();

  unsigned char resp[MP_AUTH_RESPONSE_MAX];
  size_t rn = 0;
  if (size <= MP_AUTH_MSG_MAX) {
    rc = mproc__auth_respond("key", 3, data, size, resp, &rn);
    if (rc == 0 && (rn == 0 || rn > sizeof resp))
      __builtin_trap();
    /* The input as a response to a fixed challenge: never accepted by chance. */
    static const unsigned char challenge[] = "{sha256}0123456789012345678901234567890123456789";
    if (mproc__auth_verify("key", 3, challenge, sizeof challenge - 1, data, size) == 0)
      __builtin_trap();
  }
  return 0;
}
