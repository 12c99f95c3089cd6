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
 * Value and the Array travel as process arguments (mproc_args_add_value / _add_array); each
 * has its own lock (Python's default lock=True), which mproc_value_set / mproc_array_set take
 * around each write, as `n.value = ...` and `a[i] = ...` do. `a[:]` is one copy of the whole
 * array under its lock (mproc_array_get_slice). The parent prints the double as Python does:
 * the shortest digits that read back as the same number.
 *
 * Usage: value_array [--method fork|spawn|forkserver]
 */
#include "example_util.h"

#include <stdint.h>
#include <stdlib.h>

#define LEN 10

static int func(const mproc_args_t *args) {
  mproc_value_t *n;
  mproc_array_t *a;
  int rc = mproc_args_get_value(args, 0, &n);
  if (rc == 0)
    rc = mproc_args_get_array(args, 1, &a);
  if (rc != 0)
    return mproc_fail(2, "func: bad arguments: %s", mproc_strerror(rc));

  const double pi = 3.1415926;
  rc = mproc_value_set(n, &pi); /* n.value = 3.1415926 */
  if (rc != 0)
    return mproc_fail(3, "func: n.value = ...: %s", mproc_strerror(rc));
  for (size_t i = 0; i < mproc_array_length(a); i++) { /* for i in range(len(a)): */
    int32_t x = -(int32_t)i;
    rc = mproc_array_set(a, i, &x); /* a[i] = -i */
    if (rc != 0)
      return mproc_fail(3, "func: a[%d] = ...: %s", (int)i, mproc_strerror(rc));
  }
  return 0;
}

/* repr(x) for an ordinary float: the fewest significant digits that read back as x, with ".0"
 * added to a whole number (enough for this program; Python's exponent rules differ for some
 * very large or small numbers). */
static const char *float_repr(double x, char *buf, size_t size) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, size, "%.*g", prec, x);
    if (strtod(buf, NULL) == x)
      break;
  }
  if (strpbrk(buf, ".eEn") == NULL) /* no point, exponent, inf or nan */
    strncat(buf, ".0", size - strlen(buf) - 1);
  return buf;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;

  const double zero = 0.0;
  mproc_value_t *n;
  int rc = mproc_value_new(&n, 'd', &zero, MPROC_LOCK_NEW); /* n = Value('d', 0.0) */
  if (rc != 0)
    return example_die("mproc_value_new", rc);

  int32_t range[LEN]; /* range(10) */
  for (int i = 0; i < LEN; i++)
    range[i] = i;
  mproc_array_t *a;
  rc = mproc_array_new(&a, 'i', LEN, range, MPROC_LOCK_NEW); /* a = Array('i', range(10)) */
  if (rc != 0)
    return example_die("mproc_array_new", rc);

  mproc_args_t *args; /* args=(n, a,) */
  mproc_process_t *p;
  rc = mproc_args_new(&args);
  if (rc == 0)
    rc = mproc_args_add_value(args, n);
  if (rc == 0)
    rc = mproc_args_add_array(args, a);
  if (rc == 0)
    rc = mproc_process_new(&p, func, args); /* p = Process(target=func, args=(n, a,)) */
  mproc_args_free(args);
  if (rc != 0)
    return example_die("creating the process", rc);
  rc = mproc_process_start(p); /* p.start() */
  if (rc != 0)
    return example_die("mproc_process_start", rc);
  int code = -1;
  rc = mproc_process_join(p, MPROC_FOREVER); /* p.join() */
  if (rc == 0)
    rc = mproc_process_exitcode(p, &code);
  if (rc != 0)
    return example_die("joining the process", rc);
  if (code != 0) {
    fprintf(stderr, "the child exited with %d: %s\n", code,
            mproc_process_error(p) ? mproc_process_error(p) : "(no message)");
    return 1;
  }
  mproc_process_close(p);

  double nv;
  rc = mproc_value_get(n, &nv);
  if (rc != 0)
    return example_die("mproc_value_get", rc);
  char repr[32];
  printf("%s\n", float_repr(nv, repr, sizeof repr)); /* print n.value */

  int32_t items[LEN];
  rc = mproc_array_get_slice(a, 0, LEN, items); /* a[:] */
  if (rc != 0)
    return example_die("mproc_array_get_slice", rc);
  printf("[");
  for (int i = 0; i < LEN; i++)
    printf("%s%d", i ? ", " : "", (int)items[i]);
  printf("]\n"); /* print a[:] */

  mproc_array_free(a);
  mproc_value_free(n);
  return 0;
}
