/* SPDX-License-Identifier: MIT */
/*
 * manager_dict_list — a dict and a list kept by a Manager's server process, changed by a child.
 *
 * Python:
 *     from multiprocessing import Process, Manager
 *
 *     def func(d, l):
 *         d['1'] = 2
 *         d[2] = 'str'
 *         d[3.0] = None
 *         for i in range(len(l)):
 *             l[i] = -i
 *
 *     if __name__ == "__main__":
 *         m = Manager()
 *         l = m.list(range(10))
 *         d = m.dict()
 *         p = Process(target=func, args=(d, l,))
 *         p.start()
 *         p.join()
 *
 *         print(d)
 *         print(l)
 *
 * Output, as Python prints it:
 *     {'1': 2, 2: 'str', 3.0: None}
 *     [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]
 *
 * The proxies travel to the child as process arguments; under spawn and forkserver the child
 * connects to the manager itself, with the manager's key carried in the argument.
 *
 * Usage: manager_dict_list [--method fork|spawn|forkserver]
 */
#include "example_util.h"

MPROC_TARGET(func, "MM", mproc_proxy_t *, d, mproc_proxy_t *, l) {
  size_t n;
  MPROC_CHECK(mproc_dict_setf(d, "si", "1", 2));
  MPROC_CHECK(mproc_dict_setf(d, "is", 2, "str"));
  MPROC_CHECK(mproc_dict_setf(d, "dn", 3.0));
  MPROC_CHECK(mproc_list_len(l, &n));
  for (size_t i = 0; i < n; i++)
    MPROC_CHECK(mproc_list_setf(l, (int64_t)i, "i", -(int)i));
  mproc_proxy_free(d);
  mproc_proxy_free(l);
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_manager_t *m;
  mproc_proxy_t *l, *d;
  mproc_args_t *items;
  mproc_process_t *p;
  MPROC_CHECK(mproc_manager_start(&m, NULL));
  MPROC_CHECK(mproc_args_range(&items, 0, 10, 1));
  MPROC_CHECK(mproc_manager_list_from(m, items, &l));
  MPROC_CHECK(mproc_manager_dict(m, &d));
  MPROC_CHECK(mproc_process_startf(&p, func, "MM", d, l));
  example_join(p);
  MPROC_CHECK(mproc_proxy_print(d));
  MPROC_CHECK(mproc_proxy_print(l));
  mproc_proxy_free(d);
  mproc_proxy_free(l);
  mproc_args_free(items);
  mproc_manager_free(m);
}
