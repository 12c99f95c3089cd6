/* SPDX-License-Identifier: MIT */
/*
 * queue_many — several producers and several consumers on one Queue.
 *
 * Python (the tutorials describe this in prose: "a queue can be shared by many producers and
 * consumers"; written out here):
 *     from multiprocessing import Process, Queue
 *
 *     def producer(q, n):
 *         for i in range(3):
 *             q.put(n * 10 + i)
 *
 *     def consumer(q):
 *         while True:
 *             item = q.get()
 *             if item is None:
 *                 break
 *             print(f'consumed {item}')
 *
 *     if __name__ == '__main__':
 *         q = Queue()
 *         producers = [Process(target=producer, args=(q, n)) for n in range(3)]
 *         consumers = [Process(target=consumer, args=(q,)) for _ in range(2)]
 *         for p in producers + consumers:
 *             p.start()
 *         for p in producers:
 *             p.join()
 *         for _ in consumers:
 *             q.put(None)
 *         for c in consumers:
 *             c.join()
 *         print('done')
 *
 * Output: the nine items 0 1 2 10 11 12 20 21 22, each consumed once, in an order that depends
 * on the scheduling, then `done`. One None per consumer ends the consumers once every producer
 * has finished (mproc_queue_putf puts a one-value list; format letter 'n' is None; taken with
 * mproc_queue_getf, it returns MPROC_GOT_NONE instead of 0).
 *
 * Usage: queue_many [--method fork|spawn|forkserver]
 */
#include "example_util.h"

MPROC_TARGET(producer, "Qi", mproc_queue_t *, q, int, n) {
  for (int i = 0; i < 3; i++)
    MPROC_CHECK(mproc_queue_putf(q, MPROC_FOREVER, "i", n * 10 + i));
  return 0;
}

MPROC_TARGET(consumer, "Q", mproc_queue_t *, q) {
  int item;
  while (MPROC_CHECK(mproc_queue_getf(q, MPROC_FOREVER, "i", &item)) != MPROC_GOT_NONE)
    printf("consumed %d\n", item);
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_queue_t *q;
  mproc_process_t *producers[3], *consumers[2];
  MPROC_CHECK(mproc_queue_new(&q, 0));
  for (int n = 0; n < 3; n++)
    MPROC_CHECK(mproc_process_startf(&producers[n], producer, "Qi", q, n));
  for (int i = 0; i < 2; i++)
    MPROC_CHECK(mproc_process_startf(&consumers[i], consumer, "Q", q));
  example_join_all(producers, 3);
  for (int i = 0; i < 2; i++)
    MPROC_CHECK(mproc_queue_putf(q, MPROC_FOREVER, "n"));
  example_join_all(consumers, 2);
  printf("done\n");
  mproc_queue_free(q);
}
