/* SPDX-License-Identifier: MIT */
/*
 * manager_list_lock — four processes add 1 to every element of a Manager list, each update
 * under a Manager Lock.
 *
 * Python (the tutorial describes it in prose: "a shared list lst from Manager(), four child
 * processes, each adds 1 to every element; the main process prints the list"; written out,
 * with the manager Lock that makes each read-modify-write whole):
 *     from multiprocessing import Process, Manager
 *
 *     def add_one(lst, lock):
 *         for i in range(len(lst)):
 *             with lock:
 *                 lst[i] += 1
 *
 *     if __name__ == '__main__':
 *         with Manager() as manager:
 *             lst = manager.list(range(5))
 *             lock = manager.Lock()
 *             ps = [Process(target=add_one, args=(lst, lock)) for _ in range(4)]
 *             for p in ps:
 *                 p.start()
 *             for p in ps:
 *                 p.join()
 *             print(lst)
 *
 * Output: [4, 5, 6, 7, 8]. Without the lock two processes may read the same number and both
 * write it plus one, and an increment is lost.
 *
 * Usage: manager_list_lock [--method fork|spawn|forkserver]
 */
#include "example_util.h"

MPROC_TARGET(add_one, "MM", mproc_proxy_t *, lst, mproc_proxy_t *, lock) {
  mproc_args_t *v;
  int64_t x;
  size_t n;
  MPROC_CHECK(mproc_list_len(lst, &n));
  for (size_t i = 0; i < n; i++) {
    MPROC_CHECK(mproc_mlock_acquire(lock, MPROC_FOREVER)); /* with lock: */
    MPROC_CHECK(mproc_list_get(lst, (int64_t)i, &v));      /* lst[i] += 1 */
    MPROC_CHECK(mproc_args_get_int(v, 0, &x));
    MPROC_CHECK(mproc_list_setf(lst, (int64_t)i, "l", x + 1));
    MPROC_CHECK(mproc_mlock_release(lock));
    mproc_args_free(v);
  }
  mproc_proxy_free(lst);
  mproc_proxy_free(lock);
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_manager_t *manager;
  mproc_proxy_t *lst, *lock;
  mproc_args_t *items;
  mproc_process_t *ps[4];
  MPROC_CHECK(mproc_manager_start(&manager, NULL));
  MPROC_CHECK(mproc_args_range(&items, 0, 5, 1));
  MPROC_CHECK(mproc_manager_list_from(manager, items, &lst));
  MPROC_CHECK(mproc_manager_lock(manager, &lock));
  for (int i = 0; i < 4; i++)
    MPROC_CHECK(mproc_process_startf(&ps[i], add_one, "MM", lst, lock));
  example_join_all(ps, 4);
  MPROC_CHECK(mproc_proxy_print(lst));
  mproc_proxy_free(lst);
  mproc_proxy_free(lock);
  mproc_args_free(items);
  mproc_manager_free(manager);
}
