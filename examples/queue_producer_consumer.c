/* SPDX-License-Identifier: MIT */
/*
 * queue_producer_consumer — a producer puts 0..4, a consumer gets until None.
 *
 * Python:
 *     import multiprocessing
 *
 *     def producer(queue):
 *         for i in range(5):
 *             queue.put(i)
 *             print(f"Produced {i}")
 *
 *     def consumer(queue):
 *         while True:
 *             item = queue.get()
 *             if item is None:
 *                 break
 *             print(f"Consumed {item}")
 *
 *     queue = multiprocessing.Queue()
 *     producer_process = multiprocessing.Process(target=producer, args=(queue,))
 *     consumer_process = multiprocessing.Process(target=consumer, args=(queue,))
 *     producer_process.start()
 *     consumer_process.start()
 *     producer_process.join()
 *     queue.put(None)
 *     consumer_process.join()
 *
 * Items are typed values: the producer puts one int, the parent puts None (the 'n' format
 * letter), and the consumer stops at the first None (mproc_queue_getf returns MPROC_GOT_NONE
 * instead of 0 for it).
 *
 * Usage: queue_producer_consumer [--method fork|spawn|forkserver]
 */
#include "example_util.h"

MPROC_TARGET(producer, "Q", mproc_queue_t *, queue) {
  for (int i = 0; i < 5; i++) {
    MPROC_CHECK(mproc_queue_putf(queue, MPROC_FOREVER, "i", i));
    printf("Produced %d\n", i);
  }
  return 0;
}

MPROC_TARGET(consumer, "Q", mproc_queue_t *, queue) {
  int item;
  while (MPROC_CHECK(mproc_queue_getf(queue, MPROC_FOREVER, "i", &item)) != MPROC_GOT_NONE)
    printf("Consumed %d\n", item);
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_queue_t *queue;
  mproc_process_t *producer_process, *consumer_process;
  MPROC_CHECK(mproc_queue_new(&queue, 0));
  MPROC_CHECK(mproc_process_newf(&producer_process, producer, "Q", queue));
  MPROC_CHECK(mproc_process_newf(&consumer_process, consumer, "Q", queue));
  MPROC_CHECK(mproc_process_start(producer_process));
  MPROC_CHECK(mproc_process_start(consumer_process));
  example_join(producer_process);
  MPROC_CHECK(mproc_queue_putf(queue, MPROC_FOREVER, "n"));
  example_join(consumer_process);
  mproc_queue_free(queue);
}
