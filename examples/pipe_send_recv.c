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
 * what it got in Python's notation, walking the item types. After the child has closed its side (and the parent its copy of it), the next
 * receive reports end of stream: Python's EOFError.
 *
 * Pipe() is duplex by default: both ends send and receive. mproc_pipe(0, &r, &w) gives the
 * one-way form, Pipe(duplex=False): r only receives, w only sends.
 *
 * Usage: pipe_send_recv [--method fork|spawn|forkserver]
 */
#include "example_util.h"

static int func(const mproc_args_t *args) {
  mproc_conn_t *p;
  int rc = mproc_args_get_conn(args, 0, &p);
  if (rc != 0)
    return mproc_fail(2, "func: bad arguments: %s", mproc_strerror(rc));
  mproc_args_t *list;
  rc = mproc_args_build(&list, "isn", 1, "str"); /* [1, 'str', None] */
  if (rc == 0) {
    rc = mproc_conn_send(p, list); /* p.send([1, 'str']) */
    mproc_args_free(list);
  }
  if (rc != 0)
    return mproc_fail(3, "func: send: %s", mproc_strerror(rc));
  /* p.close(): the connection belongs to args, which closes it when the target returns. */
  return 0;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;

  mproc_conn_t *parent_side, *child_side;
  int rc = mproc_pipe(1, &parent_side, &child_side);
  if (rc != 0)
    return example_die("mproc_pipe", rc);
  mproc_args_t *args;
  if ((rc = mproc_args_new(&args)) != 0 || (rc = mproc_args_add_conn(args, child_side)) != 0)
    return example_die("mproc_args_add_conn", rc);
  mproc_process_t *p;
  rc = mproc_process_new(&p, func, args);
  mproc_args_free(args);
  if (rc != 0)
    return example_die("mproc_process_new", rc);
  if ((rc = mproc_process_start(p)) != 0)
    return example_die("mproc_process_start", rc);
  mproc_conn_close(child_side); /* the child has its own; EOF needs every copy closed */

  mproc_args_t *list;
  if ((rc = mproc_conn_recv(parent_side, MPROC_FOREVER, &list)) != 0)
    return example_die("mproc_conn_recv", rc);
  example_print_list(list); /* print(parent_side.recv()) */
  mproc_args_free(list);

  rc = mproc_conn_recv(parent_side, MPROC_FOREVER, &list);
  if (rc == MPROC_EEOF)
    printf("next recv: end of stream (EOFError): the child closed its side\n");
  else if (rc == 0)
    mproc_args_free(list);

  int code = -1;
  if (mproc_process_join(p, MPROC_FOREVER) != 0 || mproc_process_exitcode(p, &code) != 0)
    return example_die("mproc_process_join", MPROC_EINTERNAL);
  if (code != 0)
    fprintf(stderr, "child exited with %d: %s\n", code,
            mproc_process_error(p) ? mproc_process_error(p) : "(no message)");
  mproc_process_close(p);
  mproc_conn_close(parent_side);
  return code == 0 && rc == MPROC_EEOF ? 0 : 1;
}
