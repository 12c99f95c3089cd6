/* SPDX-License-Identifier: MIT */
/*
 * queue_put_get — a child puts a list into a Queue; the parent gets it after the join.
 *
 * Python:
 *     from multiprocessing import Queue, Process
 *
 *     def func(q):
 *         q.put([1, 'str', None])
 *
 *     if __name__ == "__main__":
 *         q = Queue()
 *         p = Process(target=func, args=(q,))
 *         p.start()
 *         p.join()
 *         print q.get()
 *
 * The parent joins before it gets: the item must have reached the queue before the child
 * exited. Python gets there because the child's exit waits for its feeder thread to flush; in
 * mproc the item is in shared memory when put returns. Python pickles any object; the list
 * here is typed values (mproc_queue_put_values), printed back in Python's notation.
 *
 * Usage: queue_put_get [--method fork|spawn|forkserver]
 */
#include "example_util.h"

static int func(const mproc_args_t *args) {
  mproc_queue_t *q;
  int rc = mproc_args_get_queue(args, 0, &q);
  if (rc != 0)
    return mproc_fail(2, "func: bad arguments: %s", mproc_strerror(rc));
  mproc_args_t *list;
  rc = mproc_args_build(&list, "isn", 1, "str"); /* [1, 'str', None] */
  if (rc == 0) {
    rc = mproc_queue_put_values(q, list, MPROC_FOREVER); /* q.put([1, 'str', None]) */
    mproc_args_free(list);
  }
  return rc == 0 ? 0 : mproc_fail(3, "func: put: %s", mproc_strerror(rc));
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;

  mproc_queue_t *q;
  int rc = mproc_queue_new(&q, 0);
  if (rc != 0)
    return example_die("mproc_queue_new", rc);
  mproc_args_t *args;
  if ((rc = mproc_args_new(&args)) != 0 || (rc = mproc_args_add_queue(args, q)) != 0)
    return example_die("mproc_args_add_queue", rc);
  mproc_process_t *p;
  rc = mproc_process_new(&p, func, args);
  mproc_args_free(args);
  if (rc != 0 || (rc = mproc_process_start(p)) != 0)
    return example_die("mproc_process_start", rc);
  int code = -1;
  if (mproc_process_join(p, MPROC_FOREVER) != 0 || mproc_process_exitcode(p, &code) != 0)
    return example_die("mproc_process_join", MPROC_EINTERNAL);

  mproc_args_t *list;
  if ((rc = mproc_queue_get_values(q, 5000, &list)) != 0)
    return example_die("mproc_queue_get_values", rc);
  example_print_list(list); /* print q.get() */
  mproc_args_free(list);
  mproc_process_close(p);
  mproc_queue_free(q);
  return code == 0 ? 0 : 1;
}
