/* SPDX-License-Identifier: MIT */
/* Python data as argument items: bool, big ints, tuple, list and dict — building, reading,
 * repr as Python prints it, dict key rules, limits, hostile encodings, and trips through a
 * connection, a queue and a child under every start method. */
#include "runner.h"

static void assert_repr(const mproc_args_t *a, const char *want) {
  char buf[512];
  int n = mproc_args_repr(a, buf, sizeof buf);
  if (n < 0 || strcmp(buf, want) != 0)
    t_fail(__FILE__, __LINE__, "repr %s (%d), want %s", buf, n, want);
}

static void assert_item_repr(const mproc_args_t *a, size_t i, const char *want) {
  char buf[512];
  int n = mproc_args_repr_item(a, i, buf, sizeof buf);
  if (n < 0 || strcmp(buf, want) != 0)
    t_fail(__FILE__, __LINE__, "repr %s (%d), want %s", buf, n, want);
}

/* Appends {'a': [1, (2,)], 'b': True}. */
static void add_sample_dict(mproc_args_t *out) {
  mproc_args_t *inner, *list, *kv;
  ASSERT_OK(mproc_args_build(&inner, "i", 2));
  ASSERT_OK(mproc_args_build(&list, "i", 1));
  ASSERT_OK(mproc_args_add_tuple(list, inner));
  ASSERT_OK(mproc_args_build(&kv, "s", "a"));
  ASSERT_OK(mproc_args_add_list(kv, list));
  ASSERT_OK(mproc_args_add(kv, "s?", "b", 1));
  ASSERT_OK(mproc_args_add_dict(out, kv));
  mproc_args_free(inner);
  mproc_args_free(list);
  mproc_args_free(kv);
}

static mproc_args_t *sample_dict(void) {
  mproc_args_t *out;
  ASSERT_OK(mproc_args_new(&out));
  add_sample_dict(out);
  return out;
}

TEST(bool_items, 30, ONCE) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "?i?", 1, 7, 0));
  ASSERT_OK(mproc_args_add_bool(a, 42)); /* any nonzero is True */
  ASSERT_EQ(mproc_args_type(a, 0), MPROC_ARG_BOOL);
  ASSERT_EQ(mproc_args_type(a, 1), MPROC_ARG_INT);
  int t = -1, f = -1, x = -1, v;
  ASSERT_OK(mproc_args_parse(a, "?i?", &t, &v, &f));
  ASSERT_EQ(t, 1);
  ASSERT_EQ(f, 0);
  ASSERT_OK(mproc_args_get_bool(a, 3, &x));
  ASSERT_EQ(x, 1);
  int64_t iv;
  ASSERT_RC(mproc_args_get_int(a, 0, &iv), MPROC_ETYPE);
  ASSERT_RC(mproc_args_get_bool(a, 1, &x), MPROC_ETYPE);
  ASSERT_RC(mproc_args_get_bool(a, 9, &x), MPROC_ERANGE);
  ASSERT_TRUE(strcmp(mproc_arg_type_name(MPROC_ARG_BOOL), "bool") == 0);
  assert_repr(a, "[True, 7, False, True]");
  mproc_args_free(a);
}

TEST(bigint_forms, 30, ONCE) {
  /* 2**70 and -2**70 as Python's int.to_bytes(9, 'little', signed=True) */
  unsigned char p70[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0x40};
  unsigned char m70[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0xc0};
  /* -5 with redundant sign bytes, and 2**63 - 1 in 12 bytes: both fit an int64 */
  unsigned char m5[12] = {0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  unsigned char max[12] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0};
  /* 2**63: the first positive int beyond int64 (9 bytes: a sign byte is needed) */
  unsigned char p63[10] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0};
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_OK(mproc_args_add_bigint(a, p70, sizeof p70));
  ASSERT_OK(mproc_args_add_bigint(a, m70, sizeof m70));
  ASSERT_OK(mproc_args_add_bigint(a, m5, sizeof m5));
  ASSERT_OK(mproc_args_add_bigint(a, max, sizeof max));
  ASSERT_OK(mproc_args_add_bigint(a, p63, sizeof p63));
  ASSERT_RC(mproc_args_add_bigint(a, p70, 0), MPROC_EINVAL);
  ASSERT_EQ(mproc_args_type(a, 0), MPROC_ARG_BIGINT);
  ASSERT_EQ(mproc_args_type(a, 2), MPROC_ARG_INT);
  ASSERT_EQ(mproc_args_type(a, 3), MPROC_ARG_INT);
  ASSERT_EQ(mproc_args_type(a, 4), MPROC_ARG_BIGINT);
  int64_t v;
  ASSERT_OK(mproc_args_get_int(a, 2, &v));
  ASSERT_EQ(v, -5);
  ASSERT_OK(mproc_args_get_int(a, 3, &v));
  ASSERT_EQ(v, INT64_MAX);
  ASSERT_RC(mproc_args_get_int(a, 0, &v), MPROC_ERANGE);
  ASSERT_TRUE(strstr(mproc_last_error_message(), "64 bits") != NULL);
  const void *d;
  size_t n;
  ASSERT_OK(mproc_args_get_bigint(a, 1, &d, &n));
  ASSERT_EQ(n, 9);
  ASSERT_TRUE(memcmp(d, m70, 9) == 0);
  ASSERT_OK(mproc_args_get_bigint(a, 2, &d, &n)); /* an int64 reads as its 8 bytes */
  ASSERT_EQ(n, 8);
  ASSERT_EQ(((const unsigned char *)d)[0], 0xfb);
  ASSERT_OK(mproc_args_get_bigint(a, 4, &d, &n));
  ASSERT_EQ(n, 9);
  assert_repr(a, "[1180591620717411303424, -1180591620717411303424, -5, 9223372036854775807, "
                 "9223372036854775808]");
  mproc_args_free(a);
}

/* 10**4300 - 1 has 4300 digits (Python prints it); 16**4000 is beyond the limit (Python's
 * repr raises ValueError there): a hexadecimal literal that reads back exactly. */
TEST(bigint_repr_limit, 30, ONCE) {
  size_t n = 2002;
  unsigned char *big = calloc(1, n);
  ASSERT_TRUE(big != NULL);
  big[2000] = 0x01; /* 2**16000 = 16**4000 */
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_OK(mproc_args_add_bigint(a, big, n));
  big[2000] = 0;
  big[0] = 0xff;
  for (size_t i = 0; i < n; i++)
    big[i] = 0xff; /* -1 */
  big[0] = 0x00;   /* -256 in 2002 bytes: trims to an int64 */
  ASSERT_OK(mproc_args_add_bigint(a, big, n));
  ASSERT_EQ(mproc_args_type(a, 1), MPROC_ARG_INT);
  int len = mproc_args_repr_item(a, 0, NULL, 0);
  ASSERT_EQ(len, 2 + 1 + 4000);
  char *text = malloc((size_t)len + 1);
  ASSERT_TRUE(text != NULL);
  ASSERT_EQ(mproc_args_repr_item(a, 0, text, (size_t)len + 1), len);
  ASSERT_TRUE(strncmp(text, "0x1000", 6) == 0);
  assert_item_repr(a, 1, "-256");
  free(text);
  free(big);
  mproc_args_free(a);
}

TEST(bigint_repr_decimal, 30, ONCE) {
  /* -(2**128) and 2**127 - 1 (Python: -340282366920938463463374607431768211456,
   * 170141183460469231731687303715884105727) */
  unsigned char neg[17] = {0};
  unsigned char pos[16];
  neg[16] = 0xff;
  memset(pos, 0xff, sizeof pos);
  pos[15] = 0x7f;
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_OK(mproc_args_add_bigint(a, neg, sizeof neg));
  ASSERT_OK(mproc_args_add_bigint(a, pos, sizeof pos));
  assert_repr(a, "[-340282366920938463463374607431768211456, "
                 "170141183460469231731687303715884105727]");
  mproc_args_free(a);
}

TEST(nested_repr, 30, ONCE) {
  mproc_args_t *d = sample_dict();
  ASSERT_EQ(mproc_args_type(d, 0), MPROC_ARG_DICT);
  assert_item_repr(d, 0, "{'a': [1, (2,)], 'b': True}");
  mproc_args_t *a, *one, *two;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_OK(mproc_args_add_tuple(a, NULL));
  ASSERT_OK(mproc_args_add_list(a, NULL));
  ASSERT_OK(mproc_args_add_dict(a, NULL));
  ASSERT_OK(mproc_args_build(&one, "s", "x"));
  ASSERT_OK(mproc_args_add_tuple(a, one));
  ASSERT_OK(mproc_args_build(&two, "dny", 0.5, "\x00\x01", (size_t)2));
  ASSERT_OK(mproc_args_add_tuple(two, one));
  ASSERT_OK(mproc_args_add_tuple(a, two));
  ASSERT_OK(mproc_args_add_list(a, d));
  assert_repr(a, "[(), [], {}, ('x',), (0.5, None, b'\\x00\\x01', ('x',)), "
                 "[{'a': [1, (2,)], 'b': True}]]");
  mproc_args_free(a);
  mproc_args_free(one);
  mproc_args_free(two);
  mproc_args_free(d);
}

TEST(container_getters_copy, 30, ONCE) {
  mproc_args_t *d = sample_dict(), *kv, *list, *tuple, *a;
  ASSERT_OK(mproc_args_get_dict(d, 0, &kv));
  ASSERT_EQ(mproc_args_count(kv), 4);
  const char *k;
  int b;
  ASSERT_OK(mproc_args_get_str(kv, 0, &k));
  ASSERT_TRUE(strcmp(k, "a") == 0);
  ASSERT_OK(mproc_args_get_bool(kv, 3, &b));
  ASSERT_EQ(b, 1);
  ASSERT_OK(mproc_args_get_list(kv, 1, &list));
  ASSERT_OK(mproc_args_get_tuple(list, 1, &tuple));
  int64_t v;
  ASSERT_OK(mproc_args_get_int(tuple, 0, &v));
  ASSERT_EQ(v, 2);
  /* a copy: changing it leaves the dict as it was */
  ASSERT_OK(mproc_args_add_int(list, 3));
  assert_repr(list, "[1, (2,), 3]");
  assert_item_repr(d, 0, "{'a': [1, (2,)], 'b': True}");
  ASSERT_RC(mproc_args_get_list(d, 0, &a), MPROC_ETYPE);
  ASSERT_TRUE(strstr(mproc_last_error_message(), "dict") != NULL);
  ASSERT_RC(mproc_args_get_tuple(kv, 1, &a), MPROC_ETYPE);
  ASSERT_RC(mproc_args_get_dict(d, 1, &a), MPROC_ERANGE);
  ASSERT_RC(mproc_args_get_dict(d, 0, NULL), MPROC_EINVAL);
  mproc_args_free(tuple);
  mproc_args_free(list);
  mproc_args_free(kv);
  mproc_args_free(d);
}

/* dict(...) with keys Python finds equal: 1, 1.0 and True are one key; -0.0 == 0; 2.0**70 ==
 * 2**70; nan never equal; ('k', 1) == ('k', 1.0). */
TEST(dict_key_equality, 30, ONCE) {
  unsigned char p70[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0x40};
  double nan = strtod("nan", NULL);
  mproc_args_t *kv, *t1, *t2, *d;
  ASSERT_OK(mproc_args_build(&kv, "is ds ?s", 1, "a", 1.0, "b", 1, "c"));
  ASSERT_OK(mproc_args_add(kv, "ds is", -0.0, "z", 0, "zero"));
  ASSERT_OK(mproc_args_add_bigint(kv, p70, sizeof p70));
  ASSERT_OK(mproc_args_add(kv, "s ds", "big", 1180591620717411303424.0, "bigf"));
  ASSERT_OK(mproc_args_add(kv, "ds ds", nan, "n1", nan, "n2"));
  ASSERT_OK(mproc_args_build(&t1, "si", "k", 1));
  ASSERT_OK(mproc_args_build(&t2, "sd", "k", 1.0));
  ASSERT_OK(mproc_args_add_tuple(kv, t1));
  ASSERT_OK(mproc_args_add(kv, "s", "t1"));
  ASSERT_OK(mproc_args_add_tuple(kv, t2));
  ASSERT_OK(mproc_args_add(kv, "s", "t2"));
  ASSERT_OK(mproc_args_add(kv, "ys yn", "a", (size_t)1, "bytes", "x", (size_t)0, "empty"));
  ASSERT_OK(mproc_args_add(kv, "ss", "a", "str"));
  ASSERT_OK(mproc_args_new(&d));
  ASSERT_OK(mproc_args_add_dict(d, kv));
  assert_item_repr(d, 0, "{1: 'c', -0.0: 'zero', 1180591620717411303424: 'bigf', nan: 'n1', "
                         "nan: 'n2', ('k', 1): 't2', b'a': 'bytes', b'': None, 'a': 'str'}");
  mproc_args_free(kv);
  mproc_args_free(t1);
  mproc_args_free(t2);
  mproc_args_free(d);
}

TEST(dict_rejects_unhashable, 30, ONCE) {
  mproc_args_t *kv, *l, *t, *d;
  ASSERT_OK(mproc_args_new(&d));
  ASSERT_OK(mproc_args_build(&l, "i", 1));
  ASSERT_OK(mproc_args_new(&kv));
  ASSERT_OK(mproc_args_add_list(kv, l));
  ASSERT_OK(mproc_args_add_int(kv, 2));
  ASSERT_RC(mproc_args_add_dict(d, kv), MPROC_ETYPE);
  ASSERT_TRUE(strstr(mproc_last_error_message(), "unhashable type: 'list'") != NULL);
  mproc_args_free(kv);
  ASSERT_OK(mproc_args_build(&t, "i", 0));
  ASSERT_OK(mproc_args_add_list(t, l)); /* (0, [1]) is unhashable too */
  ASSERT_OK(mproc_args_new(&kv));
  ASSERT_OK(mproc_args_add_tuple(kv, t));
  ASSERT_OK(mproc_args_add_int(kv, 2));
  ASSERT_RC(mproc_args_add_dict(d, kv), MPROC_ETYPE);
  ASSERT_OK(mproc_args_add_int(kv, 3));
  ASSERT_RC(mproc_args_add_dict(d, kv), MPROC_EINVAL); /* odd count */
  ASSERT_EQ(mproc_args_count(d), 0);
  mproc_args_free(kv);
  mproc_args_free(t);
  mproc_args_free(l);
  mproc_args_free(d);
}

TEST(containers_refuse_objects, 30, ONCE) {
  mproc_lock_t *lock;
  mproc_args_t *items, *a;
  ASSERT_OK(mproc_lock_new(&lock));
  ASSERT_OK(mproc_args_build(&items, "iL", 1, lock));
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_RC(mproc_args_add_list(a, items), MPROC_ETYPE);
  ASSERT_TRUE(strstr(mproc_last_error_message(), "lock") != NULL);
  ASSERT_RC(mproc_args_add_tuple(a, items), MPROC_ETYPE);
  ASSERT_RC(mproc_args_add_list(NULL, NULL), MPROC_EINVAL);
  ASSERT_EQ(mproc_args_count(a), 0);
  mproc_args_free(items);
  mproc_args_free(a);
  mproc_lock_free(lock);
}

TEST(nesting_depth_limit, 30, ONCE) {
  mproc_args_t *cur;
  ASSERT_OK(mproc_args_new(&cur));
  for (int depth = 1; depth <= MPROC_ARGS_MAX_DEPTH; depth++) {
    mproc_args_t *next;
    ASSERT_OK(mproc_args_new(&next));
    ASSERT_OK(mproc_args_add_list(next, cur));
    mproc_args_free(cur);
    cur = next; /* one item: a list nested depth levels deep */
  }
  mproc_args_t *over;
  ASSERT_OK(mproc_args_new(&over));
  ASSERT_RC(mproc_args_add_tuple(over, cur), MPROC_EMSGSIZE);
  ASSERT_EQ(mproc_args_count(over), 0);
  /* the deepest allowed value still travels */
  mproc_conn_t *r, *w;
  mproc_args_t *got;
  ASSERT_OK(mproc_pipe(0, &r, &w));
  ASSERT_OK(mproc_conn_send(w, cur));
  ASSERT_OK(mproc_conn_recv(r, 5000, &got));
  char a[512], b[512];
  ASSERT_TRUE(mproc_args_repr(got, a, sizeof a) == mproc_args_repr(cur, b, sizeof b));
  ASSERT_TRUE(strcmp(a, b) == 0);
  mproc_args_free(got);
  mproc_conn_free(r);
  mproc_conn_free(w);
  mproc_args_free(over);
  mproc_args_free(cur);
}

/* --- hostile encodings: what mproc_conn_recv refuses ------------------------------------- */

typedef struct enc {
  unsigned char b[256];
  size_t n;
} enc;

static void e_u8(enc *e, unsigned v) { e->b[e->n++] = (unsigned char)v; }
static void e_u32(enc *e, uint32_t v) {
  for (int i = 0; i < 4; i++)
    e_u8(e, (v >> (8 * i)) & 0xff);
}
static void e_u64(enc *e, uint64_t v) {
  for (int i = 0; i < 8; i++)
    e_u8(e, (unsigned)(v >> (8 * i)) & 0xff);
}
static void e_item(enc *e, unsigned type, const void *p, size_t n) {
  e_u8(e, type);
  e_u64(e, n);
  if (n > 0)
    memcpy(e->b + e->n, p, n);
  e->n += n;
}
/* One container item (type) holding the given encoded items. */
static void e_container(enc *out, unsigned type, const enc *items, uint32_t count) {
  enc body = {{0}, 0};
  e_u32(&body, count);
  memcpy(body.b + body.n, items->b, items->n);
  body.n += items->n;
  e_u32(out, 1);
  e_item(out, type, body.b, body.n);
}

static int recv_encoded(const enc *e) {
  mproc_conn_t *r, *w;
  mproc_args_t *got = NULL;
  ASSERT_OK(mproc_pipe(0, &r, &w));
  ASSERT_OK(mproc_conn_send_bytes(w, e->b, e->n, 0, e->n));
  int rc = mproc_conn_recv(r, 5000, &got);
  ASSERT_TRUE(rc != 0 || got != NULL);
  mproc_args_free(got);
  mproc_conn_free(r);
  mproc_conn_free(w);
  return rc;
}

TEST(decode_rejects_malformed, 30, ONCE) {
  unsigned char two = 2, zero8[8] = {0}, nine[9] = {1, 0, 0, 0, 0, 0, 0, 0, 0};
  enc e = {{0}, 0}, items = {{0}, 0};
  e_u32(&e, 1); /* a bool of 2 */
  e_item(&e, MPROC_ARG_BOOL, &two, 1);
  ASSERT_RC(recv_encoded(&e), MPROC_EPROTO);
  e.n = 0; /* a big int that fits in 64 bits (non-canonical) */
  e_u32(&e, 1);
  e_item(&e, MPROC_ARG_BIGINT, nine, 9);
  ASSERT_RC(recv_encoded(&e), MPROC_EPROTO);
  e.n = 0; /* a list claiming more items than its bytes can hold */
  e_item(&items, MPROC_ARG_INT, zero8, 8);
  e_container(&e, MPROC_ARG_LIST, &items, 1000000);
  ASSERT_RC(recv_encoded(&e), MPROC_EPROTO);
  e.n = 0; /* a dict with an odd number of items */
  e_container(&e, MPROC_ARG_DICT, &items, 1);
  ASSERT_RC(recv_encoded(&e), MPROC_EPROTO);
  e.n = 0; /* a dict with a repeated key: {0: 0, 0: 0} */
  e_item(&items, MPROC_ARG_INT, zero8, 8);
  e_item(&items, MPROC_ARG_INT, zero8, 8);
  e_item(&items, MPROC_ARG_INT, zero8, 8);
  e_container(&e, MPROC_ARG_DICT, &items, 4);
  ASSERT_RC(recv_encoded(&e), MPROC_EPROTO);
  e.n = 0; /* the well-formed {0: 0} is accepted */
  items.n = 0;
  e_item(&items, MPROC_ARG_INT, zero8, 8);
  e_item(&items, MPROC_ARG_INT, zero8, 8);
  e_container(&e, MPROC_ARG_DICT, &items, 2);
  ASSERT_OK(recv_encoded(&e));
}

TEST(decode_rejects_bad_nesting, 30, ONCE) {
  unsigned char zero8[8] = {0};
  enc e = {{0}, 0}, items = {{0}, 0}, list = {{0}, 0};
  /* a list key: {[]: 0} */
  e_u32(&list, 0);
  e_item(&items, MPROC_ARG_LIST, list.b, list.n);
  e_item(&items, MPROC_ARG_INT, zero8, 8);
  e_container(&e, MPROC_ARG_DICT, &items, 2);
  ASSERT_RC(recv_encoded(&e), MPROC_EPROTO);
  e.n = 0; /* a connection inside a tuple */
  items.n = 0;
  e_item(&items, MPROC_ARG_CONN, zero8, 8);
  e_container(&e, MPROC_ARG_TUPLE, &items, 1);
  ASSERT_RC(recv_encoded(&e), MPROC_EPROTO);
  e.n = 0; /* trailing bytes inside a container */
  items.n = 0;
  e_item(&items, MPROC_ARG_NONE, NULL, 0);
  e_u8(&items, 0);
  e_container(&e, MPROC_ARG_TUPLE, &items, 1);
  ASSERT_RC(recv_encoded(&e), MPROC_EPROTO);
}

/* Nesting one level beyond MPROC_ARGS_MAX_DEPTH, built by hand (the builders refuse it). */
TEST(decode_rejects_too_deep, 30, ONCE) {
  static unsigned char a[4096], b[4096];
  size_t n = 4;
  memset(a, 0, 4); /* the innermost: an empty list */
  for (int level = 0; level < MPROC_ARGS_MAX_DEPTH + 1; level++) {
    enc body = {{0}, 0};
    e_u32(&body, 1);
    memcpy(b, body.b, 4);
    b[4] = MPROC_ARG_LIST;
    for (int i = 0; i < 8; i++)
      b[5 + i] = (unsigned char)((uint64_t)n >> (8 * i));
    memcpy(b + 13, a, n);
    n += 13;
    memcpy(a, b, n);
  }
  /* a: a list body nested MAX + 2 levels deep; the item wrapping it is one level more */
  mproc_conn_t *r, *w;
  mproc_args_t *got = NULL;
  ASSERT_OK(mproc_pipe(0, &r, &w));
  unsigned char *msg = malloc(n + 13);
  ASSERT_TRUE(msg != NULL);
  msg[0] = 1, msg[1] = msg[2] = msg[3] = 0;
  msg[4] = MPROC_ARG_LIST;
  for (int i = 0; i < 8; i++)
    msg[5 + i] = (unsigned char)((uint64_t)n >> (8 * i));
  memcpy(msg + 13, a, n);
  ASSERT_OK(mproc_conn_send_bytes(w, msg, n + 13, 0, n + 13));
  ASSERT_RC(mproc_conn_recv(r, 5000, &got), MPROC_EPROTO);
  free(msg);
  mproc_conn_free(r);
  mproc_conn_free(w);
}

/* --- round trips ---------------------------------------------------------------------------- */

#define SAMPLE_REPR "[{'a': [1, (2,)], 'b': True}, 1180591620717411303424, (None, 'x')]"

static void add_sample(mproc_args_t *a) {
  unsigned char p70[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0x40};
  mproc_args_t *t;
  add_sample_dict(a);
  ASSERT_OK(mproc_args_add_bigint(a, p70, sizeof p70));
  ASSERT_OK(mproc_args_build(&t, "ns", "x"));
  ASSERT_OK(mproc_args_add_tuple(a, t));
  mproc_args_free(t);
}

static mproc_args_t *sample(void) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  add_sample(a);
  return a;
}

TEST(conn_round_trip, 30, ONCE) {
  mproc_args_t *a = sample(), *got;
  assert_repr(a, SAMPLE_REPR);
  mproc_conn_t *r, *w;
  ASSERT_OK(mproc_pipe(0, &r, &w));
  ASSERT_OK(mproc_conn_send(w, a));
  ASSERT_OK(mproc_conn_recv(r, 5000, &got));
  assert_repr(got, SAMPLE_REPR);
  mproc_args_free(got);
  mproc_conn_free(r);
  mproc_conn_free(w);
  mproc_args_free(a);
}

TEST(queue_round_trip, 30, ONCE) {
  mproc_args_t *a = sample(), *got;
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new(&q, 0));
  ASSERT_OK(mproc_queue_put_values(q, a, MPROC_FOREVER));
  ASSERT_OK(mproc_queue_get_values(q, 5000, &got));
  assert_repr(got, SAMPLE_REPR);
  mproc_args_free(got);
  mproc_queue_free(q);
  mproc_args_free(a);
}

/* Args: P Q, then the sample's three items. Checks them, sends them back both ways, adds one
 * more item of its own making. */
static int echo_child(const mproc_args_t *a) {
  mproc_conn_t *c;
  mproc_queue_t *q;
  C_OK(mproc_args_parse(a, "PQ", &c, &q));
  C_EQ(mproc_args_type(a, 2), MPROC_ARG_DICT);
  C_EQ(mproc_args_type(a, 3), MPROC_ARG_BIGINT);
  char buf[256];
  C_TRUE(mproc_args_repr_item(a, 2, buf, sizeof buf) > 0);
  C_TRUE(strcmp(buf, "{'a': [1, (2,)], 'b': True}") == 0);
  mproc_args_t *back, *kv;
  C_OK(mproc_args_new(&back));
  C_OK(mproc_args_get_dict(a, 2, &kv));
  C_OK(mproc_args_add_dict(back, kv));
  const void *d;
  size_t n;
  C_OK(mproc_args_get_bigint(a, 3, &d, &n));
  C_OK(mproc_args_add_bigint(back, d, n));
  mproc_args_t *t;
  C_OK(mproc_args_get_tuple(a, 4, &t));
  C_OK(mproc_args_add_tuple(back, t));
  C_OK(mproc_args_add_list(back, kv)); /* from the child: ['a', [1, (2,)], 'b', True] */
  C_OK(mproc_conn_send(c, back));
  C_OK(mproc_queue_put_values(q, back, MPROC_FOREVER));
  mproc_args_free(t);
  mproc_args_free(kv);
  mproc_args_free(back);
  return 0;
}

TEST(child_round_trip, 60, ALL) {
  mproc_conn_t *r, *w;
  mproc_queue_t *q;
  mproc_args_t *args, *got;
  ASSERT_OK(mproc_pipe(0, &r, &w));
  ASSERT_OK(mproc_queue_new(&q, 0));
  ASSERT_OK(mproc_args_build(&args, "PQ", w, q));
  add_sample(args);
  mproc_process_t *p = t_start(echo_child, args);
  const char *want = "[{'a': [1, (2,)], 'b': True}, 1180591620717411303424, (None, 'x'), "
                     "['a', [1, (2,)], 'b', True]]";
  ASSERT_OK(mproc_conn_recv(r, 30000, &got));
  assert_repr(got, want);
  mproc_args_free(got);
  ASSERT_OK(mproc_queue_get_values(q, 30000, &got));
  assert_repr(got, want);
  mproc_args_free(got);
  ASSERT_EQ(t_join_code(p), 0);
  mproc_process_free(p);
  mproc_args_free(args);
  mproc_queue_free(q);
  mproc_conn_free(r);
  mproc_conn_free(w);
}

/* A pool task: the number of items of the dict at argument 0. */
static int dict_len_task(const mproc_args_t *args, mproc_args_t *result) {
  mproc_args_t *kv;
  int rc = mproc_args_get_dict(args, 0, &kv);
  if (rc != 0)
    return rc;
  rc = mproc_args_add_int(result, (int64_t)mproc_args_count(kv) / 2);
  mproc_args_free(kv);
  return rc;
}

TEST(pool_task_arguments, 60, ALL) {
  mproc_pool_t *pool;
  mproc_pool_options o = {0};
  o.processes = 1;
  ASSERT_OK(mproc_pool_new(&pool, &o));
  mproc_args_t *args = sample_dict(), *res;
  ASSERT_OK(mproc_pool_apply(pool, dict_len_task, args, NULL, &res));
  int64_t n;
  ASSERT_OK(mproc_args_get_int(res, 0, &n));
  ASSERT_EQ(n, 2);
  mproc_args_free(res);
  mproc_args_free(args);
  ASSERT_OK(mproc_pool_close(pool));
  ASSERT_OK(mproc_pool_join(pool, 30000));
  mproc_pool_free(pool);
}
