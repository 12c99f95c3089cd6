/* SPDX-License-Identifier: MIT */
/*
 * pipe_send_recv — a child sends a list through its side of a Pipe and closes it.
 *
 * Python:
 *     from multiprocessing import Pipe, Process
 *
 *     def func(p):
 *         p.send([1, 'str', None])
 *         p.close()
 *
 *     if __name__ == "__main__":
 *         parent_side, child_side = Pipe()
 *         p = Process(target=func, args=(child_side,))
 *         p.start()
 *         print parent_side.recv()
 *         p.join()
 *
 * Python pickles any object; mproc's messages are lists of typed values (int, double, bytes,
 * str, None), read back with the same accessors as process arguments; the parent prints
 * what it got as Python would (mproc_args_print). After the child has closed its side (and
 * the parent its copy of it), the next receive reports end of stream: Python's EOFError.
 *
 * Pipe() is duplex by default: both ends send and receive. mproc_pipe(0, &r, &w) gives the
 * one-way form, Pipe(duplex=False): r only receives, w only sends.
 *
 * Usage: pipe_send_recv [--method fork|spawn|forkserver]
 */
#include "example_util.h"

MPROC_TARGET(func, "P", mproc_conn_t *, p) {
  MPROC_CHECK(mproc_conn_sendf(p, "isn", 1, "str"));
  return mproc_conn_close(p);
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_conn_t *parent_side, *child_side;
  mproc_process_t *p;
  mproc_args_t *list;
  MPROC_CHECK(mproc_pipe(1, &parent_side, &child_side));
  MPROC_CHECK(mproc_process_startf(&p, func, "P", child_side));
  mproc_conn_free(child_side); /* the child has its own; EOF needs every copy closed */
  MPROC_CHECK(mproc_conn_recv(parent_side, MPROC_FOREVER, &list));
  MPROC_CHECK(mproc_args_print(list));
  mproc_args_free(list);
  if (mproc_conn_recv(parent_side, MPROC_FOREVER, &list) != MPROC_EEOF)
    return 1;
  printf("next recv: end of stream (EOFError): the child closed its side\n");
  example_join(p);
}
