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
 * `m.value += 1` is two steps, a read and a write, each under the Value's own lock (Value('i',
 * 0) has an RLock: mproc_value_get_int / mproc_value_set_int here), but nothing holds a lock
 * across both (mproc_value_add_int would: it is `with m.get_lock(): m.value += 1`):
 * two processes can read the same number and both write it plus one, and an increment is lost.
 * So m usually ends below 1000000, by a different amount each run (and may by chance be exact).
 * `n` is increased only inside `with lock:`, one process at a time (mproc_value_add_int is then
 * as good as a read and a write), and always ends at exactly
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

MPROC_TARGET(process_function, "VVLi", mproc_value_t *, m, mproc_value_t *, n, mproc_lock_t *, lock,
             int, count) {
  int64_t x;
  int rc;
  for (int i = 0; i < count; i++) { /* m.value += 1: a read, then a write */
    MPROC_CHECK(mproc_value_get_int(m, &x));
    MPROC_CHECK(mproc_value_set_int(m, x + 1));
  }
  MPROC_WITH_LOCK(lock, rc) { /* with lock: */
    for (int i = 0; i < count; i++)
      MPROC_CHECK(mproc_value_add_int(n, 1, NULL)); /* n.value += 1 */
  }
  return MPROC_CHECK(rc);
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  int count = (int)example_arg_long(argc, argv, "--count", 100000); /* range(100000) */
  mproc_lock_t *lock;
  mproc_value_t *m, *n;
  mproc_process_t *processes[10];
  MPROC_CHECK(mproc_lock_new(&lock));
  MPROC_CHECK(mproc_value_new(&m, 'i', NULL, MPROC_LOCK_NEW));
  MPROC_CHECK(mproc_value_new(&n, 'i', NULL, MPROC_LOCK_NEW));
  for (int i = 0; i < 10; i++)
    MPROC_CHECK(mproc_process_startf(&processes[i], process_function, "VVLi", m, n, lock, count));
  example_join_all(processes, 10);
  int64_t mv, nv;
  MPROC_CHECK(mproc_value_get_int(m, &mv));
  MPROC_CHECK(mproc_value_get_int(n, &nv));
  printf("Final m.value:%lld n.value:%lld\n", (long long)mv, (long long)nv);
  mproc_value_free(m);
  mproc_value_free(n);
  mproc_lock_free(lock);
  return nv == 10 * (int64_t)count ? 0 : 1;
}
