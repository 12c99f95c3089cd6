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
 * letter), and the consumer stops at the first None.
 *
 * Usage: queue_producer_consumer [--method fork|spawn|forkserver]
 */
#include "example_util.h"

static int producer(const mproc_args_t *args) {
  mproc_queue_t *queue;
  int rc = mproc_args_get_queue(args, 0, &queue);
  for (int i = 0; rc == 0 && i < 5; i++) {
    mproc_args_t *item;
    if ((rc = mproc_args_build(&item, "i", i)) != 0)
      break;
    rc = mproc_queue_put_values(queue, item, MPROC_FOREVER); /* queue.put(i) */
    mproc_args_free(item);
    if (rc == 0) {
      printf("Produced %d\n", i);
      fflush(stdout);
    }
  }
  return rc == 0 ? 0 : mproc_fail(2, "producer: %s", mproc_strerror(rc));
}

static int consumer(const mproc_args_t *args) {
  mproc_queue_t *queue;
  int rc = mproc_args_get_queue(args, 0, &queue);
  while (rc == 0) {
    mproc_args_t *item;
    if ((rc = mproc_queue_get_values(queue, MPROC_FOREVER, &item)) != 0)
      break;
    int is_none = mproc_args_type(item, 0) == MPROC_ARG_NONE; /* if item is None: break */
    int64_t v = 0;
    if (!is_none && (rc = mproc_args_get_int(item, 0, &v)) == 0) {
      printf("Consumed %lld\n", (long long)v);
      fflush(stdout);
    }
    mproc_args_free(item);
    if (is_none)
      return 0;
  }
  return mproc_fail(2, "consumer: %s", mproc_strerror(rc));
}

static mproc_process_t *start(mproc_target_fn fn, mproc_queue_t *queue) {
  mproc_args_t *args;
  mproc_process_t *p = NULL;
  int rc = mproc_args_new(&args);
  if (rc == 0 && (rc = mproc_args_add_queue(args, queue)) == 0 &&
      (rc = mproc_process_new(&p, fn, args)) == 0)
    rc = mproc_process_start(p);
  mproc_args_free(args);
  if (rc != 0)
    example_die("start", rc);
  return rc == 0 ? p : NULL;
}

static int join(mproc_process_t *p) {
  int code = -1;
  if (p == NULL || mproc_process_join(p, MPROC_FOREVER) != 0 ||
      mproc_process_exitcode(p, &code) != 0)
    return -1;
  mproc_process_close(p);
  return code;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;
  mproc_queue_t *queue;
  int rc = mproc_queue_new(&queue, 0);
  if (rc != 0)
    return example_die("mproc_queue_new", rc);
  mproc_process_t *producer_process = start(producer, queue);
  mproc_process_t *consumer_process = start(consumer, queue);
  int pcode = join(producer_process);
  mproc_args_t *none;
  if ((rc = mproc_args_build(&none, "n")) == 0) { /* queue.put(None) */
    rc = mproc_queue_put_values(queue, none, MPROC_FOREVER);
    mproc_args_free(none);
  }
  int ccode = join(consumer_process);
  mproc_queue_free(queue);
  return rc == 0 && pcode == 0 && ccode == 0 ? 0 : 1;
}
