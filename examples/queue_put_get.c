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

MPROC_TARGET(func, "Q", mproc_queue_t *, q) {
  return MPROC_CHECK(mproc_queue_putf(q, MPROC_FOREVER, "isn", 1, "str"));
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_queue_t *q;
  mproc_process_t *p;
  mproc_args_t *list;
  MPROC_CHECK(mproc_queue_new(&q, 0));
  MPROC_CHECK(mproc_process_startf(&p, func, "Q", q));
  example_join(p);
  MPROC_CHECK(mproc_queue_get_values(q, MPROC_FOREVER, &list));
  MPROC_CHECK(mproc_args_print(list));
  mproc_args_free(list);
  mproc_queue_free(q);
}
