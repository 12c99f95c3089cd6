/* SPDX-License-Identifier: MIT */
/* repr() of typed values against what Python 3.11 prints for the same data: the expected
 * strings below were produced by python3 (repr of each value) and pinned here. */
#include <math.h>

#include "runner.h"

static void assert_double_repr(double v, const char *want) {
  char buf[64];
  int n = mproc_repr_double(v, buf, sizeof buf);
  if (n < 0 || strcmp(buf, want) != 0) {
    fprintf(stderr, "repr(%.17g): got '%s', Python prints '%s'\n", v, buf, want);
    ASSERT_TRUE(0);
  }
  ASSERT_EQ(n, strlen(want));
}

TEST(repr_float_like_python, 30, ONCE) {
  static const struct {
    double v;
    const char *py;
  } t[] = {
      {0.1, "0.1"},
      {3.1415926, "3.1415926"},
      {1e16, "1e+16"},
      {1e-05, "1e-05"},
      {0.0001, "0.0001"},
      {123456789012345.6, "123456789012345.6"},
      {1.5e300, "1.5e+300"},
      {2.5, "2.5"},
      {-0.0, "-0.0"},
      {0.0, "0.0"},
      {100.0, "100.0"},
      {1e22, "1e+22"},
      {5e-324, "5e-324"},
      {1.0 / 3, "0.3333333333333333"},
      {9007199254740993.0, "9007199254740992.0"},
      {5e-05, "5e-05"},
      {-7.25, "-7.25"},
      {1234567890123456.0, "1234567890123456.0"},
      {12345678901234567.0, "1.2345678901234568e+16"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
    assert_double_repr(t[i].v, t[i].py);
  assert_double_repr(INFINITY, "inf");
  assert_double_repr(-INFINITY, "-inf");
  assert_double_repr(NAN, "nan");
}

static void assert_list_repr(const mproc_args_t *a, const char *want) {
  char buf[256];
  int n = mproc_args_repr(a, buf, sizeof buf);
  if (n < 0 || strcmp(buf, want) != 0) {
    fprintf(stderr, "got %s\nwant %s\n", buf, want);
    ASSERT_TRUE(0);
  }
  ASSERT_EQ(n, strlen(want));
}

TEST(repr_list_like_python, 30, ONCE) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "isnydl", 1, "str", "\0", (size_t)1, 2.5, (int64_t)-7));
  assert_list_repr(a, "[1, 'str', None, b'\\x00', 2.5, -7]");
  mproc_args_free(a);
  ASSERT_OK(mproc_args_new(&a));
  assert_list_repr(a, "[]");
  mproc_args_free(a);
  /* the uniform (all-int) form prints the same */
  ASSERT_OK(mproc_args_range(&a, 0, 4, 1));
  assert_list_repr(a, "[0, 1, 2, 3]");
  mproc_args_free(a);
}

TEST(repr_str_and_bytes_like_python, 30, ONCE) {
  static const struct {
    const char *s;
    const char *py;
  } strs[] = {
      {"it's", "\"it's\""},
      {"say \"hi\"", "'say \"hi\"'"},
      {"both ' and \"", "'both \\' and \"'"},
      {"tab\there\nnl\\", "'tab\\there\\nnl\\\\'"},
      {"\xc3\xa9 \xc3\xbc \xe6\x97\xa5\xe6\x9c\xac",
       "'\xc3\xa9 \xc3\xbc \xe6\x97\xa5\xe6\x9c\xac'"},
      {"\x7f\x01", "'\\x7f\\x01'"},
      {"\xc2\xa0\xc2\xad\xc2\x85", "'\\xa0\\xad\\x85'"},
      {"\xe2\x80\xa8\xef\xbb\xbf", "'\\u2028\\ufeff'"},
      {"\xf0\x9f\x98\x80", "'\xf0\x9f\x98\x80'"},
      {"\r", "'\\r'"},
  };
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    mproc_args_t *a;
    char buf[64];
    ASSERT_OK(mproc_args_build(&a, "s", strs[i].s));
    int n = mproc_args_repr_item(a, 0, buf, sizeof buf);
    if (strcmp(buf, strs[i].py) != 0)
      fprintf(stderr, "str %zu: got %s want %s\n", i, buf, strs[i].py);
    ASSERT_TRUE(strcmp(buf, strs[i].py) == 0);
    ASSERT_EQ(n, strlen(strs[i].py));
    mproc_args_free(a);
  }
  static const struct {
    const char *b;
    size_t n;
    const char *py;
  } bytes[] = {
      {"it's", 4, "b\"it's\""},
      {"\x00\xff\x7f", 3, "b'\\x00\\xff\\x7f'"},
      {"a\"b", 3, "b'a\"b'"},
      {"\\", 1, "b'\\\\'"},
      {"", 0, "b''"},
  };
  for (size_t i = 0; i < sizeof bytes / sizeof bytes[0]; i++) {
    mproc_args_t *a;
    char buf[64];
    ASSERT_OK(mproc_args_build(&a, "y", bytes[i].b, bytes[i].n));
    mproc_args_repr_item(a, 0, buf, sizeof buf);
    if (strcmp(buf, bytes[i].py) != 0)
      fprintf(stderr, "bytes %zu: got %s want %s\n", i, buf, bytes[i].py);
    ASSERT_TRUE(strcmp(buf, bytes[i].py) == 0);
    mproc_args_free(a);
  }
}

TEST(repr_snprintf_contract, 30, ONCE) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "is", 12345, "abc"));
  char buf[8];
  ASSERT_EQ(mproc_args_repr(a, buf, sizeof buf), 14); /* [12345, 'abc'] */
  ASSERT_TRUE(strcmp(buf, "[12345,") == 0);
  ASSERT_EQ(mproc_args_repr(a, NULL, 0), 14);
  ASSERT_RC(mproc_args_repr(a, NULL, 4), MPROC_EINVAL);
  ASSERT_RC(mproc_args_repr_item(a, 2, buf, sizeof buf), MPROC_ERANGE);
  ASSERT_OK(mproc_args_print(a));
  mproc_args_free(a);
}
