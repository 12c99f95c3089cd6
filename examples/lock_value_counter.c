/* SPDX-License-Identifier: MIT */
/*
 * lock_value_counter — ten processes add to two shared Values: `m` without a lock, `n` under one.
 *
 * Python:
 *     import multiprocessing
 *
 *     # 创建一个锁对象
 *     lock = multiprocessing.Lock()
 *
 *     # 创建共享内存
 *     m = multiprocessing.Value('i', 0)
 *     n = multiprocessing.Value('i', 0)
 *
 *     def process_function(m, n):
 *         for _ in range(100000):
 *             m.value += 1
 *         with lock:
 *             for _ in range(100000):
 *                 n.value += 1
 *
 *     # 创建并启动多个进程
 *     processes = []
 *     for _ in range(10):
 *         process = multiprocessing.Process(target=process_function, args=(m, n,))
 *         process.start()
 *         processes.append(process)
 *
 *     # 等待所有进程完成
 *     for process in processes:
 *         process.join()
 *
 *     print(f"Final m.value:{m.value} n.value:{n.value}")
 *
 * `m.value += 1` is two steps, a read and a write, each under the Value's own lock (Value('i', 0)
 * has an RLock: mproc_value_get / mproc_value_set here), but nothing holds a lock across both:
 * two processes can read the same number and both write it plus one, and an increment is lost.
 * So m usually ends below 1000000, by a different amount each run (and may by chance be exact).
 * `n` is increased only inside `with lock:`, one process at a time, and always ends at exactly
 * 10 × 100000 = 1000000; the program checks that and exits with 1 if not.
 *
 * `--count N` makes each process add N instead of 100000 (n then ends at 10 × N). Every
 * increment takes and releases a lock twice: on Windows that is a kernel mutex, two system
 * calls each time (under Wine, round trips to the wineserver), so the Windows test uses a
 * smaller N.
 *
 * The tutorial's lock is a module-level global, which children share only when started by fork
 * (under spawn each child would create a lock of its own, and the tutorial's unguarded module
 * code would start processes again). Here the lock is passed to the children as a process
 * argument with m and n, so it is the same lock under every start method.
 *
 * Usage: lock_value_counter [--method fork|spawn|forkserver] [--count N]
 */
#include "example_util.h"

#include <stdint.h>
#include <stdlib.h>

#define NPROC 10

/* v.value += 1: a read and a write, each under the Value's own lock, not across both. */
static int value_add_one(mproc_value_t *v) {
  int32_t x;
  int rc = mproc_value_get(v, &x);
  if (rc != 0)
    return rc;
  x += 1;
  return mproc_value_set(v, &x);
}

static int process_function(const mproc_args_t *args) {
  mproc_value_t *m, *n;
  mproc_lock_t *lock;
  int64_t count;
  int rc = mproc_args_get_value(args, 0, &m);
  if (rc == 0)
    rc = mproc_args_get_value(args, 1, &n);
  if (rc == 0)
    rc = mproc_args_get_lock(args, 2, &lock);
  if (rc == 0)
    rc = mproc_args_get_int(args, 3, &count);
  if (rc != 0)
    return mproc_fail(2, "process_function: bad arguments: %s", mproc_strerror(rc));

  for (int64_t i = 0; i < count && rc == 0; i++)
    rc = value_add_one(m); /* m.value += 1 */
  if (rc != 0)
    return mproc_fail(3, "process_function: m.value += 1: %s", mproc_strerror(rc));

  int lrc;
  MPROC_WITH_LOCK(lock, lrc) { /* with lock: */
    for (int64_t i = 0; i < count && rc == 0; i++)
      rc = value_add_one(n); /* n.value += 1 */
  }
  if (lrc != 0)
    return mproc_fail(4, "process_function: with lock: %s", mproc_strerror(lrc));
  if (rc != 0)
    return mproc_fail(3, "process_function: n.value += 1: %s", mproc_strerror(rc));
  return 0;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;
  int count = 100000; /* range(100000) */
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], "--count") == 0)
      count = atoi(argv[i + 1]);
  if (count < 0 || count > INT32_MAX / NPROC) {
    fprintf(stderr, "%s: --count must be 0..%d\n", argv[0], (int)(INT32_MAX / NPROC));
    return 2;
  }

  mproc_lock_t *lock;
  int rc = mproc_lock_new(&lock); /* lock = multiprocessing.Lock() */
  if (rc != 0)
    return example_die("mproc_lock_new", rc);

  const int32_t zero = 0;
  mproc_value_t *m, *n;
  rc = mproc_value_new(&m, 'i', &zero, MPROC_LOCK_NEW); /* m = multiprocessing.Value('i', 0) */
  if (rc == 0)
    rc = mproc_value_new(&n, 'i', &zero, MPROC_LOCK_NEW); /* n = multiprocessing.Value('i', 0) */
  if (rc != 0)
    return example_die("mproc_value_new", rc);

  mproc_process_t *processes[NPROC];
  mproc_args_t *args; /* args=(m, n,), and the lock and the count */
  rc = mproc_args_new(&args);
  if (rc == 0)
    rc = mproc_args_add_value(args, m);
  if (rc == 0)
    rc = mproc_args_add_value(args, n);
  if (rc == 0)
    rc = mproc_args_add_lock(args, lock);
  if (rc == 0)
    rc = mproc_args_add_int(args, count);
  if (rc != 0)
    return example_die("creating a process", rc);
  rc = example_start_same(processes, NPROC, process_function, args);
  mproc_args_free(args);
  if (rc != 0)
    return 1;

  int failed = example_join_all(processes, NPROC);
  if (failed < 0)
    return 1;

  int32_t mv = 0, nv = 0;
  rc = mproc_value_get(m, &mv);
  if (rc == 0)
    rc = mproc_value_get(n, &nv);
  if (rc != 0)
    return example_die("mproc_value_get", rc);
  printf("Final m.value:%d n.value:%d\n", (int)mv, (int)nv);

  if (!failed && nv != NPROC * count) {
    fprintf(stderr, "n.value is %d, expected %d: the lock did not keep the increments apart\n",
            (int)nv, NPROC * count);
    failed = 1;
  }
  mproc_value_free(m);
  mproc_value_free(n);
  mproc_lock_free(lock);
  return failed;
}
