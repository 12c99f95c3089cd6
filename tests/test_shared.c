/* SPDX-License-Identifier: MIT */
/* Shared state: Value, Array, RawValue, RawArray and their atomics — every typecode and a record
 * crossing parent -> child -> parent, the lock kinds, exact totals from many processes, and the
 * error rules. Processes dying, leak checks, 10,000 values and grandchildren are in
 * test_shared_life.c; named SharedMemory is in test_shared_memory.c. Both use the helpers
 * below (sh_*, non-static for that reason). Python's multiprocessing.sharedctypes is the
 * reference for semantics. */
#include "runner.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>

/* A check helper returns NULL when all is well, else what is wrong. */
#define C_CHECK(expr)                                                                        \
  do {                                                                                       \
    const char *m_ = (expr);                                                                 \
    if (m_ != NULL)                                                                          \
      return mproc_fail(96, "line %d: %s", __LINE__, m_);                                    \
  } while (0)
#define P_CHECK(expr)                                                                        \
  do {                                                                                       \
    const char *m_ = (expr);                                                                 \
    if (m_ != NULL)                                                                          \
      t_fail(__FILE__, __LINE__, "%s", m_);                                                  \
  } while (0)

/* --- helpers shared with test_shared_life.c and test_shared_memory.c -------------------------- */

/* The atomic value of an integer Value (the caller checked the call itself elsewhere). */
int64_t sh_load(const mproc_value_t *v) {
  int64_t x = INT64_MIN;
  ASSERT_OK(mproc_value_load(v, &x));
  return x;
}

/* Polls the integer Value v until it holds want (30 s cap, then fails). */
void sh_await(const mproc_value_t *v, int64_t want) {
  for (int i = 0; i < 30000 && sh_load(v) != want; i++)
    t_sleep_ms(1);
  ASSERT_EQ(sh_load(v), want);
}

/* --- element types ---------------------------------------------------------------------------- */

/* Python's typecodes, in the order the round-trip cases pass them. */
#define NCODES 14
static const char k_codes[NCODES + 1] = "c?bBhHiIlLqQfd";
/* The integer ones, which have atomics. */
#define NINTCODES 12
static const char k_intcodes[NINTCODES + 1] = "c?bBhHiIlLqQ";

static size_t tc_size(char tc) {
  switch (tc) {
  case 'c': return sizeof(char);
  case '?': return sizeof(bool);
  case 'b': return sizeof(int8_t);
  case 'B': return sizeof(uint8_t);
  case 'h': return sizeof(int16_t);
  case 'H': return sizeof(uint16_t);
  case 'i': return sizeof(int32_t);
  case 'I': return sizeof(uint32_t);
  case 'l': return sizeof(long); /* 8 on Linux, 4 on Windows, as ctypes.c_long */
  case 'L': return sizeof(unsigned long);
  case 'q': return sizeof(int64_t);
  case 'Q': return sizeof(uint64_t);
  case 'f': return sizeof(float);
  case 'd': return sizeof(double);
  }
  return 0;
}

/* Element k of generation gen (0: written by the parent, 1: by the child, ...) for typecode
 * tc, in its C representation. Integers take the low bytes of a mixed 64-bit word, so every
 * byte of the element matters; floats are exactly representable. */
static void elem_value(char tc, int gen, size_t k, void *out) {
  uint64_t x = (uint64_t)(k + 1) * 0x9E3779B97F4A7C15ull ^
               (uint64_t)(gen + 1) * 0xC2B2AE3D27D4EB4Full;
  switch (tc) {
  case '?': {
    bool b = ((k + (size_t)gen) & 1) != 0;
    memcpy(out, &b, sizeof b);
    return;
  }
  case 'c': {
    char c = (char)('A' + (int)(x % 26) + (gen & 1) * 32); /* upper case, then lower */
    memcpy(out, &c, 1);
    return;
  }
  case 'f': {
    float f = (float)(int32_t)(x >> 40) / 4.0f;
    memcpy(out, &f, sizeof f);
    return;
  }
  case 'd': {
    double d = (double)(int64_t)(x >> 12) / 8.0 - 1e15;
    memcpy(out, &d, sizeof d);
    return;
  }
  default:
    memcpy(out, &x, tc_size(tc)); /* little-endian or not: both sides compute the same */
  }
}

/* A record: mixed fields with padding (copied as bytes like everything else). */
typedef struct rec {
  int32_t id;
  char name[12];
  double score;
  int64_t big;
  uint8_t flags[5];
} rec;

static void rec_value(int gen, size_t k, rec *r) {
  memset(r, 0, sizeof *r); /* padding too, so records compare with memcmp */
  r->id = (int32_t)(1000 * gen + (int)k);
  snprintf(r->name, sizeof r->name, "g%d-k%u", gen, (unsigned)k);
  r->score = -0.5 * (double)k + gen * 1e10;
  r->big = (int64_t)0x7000000000000001 - (int64_t)k * 3 - gen;
  for (int i = 0; i < 5; i++)
    r->flags[i] = (uint8_t)(gen * 16 + i + (int)k);
}

static char g_msg[512];

static const char *msg(const char *fmt, ...) MPROC_PRINTF(1, 2);
static const char *msg(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_msg, sizeof g_msg, fmt, ap);
  va_end(ap);
  return g_msg;
}

/* A Value of typecode tc (0: rec) holding generation gen, seen through get and the pointer;
 * with a lock when locked. */
static const char *check_value(const mproc_value_t *v, char tc, int gen, int locked) {
  size_t size = tc ? tc_size(tc) : sizeof(rec);
  unsigned char want[sizeof(rec)], got[sizeof(rec)];
  if (tc)
    elem_value(tc, gen, 0, want);
  else
    rec_value(gen, 0, (rec *)(void *)want);
  if (v == NULL)
    return msg("typecode '%c': no value", tc ? tc : '0');
  if (mproc_value_typecode(v) != tc)
    return msg("typecode '%c': mproc_value_typecode says %d", tc, mproc_value_typecode(v));
  if (mproc_value_size(v) != size)
    return msg("typecode '%c': size %u, want %u", tc, (unsigned)mproc_value_size(v),
               (unsigned)size);
  if ((mproc_value_get_lock(v) != NULL) != locked)
    return msg("typecode '%c': lock %p, want %s", tc, (void *)mproc_value_get_lock(v),
               locked ? "one" : "none");
  const unsigned char *p = mproc_value_ptr(v);
  size_t align = tc ? size : _Alignof(rec);
  if (p == NULL || (uintptr_t)p % align != 0)
    return msg("typecode '%c': pointer %p not aligned to %u", tc, (const void *)p, (unsigned)align);
  memset(got, 0xEE, sizeof got);
  int rc = mproc_value_get(v, got);
  if (rc != 0)
    return msg("typecode '%c': mproc_value_get: %s", tc, mproc_errname(rc));
  if (memcmp(got, want, size) != 0)
    return msg("typecode '%c': mproc_value_get does not give generation %d", tc, gen);
  if (memcmp(p, want, size) != 0)
    return msg("typecode '%c': the pointer does not show generation %d", tc, gen);
  return NULL;
}

/* An Array of typecode tc (0: rec) and length n whose element k holds generation
 * gen_lo for k < split and gen_hi from there on: through get, get_slice and the pointer. */
static const char *check_array(const mproc_array_t *a, char tc, size_t n, int gen_lo,
                               int gen_hi, size_t split, int locked) {
  size_t size = tc ? tc_size(tc) : sizeof(rec);
  if (a == NULL)
    return msg("typecode '%c': no array", tc ? tc : '0');
  if (mproc_array_typecode(a) != tc || mproc_array_elem_size(a) != size ||
      mproc_array_length(a) != n)
    return msg("typecode '%c': array says typecode %d, element size %u, length %u", tc,
               mproc_array_typecode(a), (unsigned)mproc_array_elem_size(a),
               (unsigned)mproc_array_length(a));
  if ((mproc_array_get_lock(a) != NULL) != locked)
    return msg("typecode '%c': array lock %p, want %s", tc, (void *)mproc_array_get_lock(a),
               locked ? "one" : "none");
  const unsigned char *p = mproc_array_ptr(a);
  size_t align = tc ? size : _Alignof(rec);
  if (p == NULL || (uintptr_t)p % align != 0)
    return msg("typecode '%c': array pointer %p not aligned to %u", tc, (const void *)p,
               (unsigned)align);
  unsigned char *all = malloc(n * size);
  if (all == NULL)
    return "out of memory";
  memset(all, 0xEE, n * size);
  int rc = mproc_array_get_slice(a, 0, n, all);
  const char *err = NULL;
  if (rc != 0)
    err = msg("typecode '%c': get_slice: %s", tc, mproc_errname(rc));
  for (size_t k = 0; k < n && err == NULL; k++) {
    unsigned char want[sizeof(rec)], got[sizeof(rec)];
    int gen = k < split ? gen_lo : gen_hi;
    if (tc)
      elem_value(tc, gen, k, want);
    else
      rec_value(gen, k, (rec *)(void *)want);
    memset(got, 0xEE, sizeof got);
    if ((rc = mproc_array_get(a, k, got)) != 0)
      err = msg("typecode '%c': get(%u): %s", tc, (unsigned)k, mproc_errname(rc));
    else if (memcmp(got, want, size) != 0)
      err = msg("typecode '%c': element %u is not generation %d (get)", tc, (unsigned)k, gen);
    else if (memcmp(all + k * size, want, size) != 0)
      err = msg("typecode '%c': element %u is not generation %d (get_slice)", tc, (unsigned)k,
                gen);
    else if (memcmp(p + k * size, want, size) != 0)
      err = msg("typecode '%c': element %u is not generation %d (pointer)", tc, (unsigned)k, gen);
  }
  free(all);
  return err;
}

/* Elements [from, to) of generation gen, for set_slice. */
static void *make_elems(char tc, int gen, size_t from, size_t to) {
  size_t size = tc ? tc_size(tc) : sizeof(rec);
  unsigned char *buf = calloc(to - from + 1, size);
  ASSERT_TRUE(buf != NULL);
  for (size_t k = from; k < to; k++) {
    if (tc)
      elem_value(tc, gen, k, buf + (k - from) * size);
    else
      rec_value(gen, k, (rec *)(void *)(buf + (k - from) * size));
  }
  return buf;
}

/* --- round trips: every typecode, parent -> child -> parent ----------------------------------- */

/* Args: a Value per typecode of k_codes, then a record Value, all with a lock, holding
 * generation 0. Checks them and writes generation 1. */
static int t_value_roundtrip(const mproc_args_t *a) {
  for (size_t j = 0; j <= NCODES; j++) {
    char tc = k_codes[j]; /* the terminating 0 is the record */
    mproc_value_t *v = t_value(a, j);
    C_CHECK(check_value(v, tc, 0, 1));
    unsigned char buf[sizeof(rec)];
    if (tc)
      elem_value(tc, 1, 0, buf);
    else
      rec_value(1, 0, (rec *)(void *)buf);
    C_OK(mproc_value_set(v, buf));
  }
  return 0;
}

TEST(value_roundtrip, 60, ALL) {
  mproc_value_t *vs[NCODES + 1];
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  for (size_t j = 0; j <= NCODES; j++) {
    char tc = k_codes[j];
    unsigned char init[sizeof(rec)];
    if (tc) {
      elem_value(tc, 0, 0, init);
      ASSERT_OK(mproc_value_new(&vs[j], tc, init, MPROC_LOCK_NEW));
    } else {
      rec_value(0, 0, (rec *)(void *)init);
      ASSERT_OK(mproc_value_new_record(&vs[j], sizeof(rec), _Alignof(rec), init, MPROC_LOCK_NEW));
    }
    P_CHECK(check_value(vs[j], tc, 0, 1));
    ASSERT_OK(mproc_args_add_value(a, vs[j]));
    ASSERT_EQ(mproc_args_type(a, j), MPROC_ARG_VALUE);
  }
  t_finish(t_start_one(t_value_roundtrip, a));
  for (size_t j = 0; j <= NCODES; j++) {
    P_CHECK(check_value(vs[j], k_codes[j], 1, 1));
    mproc_value_free(vs[j]);
  }
}

#define RT_LEN 7 /* odd, so a wrong stride shows */

/* Args: an Array of RT_LEN per typecode, then a record Array, all generation 0; the first
 * half with a lock, the rest raw. Checks them and writes generation 1 (the first three
 * elements with set_slice, the rest one by one). */
static int t_array_roundtrip(const mproc_args_t *a) {
  for (size_t j = 0; j <= NCODES; j++) {
    char tc = k_codes[j];
    mproc_array_t *arr = t_array(a, j);
    C_CHECK(check_array(arr, tc, RT_LEN, 0, 0, RT_LEN, j % 2 == 0));
    void *head = make_elems(tc, 1, 0, 3), *tail = make_elems(tc, 1, 3, RT_LEN);
    size_t size = mproc_array_elem_size(arr);
    C_OK(mproc_array_set_slice(arr, 0, 3, head));
    for (size_t k = 3; k < RT_LEN; k++)
      C_OK(mproc_array_set(arr, k, (unsigned char *)tail + (k - 3) * size));
    free(head);
    free(tail);
  }
  return 0;
}

TEST(array_roundtrip, 60, ALL) {
  mproc_array_t *as[NCODES + 1];
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  for (size_t j = 0; j <= NCODES; j++) {
    char tc = k_codes[j];
    int locked = j % 2 == 0;
    void *init = make_elems(tc, 0, 0, RT_LEN);
    if (tc && locked)
      ASSERT_OK(mproc_array_new(&as[j], tc, RT_LEN, init, MPROC_LOCK_NEW));
    else if (tc)
      ASSERT_OK(mproc_raw_array_new(&as[j], tc, RT_LEN, init));
    else
      ASSERT_OK(mproc_array_new_record(&as[j], sizeof(rec), _Alignof(rec), RT_LEN, init,
                                       locked ? MPROC_LOCK_NEW : MPROC_LOCK_NONE));
    free(init);
    P_CHECK(check_array(as[j], tc, RT_LEN, 0, 0, RT_LEN, locked));
    ASSERT_OK(mproc_args_add_array(a, as[j]));
    ASSERT_EQ(mproc_args_type(a, j), MPROC_ARG_ARRAY);
  }
  t_finish(t_start_one(t_array_roundtrip, a));
  for (size_t j = 0; j <= NCODES; j++) {
    P_CHECK(check_array(as[j], k_codes[j], RT_LEN, 1, 1, RT_LEN, j % 2 == 0));
    mproc_array_free(as[j]);
  }
}

/* --- integer limits through the atomics ------------------------------------------------------- */

/* The smallest and largest element of an integer typecode as the atomics return them: signed
 * types sign-extended, unsigned ones zero-extended; a 64-bit unsigned maximum is its bits
 * (-1). 'c' is a byte, zero-extended (Python's c_char holds 0..255). */
static void int_limits(char tc, int64_t *lo, int64_t *hi) {
  switch (tc) {
  case 'c': *lo = 0; *hi = 255; return;
  case '?': *lo = 0; *hi = 1; return;
  case 'b': *lo = INT8_MIN; *hi = INT8_MAX; return;
  case 'B': *lo = 0; *hi = UINT8_MAX; return;
  case 'h': *lo = INT16_MIN; *hi = INT16_MAX; return;
  case 'H': *lo = 0; *hi = UINT16_MAX; return;
  case 'i': *lo = INT32_MIN; *hi = INT32_MAX; return;
  case 'I': *lo = 0; *hi = UINT32_MAX; return;
  case 'l': *lo = LONG_MIN; *hi = LONG_MAX; return;
  case 'L': *lo = 0; *hi = (int64_t)(uint64_t)ULONG_MAX; return;
  case 'q': *lo = INT64_MIN; *hi = INT64_MAX; return;
  case 'Q': *lo = 0; *hi = -1; return;
  }
  t_fail(__FILE__, __LINE__, "not an integer typecode: %c", tc);
}

/* The element at p read with its own C type, widened the way the atomics document. */
static int64_t native_load(char tc, const void *p) {
  switch (tc) {
  case 'c': return (unsigned char)*(const char *)p;
  case '?': return *(const bool *)p;
  case 'b': return *(const int8_t *)p;
  case 'B': return *(const uint8_t *)p;
  case 'h': return *(const int16_t *)p;
  case 'H': return *(const uint16_t *)p;
  case 'i': return *(const int32_t *)p;
  case 'I': return *(const uint32_t *)p;
  case 'l': return *(const long *)p;
  case 'L': return (int64_t)(uint64_t) * (const unsigned long *)p;
  case 'q': return *(const int64_t *)p;
  case 'Q': return (int64_t) * (const uint64_t *)p;
  }
  return 0;
}

/* Value j (typecode k_intcodes[j]) holds want through load and through its pointer. */
static const char *check_int_value(const mproc_value_t *v, char tc, int64_t want) {
  int64_t got = 12345;
  int rc = mproc_value_load(v, &got);
  if (rc != 0)
    return msg("typecode '%c': load: %s", tc, mproc_errname(rc));
  if (got != want)
    return msg("typecode '%c': load gives %lld, want %lld", tc, (long long)got, (long long)want);
  if (native_load(tc, mproc_value_ptr(v)) != want)
    return msg("typecode '%c': the element reads %lld in C, want %lld", tc,
               (long long)native_load(tc, mproc_value_ptr(v)), (long long)want);
  return NULL;
}

static const char *check_int_elem(const mproc_array_t *a, size_t i, char tc, int64_t want) {
  int64_t got = 12345;
  int rc = mproc_array_load(a, i, &got);
  if (rc != 0)
    return msg("typecode '%c': array load(%u): %s", tc, (unsigned)i, mproc_errname(rc));
  const unsigned char *p = mproc_array_ptr(a);
  if (got != want || native_load(tc, p + i * tc_size(tc)) != want)
    return msg("typecode '%c': element %u: load %lld, C %lld, want %lld", tc, (unsigned)i,
               (long long)got,
               (long long)native_load(tc, p + i * tc_size(tc)), (long long)want);
  return NULL;
}

/* Args: per integer typecode a raw Value holding its minimum and a raw Array of 3 holding
 * {min, max, 0}. Checks, then stores max in the Value and {max, min, 1} in the Array. */
static int t_int_limits(const mproc_args_t *a) {
  for (size_t j = 0; j < NINTCODES; j++) {
    char tc = k_intcodes[j];
    int64_t lo, hi;
    int_limits(tc, &lo, &hi);
    mproc_value_t *v = t_value(a, 2 * j);
    mproc_array_t *arr = t_array(a, 2 * j + 1);
    C_CHECK(check_int_value(v, tc, lo));
    C_CHECK(check_int_elem(arr, 0, tc, lo));
    C_CHECK(check_int_elem(arr, 1, tc, hi));
    C_CHECK(check_int_elem(arr, 2, tc, 0));
    C_OK(mproc_value_store(v, hi));
    C_OK(mproc_array_store(arr, 0, hi));
    C_OK(mproc_array_store(arr, 1, lo));
    C_OK(mproc_array_store(arr, 2, 1));
  }
  return 0;
}

TEST(int_limits_roundtrip, 60, ALL) {
  mproc_value_t *vs[NINTCODES];
  mproc_array_t *as[NINTCODES];
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  for (size_t j = 0; j < NINTCODES; j++) {
    char tc = k_intcodes[j];
    int64_t lo, hi;
    int_limits(tc, &lo, &hi);
    ASSERT_OK(mproc_raw_value_new(&vs[j], tc, NULL));
    ASSERT_OK(mproc_raw_array_new(&as[j], tc, 3, NULL));
    ASSERT_OK(mproc_value_store(vs[j], lo));
    ASSERT_OK(mproc_array_store(as[j], 0, lo));
    ASSERT_OK(mproc_array_store(as[j], 1, hi));
    P_CHECK(check_int_value(vs[j], tc, lo));
    P_CHECK(check_int_elem(as[j], 1, tc, hi));
    ASSERT_OK(mproc_args_add_value(a, vs[j]));
    ASSERT_OK(mproc_args_add_array(a, as[j]));
  }
  t_finish(t_start_one(t_int_limits, a));
  for (size_t j = 0; j < NINTCODES; j++) {
    char tc = k_intcodes[j];
    int64_t lo, hi;
    int_limits(tc, &lo, &hi);
    P_CHECK(check_int_value(vs[j], tc, hi));
    P_CHECK(check_int_elem(as[j], 0, tc, hi));
    P_CHECK(check_int_elem(as[j], 1, tc, lo));
    P_CHECK(check_int_elem(as[j], 2, tc, 1));
    mproc_value_free(vs[j]);
    mproc_array_free(as[j]);
  }
}

/* Narrow types: truncated on store, wrapped by add, sign- or zero-extended on load. */
TEST(atomics_truncate_and_wrap, 30, ONCE) {
  static const struct {
    char tc;
    int64_t store, load;
  } cases[] = {
      {'b', 128, -128},          {'b', 255, -1},           {'b', -129, 127},
      {'B', -1, 255},            {'B', 256, 0},            {'B', 0x1234, 0x34},
      {'c', -1, 255},            {'h', 0x18000, -32768},   {'H', -1, 65535},
      {'i', 0x80000000LL, INT32_MIN}, {'I', -1, 4294967295LL}, {'I', 0x100000005LL, 5},
      {'q', -1, -1},             {'Q', -1, -1},            {'Q', INT64_MIN, INT64_MIN},
      {'?', 1, 1},               {'?', 0, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    mproc_value_t *v;
    mproc_array_t *a;
    ASSERT_OK(mproc_raw_value_new(&v, cases[i].tc, NULL));
    ASSERT_OK(mproc_raw_array_new(&a, cases[i].tc, 2, NULL));
    ASSERT_OK(mproc_value_store(v, cases[i].store));
    ASSERT_OK(mproc_array_store(a, 1, cases[i].store));
    P_CHECK(check_int_value(v, cases[i].tc, cases[i].load));
    P_CHECK(check_int_elem(a, 1, cases[i].tc, cases[i].load));
    P_CHECK(check_int_elem(a, 0, cases[i].tc, 0)); /* the neighbour is untouched */
    mproc_value_free(v);
    mproc_array_free(a);
  }
  /* 'l' / 'L' follow C long: 32 bits on Windows, 64 on Linux. */
  mproc_value_t *l;
  ASSERT_OK(mproc_raw_value_new(&l, 'l', NULL));
  ASSERT_OK(mproc_value_store(l, (int64_t)1 << 32 | 7));
  ASSERT_EQ(sh_load(l), sizeof(long) == 8 ? ((int64_t)1 << 32 | 7) : 7);
  mproc_value_free(l);
  ASSERT_OK(mproc_raw_value_new(&l, 'L', NULL));
  ASSERT_OK(mproc_value_store(l, -1));
  ASSERT_EQ(sh_load(l), sizeof(long) == 8 ? -1 : (int64_t)UINT32_MAX);
  mproc_value_free(l);

  /* add returns the old value, widened; the new one wraps. */
  static const struct {
    char tc;
    int64_t start, delta, old, now;
  } adds[] = {
      {'b', 127, 1, 127, -128},     {'b', -128, -1, -128, 127}, {'B', 255, 1, 255, 0},
      {'B', 0, -1, 0, 255},         {'h', 32767, 2, 32767, -32767}, {'H', 65535, 3, 65535, 2},
      {'i', INT32_MAX, 1, INT32_MAX, INT32_MIN}, {'I', 0, -1, 0, UINT32_MAX},
      {'q', INT64_MAX, 1, INT64_MAX, INT64_MIN}, {'Q', -1, 1, -1, 0},
      {'c', 250, 10, 250, 4},
  };
  for (size_t i = 0; i < sizeof adds / sizeof adds[0]; i++) {
    mproc_value_t *v;
    ASSERT_OK(mproc_raw_value_new(&v, adds[i].tc, NULL));
    ASSERT_OK(mproc_value_store(v, adds[i].start));
    int64_t old = 12345;
    ASSERT_OK(mproc_value_add(v, adds[i].delta, &old));
    ASSERT_EQ(old, adds[i].old);
    ASSERT_EQ(sh_load(v), adds[i].now);
    ASSERT_OK(mproc_value_add(v, 0, NULL)); /* old may be NULL */
    ASSERT_EQ(sh_load(v), adds[i].now);
    mproc_value_free(v);
  }

  /* cas: success returns 1; failure returns 0 and the current value, widened. */
  mproc_value_t *v;
  ASSERT_OK(mproc_raw_value_new(&v, 'b', NULL));
  ASSERT_OK(mproc_value_store(v, -5));
  int64_t expected = 3;
  ASSERT_EQ(mproc_value_cas(v, &expected, 9), 0);
  ASSERT_EQ(expected, -5);
  ASSERT_EQ(mproc_value_cas(v, &expected, -100), 1);
  ASSERT_EQ(expected, -5);
  ASSERT_EQ(sh_load(v), -100);
  mproc_value_free(v);
  ASSERT_OK(mproc_raw_value_new(&v, 'I', NULL));
  ASSERT_OK(mproc_value_store(v, UINT32_MAX));
  expected = 0;
  ASSERT_EQ(mproc_value_cas(v, &expected, 1), 0);
  ASSERT_EQ(expected, UINT32_MAX); /* zero-extended */
  ASSERT_EQ(mproc_value_cas(v, &expected, 1), 1);
  ASSERT_EQ(sh_load(v), 1);
  mproc_value_free(v);
  mproc_array_t *a;
  ASSERT_OK(mproc_raw_array_new(&a, 'Q', 4, NULL));
  expected = 0;
  ASSERT_EQ(mproc_array_cas(a, 3, &expected, -1), 1);
  int64_t got = 0;
  ASSERT_OK(mproc_array_load(a, 3, &got));
  ASSERT_EQ(got, -1);
  ASSERT_EQ(mproc_array_cas(a, 3, &expected, 5), 0);
  ASSERT_EQ(expected, -1);
  ASSERT_OK(mproc_array_load(a, 2, &got));
  ASSERT_EQ(got, 0);
  mproc_array_free(a);
}

/* --- construction, zero fill, accessors ------------------------------------------------------- */

typedef struct big_rec {
  _Alignas(64) unsigned char bytes[192];
} big_rec;

TEST(init_zero_and_accessors, 30, ONCE) {
  for (size_t j = 0; j < NCODES; j++) {
    char tc = k_codes[j];
    static const unsigned char zero[16];
    mproc_value_t *v;
    mproc_array_t *a;
    /* A used block comes back zero-filled when reused: dirty one first. */
    ASSERT_OK(mproc_raw_value_new(&v, tc, NULL));
    memset(mproc_value_ptr(v), 0xA5, tc_size(tc));
    mproc_value_free(v);
    ASSERT_OK(mproc_value_new(&v, tc, NULL, MPROC_LOCK_NEW));
    ASSERT_EQ(mproc_value_typecode(v), tc);
    ASSERT_EQ(mproc_value_size(v), tc_size(tc));
    ASSERT_TRUE(memcmp(mproc_value_ptr(v), zero, tc_size(tc)) == 0);
    mproc_value_free(v);
    ASSERT_OK(mproc_array_new(&a, tc, 100, NULL, MPROC_LOCK_NONE));
    ASSERT_EQ(mproc_array_length(a), 100);
    for (size_t k = 0; k < 100; k++)
      ASSERT_TRUE(memcmp((unsigned char *)mproc_array_ptr(a) + k * tc_size(tc), zero,
                         tc_size(tc)) == 0);
    mproc_array_free(a);
    void *init = make_elems(tc, 4, 0, 9); /* init copies exactly length elements */
    ASSERT_OK(mproc_array_new(&a, tc, 9, init, MPROC_LOCK_NEW));
    free(init);
    P_CHECK(check_array(a, tc, 9, 4, 4, 9, 1));
    mproc_array_free(a);
  }
  /* Records: any size, alignment up to 64 honoured; the typecode is 0. */
  mproc_value_t *v;
  big_rec init;
  for (size_t i = 0; i < sizeof init.bytes; i++)
    init.bytes[i] = (unsigned char)(i * 3 + 1);
  ASSERT_OK(mproc_value_new_record(&v, sizeof init, _Alignof(big_rec), &init, MPROC_LOCK_NEW));
  ASSERT_EQ(mproc_value_typecode(v), 0);
  ASSERT_EQ(mproc_value_size(v), sizeof init);
  ASSERT_EQ((uintptr_t)mproc_value_ptr(v) % 64, 0);
  ASSERT_TRUE(memcmp(mproc_value_ptr(v), &init, sizeof init) == 0);
  mproc_value_free(v);
  mproc_array_t *a;
  ASSERT_OK(mproc_array_new_record(&a, sizeof(big_rec), 64, 5, NULL, MPROC_LOCK_NONE));
  ASSERT_EQ(mproc_array_elem_size(a), sizeof(big_rec));
  ASSERT_EQ(mproc_array_length(a), 5);
  ASSERT_EQ(mproc_array_typecode(a), 0);
  for (size_t k = 0; k < 5; k++)
    ASSERT_EQ((uintptr_t)((big_rec *)mproc_array_ptr(a) + k) % 64, 0);
  mproc_array_free(a);
  ASSERT_OK(mproc_value_new_record(&v, 3, 1, "abc", MPROC_LOCK_NONE)); /* odd sizes are fine */
  ASSERT_EQ(mproc_value_size(v), 3);
  ASSERT_TRUE(memcmp(mproc_value_ptr(v), "abc", 3) == 0);
  mproc_value_free(v);
}

/* --- locks ------------------------------------------------------------------------------------ */

TEST(lock_kinds, 30, ONCE) {
  int64_t x = 5, y = 0;
  mproc_value_t *raw, *raw2, *def, *def2, *mine;
  mproc_array_t *araw, *adef, *amine;
  mproc_lock_t *l;
  /* RawValue / RawArray, and lock=MPROC_LOCK_NONE: no lock, the helpers still copy. */
  ASSERT_OK(mproc_raw_value_new(&raw, 'q', &x));
  ASSERT_OK(mproc_value_new(&raw2, 'q', &x, MPROC_LOCK_NONE));
  ASSERT_OK(mproc_raw_array_new(&araw, 'q', 3, NULL));
  ASSERT_TRUE(mproc_value_get_lock(raw) == NULL);
  ASSERT_TRUE(mproc_value_get_lock(raw2) == NULL);
  ASSERT_TRUE(mproc_array_get_lock(araw) == NULL);
  ASSERT_OK(mproc_value_get(raw, &y));
  ASSERT_EQ(y, 5);
  ASSERT_OK(mproc_array_set(araw, 2, &x));
  ASSERT_OK(mproc_array_get(araw, 2, &y));
  ASSERT_EQ(y, 5);

  /* The default (lock=True): a new RLock per object, so the holder may use the helpers. */
  ASSERT_OK(mproc_value_new(&def, 'q', &x, MPROC_LOCK_NEW));
  ASSERT_OK(mproc_value_new(&def2, 'q', &x, MPROC_LOCK_NEW));
  ASSERT_OK(mproc_array_new(&adef, 'i', 4, NULL, MPROC_LOCK_NEW));
  mproc_lock_t *dl = mproc_value_get_lock(def);
  ASSERT_TRUE(dl != NULL);
  ASSERT_EQ(mproc_lock_is_recursive(dl), 1);
  ASSERT_EQ(mproc_lock_is_recursive(mproc_array_get_lock(adef)), 1);
  ASSERT_TRUE(mproc_value_get_lock(def2) != dl); /* one lock each */
  ASSERT_TRUE(mproc_array_get_lock(adef) != dl);
  ASSERT_OK(mproc_lock_acquire(dl, 0));
  ASSERT_OK(mproc_lock_acquire(mproc_value_get_lock(def2), 0)); /* not the same lock */
  ASSERT_OK(mproc_lock_release(mproc_value_get_lock(def2)));
  x = 6;
  ASSERT_OK(mproc_value_set(def, &x)); /* RLock: the helpers re-enter the held lock */
  ASSERT_OK(mproc_value_get(def, &y));
  ASSERT_EQ(y, 6);
  ASSERT_EQ(mproc_lock_is_mine(dl), 1); /* still held once by us */
  ASSERT_OK(mproc_lock_release(dl));
  ASSERT_EQ(mproc_lock_is_mine(dl), 0);
  ASSERT_RC(mproc_lock_release(dl), MPROC_EOVERRELEASE); /* the helpers released what they took */

  /* A lock of the caller's: the very one is returned, shared by several objects. */
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_value_new(&mine, 'q', &x, l));
  ASSERT_OK(mproc_array_new(&amine, 'q', 2, NULL, l));
  ASSERT_TRUE(mproc_value_get_lock(mine) == l);
  ASSERT_TRUE(mproc_array_get_lock(amine) == l);
  /* A plain Lock held by the caller: the helpers report the deadlock Python would hang in,
   * and change nothing. */
  ASSERT_OK(mproc_lock_acquire(l, 0));
  int64_t z = 77;
  y = -1;
  ASSERT_RC(mproc_value_get(mine, &y), MPROC_EDEADLK);
  ASSERT_EQ(y, -1);
  ASSERT_RC(mproc_value_set(mine, &z), MPROC_EDEADLK);
  ASSERT_RC(mproc_array_set(amine, 0, &z), MPROC_EDEADLK);
  int64_t pair[2] = {-1, -1};
  ASSERT_RC(mproc_array_get_slice(amine, 0, 2, pair), MPROC_EDEADLK);
  ASSERT_EQ(pair[0], -1);
  ASSERT_EQ(*(int64_t *)mproc_value_ptr(mine), 6);
  ASSERT_OK(mproc_value_add(mine, 1, NULL)); /* atomics take no lock */
  ASSERT_OK(mproc_lock_release(l));
  ASSERT_OK(mproc_value_get(mine, &y));
  ASSERT_EQ(y, 7);
  ASSERT_EQ(mproc_lock_is_mine(l), 0);

  mproc_value_free(mine); /* not the caller's lock: it is still usable */
  mproc_array_free(amine);
  ASSERT_OK(mproc_lock_acquire(l, 0));
  ASSERT_OK(mproc_lock_release(l));
  mproc_lock_free(l);
  mproc_array_free(adef);
  mproc_value_free(def2);
  mproc_value_free(def);
  mproc_array_free(araw);
  mproc_value_free(raw2);
  mproc_value_free(raw);
}

/* Args: raw Value, default Value (its RLock held by the parent), Value and Array with the
 * caller's Lock, that Lock. */
static int t_lock_kinds(const mproc_args_t *a) {
  mproc_value_t *raw = t_value(a, 0), *def = t_value(a, 1), *mine = t_value(a, 2);
  mproc_array_t *amine = t_array(a, 3);
  mproc_lock_t *l = t_lock(a, 4);
  C_TRUE(raw != NULL && def != NULL && mine != NULL && amine != NULL && l != NULL);
  C_TRUE(mproc_value_get_lock(raw) == NULL);
  mproc_lock_t *dl = mproc_value_get_lock(def);
  C_TRUE(dl != NULL);
  C_EQ(mproc_lock_is_recursive(dl), 1);
  C_RC(mproc_lock_acquire(dl, 0), MPROC_ETIMEDOUT); /* the parent holds it */
  C_EQ(mproc_lock_is_mine(dl), 0);
  mproc_lock_t *vl = mproc_value_get_lock(mine);
  C_TRUE(vl != NULL);
  C_EQ(mproc_lock_is_recursive(vl), 0);
  C_OK(mproc_lock_acquire(vl, 30000));
  C_EQ(mproc_lock_is_mine(l), 1); /* the same lock, whichever way it arrived */
  C_EQ(mproc_lock_is_mine(mproc_array_get_lock(amine)), 1);
  int64_t x = 0;
  C_RC(mproc_value_get(mine, &x), MPROC_EDEADLK);
  *(int64_t *)mproc_value_ptr(mine) += 10;
  C_OK(mproc_lock_release(l));
  C_EQ(mproc_lock_is_mine(vl), 0);
  C_OK(mproc_value_get(mine, &x));
  C_EQ(x, 15);
  x = 9;
  C_OK(mproc_value_set(raw, &x));
  return 0;
}

TEST(lock_kinds_in_child, 60, ALL) {
  int64_t five = 5;
  mproc_value_t *raw, *def, *mine;
  mproc_array_t *amine;
  mproc_lock_t *l;
  ASSERT_OK(mproc_raw_value_new(&raw, 'q', NULL));
  ASSERT_OK(mproc_value_new(&def, 'q', NULL, MPROC_LOCK_NEW));
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_value_new(&mine, 'q', &five, l));
  ASSERT_OK(mproc_array_new(&amine, 'q', 2, NULL, l));
  ASSERT_OK(mproc_lock_acquire(mproc_value_get_lock(def), 0));
  t_finish(t_start_one(t_lock_kinds, t_args("VVVAL", raw, def, mine, amine, l)));
  ASSERT_OK(mproc_lock_release(mproc_value_get_lock(def)));
  ASSERT_EQ(*(int64_t *)mproc_value_ptr(mine), 15);
  ASSERT_EQ(*(int64_t *)mproc_value_ptr(raw), 9);
  ASSERT_EQ(mproc_lock_is_mine(l), 0);
  mproc_array_free(amine);
  mproc_value_free(mine);
  mproc_lock_free(l);
  mproc_value_free(def);
  mproc_value_free(raw);
}

#ifdef _WIN32
#define LOCKED_PER_CHILD 10000 /* each acquire is a kernel-mutex call: a wineserver round trip */
#else
#define LOCKED_PER_CHILD 100000
#endif
#define LOCKED_CHILDREN 4

/* The start line for n children racing on shared data, on a raw 'i' Value: the parent stores
 * 1 once all are started; each child then checks in (adds 1) and spins until all n have, so
 * they run their loops at the same time rather than a nap apart. 0, or -1 after about 30 s. */
static int wait_go(mproc_value_t *go, int n) {
  int64_t g = 0;
  for (int i = 0; i < 30000; i++) {
    if (mproc_value_load(go, &g) != 0)
      return -1;
    if (g != 0)
      break;
    t_sleep_ms(1);
  }
  if (g == 0 || mproc_value_add(go, 1, NULL) != 0)
    return -1;
  for (long spins = 0; spins < 30000000L; spins++) {
    if (mproc_value_load(go, &g) != 0)
      return -1;
    if (g >= 1 + n)
      return 0;
    if (spins > 1000000L) /* someone is late (a slow start): stop burning the CPU */
      t_sleep_ms(1);
  }
  return -1;
}

/* Args: a 'q' Value with a lock, go. Under the Value's lock, a plain read-modify-write through
 * the pointer: only the lock makes the total exact. */
static int t_locked_incr(const mproc_args_t *a) {
  mproc_value_t *v = t_value(a, 0);
  mproc_lock_t *l = mproc_value_get_lock(v);
  C_TRUE(l != NULL);
  volatile int64_t *p = mproc_value_ptr(v);
  C_OK(wait_go(t_value(a, 1), LOCKED_CHILDREN));
  for (int i = 0; i < LOCKED_PER_CHILD; i++) {
    C_OK(mproc_lock_acquire(l, MPROC_FOREVER));
    int64_t x = *p;
    *p = x + 1;
    C_OK(mproc_lock_release(l));
  }
  return 0;
}

/* Args: a 'q' Value and an 'i' Array of 3 sharing the caller's Lock, go. One acquisition
 * (through the Array) covers both. */
static int t_locked_incr_shared(const mproc_args_t *a) {
  mproc_value_t *v = t_value(a, 0);
  mproc_array_t *arr = t_array(a, 1);
  mproc_lock_t *l = mproc_array_get_lock(arr);
  C_TRUE(v != NULL && l != NULL);
  volatile int64_t *p = mproc_value_ptr(v);
  volatile int32_t *q = mproc_array_ptr(arr);
  C_OK(wait_go(t_value(a, 2), LOCKED_CHILDREN));
  for (int i = 0; i < LOCKED_PER_CHILD; i++) {
    C_OK(mproc_lock_acquire(l, MPROC_FOREVER));
    *p = *p + 1;
    for (int k = 0; k < 3; k++)
      q[k] = q[k] + k + 1;
    C_OK(mproc_lock_release(l));
  }
  return 0;
}

TEST(locked_increments, 240, ALL) {
  mproc_value_t *v, *go;
  ASSERT_OK(mproc_value_new(&v, 'q', NULL, MPROC_LOCK_NEW));
  ASSERT_OK(mproc_raw_value_new(&go, 'i', NULL));
  mproc_process_t *ps[LOCKED_CHILDREN];
  t_start_n(ps, LOCKED_CHILDREN, t_locked_incr, t_args("VV", v, go));
  ASSERT_OK(mproc_value_store(go, 1));
  t_finish_n(ps, LOCKED_CHILDREN);
  int64_t total = 0;
  ASSERT_OK(mproc_value_get(v, &total));
  ASSERT_EQ(total, (int64_t)LOCKED_CHILDREN * LOCKED_PER_CHILD);
  mproc_value_free(v);

  /* The caller's Lock guarding a Value and an Array together. */
  mproc_lock_t *l;
  mproc_array_t *arr;
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_value_new(&v, 'q', NULL, l));
  ASSERT_OK(mproc_array_new(&arr, 'i', 3, NULL, l));
  ASSERT_OK(mproc_value_store(go, 0));
  t_start_n(ps, LOCKED_CHILDREN, t_locked_incr_shared, t_args("VAV", v, arr, go));
  ASSERT_OK(mproc_value_store(go, 1));
  t_finish_n(ps, LOCKED_CHILDREN);
  ASSERT_EQ(sh_load(v), (int64_t)LOCKED_CHILDREN * LOCKED_PER_CHILD);
  int32_t got[3];
  ASSERT_OK(mproc_array_get_slice(arr, 0, 3, got));
  for (int k = 0; k < 3; k++)
    ASSERT_EQ(got[k], (int64_t)LOCKED_CHILDREN * LOCKED_PER_CHILD * (k + 1));
  mproc_array_free(arr);
  mproc_value_free(v);
  mproc_lock_free(l);
  mproc_value_free(go);
}

/* get_slice / set_slice and record get / set are one copy under the lock: readers never see
 * a half-written array or record while writers rewrite them whole. */
#define TEAR_LEN 256
#ifdef _WIN32
#define TEAR_ROUNDS 2000 /* two kernel-mutex calls per copy: wineserver round trips under Wine */
#else
#define TEAR_ROUNDS 20000
#endif

typedef struct wide_rec {
  int64_t w[64];
} wide_rec;

/* Args: 'q' Array of TEAR_LEN, wide_rec Value, both locked; role (0 writer, 1 reader); k. */
static int t_tear(const mproc_args_t *a) {
  mproc_array_t *arr = t_array(a, 0);
  mproc_value_t *v = t_value(a, 1);
  int reader = t_int(a, 2), k = t_int(a, 3);
  C_TRUE(arr != NULL && v != NULL);
  int64_t buf[TEAR_LEN];
  wide_rec r;
  for (int round = 1; round <= TEAR_ROUNDS; round++) {
    if (reader) {
      C_OK(mproc_array_get_slice(arr, 0, TEAR_LEN, buf));
      for (int i = 1; i < TEAR_LEN; i++)
        if (buf[i] != buf[0])
          return mproc_fail(3, "round %d: torn array read: [0] = %llx, [%d] = %llx", round,
                            (unsigned long long)buf[0], i, (unsigned long long)buf[i]);
      C_OK(mproc_value_get(v, &r));
      for (int i = 1; i < 64; i++)
        if (r.w[i] != r.w[0])
          return mproc_fail(4, "round %d: torn record read", round);
    } else {
      int64_t x = (int64_t)k << 32 | round;
      for (int i = 0; i < TEAR_LEN; i++)
        buf[i] = x;
      for (int i = 0; i < 64; i++)
        r.w[i] = x;
      C_OK(mproc_array_set_slice(arr, 0, TEAR_LEN, buf));
      C_OK(mproc_value_set(v, &r));
    }
  }
  return 0;
}

TEST(slices_not_torn, 240, ALL) {
  mproc_array_t *arr;
  mproc_value_t *v;
  ASSERT_OK(mproc_array_new(&arr, 'q', TEAR_LEN, NULL, MPROC_LOCK_NEW));
  ASSERT_OK(mproc_value_new_record(&v, sizeof(wide_rec), _Alignof(wide_rec), NULL, MPROC_LOCK_NEW));
  mproc_process_t *ps[4];
  for (int i = 0; i < 4; i++)
    ps[i] = t_start_one(t_tear, t_args("AVii", arr, v, i % 2, i + 1));
  t_finish_n(ps, 4);
  int64_t last[TEAR_LEN];
  ASSERT_OK(mproc_array_get_slice(arr, 0, TEAR_LEN, last));
  ASSERT_EQ(last[0] & 0xffffffff, TEAR_ROUNDS); /* a writer's last round stays */
  mproc_value_free(v);
  mproc_array_free(arr);
}

/* --- atomics from many processes -------------------------------------------------------------- */

#define ADD_CHILDREN 8
#define ADD_PER_CHILD 100000 /* user-space atomics: as quick under Wine as natively */

/* Args: counter ('q' Value), olds ('q' raw Array, one slot per child), go, k. Adds 1
 * ADD_PER_CHILD times and stores the sum of the old values it got in olds[k]. */
static int t_atomic_add(const mproc_args_t *a) {
  mproc_value_t *v = t_value(a, 0);
  mproc_array_t *olds = t_array(a, 1);
  int k = t_int(a, 3);
  C_OK(wait_go(t_value(a, 2), ADD_CHILDREN));
  int64_t sum = 0;
  for (int i = 0; i < ADD_PER_CHILD; i++) {
    int64_t old = -1;
    C_OK(mproc_value_add(v, 1, &old));
    sum += old;
  }
  C_OK(mproc_array_store(olds, (size_t)k, sum));
  return 0;
}

TEST(atomic_add_8_processes, 120, ALL) {
  mproc_value_t *v, *go;
  mproc_array_t *olds;
  ASSERT_OK(mproc_value_new(&v, 'q', NULL, MPROC_LOCK_NEW)); /* atomics ignore the lock */
  ASSERT_OK(mproc_raw_value_new(&go, 'i', NULL));
  ASSERT_OK(mproc_raw_array_new(&olds, 'q', ADD_CHILDREN, NULL));
  mproc_process_t *ps[ADD_CHILDREN];
  for (int k = 0; k < ADD_CHILDREN; k++)
    ps[k] = t_start_one(t_atomic_add, t_args("VAVi", v, olds, go, k));
  ASSERT_OK(mproc_value_store(go, 1));
  t_finish_n(ps, ADD_CHILDREN);
  const int64_t n = (int64_t)ADD_CHILDREN * ADD_PER_CHILD;
  ASSERT_EQ(sh_load(v), n);
  /* Every add saw a different old value, 0 .. n-1, so their sum is n(n-1)/2. */
  int64_t sum = 0;
  for (int k = 0; k < ADD_CHILDREN; k++) {
    int64_t s = 0;
    ASSERT_OK(mproc_array_load(olds, (size_t)k, &s));
    sum += s;
  }
  ASSERT_EQ(sum, n * (n - 1) / 2);
  mproc_array_free(olds);
  mproc_value_free(go);
  mproc_value_free(v);
}

#define CAS_CHILDREN 8
#define CAS_PER_CHILD 50000
#define CAS_START ((int64_t)UINT32_MAX - 1000) /* the 'I' counter wraps past 2^32 - 1 */

/* Args: 'I' Value, 'h' raw Array of 4, go, k. Increments the Value and element k % 4 with
 * compare-and-swap loops. */
static int t_cas_incr(const mproc_args_t *a) {
  mproc_value_t *v = t_value(a, 0);
  mproc_array_t *arr = t_array(a, 1);
  size_t slot = (size_t)t_int(a, 3) % 4;
  C_OK(wait_go(t_value(a, 2), CAS_CHILDREN));
  for (int i = 0; i < CAS_PER_CHILD; i++) {
    int64_t e;
    C_OK(mproc_value_load(v, &e));
    int rc;
    while ((rc = mproc_value_cas(v, &e, e + 1)) == 0)
      ;
    C_EQ(rc, 1);
    C_OK(mproc_array_load(arr, slot, &e));
    while ((rc = mproc_array_cas(arr, slot, &e, e + 1)) == 0)
      ;
    C_EQ(rc, 1);
  }
  return 0;
}

TEST(cas_increments, 120, ALL) {
  mproc_value_t *v, *go;
  mproc_array_t *arr;
  ASSERT_OK(mproc_raw_value_new(&v, 'I', NULL));
  ASSERT_OK(mproc_value_store(v, CAS_START));
  ASSERT_OK(mproc_raw_value_new(&go, 'i', NULL));
  ASSERT_OK(mproc_raw_array_new(&arr, 'h', 4, NULL));
  mproc_process_t *ps[CAS_CHILDREN];
  for (int k = 0; k < CAS_CHILDREN; k++)
    ps[k] = t_start_one(t_cas_incr, t_args("VAVi", v, arr, go, k));
  ASSERT_OK(mproc_value_store(go, 1));
  t_finish_n(ps, CAS_CHILDREN);
  ASSERT_EQ(sh_load(v), (CAS_START + (int64_t)CAS_CHILDREN * CAS_PER_CHILD) % ((int64_t)1 << 32));
  /* Each element: CAS_CHILDREN / 4 * CAS_PER_CHILD = 100,000 increments of an int16, which
   * wrapped (to 100000 - 131072). */
  for (size_t i = 0; i < 4; i++) {
    int64_t e = 0;
    ASSERT_OK(mproc_array_load(arr, i, &e));
    ASSERT_EQ(e, (int16_t)(uint16_t)(CAS_CHILDREN / 4 * CAS_PER_CHILD));
  }
  mproc_array_free(arr);
  mproc_value_free(go);
  mproc_value_free(v);
}

#define ADJ_PER_CHILD 100000
#define ROUNDS_PER_CHILD 5000

/* Args: 'B' raw Array of 8 (neighbouring bytes), 'i' Array of 16 (locked: atomics ignore the
 * lock), go, k. Adds 1 to bytes k and k+1 (mod 8) in turn, so every byte is changed by two
 * processes while its neighbours change too; adds i+1 to every int element i. */
static int t_elem_atomics(const mproc_args_t *a) {
  mproc_array_t *bytes = t_array(a, 0), *ints = t_array(a, 1);
  int k = t_int(a, 3);
  C_OK(wait_go(t_value(a, 2), 8));
  for (int i = 0; i < ADJ_PER_CHILD; i++) {
    C_OK(mproc_array_add(bytes, (size_t)k, 1, NULL));
    C_OK(mproc_array_add(bytes, (size_t)(k + 1) % 8, 1, NULL));
  }
  for (int r = 0; r < ROUNDS_PER_CHILD; r++)
    for (size_t i = 0; i < 16; i++)
      C_OK(mproc_array_add(ints, i, (int64_t)i + 1, NULL));
  return 0;
}

TEST(array_element_atomics, 120, ALL) {
  mproc_array_t *bytes, *ints;
  mproc_value_t *go;
  ASSERT_OK(mproc_raw_array_new(&bytes, 'B', 8, NULL));
  ASSERT_OK(mproc_array_new(&ints, 'i', 16, NULL, MPROC_LOCK_NEW));
  ASSERT_OK(mproc_raw_value_new(&go, 'i', NULL));
  mproc_process_t *ps[8];
  for (int k = 0; k < 8; k++)
    ps[k] = t_start_one(t_elem_atomics, t_args("AAVi", bytes, ints, go, k));
  ASSERT_OK(mproc_value_store(go, 1));
  t_finish_n(ps, 8);
  for (size_t i = 0; i < 8; i++) {
    int64_t b = -1;
    ASSERT_OK(mproc_array_load(bytes, i, &b));
    ASSERT_EQ(b, (2 * ADJ_PER_CHILD) % 256);
  }
  for (size_t i = 0; i < 16; i++) {
    int64_t x = -1;
    ASSERT_OK(mproc_array_load(ints, i, &x));
    ASSERT_EQ(x, (int64_t)8 * ROUNDS_PER_CHILD * (int64_t)(i + 1));
  }
  mproc_value_free(go);
  mproc_array_free(ints);
  mproc_array_free(bytes);
}

/* --- an Array in disjoint slices -------------------------------------------------------------- */

#define SLICE_CHILDREN 4
#define SLICE_LEN 50000 /* per child: 1.6 MB in all, a segment of its own */

static int64_t slice_elem(size_t i) { return 3 * (int64_t)i + 1; }

/* Args: 'q' Array of SLICE_CHILDREN * SLICE_LEN, k. Fills slice k: the first half with
 * set_slice in chunks, the second half through the pointer, the last element with set. */
static int t_fill_slice(const mproc_args_t *a) {
  mproc_array_t *arr = t_array(a, 0);
  size_t k = (size_t)t_int(a, 1), from = k * SLICE_LEN, mid = from + SLICE_LEN / 2;
  size_t to = from + SLICE_LEN;
  C_EQ(mproc_array_length(arr), SLICE_CHILDREN * SLICE_LEN);
  int64_t chunk[1000];
  for (size_t i = from; i < mid; i += 1000) {
    size_t n = mid - i < 1000 ? mid - i : 1000;
    for (size_t j = 0; j < n; j++)
      chunk[j] = slice_elem(i + j);
    C_OK(mproc_array_set_slice(arr, i, n, chunk));
  }
  int64_t *p = mproc_array_ptr(arr);
  for (size_t i = mid; i < to - 1; i++)
    p[i] = slice_elem(i);
  int64_t last = slice_elem(to - 1);
  C_OK(mproc_array_set(arr, to - 1, &last));
  return 0;
}

TEST(array_disjoint_slices, 120, ALL) {
  const size_t n = (size_t)SLICE_CHILDREN * SLICE_LEN;
  mproc_array_t *arr;
  ASSERT_OK(mproc_array_new(&arr, 'q', n, NULL, MPROC_LOCK_NEW));
  mproc_process_t *ps[SLICE_CHILDREN];
  for (int k = 0; k < SLICE_CHILDREN; k++)
    ps[k] = t_start_one(t_fill_slice, t_args("Ai", arr, k));
  t_finish_n(ps, SLICE_CHILDREN);
  int64_t *all = malloc(n * sizeof *all);
  ASSERT_TRUE(all != NULL);
  ASSERT_OK(mproc_array_get_slice(arr, 0, n, all));
  int64_t sum = 0;
  for (size_t i = 0; i < n; i++) {
    if (all[i] != slice_elem(i))
      t_fail(__FILE__, __LINE__, "element %u: %lld, want %lld", (unsigned)i, (long long)all[i],
             (long long)slice_elem(i));
    sum += all[i];
  }
  ASSERT_EQ(sum, 3 * ((int64_t)n * ((int64_t)n - 1) / 2) + (int64_t)n);
  free(all);
  mproc_array_free(arr);
}

/* --- errors ----------------------------------------------------------------------------------- */

/* --- length 0 ------------------------------------------------------------------------------ */

/* Python: Array('i', 0), RawArray('i', 0), Array('i', []) and Array('i', 0, lock=Lock()) are
 * valid, of length 0; a[0] raises IndexError, a[0:0] is []. */
enum { Z_LOCKED, Z_RAW, Z_INIT, Z_USER_LOCK, Z_RECORD, Z_RAW_RECORD, Z_KINDS };

static int zero_check(mproc_array_t *a, int kind) {
  unsigned char buf[16] = {0};
  int64_t x = 0;
  C_TRUE(a != NULL);
  C_EQ(mproc_array_length(a), 0);
  C_EQ(mproc_array_elem_size(a), kind >= Z_RECORD ? 12 : 4);
  C_EQ(mproc_array_typecode(a), kind >= Z_RECORD ? 0 : 'i');
  C_TRUE(mproc_array_ptr(a) != NULL);
  C_EQ(mproc_array_get_lock(a) != NULL, kind != Z_RAW && kind != Z_RAW_RECORD);
  C_RC(mproc_array_get(a, 0, buf), MPROC_ERANGE);
  C_RC(mproc_array_set(a, 0, buf), MPROC_ERANGE);
  C_RC(mproc_array_get_slice(a, 0, 1, buf), MPROC_ERANGE);
  C_RC(mproc_array_get_slice(a, 1, 0, buf), MPROC_ERANGE);
  C_OK(mproc_array_get_slice(a, 0, 0, buf)); /* a[0:0] */
  C_OK(mproc_array_set_slice(a, 0, 0, buf));
  if (kind < Z_RECORD) {
    C_RC(mproc_array_load(a, 0, &x), MPROC_ERANGE);
    C_RC(mproc_array_store(a, 0, 1), MPROC_ERANGE);
    C_RC(mproc_array_add(a, 0, 1, NULL), MPROC_ERANGE);
    C_RC(mproc_array_cas(a, 0, &x, 1), MPROC_ERANGE);
  }
  mproc_lock_t *l = mproc_array_get_lock(a);
  if (l != NULL) {
    C_OK(mproc_lock_acquire(l, 5000));
    C_OK(mproc_lock_release(l));
  }
  return 0;
}

/* Args: one empty array per kind, in kind order. */
static int t_zero_child(const mproc_args_t *a) {
  for (int k = 0; k < Z_KINDS; k++) {
    int rc = zero_check(t_array(a, (size_t)k), k);
    if (rc != 0)
      return rc;
  }
  return 0;
}

TEST(array_length_zero, 60, ALL) {
  mproc_array_t *z[Z_KINDS];
  mproc_lock_t *mine;
  int32_t nothing[1] = {7};
  struct { int32_t a, b, c; } rec0[1] = {{1, 2, 3}};
  ASSERT_OK(mproc_lock_new(&mine));
  ASSERT_OK(mproc_array_new(&z[Z_LOCKED], 'i', 0, NULL, MPROC_LOCK_NEW));
  ASSERT_OK(mproc_raw_array_new(&z[Z_RAW], 'i', 0, NULL));
  ASSERT_OK(mproc_array_new(&z[Z_INIT], 'i', 0, nothing, MPROC_LOCK_NEW)); /* Array('i', []) */
  ASSERT_OK(mproc_array_new(&z[Z_USER_LOCK], 'i', 0, NULL, mine));
  ASSERT_OK(mproc_array_new_record(&z[Z_RECORD], sizeof rec0[0], 4, 0, rec0, MPROC_LOCK_NEW));
  ASSERT_OK(mproc_array_new_record(&z[Z_RAW_RECORD], sizeof rec0[0], 4, 0, NULL, MPROC_LOCK_NONE));
  ASSERT_TRUE(mproc_array_get_lock(z[Z_USER_LOCK]) == mine);
  for (int k = 0; k < Z_KINDS; k++)
    if (zero_check(z[k], k) != 0)
      t_fail(__FILE__, __LINE__, "kind %d in the parent", k);
  /* As arguments to a child, and side by side with ordinary objects. */
  mproc_args_t *a = t_args("AAAAAA", z[0], z[1], z[2], z[3], z[4], z[5]);
  t_finish(t_start_one(t_zero_child, a));
  mproc_array_t *two[2];
  for (int i = 0; i < 2; i++)
    ASSERT_OK(mproc_raw_array_new(&two[i], 'i', 0, NULL));
  ASSERT_TRUE(mproc_array_ptr(two[0]) != mproc_array_ptr(two[1]));
  for (int i = 0; i < 2; i++)
    mproc_array_free(two[i]);
  for (int k = 0; k < Z_KINDS; k++)
    mproc_array_free(z[k]);
  mproc_lock_free(mine);
}

TEST(errors, 30, ONCE) {
  mproc_value_t *v = (mproc_value_t *)&v; /* junk: a failed constructor sets NULL */
  mproc_array_t *a = (mproc_array_t *)&a;
  int64_t x = 0;
  /* Unknown typecodes (Python's 'u' wchar included: not a type here). */
  static const char bad_codes[] = {'x', 'u', 'z', 'e', ' ', 0, (char)0xff};
  for (size_t i = 0; i < sizeof bad_codes; i++) {
    v = (mproc_value_t *)&v;
    ASSERT_RC(mproc_value_new(&v, bad_codes[i], NULL, MPROC_LOCK_NEW), MPROC_EINVAL);
    ASSERT_TRUE(v == NULL);
    v = (mproc_value_t *)&v;
    ASSERT_RC(mproc_raw_value_new(&v, bad_codes[i], NULL), MPROC_EINVAL);
    ASSERT_TRUE(v == NULL);
    a = (mproc_array_t *)&a;
    ASSERT_RC(mproc_array_new(&a, bad_codes[i], 4, NULL, MPROC_LOCK_NEW), MPROC_EINVAL);
    ASSERT_TRUE(a == NULL);
    a = (mproc_array_t *)&a;
    ASSERT_RC(mproc_raw_array_new(&a, bad_codes[i], 4, NULL), MPROC_EINVAL);
    ASSERT_TRUE(a == NULL);
  }
  /* No out pointer; bad record shapes (length 0 is valid: array_length_zero). */
  ASSERT_RC(mproc_value_new(NULL, 'i', NULL, MPROC_LOCK_NEW), MPROC_EINVAL);
  ASSERT_RC(mproc_raw_value_new(NULL, 'i', NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_value_new_record(NULL, 8, 8, NULL, MPROC_LOCK_NEW), MPROC_EINVAL);
  ASSERT_RC(mproc_array_new(NULL, 'i', 4, NULL, MPROC_LOCK_NEW), MPROC_EINVAL);
  ASSERT_RC(mproc_raw_array_new(NULL, 'i', 4, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_array_new_record(NULL, 8, 8, 4, NULL, MPROC_LOCK_NEW), MPROC_EINVAL);
  static const size_t shapes[][2] = {{0, 8}, {8, 0}, {8, 3}, {8, 128}, {24, 12}};
  for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
    v = (mproc_value_t *)&v;
    ASSERT_RC(mproc_value_new_record(&v, shapes[i][0], shapes[i][1], NULL, MPROC_LOCK_NEW),
              MPROC_EINVAL);
    ASSERT_TRUE(v == NULL);
    a = (mproc_array_t *)&a;
    ASSERT_RC(mproc_array_new_record(&a, shapes[i][0], shapes[i][1], 2, NULL, MPROC_LOCK_NEW),
              MPROC_EINVAL);
    ASSERT_TRUE(a == NULL);
  }
  /* A length whose byte size overflows size_t cannot be allocated. */
  a = (mproc_array_t *)&a;
  int rc = mproc_array_new(&a, 'q', SIZE_MAX / 4, NULL, MPROC_LOCK_NONE);
  ASSERT_TRUE(rc == MPROC_ENOMEM || rc == MPROC_ENOSPC);
  ASSERT_TRUE(a == NULL);

  /* Atomics are for integer types only. */
  mproc_value_t *vf, *vd, *vr;
  mproc_array_t *af, *ad, *ar;
  ASSERT_OK(mproc_value_new(&vf, 'f', NULL, MPROC_LOCK_NEW));
  ASSERT_OK(mproc_raw_value_new(&vd, 'd', NULL));
  /* int64-sized, still a record */
  ASSERT_OK(mproc_value_new_record(&vr, 8, 8, NULL, MPROC_LOCK_NONE));
  ASSERT_OK(mproc_raw_array_new(&af, 'f', 3, NULL));
  ASSERT_OK(mproc_array_new(&ad, 'd', 3, NULL, MPROC_LOCK_NEW));
  ASSERT_OK(mproc_array_new_record(&ar, 8, 8, 3, NULL, MPROC_LOCK_NEW));
  mproc_value_t *nonint_v[] = {vf, vd, vr};
  mproc_array_t *nonint_a[] = {af, ad, ar};
  for (int i = 0; i < 3; i++) {
    int64_t e = 0;
    ASSERT_RC(mproc_value_load(nonint_v[i], &x), MPROC_ETYPE);
    ASSERT_RC(mproc_value_store(nonint_v[i], 1), MPROC_ETYPE);
    ASSERT_RC(mproc_value_add(nonint_v[i], 1, &x), MPROC_ETYPE);
    ASSERT_RC(mproc_value_add(nonint_v[i], 1, NULL), MPROC_ETYPE);
    ASSERT_RC(mproc_value_cas(nonint_v[i], &e, 1), MPROC_ETYPE);
    ASSERT_RC(mproc_array_load(nonint_a[i], 0, &x), MPROC_ETYPE);
    ASSERT_RC(mproc_array_store(nonint_a[i], 1, 1), MPROC_ETYPE);
    ASSERT_RC(mproc_array_add(nonint_a[i], 2, 1, NULL), MPROC_ETYPE);
    ASSERT_RC(mproc_array_cas(nonint_a[i], 0, &e, 1), MPROC_ETYPE);
    /* Nothing was written. */
    static const unsigned char zero[8];
    ASSERT_TRUE(memcmp(mproc_value_ptr(nonint_v[i]), zero, mproc_value_size(nonint_v[i])) == 0);
    ASSERT_TRUE(memcmp(mproc_array_ptr(nonint_a[i]), zero, 8) == 0);
  }
  /* The copy helpers serve every type. */
  double d = 2.5, dd = 0;
  ASSERT_OK(mproc_value_set(vd, &d));
  ASSERT_OK(mproc_value_get(vd, &dd));
  ASSERT_TRUE(dd == 2.5);
  for (int i = 0; i < 3; i++) {
    mproc_value_free(nonint_v[i]);
    mproc_array_free(nonint_a[i]);
  }

  /* Indexes out of range: get / set / slices / atomics, nothing written. */
  ASSERT_OK(mproc_array_new(&a, 'i', 4, NULL, MPROC_LOCK_NEW));
  int32_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  int64_t e = 0;
  ASSERT_RC(mproc_array_get(a, 4, buf), MPROC_ERANGE);
  ASSERT_RC(mproc_array_get(a, SIZE_MAX, buf), MPROC_ERANGE);
  ASSERT_RC(mproc_array_set(a, 4, buf), MPROC_ERANGE);
  ASSERT_RC(mproc_array_set(a, SIZE_MAX, buf), MPROC_ERANGE);
  ASSERT_RC(mproc_array_get_slice(a, 0, 5, buf), MPROC_ERANGE);
  ASSERT_RC(mproc_array_get_slice(a, 3, 2, buf), MPROC_ERANGE);
  ASSERT_RC(mproc_array_get_slice(a, 5, 0, buf), MPROC_ERANGE);
  ASSERT_RC(mproc_array_get_slice(a, 1, SIZE_MAX, buf), MPROC_ERANGE); /* no overflow */
  ASSERT_RC(mproc_array_get_slice(a, SIZE_MAX, 2, buf), MPROC_ERANGE);
  ASSERT_RC(mproc_array_set_slice(a, 2, 3, buf), MPROC_ERANGE);
  ASSERT_RC(mproc_array_set_slice(a, 1, SIZE_MAX, buf), MPROC_ERANGE);
  ASSERT_RC(mproc_array_load(a, 4, &x), MPROC_ERANGE);
  ASSERT_RC(mproc_array_store(a, 4, 1), MPROC_ERANGE);
  ASSERT_RC(mproc_array_add(a, 4, 1, NULL), MPROC_ERANGE);
  ASSERT_RC(mproc_array_cas(a, 4, &e, 1), MPROC_ERANGE);
  ASSERT_RC(mproc_array_load(a, SIZE_MAX, &x), MPROC_ERANGE);
  static const int32_t zero4[4];
  ASSERT_TRUE(memcmp(mproc_array_ptr(a), zero4, sizeof zero4) == 0);
  /* The edges are in range: the last element, and empty slices up to the end (a[4:4]). */
  ASSERT_OK(mproc_array_set(a, 3, &buf[7]));
  ASSERT_OK(mproc_array_get_slice(a, 4, 0, buf));
  ASSERT_OK(mproc_array_set_slice(a, 0, 0, buf));
  ASSERT_OK(mproc_array_get_slice(a, 0, 4, buf));
  ASSERT_EQ(buf[3], 8);
  ASSERT_EQ(buf[0], 0);

  /* NULL handles and out pointers. */
  ASSERT_OK(mproc_value_new(&v, 'i', NULL, MPROC_LOCK_NEW));
  ASSERT_RC(mproc_value_get(NULL, &x), MPROC_EINVAL);
  ASSERT_RC(mproc_value_get(v, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_value_set(NULL, &x), MPROC_EINVAL);
  ASSERT_RC(mproc_value_set(v, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_value_load(NULL, &x), MPROC_EINVAL);
  ASSERT_RC(mproc_value_load(v, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_value_store(NULL, 1), MPROC_EINVAL);
  ASSERT_RC(mproc_value_add(NULL, 1, &x), MPROC_EINVAL);
  ASSERT_RC(mproc_value_cas(NULL, &e, 1), MPROC_EINVAL);
  ASSERT_RC(mproc_value_cas(v, NULL, 1), MPROC_EINVAL);
  ASSERT_RC(mproc_array_get(NULL, 0, &x), MPROC_EINVAL);
  ASSERT_RC(mproc_array_get(a, 0, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_array_set(NULL, 0, &x), MPROC_EINVAL);
  ASSERT_RC(mproc_array_set(a, 0, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_array_get_slice(NULL, 0, 1, buf), MPROC_EINVAL);
  ASSERT_RC(mproc_array_get_slice(a, 0, 1, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_array_set_slice(NULL, 0, 1, buf), MPROC_EINVAL);
  ASSERT_RC(mproc_array_set_slice(a, 0, 1, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_array_load(NULL, 0, &x), MPROC_EINVAL);
  ASSERT_RC(mproc_array_load(a, 0, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_array_store(NULL, 0, 1), MPROC_EINVAL);
  ASSERT_RC(mproc_array_add(NULL, 0, 1, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_array_cas(NULL, 0, &e, 1), MPROC_EINVAL);
  ASSERT_RC(mproc_array_cas(a, 0, NULL, 1), MPROC_EINVAL);
  ASSERT_TRUE(mproc_value_ptr(NULL) == NULL);
  ASSERT_TRUE(mproc_value_get_lock(NULL) == NULL);
  ASSERT_EQ(mproc_value_typecode(NULL), 0);
  ASSERT_EQ(mproc_value_size(NULL), 0);
  ASSERT_TRUE(mproc_array_ptr(NULL) == NULL);
  ASSERT_TRUE(mproc_array_get_lock(NULL) == NULL);
  ASSERT_EQ(mproc_array_typecode(NULL), 0);
  ASSERT_EQ(mproc_array_elem_size(NULL), 0);
  ASSERT_EQ(mproc_array_length(NULL), 0);

  /* As arguments: NULL objects, the wrong kind, out of range. */
  mproc_args_t *args;
  ASSERT_OK(mproc_args_new(&args));
  ASSERT_RC(mproc_args_add_value(args, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_args_add_array(args, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_args_add_value(NULL, v), MPROC_EINVAL);
  ASSERT_RC(mproc_args_add_array(NULL, a), MPROC_EINVAL);
  ASSERT_EQ(mproc_args_count(args), 0);
  ASSERT_OK(mproc_args_add_value(args, v));
  ASSERT_OK(mproc_args_add_array(args, a));
  ASSERT_OK(mproc_args_add_int(args, 3));
  mproc_value_t *vo = NULL;
  mproc_array_t *ao = NULL;
  ASSERT_OK(mproc_args_get_value(args, 0, &vo)); /* the caller's own list lends its object */
  ASSERT_TRUE(vo == v);
  ASSERT_OK(mproc_args_get_array(args, 1, &ao));
  ASSERT_TRUE(ao == a);
  ASSERT_RC(mproc_args_get_array(args, 0, &ao), MPROC_ETYPE);
  ASSERT_RC(mproc_args_get_value(args, 1, &vo), MPROC_ETYPE);
  ASSERT_RC(mproc_args_get_value(args, 2, &vo), MPROC_ETYPE);
  ASSERT_RC(mproc_args_get_value(args, 3, &vo), MPROC_ERANGE);
  ASSERT_RC(mproc_args_get_value(args, 0, NULL), MPROC_EINVAL);
  ASSERT_RC(mproc_args_get_value(NULL, 0, &vo), MPROC_EINVAL);
  int64_t i64;
  ASSERT_RC(mproc_args_get_int(args, 0, &i64), MPROC_ETYPE);
  mproc_args_free(args);

  mproc_array_free(a);
  mproc_value_free(v);
  mproc_value_free(NULL); /* _free(NULL) is a no-op, like free() */
  mproc_array_free(NULL);
}
