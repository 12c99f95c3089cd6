/* SPDX-License-Identifier: MIT */
/* libFuzzer target: the whole handshake on a real connection, with the fuzzer playing the
 * peer. The input is written raw (no framing added) to the other end, which then shuts its
 * write side, so every read ends in data or EOF and nothing can block. Both roles run: the
 * server (challenge first) and the client (answer first). POSIX only, like fuzzing itself. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auth.h"
#include "conn.h"
#include "internal.h"

/* Bigger inputs could fill the socket buffer before anyone reads. */
#define MAX_INPUT 32768

static void run(const uint8_t *data, size_t size, int server) {
  mproc_conn_t *us = NULL, *peer = NULL;
  if (mproc_pipe(1, &us, &peer) != 0)
    abort();
  int fd = (int)mproc_conn_fileno(peer);
  size_t off = 0;
  while (off < size) {
    ssize_t w = write(fd, data + off, size - off);
    if (w <= 0)
      abort();
    off += (size_t)w;
  }
  shutdown(fd, SHUT_WR);
  int64_t deadline = mproc__os_deadline(2000);
  int rc = server ? mproc__auth_server(us, "key", 3, deadline)
                  : mproc__auth_client(us, "key", 3, deadline);
  /* The server's nonce is random, so the fuzzer cannot authenticate; the client side could
   * only pass by answering our random challenge, which it cannot either. */
  if (rc == 0)
    __builtin_trap();
  if (rc == MPROC_ETIMEDOUT)
    __builtin_trap(); /* all input is there and then EOF: nothing may wait for the deadline */
  mproc_conn_free(us);
  mproc_conn_free(peer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size > MAX_INPUT)
    return 0;
  run(data, size, 1);
  run(data, size, 0);
  return 0;
}
