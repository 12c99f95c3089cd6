/* SPDX-License-Identifier: MIT */
/* The pickle codec (src/pickle*.c): Python's own pickles decoded (captured shapes inline, and
 * every value tests/py/pickle_peer.py dumps at protocols 2-5 under each Python found), the
 * encoder's output loaded by each Python, round trips in C, and hostile pickles refused with
 * a clear message. Calls internal functions, so it links the static library only. */
#include "runner.h"

#include "pickle.h"

#ifndef _WIN32
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

/* Decodes n bytes and returns the repr of the value (static buffer), or NULL with *rc set. */
static const char *decoded(const void *p, size_t n, int flags, int *rc) {
  static char text[1 << 18];
  mp_pickle_limits lim = {0, 0, flags};
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  *rc = mproc__pickle_decode(p, n, &lim, a);
  int len = *rc ? -1 : mproc_args_repr_item(a, 0, text, sizeof text);
  mproc_args_free(a);
  return *rc || len < 0 ? NULL : text;
}

static void assert_decodes(const char *hex_or_raw, size_t n, const char *want) {
  int rc;
  const char *got = decoded(hex_or_raw, n, 0, &rc);
  if (got == NULL || strcmp(got, want) != 0)
    t_fail(__FILE__, __LINE__, "decoded %s (%s: %s), want %s", got ? got : "nothing",
           mproc_errname(rc), mproc_last_error_message(), want);
}

static void assert_refused(const void *p, size_t n, int want_rc, const char *msg_part) {
  int rc;
  const char *got = decoded(p, n, 0, &rc);
  if (rc != want_rc || strstr(mproc_last_error_message(), msg_part) == NULL)
    t_fail(__FILE__, __LINE__, "got %s (%s, \"%s\"), want %s with \"%s\"", got ? got : "-",
           mproc_errname(rc), mproc_last_error_message(), mproc_errname(want_rc), msg_part);
}

#define P(s) s, sizeof s - 1

/* --- captured shapes (Python 3.11, protocol 4) --------------------------------------------- */

TEST(decode_request_with_proxy, 30, ONCE) {
  /* ('7f0697e10440', '__setitem__', ('l', RebuildProxy(ListProxy, Token('list',
   * ('127.0.0.1', 47341), '7f0697e10400'), 'pickle', {})), {}) as the capture shows it */
  static const char req[] =
      "\x80\x04\x95\xae\x00\x00\x00\x00\x00\x00\x00(\x8c\x0c" "7f0697e10440\x94\x8c\x0b"
      "__setitem__\x94\x8c\x01l\x94\x8c\x18multiprocessing.managers\x94\x8c\x0cRebuildProxy"
      "\x94\x93\x94(h\x03\x8c\x09ListProxy\x94\x93\x94h\x03\x8c\x05Token\x94\x93\x94)\x81"
      "\x94\x8c\x04list\x94\x8c\x09" "127.0.0.1\x94M\xed\xb8\x86\x94\x8c\x0c" "7f0697e10400"
      "\x94\x87\x94" "b\x8c\x06pickle\x94}\x94t\x94R\x94\x86\x94}\x94t\x94.";
  assert_decodes(P(req), "('7f0697e10440', '__setitem__', ('l', RebuildProxy(<class "
                         "'multiprocessing.managers.ListProxy'>, Token(typeid='list', "
                         "address=('127.0.0.1', 47341), id='7f0697e10400'), 'pickle', {})), "
                         "{})");
}

TEST(decode_error_reply, 30, ONCE) {
  /* ('#ERROR', KeyError('missing')) */
  static const char rep[] = "\x80\x04\x95\x32\x00\x00\x00\x00\x00\x00\x00\x8c\x06#ERROR\x94"
                            "\x8c\x08" "builtins\x94\x8c\x08KeyError\x94\x93\x94\x8c\x07"
                            "missing\x94\x85\x94R\x94\x86\x94.";
  assert_decodes(P(rep), "('#ERROR', KeyError('missing'))");
  mproc_args_t *a, *t, *obj, *args;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_OK(mproc__pickle_decode(rep, sizeof rep - 1, NULL, a));
  ASSERT_OK(mproc_args_get_tuple(a, 0, &t));
  ASSERT_EQ(mproc_args_type(t, 1), MPROC_ARG_PYOBJECT);
  ASSERT_OK(mproc_args_get_pyobject(t, 1, &obj));
  const char *mod, *name;
  int64_t kind;
  ASSERT_OK(mproc_args_parse(obj, "ssl", &mod, &name, &kind));
  ASSERT_TRUE(strcmp(mod, "builtins") == 0 && strcmp(name, "KeyError") == 0);
  ASSERT_EQ(kind, 1);
  ASSERT_OK(mproc_args_get_tuple(obj, 3, &args));
  ASSERT_OK(mproc_args_parse(args, "s", &name));
  ASSERT_TRUE(strcmp(name, "missing") == 0);
  ASSERT_EQ(mproc_args_type(obj, 4), MPROC_ARG_NONE);
  mproc_args_free(args);
  mproc_args_free(obj);
  mproc_args_free(t);
  mproc_args_free(a);
}

TEST(decode_memo_and_big_ints, 30, ONCE) {
  /* (2**70, -2**40, [x, x]) with x a memoized list [1]: a reference, written out twice */
  static const char p[] = "\x80\x04(\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x40\x8a\x06"
                          "\x00\x00\x00\x00\x00\xff]\x94(]\x94K\x01" "ah\x01" "et.";
  assert_decodes(P(p), "(1180591620717411303424, -1099511627776, [[1], [1]])");
}

/* --- hostile pickles ------------------------------------------------------------------------ */

TEST(refuses_unlisted_globals, 30, ONCE) {
  assert_refused(P("\x80\x04\x8c\x02os\x8c\x06system\x93\x8c\x02id\x85R."), MPROC_EPROTO,
                 "global 'os.system' is not allowed (offset 20)");
  assert_refused(P("\x80\x02" "cposix\nsystem\nX\x02\x00\x00\x00id\x85R."), MPROC_EPROTO,
                 "'posix.system' is not allowed");
  /* a bare global as a value is refused too (only a proxy type may be one) */
  assert_refused(P("\x80\x04\x8c\x02os\x8c\x06system\x93."), MPROC_EPROTO, "bare global");
  /* NEWOBJ of anything but Token */
  assert_refused(P("\x80\x04\x8c\x08" "builtins\x8c\x04list\x93)\x81."), MPROC_EPROTO,
                 "'builtins.list' is not allowed");
  /* opcodes outside the subset: INST, OBJ, PERSID, EXT1, NEWOBJ_EX, DUP, text INT */
  static const char *const ops[] = {"\x80\x04i", "\x80\x04o", "\x80\x04P", "\x80\x04\x82",
                                    "\x80\x04\x92", ("\x80\x04" "2"), "\x80\x04I1\n."};
  for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
    assert_refused(ops[i], strlen(ops[i]), MPROC_EPROTO, "is not accepted (offset 2)");
}

TEST(refuses_bad_shapes, 30, ONCE) {
  /* RebuildProxy whose kwds carry an authkey */
  static const char p[] =
      "\x80\x04\x8c\x18multiprocessing.managers\x94\x8c\x0cRebuildProxy\x93(h\x00\x8c\t"
      "ListProxy\x93h\x00\x8c\x05Token\x93)\x81\x8c\x01l\x8c\x01" "a\x8c\x01i\x87" "b\x8c\x06"
      "pickle}\x8c\x07" "authkey\x43\x01kstR.";
  assert_refused(P(p), MPROC_EPROTO, "arguments or state do not fit");
  /* slice of strings; bytearray of a str */
  assert_refused(P("\x80\x04\x8c\x08" "builtins\x8c\x05slice\x93\x8c\x01" "aNN\x87R."),
                 MPROC_EPROTO, "'builtins.slice'");
  /* BUILD on a list */
  assert_refused(P("\x80\x04]}b."), MPROC_EPROTO, "BUILD on a value that takes no state");
  /* Namespace with a key that is not a str; Value with a third attribute or without _value;
   * array.array(typecode, bytes) with a list instead of bytes */
#define MGRS "\x80\x04\x8c\x18multiprocessing.managers"
  assert_refused(P(MGRS "\x8c\x09Namespace\x93)\x81}K\x01K\x02sb."), MPROC_EPROTO,
                 "arguments or state do not fit");
  assert_refused(P(MGRS "\x8c\x05Value\x93)\x81}(\x8c\x09_typecode\x8c\x01i\x8c\x06_value"
                        "K\x01\x8c\x01xK\x02ub."),
                 MPROC_EPROTO, "arguments or state do not fit");
  assert_refused(P(MGRS "\x8c\x05Value\x93)\x81}\x8c\x09_typecode\x8c\x01isb."), MPROC_EPROTO,
                 "arguments or state do not fit");
  assert_refused(P("\x80\x04\x8c\x05" "array\x8c\x05" "array\x93\x8c\x01i]\x86R."),
                 MPROC_EPROTO, "'array.array'");
#undef MGRS
}

/* array.array in both pickled forms read as items: pickle's _array_reconstructor (here
 * 'I' with its big-endian machine code 7, 'd' little-endian) and managers.reduce_array's. */
TEST(pyarray_items, 30, ONCE) {
  static const struct {
    const char *p;
    size_t n;
    char tc;
    const char *items;
  } ok[] = {
      {P("\x80\x04\x8c\x05" "array\x8c\x14_array_reconstructor\x93(\x8c\x05" "array\x8c\x05"
         "array\x93\x8c\x01IK\x07" "C\x08\x00\x00\x00\x01\xff\xff\xff\xfftR."),
       'I', "[1, 4294967295]"},
      {P("\x80\x04\x8c\x05" "array\x8c\x14_array_reconstructor\x93(\x8c\x05" "array\x8c\x05"
         "array\x93\x8c\x01" "dK\x10" "C\x08\x00\x00\x00\x00\x00\x00\xf8?tR."),
       'd', "[1.5]"},
      {P("\x80\x04\x8c\x05" "array\x8c\x05" "array\x93\x8c\x01hC\x04\xfe\xff\x02\x00\x86R."),
       'h', "[-2, 2]"}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    mproc_args_t *a = NULL, *items = NULL, *back = NULL, *again = NULL;
    char tc = 0;
    ASSERT_OK(mproc_args_new(&a));
    ASSERT_OK(mproc__pickle_decode(ok[i].p, ok[i].n, NULL, a));
    ASSERT_OK(mproc_args_get_pyarray(a, 0, &tc, &items));
    ASSERT_EQ(tc, ok[i].tc);
    char text[200];
    mproc_args_repr(items, text, sizeof text);
    if (strcmp(text, ok[i].items) != 0)
      t_fail(__FILE__, __LINE__, "items %s, want %s", text, ok[i].items);
    ASSERT_OK(mproc_args_new(&back)); /* and written back the way manager peers send it */
    ASSERT_OK(mproc_args_add_pyarray(back, tc, items));
    mproc_args_free(items);
    ASSERT_OK(mproc_args_get_pyarray(back, 0, &tc, &again));
    mproc_args_repr(again, text, sizeof text);
    ASSERT_TRUE(strcmp(text, ok[i].items) == 0);
    mproc_args_free(again);
    mproc_args_free(back);
    mproc_args_free(a);
  }
}

TEST(accepts_manager_values, 30, ONCE) {
  /* what Python's manager sends for Namespace(x=1)._getvalue(), Value('i', 3)._getvalue(), an
   * Array slice (managers.reduce_array) and queue.ShutDown() (3.13) */
  static const struct {
    const char *p;
    size_t n;
    const char *repr;
  } ok[] = {
      {P("\x80\x04\x8c\x18multiprocessing.managers\x8c\x09Namespace\x93)\x81}\x8c\x01xK\x01sb."),
       "[Namespace(x=1)]"},
      {P("\x80\x04\x8c\x18multiprocessing.managers\x8c\x09Namespace\x93)\x81."), "[Namespace()]"},
      {P("\x80\x04\x8c\x18multiprocessing.managers\x8c\x05Value\x93)\x81}(\x8c\x09_typecode"
         "\x8c\x01i\x8c\x06_valueK\x03ub."),
       "[Value('i', 3)]"},
      {P("\x80\x04\x8c\x05" "array\x8c\x05" "array\x93\x8c\x01" "bC\x01\x07\x86R."),
       "[array('b', b'\\x07')]"},
      {P("\x80\x04\x8c\x05queue\x8c\x08ShutDown\x93)R."), "[ShutDown()]"}};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
    mproc_args_t *a = NULL;
    char text[200];
    ASSERT_OK(mproc_args_new(&a));
    ASSERT_OK(mproc__pickle_decode(ok[i].p, ok[i].n, NULL, a));
    mproc_args_repr(a, text, sizeof text);
    if (strcmp(text, ok[i].repr) != 0)
      t_fail(__FILE__, __LINE__, "repr %s, want %s", text, ok[i].repr);
    mproc_args_free(a);
  }
}

TEST(refuses_malformed, 30, ONCE) {
  assert_refused(P("\x80\x06N."), MPROC_EPROTO, "protocol 6");
  assert_refused(P("\x80\x04N"), MPROC_EPROTO, "no STOP");
  assert_refused(P("\x80\x04N.N"), MPROC_EPROTO, "data after STOP");
  assert_refused(P("\x80\x04NN."), MPROC_EPROTO, "STOP with 2 values");
  assert_refused(P("\x80\x04(N."), MPROC_EPROTO, "STOP with 1 values and 1 marks");
  assert_refused(P("\x80\x04."), MPROC_EPROTO, "STOP with 0 values");
  assert_refused(P("\x80\x04\x8c\x05" "ab."), MPROC_EPROTO, "truncated");
  assert_refused(P("\x80\x04X\xff\xff\xff\xff."), MPROC_EPROTO, "truncated");
  assert_refused(P("\x80\x04\x95\xff\x00\x00\x00\x00\x00\x00\x00N."), MPROC_EPROTO, "FRAME");
  assert_refused(P("\x80\x04h\x05."), MPROC_EPROTO, "memo index 5 was never set");
  assert_refused(P("\x80\x04Nr\xff\xff\xff\x7f."), MPROC_EMSGSIZE, "past the limit");
  assert_refused(P("\x80\x04\x8c\x02\xc3\x28."), MPROC_EPROTO, "not UTF-8");
  assert_refused(P("\x80\x04a."), MPROC_EPROTO, "");
  assert_refused(P("\x80\x04K\x01" "a."), MPROC_EPROTO, "APPEND without a target");
  assert_refused(P("\x80\x04K\x01K\x02s."), MPROC_EPROTO, "SETITEM");
  /* a list key and a dict key: unhashable */
  assert_refused(P("\x80\x04}]K\x01s."), MPROC_EPROTO, "unhashable");
}

TEST(refuses_cycles_and_depth, 30, ONCE) {
  /* l = []; l.append(l) */
  assert_refused(P("\x80\x04]\x94h\x00" "a."), MPROC_EPROTO, "cycle");
  /* MPROC_ARGS_MAX_DEPTH nested lists decode; one more does not */
  for (int extra = 0; extra < 2; extra++) {
    char deep[200];
    size_t n = 0;
    int levels = MPROC_ARGS_MAX_DEPTH + extra;
    deep[n++] = (char)0x80, deep[n++] = 4;
    for (int i = 0; i < levels; i++)
      deep[n++] = ']';
    for (int i = 0; i < levels - 1; i++)
      deep[n++] = 'a';
    deep[n++] = '.';
    if (extra) {
      assert_refused(deep, n, MPROC_EPROTO, "deeper than 64");
    } else {
      int rc;
      ASSERT_TRUE(decoded(deep, n, 0, &rc) != NULL);
    }
  }
}

/* Memo references are references: a pickle that names one list 2^k times must hit the size
 * limit, not build a 2^k-sized value. */
TEST(refuses_amplification, 30, ONCE) {
  char p[400];
  size_t n = 0;
  p[n++] = (char)0x80, p[n++] = 4;
  p[n++] = 'C', p[n++] = 100;
  memset(p + n, 'x', 100);
  n += 100;
  for (int i = 0; i < 40; i++) { /* x = (x, x), memoized as i */
    p[n++] = (char)0x94, p[n++] = '0', p[n++] = 'h', p[n++] = (char)i, p[n++] = 'h';
    p[n++] = (char)i, p[n++] = (char)0x86;
  }
  p[n++] = '.';
  mp_pickle_limits lim = {1 << 20, 0, 0};
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_RC(mproc__pickle_decode(p, n, &lim, a), MPROC_EMSGSIZE);
  ASSERT_TRUE(strstr(mproc_last_error_message(), "larger than") != NULL);
  ASSERT_EQ(mproc_args_count(a), 0);
  mproc_args_free(a);
}

/* --- encoder: C round trips ---------------------------------------------------------------- */

static void round_trip(const mproc_args_t *a, size_t i) {
  char want[4096], got[4096];
  mp_buf b;
  mproc__buf_init(&b);
  ASSERT_OK(mproc__pickle_encode(a, i, 0, &b));
  ASSERT_TRUE(b.len >= 3 && b.data[0] == 0x80 && b.data[1] == 4 && b.data[b.len - 1] == '.');
  mproc_args_t *back;
  ASSERT_OK(mproc_args_new(&back));
  ASSERT_OK(mproc__pickle_decode(b.data, b.len, NULL, back));
  ASSERT_TRUE(mproc_args_repr_item(a, i, want, sizeof want) > 0);
  ASSERT_TRUE(mproc_args_repr_item(back, 0, got, sizeof got) > 0);
  if (strcmp(want, got) != 0)
    t_fail(__FILE__, __LINE__, "round trip gave %s, want %s", got, want);
  mproc_args_free(back);
  mproc__buf_free(&b);
}

/* Values the encoder tests share: every kind, nested, the manager's object shapes. */
static mproc_args_t *encoder_values(void) {
  static const char proxy[] =
      "\x80\x04\x8c\x18multiprocessing.managers\x94\x8c\x0cRebuildProxy\x93(h\x00\x8c\t"
      "DictProxy\x93h\x00\x8c\x05Token\x93)\x81\x8c\x04" "dict\x8c\x06/tmp/s\x8c\x01" "a\x87"
      "b\x8c\x06pickle}\x8c\x07" "exposed\x8c\x03get\x85stR.";
  static const char err[] = "\x80\x04\x8c\x06_queue\x8c\x05" "Empty\x93)R.";
  static const char set[] = "\x80\x04\x8f(K\x01K\x02\x90.";
  unsigned char big[40] = {0};
  big[39] = 0x40; /* 2**318 */
  mproc_args_t *a, *inner, *kv, *key;
  ASSERT_OK(mproc_args_build(&a, "nlll dddd ss y", (int64_t)300, (int64_t)-70000,
                             (int64_t)INT64_MIN, 0.5, -0.0, 1e300, strtod("inf", NULL), "",
                             "caf\xc3\xa9 \xe2\x82\xac", "\x00\xff", (size_t)2));
  ASSERT_OK(mproc_args_add(a, "l??", (int64_t)5000000000, 1, 0));
  ASSERT_OK(mproc_args_add_bigint(a, big, sizeof big));
  ASSERT_OK(mproc_args_build(&inner, "is", 1, "x"));
  ASSERT_OK(mproc_args_add_tuple(a, inner));
  ASSERT_OK(mproc_args_add_list(a, inner));
  ASSERT_OK(mproc_args_add_tuple(inner, inner));
  ASSERT_OK(mproc_args_add_list(inner, NULL));
  ASSERT_OK(mproc_args_build(&kv, "s", "k"));
  ASSERT_OK(mproc_args_add_list(kv, inner));
  ASSERT_OK(mproc_args_build(&key, "is", 1, "x"));
  ASSERT_OK(mproc_args_add_tuple(kv, key)); /* (1, 'x'): None */
  ASSERT_OK(mproc_args_add(kv, "n"));
  mproc_args_free(key);
  ASSERT_OK(mproc_args_add_dict(a, kv));
  ASSERT_OK(mproc_args_add_tuple(a, NULL));
  int rc = mproc__pickle_decode(proxy, sizeof proxy - 1, NULL, a);
  if (rc != 0)
    t_fail(__FILE__, __LINE__, "proxy: %s", mproc_last_error_message());
  ASSERT_OK(mproc__pickle_decode(err, sizeof err - 1, NULL, a));
  ASSERT_OK(mproc__pickle_decode(set, sizeof set - 1, NULL, a));
  mproc_args_free(inner);
  mproc_args_free(kv);
  return a;
}

TEST(encode_round_trips, 30, ONCE) {
  mproc_args_t *a = encoder_values();
  for (size_t i = 0; i < mproc_args_count(a); i++)
    round_trip(a, i);
  /* long containers go out in batches of 1000 */
  mproc_args_t *r, *l;
  ASSERT_OK(mproc_args_range(&r, 0, 2500, 1));
  ASSERT_OK(mproc_args_new(&l));
  ASSERT_OK(mproc_args_add_list(l, r));
  ASSERT_OK(mproc_args_add_tuple(l, r));
  round_trip(l, 0);
  round_trip(l, 1);
  mproc_args_free(r);
  mproc_args_free(l);
  mproc_args_free(a);
}

TEST(encode_refuses, 30, ONCE) {
  mproc_args_t *a;
  mproc_lock_t *lock;
  mp_buf b;
  mproc__buf_init(&b);
  ASSERT_OK(mproc_lock_new(&lock));
  ASSERT_OK(mproc_args_build(&a, "Ls", lock, "\xff"));
  ASSERT_RC(mproc__pickle_encode(a, 0, 0, &b), MPROC_ETYPE);
  ASSERT_RC(mproc__pickle_encode(a, 1, 0, &b), MPROC_EINVAL);
  ASSERT_TRUE(strstr(mproc_last_error_message(), "UTF-8") != NULL);
  ASSERT_RC(mproc__pickle_encode(a, 2, 0, &b), MPROC_EINVAL);
  ASSERT_EQ(b.len, 0);
  mproc__buf_free(&b);
  mproc_args_free(a);
  mproc_lock_free(lock);
}

/* --- against real Pythons --------------------------------------------------------------------- */

#ifndef _WIN32
static char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *p = malloc((size_t)len + 1);
  *n = p && fread(p, 1, (size_t)len, f) == (size_t)len ? (size_t)len : 0;
  if (p)
    p[*n] = '\0';
  fclose(f);
  return p;
}

/* Every pickle the peer dumped decodes to the repr it wrote. */
static void python_dumps(int minor) {
  char py[512], dir[512], cmd[2048];
  if (!t_find_python(minor, py, sizeof py))
    t_skip("no python3 of this version");
  t_temp_path(dir, sizeof dir, "pickles");
  snprintf(cmd, sizeof cmd, "'%s' '%s' dump '%s'", py, MPROC_TEST_PICKLE_PEER, dir);
  ASSERT_EQ(system(cmd), 0);
  glob_t g;
  char pattern[600];
  snprintf(pattern, sizeof pattern, "%s/*.pkl", dir);
  ASSERT_EQ(glob(pattern, 0, NULL, &g), 0);
  ASSERT_TRUE(g.gl_pathc > 200);
  for (size_t i = 0; i < g.gl_pathc; i++) {
    size_t n, rn;
    char *p = read_file(g.gl_pathv[i], &n), reprpath[700];
    snprintf(reprpath, sizeof reprpath, "%.*s.repr",
             (int)(strrchr(g.gl_pathv[i], '-') - g.gl_pathv[i]), g.gl_pathv[i]);
    char *want = read_file(reprpath, &rn);
    ASSERT_TRUE(p != NULL && want != NULL);
    int rc;
    const char *got = decoded(p, n, 0, &rc);
    if (got == NULL || strcmp(got, want) != 0)
      t_fail(__FILE__, __LINE__, "%s: got %.200s (%s: %s), want %.200s", g.gl_pathv[i],
             got ? got : "-", mproc_errname(rc), mproc_last_error_message(), want);
    free(p);
    free(want);
    remove(g.gl_pathv[i]);
  }
  globfree(&g);
  snprintf(pattern, sizeof pattern, "%s/*.repr", dir);
  ASSERT_EQ(glob(pattern, 0, NULL, &g), 0);
  for (size_t i = 0; i < g.gl_pathc; i++)
    remove(g.gl_pathv[i]);
  globfree(&g);
  rmdir(dir);
}

/* Python loads what the encoder wrote and prints the same repr as mproc_args_repr_item. */
static void python_loads(int minor) {
  char py[512], path[512], cmd[2048], want[4096], got[4096];
  if (!t_find_python(minor, py, sizeof py))
    t_skip("no python3 of this version");
  t_temp_path(path, sizeof path, "pickle");
  mproc_args_t *a = encoder_values();
  size_t count = mproc_args_count(a);
  for (size_t i = 0; i < count; i++) {
    if (mproc_args_type(a, i) == MPROC_ARG_PYOBJECT && i + 3 == count)
      continue; /* the proxy: Python would connect to its manager to load it */
    mp_buf b;
    mproc__buf_init(&b);
    ASSERT_OK(mproc__pickle_encode(a, i, 0, &b));
    FILE *f = fopen(path, "wb");
    ASSERT_TRUE(f != NULL && fwrite(b.data, 1, b.len, f) == b.len);
    fclose(f);
    mproc__buf_free(&b);
    snprintf(cmd, sizeof cmd, "'%s' '%s' load '%s'", py, MPROC_TEST_PICKLE_PEER, path);
    FILE *out = popen(cmd, "r");
    ASSERT_TRUE(out != NULL);
    size_t n = fread(got, 1, sizeof got - 1, out);
    got[n] = '\0';
    ASSERT_EQ(pclose(out), 0);
    ASSERT_TRUE(mproc_args_repr_item(a, i, want, sizeof want) > 0);
    if (strcmp(want, got) != 0)
      t_fail(__FILE__, __LINE__, "item %zu: python %d printed %s, want %s", i, minor, got, want);
  }
  remove(path);
  mproc_args_free(a);
}
#endif

#ifndef _WIN32
TEST(python311_dumps, 120, PYTHON_ONCE) { python_dumps(11); }
TEST(python312_dumps, 120, PYTHON_ONCE) { python_dumps(12); }
TEST(python313_dumps, 120, PYTHON_ONCE) { python_dumps(13); }
TEST(python311_loads, 120, PYTHON_ONCE) { python_loads(11); }
TEST(python312_loads, 120, PYTHON_ONCE) { python_loads(12); }
TEST(python313_loads, 120, PYTHON_ONCE) { python_loads(13); }
#endif

/* Decoded objects are ordinary data values: they travel through a connection and a queue. */
TEST(objects_travel, 30, ONCE) {
  static const char set[] = "\x80\x04\x8f(K\x01K\x02\x90.";
  static const char tok[] = "\x80\x04\x8c\x18multiprocessing.managers\x8c\x05Token\x93)\x81"
                            "\x8c\x04list\x8c\x01" "a\x8c\x01i\x87" "b.";
  mproc_args_t *a, *got;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_OK(mproc__pickle_decode(set, sizeof set - 1, NULL, a));
  ASSERT_OK(mproc__pickle_decode(tok, sizeof tok - 1, NULL, a));
  const char *want = "[{1, 2}, Token(typeid='list', address='a', id='i')]";
  char buf[256];
  ASSERT_TRUE(mproc_args_repr(a, buf, sizeof buf) > 0);
  ASSERT_TRUE(strcmp(buf, want) == 0);
  mproc_conn_t *r, *w;
  ASSERT_OK(mproc_pipe(0, &r, &w));
  ASSERT_OK(mproc_conn_send(w, a));
  ASSERT_OK(mproc_conn_recv(r, 5000, &got));
  ASSERT_TRUE(mproc_args_repr(got, buf, sizeof buf) > 0);
  ASSERT_TRUE(strcmp(buf, want) == 0);
  mproc_args_free(got);
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new(&q, 0));
  ASSERT_OK(mproc_queue_put_values(q, a, MPROC_FOREVER));
  ASSERT_OK(mproc_queue_get_values(q, 5000, &got));
  ASSERT_TRUE(mproc_args_repr(got, buf, sizeof buf) > 0);
  ASSERT_TRUE(strcmp(buf, want) == 0);
  ASSERT_EQ(mproc_args_type(got, 1), MPROC_ARG_PYOBJECT);
  mproc_args_free(got);
  mproc_queue_free(q);
  mproc_conn_free(r);
  mproc_conn_free(w);
  mproc_args_free(a);
}
