/* SPDX-License-Identifier: MIT */
/* Typed Value/Array accessors: checked against the typecode, the one-call locked update under
 * the Value's own lock from several processes, and repr() of the contents as Python prints
 * them (expected strings from python3, pinned). */
#include "runner.h"

TEST(value_typed_int, 30, ONCE) {
  mproc_value_t *v;
  ASSERT_OK(mproc_value_new(&v, 'i', NULL, MPROC_LOCK_NEW));
  int64_t x;
  ASSERT_OK(mproc_value_set_int(v, 5));
  ASSERT_OK(mproc_value_get_int(v, &x));
  ASSERT_EQ(x, 5);
  ASSERT_OK(mproc_value_add_int(v, 3, &x));
  ASSERT_EQ(x, 8);
  ASSERT_OK(mproc_value_add_int(v, -10, NULL));
  ASSERT_OK(mproc_value_get_int(v, &x));
  ASSERT_EQ(x, -2);
  ASSERT_RC(mproc_value_set_int(v, (int64_t)1 << 40), MPROC_ERANGE);
  ASSERT_TRUE(strcmp(mproc_last_error_message(), "1099511627776 does not fit typecode 'i'") == 0);
  ASSERT_RC(mproc_value_add_int(v, (int64_t)INT32_MAX + 10, NULL), MPROC_ERANGE);
  ASSERT_RC(mproc_value_add_int(v, INT64_MIN, NULL), MPROC_ERANGE);
  ASSERT_OK(mproc_value_get_int(v, &x));
  ASSERT_EQ(x, -2); /* nothing stored */
  double d;
  ASSERT_RC(mproc_value_get_double(v, &d), MPROC_ETYPE);
  ASSERT_TRUE(strcmp(mproc_last_error_message(),
                     "typecode 'i' holds integers: use the _int accessors") == 0);
  ASSERT_RC(mproc_value_add_double(v, 1, NULL), MPROC_ETYPE);
  mproc_value_free(v);
}

TEST(value_typed_ranges, 30, ONCE) {
  static const struct {
    char tc;
    int64_t ok, bad;
  } t[] = {{'b', -128, 128}, {'B', 255, -1}, {'h', 32767, -32769}, {'H', 65535, 65536},
           {'I', 4294967295LL, -1}, {'?', 1, 2}, {'c', 255, 256}, {'Q', INT64_MAX, -1},
           {'q', INT64_MIN, 0}};
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    mproc_value_t *v;
    int64_t x;
    ASSERT_OK(mproc_value_new(&v, t[i].tc, NULL, MPROC_LOCK_NONE));
    ASSERT_OK(mproc_value_set_int(v, t[i].ok));
    ASSERT_OK(mproc_value_get_int(v, &x));
    ASSERT_EQ(x, t[i].ok);
    if (t[i].tc != 'q')
      ASSERT_RC(mproc_value_set_int(v, t[i].bad), MPROC_ERANGE);
    mproc_value_free(v);
  }
  mproc_value_t *v;
  uint64_t big = UINT64_MAX;
  int64_t x;
  ASSERT_OK(mproc_value_new(&v, 'Q', &big, MPROC_LOCK_NEW));
  ASSERT_RC(mproc_value_get_int(v, &x), MPROC_ERANGE);
  mproc_value_free(v);
}

TEST(value_typed_double, 30, ONCE) {
  mproc_value_t *v, *f;
  double x;
  ASSERT_OK(mproc_value_new(&v, 'd', NULL, MPROC_LOCK_NEW));
  ASSERT_OK(mproc_value_set_double(v, 1.5));
  ASSERT_OK(mproc_value_add_double(v, 2.25, &x));
  ASSERT_TRUE(x == 3.75);
  ASSERT_OK(mproc_value_get_double(v, &x));
  ASSERT_TRUE(x == 3.75);
  int64_t i;
  ASSERT_RC(mproc_value_get_int(v, &i), MPROC_ETYPE);
  ASSERT_TRUE(strcmp(mproc_last_error_message(),
                     "typecode 'd' holds floating-point numbers: use the _double accessors") == 0);
  ASSERT_OK(mproc_value_new(&f, 'f', NULL, MPROC_LOCK_NONE));
  ASSERT_OK(mproc_value_add_double(f, 0.1, &x));
  ASSERT_TRUE(x == (double)0.1f);
  mproc_value_free(v);
  mproc_value_free(f);
}

TEST(array_typed, 30, ONCE) {
  mproc_array_t *a;
  ASSERT_OK(mproc_array_new(&a, 'h', 3, NULL, MPROC_LOCK_NEW));
  int64_t x;
  ASSERT_OK(mproc_array_set_int(a, 2, -7));
  ASSERT_OK(mproc_array_add_int(a, 2, 10, &x));
  ASSERT_EQ(x, 3);
  ASSERT_OK(mproc_array_get_int(a, 2, &x));
  ASSERT_EQ(x, 3);
  ASSERT_RC(mproc_array_get_int(a, 3, &x), MPROC_ERANGE);
  ASSERT_TRUE(strcmp(mproc_last_error_message(), "index 3 out of range (length 3)") == 0);
  mproc_array_free(a);
  ASSERT_OK(mproc_array_new(&a, 'd', 2, NULL, MPROC_LOCK_NONE));
  double d;
  ASSERT_OK(mproc_array_set_double(a, 1, 0.5));
  ASSERT_OK(mproc_array_add_double(a, 1, 0.25, &d));
  ASSERT_TRUE(d == 0.75);
  ASSERT_OK(mproc_array_get_double(a, 0, &d));
  ASSERT_TRUE(d == 0);
  ASSERT_RC(mproc_array_set_int(a, 0, 1), MPROC_ETYPE);
  mproc_array_free(a);
  struct rec { int a, b; } r = {1, 2};
  ASSERT_OK(mproc_array_new_record(&a, sizeof r, 4, 1, &r, MPROC_LOCK_NONE));
  ASSERT_RC(mproc_array_get_int(a, 0, &x), MPROC_ETYPE);
  mproc_array_free(a);
}

/* Args "V": adds 1 to the value 500 times in one call each. */
static int add_child(const mproc_args_t *a) {
  mproc_value_t *v;
  C_OK(mproc_args_parse(a, "V", &v));
  for (int i = 0; i < 500; i++)
    C_OK(mproc_value_add_int(v, 1, NULL));
  return 0;
}

TEST(value_add_int_locked_across_processes, 120, ALL) {
  mproc_value_t *v;
  ASSERT_OK(mproc_value_new(&v, 'i', NULL, MPROC_LOCK_NEW));
  mproc_process_t *ps[4];
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "V", v));
  t_start_n(ps, 4, add_child, a);
  t_finish_n(ps, 4);
  int64_t x;
  ASSERT_OK(mproc_value_get_int(v, &x));
  ASSERT_EQ(x, 2000);
  mproc_value_free(v);
}

static void assert_repr(int n, const char *buf, const char *want) {
  if (strcmp(buf, want) != 0)
    fprintf(stderr, "got %s, Python prints %s\n", buf, want);
  ASSERT_TRUE(strcmp(buf, want) == 0);
  ASSERT_EQ(n, strlen(want));
}

TEST(value_array_repr_like_python, 30, ONCE) {
  char buf[128];
  mproc_value_t *v;
  double pi = 3.1415926;
  ASSERT_OK(mproc_value_new(&v, 'd', &pi, MPROC_LOCK_NEW));
  assert_repr(mproc_value_repr(v, buf, sizeof buf), buf, "3.1415926");
  ASSERT_OK(mproc_value_print(v));
  mproc_value_free(v);
  float f = 0.1f;
  ASSERT_OK(mproc_value_new(&v, 'f', &f, MPROC_LOCK_NONE));
  assert_repr(mproc_value_repr(v, buf, sizeof buf), buf, "0.10000000149011612");
  mproc_value_free(v);
  unsigned char t = 1;
  ASSERT_OK(mproc_value_new(&v, '?', &t, MPROC_LOCK_NONE));
  assert_repr(mproc_value_repr(v, buf, sizeof buf), buf, "True");
  mproc_value_free(v);
  char c = 'x';
  ASSERT_OK(mproc_value_new(&v, 'c', &c, MPROC_LOCK_NONE));
  assert_repr(mproc_value_repr(v, buf, sizeof buf), buf, "b'x'");
  mproc_value_free(v);
  signed char b = -5;
  ASSERT_OK(mproc_value_new(&v, 'b', &b, MPROC_LOCK_NONE));
  assert_repr(mproc_value_repr(v, buf, sizeof buf), buf, "-5");
  mproc_value_free(v);
  mproc_array_t *a;
  static const int ints[] = {0, -1, -2};
  ASSERT_OK(mproc_array_new(&a, 'i', 3, ints, MPROC_LOCK_NEW));
  assert_repr(mproc_array_repr(a, buf, sizeof buf), buf, "[0, -1, -2]");
  ASSERT_OK(mproc_array_print(a));
  mproc_array_free(a);
  ASSERT_OK(mproc_array_new(&a, 'c', 2, "ab", MPROC_LOCK_NEW));
  assert_repr(mproc_array_repr(a, buf, sizeof buf), buf, "b'ab'");
  mproc_array_free(a);
  static const uint64_t big[] = {UINT64_MAX, 0};
  ASSERT_OK(mproc_array_new(&a, 'Q', 2, big, MPROC_LOCK_NEW));
  assert_repr(mproc_array_repr(a, buf, sizeof buf), buf, "[18446744073709551615, 0]");
  mproc_array_free(a);
  static const unsigned char bools[] = {1, 0};
  ASSERT_OK(mproc_array_new(&a, '?', 2, bools, MPROC_LOCK_NEW));
  assert_repr(mproc_array_repr(a, buf, sizeof buf), buf, "[True, False]");
  mproc_array_free(a);
  ASSERT_OK(mproc_array_new(&a, 'd', 0, NULL, MPROC_LOCK_NEW));
  assert_repr(mproc_array_repr(a, buf, sizeof buf), buf, "[]");
  mproc_array_free(a);
}
