/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the pickle decoder, which reads what an authenticated manager peer sends.
 * Whatever it accepts must be a well-formed data value that the encoder can write again and
 * that decodes once more to the same value; everything else must be refused with
 * MPROC_EPROTO or MPROC_EMSGSIZE. Built with -DMPROC_FUZZ=ON (clang). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pickle.h"

static int same_repr(const mproc_args_t *a, const mproc_args_t *b) {
  static char x[1 << 16], y[1 << 16];
  int n = mproc_args_repr_item(a, 0, x, sizeof x), m = mproc_args_repr_item(b, 0, y, sizeof y);
  return n == m && n >= 0 && strcmp(x, y) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mproc_args_t *a, *b;
  if (mproc_args_new(&a) != 0 || mproc_args_new(&b) != 0)
    __builtin_trap();
  /* small limits so that amplification is caught quickly */
  mp_pickle_limits lim = {1 << 20, 4096, size & 1 ? MP_PICKLE_ANY_CALL : 0};
  int rc = mproc__pickle_decode(data, size, &lim, a);
  if (rc != 0 && rc != MPROC_EPROTO && rc != MPROC_EMSGSIZE && rc != MPROC_ENOMEM)
    __builtin_trap();
  if (rc == 0) {
    mp_buf buf;
    mproc__buf_init(&buf);
    rc = mproc__pickle_encode(a, 0, lim.flags, &buf);
    if (rc != 0 && rc != MPROC_ENOMEM)
      __builtin_trap();
    lim.max_value = 0; /* the re-encoded form may memoize less: no tighter limit than before */
    lim.max_memo = 0;
    if (rc == 0 && (mproc__pickle_decode(buf.data, buf.len, &lim, b) != 0 || !same_repr(a, b)))
      __builtin_trap();
    mproc__buf_free(&buf);
  }
  mproc_args_free(a);
  mproc_args_free(b);
  return 0;
}
