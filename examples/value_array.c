/* SPDX-License-Identifier: MIT */
/*
 * value_array — shared memory: a child writes a Value('d') and an Array('i'), the parent reads
 * them after join.
 *
 * Python (the tutorial's Python 2):
 *     from multiprocessing import Process, Value, Array
 *
 *     def func(n, a):
 *         n.value = 3.1415926
 *         for i in range(len(a)):
 *             a[i] = -i
 *
 *     if __name__ == "__main__":
 *         # 'd'表示浮点型数据，'i'表示整数
 *         n = Value('d', 0.0)
 *         a = Array('i', range(10))
 *         p = Process(target=func, args=(n, a,))
 *         p.start()
 *         p.join()
 *
 *         print n.value
 *         print a[:]
 *
 * Output, as Python prints it:
 *     3.1415926
 *     [0, -1, -2, -3, -4, -5, -6, -7, -8, -9]
 *
 * Compare global_state: there the child's change to an ordinary global stays in the child;
 * the memory of a Value and an Array is shared, so the parent sees what the child wrote. The
 * Value and the Array travel as process arguments (format letters 'V' and 'A'); each has its
 * own lock (Python's default lock=True), which mproc_value_set_double / mproc_array_set_int
 * take around each write, as `n.value = ...` and `a[i] = ...` do. mproc_value_print and
 * mproc_array_print print `n.value` and `a[:]` as Python does (the double in the shortest
 * digits that read back as the same number; `a[:]` copied under the array's lock).
 *
 * Usage: value_array [--method fork|spawn|forkserver]
 */
#include "example_util.h"

MPROC_TARGET(func, "VA", mproc_value_t *, n, mproc_array_t *, a) {
  MPROC_CHECK(mproc_value_set_double(n, 3.1415926));
  for (size_t i = 0; i < mproc_array_length(a); i++)
    MPROC_CHECK(mproc_array_set_int(a, i, -(int64_t)i));
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  static const int32_t range10[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  mproc_value_t *n;
  mproc_array_t *a;
  mproc_process_t *p;
  MPROC_CHECK(mproc_value_new(&n, 'd', NULL, MPROC_LOCK_NEW));
  MPROC_CHECK(mproc_array_new(&a, 'i', 10, range10, MPROC_LOCK_NEW));
  MPROC_CHECK(mproc_process_startf(&p, func, "VA", n, a));
  example_join(p);
  MPROC_CHECK(mproc_value_print(n));
  MPROC_CHECK(mproc_array_print(a));
  mproc_array_free(a);
  mproc_value_free(n);
}
