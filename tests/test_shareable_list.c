/* SPDX-License-Identifier: MIT */
/* ShareableList (Python's shared_memory.ShareableList): the values and formats Python gives
 * each kind, assignment rules (a str or bytes keeps its slot, any kind may replace any other),
 * Python's index and equality rules, a child and Python opening the same list by name in both
 * directions, and blocks that do not hold a valid list. */
#include "runner.h"

#include <string.h>

/* Defined in test_shared_memory.c (the same binary). */
int sh_run_program(const char *const *argv);
void sh_shm_name(char *buf, size_t cap, const char *tag);

static void assert_repr(const mproc_shareable_list_t *l, const char *want) {
  char buf[512];
  int n = mproc_shareable_list_repr(l, buf, sizeof buf);
  ASSERT_TRUE(n > 0 && (size_t)n < sizeof buf);
  char expect[512];
  snprintf(expect, sizeof expect, "ShareableList(%s, name='%s')", want,
           mproc_shareable_list_name(l));
  if (strcmp(buf, expect) != 0)
    t_fail(__FILE__, __LINE__, "repr %s, want %s", buf, expect);
}

static void assert_format(const mproc_shareable_list_t *l, const char *want) {
  char buf[256];
  ASSERT_EQ(mproc_shareable_list_format(l, buf, sizeof buf), (int)strlen(want));
  if (strcmp(buf, want) != 0)
    t_fail(__FILE__, __LINE__, "format %s, want %s", buf, want);
}

static mproc_shareable_list_t *sample(const char *tag) {
  char name[64];
  sh_shm_name(name, sizeof name, tag);
  mproc_args_t *items;
  ASSERT_OK(mproc_args_build(&items, "idsyn", 1, 2.5, "hello", "by\0", (size_t)3));
  ASSERT_OK(mproc_args_add_bool(items, 1));
  ASSERT_OK(mproc_args_add_int(items, -7));
  mproc_shareable_list_t *l;
  ASSERT_OK(mproc_shareable_list_new(&l, items, name));
  mproc_args_free(items);
  return l;
}

static void drop(mproc_shareable_list_t *l) {
  ASSERT_OK(mproc_shared_memory_unlink(mproc_shareable_list_shm(l)));
  mproc_shareable_list_free(l);
}

TEST(shareable_list_values, 30, ONCE) {
  mproc_shareable_list_t *l = sample("sl-values");
  ASSERT_EQ(mproc_shareable_list_len(l), 7);
  /* Python: trailing NULs of a bytes item are not kept; bool and None keep 8-byte slots. */
  assert_repr(l, "[1, 2.5, 'hello', b'by', None, True, -7]");
  assert_format(l, "qd8s8sxxxxxx?xxxxxxxx?q");
  mproc_args_t *v;
  ASSERT_OK(mproc_args_new(&v));
  ASSERT_OK(mproc_shareable_list_get(l, -1, v));
  ASSERT_OK(mproc_shareable_list_get(l, 2, v));
  int64_t x;
  ASSERT_OK(mproc_args_get_int(v, 0, &x));
  ASSERT_EQ(x, -7);
  const char *str;
  ASSERT_OK(mproc_args_get_str(v, 1, &str));
  ASSERT_TRUE(strcmp(str, "hello") == 0);
  ASSERT_RC(mproc_shareable_list_get(l, 7, v), MPROC_ERANGE);
  ASSERT_RC(mproc_shareable_list_get(l, -8, v), MPROC_ERANGE);
  mproc_args_free(v);
  /* An empty list, as ShareableList() makes. */
  mproc_shareable_list_t *e;
  ASSERT_OK(mproc_shareable_list_new(&e, NULL, NULL));
  ASSERT_EQ(mproc_shareable_list_len(e), 0);
  assert_repr(e, "[]");
  assert_format(e, "");
  drop(e);
  drop(l);
}

TEST(shareable_list_assign, 30, ONCE) {
  mproc_shareable_list_t *l = sample("sl-assign");
  mproc_args_t *v;
  ASSERT_OK(mproc_args_build(&v, "ssdy", "abcdefgh", "abcdefghi", 0.5, "\0\0", (size_t)2));
  ASSERT_OK(mproc_args_add_bool(v, 0));
  ASSERT_OK(mproc_shareable_list_set(l, 0, v, 0));  /* a str into an int's 8 bytes: "8s" */
  ASSERT_RC(mproc_shareable_list_set(l, 1, v, 1), MPROC_EMSGSIZE); /* 9 bytes into 8 */
  ASSERT_OK(mproc_shareable_list_set(l, 2, v, 2));  /* a float where a str was */
  ASSERT_OK(mproc_shareable_list_set(l, -4, v, 2)); /* negative: from the end */
  ASSERT_OK(mproc_shareable_list_set(l, 4, v, 3));  /* bytes of NULs read back as b'' */
  ASSERT_OK(mproc_shareable_list_set(l, 6, v, 4));
  assert_repr(l, "['abcdefgh', 2.5, 0.5, 0.5, b'', True, False]");
  assert_format(l, "8sddd8sxxxxxxx?xxxxxxx?");
  ASSERT_OK(mproc_shareable_list_set(l, 2, v, 0)); /* and a str back into the float's slot */
  assert_repr(l, "['abcdefgh', 2.5, 'abcdefgh', 0.5, b'', True, False]");
  ASSERT_RC(mproc_shareable_list_set(l, 7, v, 0), MPROC_ERANGE);
  mproc_args_free(v);
  /* Kinds a ShareableList cannot hold: refused, nothing written. */
  mproc_args_t *bad, *inner;
  ASSERT_OK(mproc_args_new(&bad));
  ASSERT_OK(mproc_args_build(&inner, "i", 1));
  ASSERT_OK(mproc_args_add_list(bad, inner));
  unsigned char big[9] = {0, 0, 0, 0, 0, 0, 0, 0, 1};
  ASSERT_OK(mproc_args_add_bigint(bad, big, sizeof big));
  ASSERT_RC(mproc_shareable_list_set(l, 0, bad, 0), MPROC_ETYPE);
  ASSERT_TRUE(strstr(mproc_last_error_message(), "list") != NULL);
  ASSERT_RC(mproc_shareable_list_set(l, 0, bad, 1), MPROC_ERANGE);
  mproc_shareable_list_t *none = NULL;
  ASSERT_RC(mproc_shareable_list_new(&none, bad, NULL), MPROC_ETYPE);
  ASSERT_TRUE(none == NULL);
  mproc_args_free(inner);
  mproc_args_free(bad);
  assert_repr(l, "['abcdefgh', 2.5, 'abcdefgh', 0.5, b'', True, False]");
  drop(l);
}

TEST(shareable_list_index_count, 30, ONCE) {
  mproc_args_t *items;
  ASSERT_OK(mproc_args_build(&items, "idsi", 1, 1.0, "a", 2));
  ASSERT_OK(mproc_args_add_bool(items, 1));
  mproc_shareable_list_t *l;
  ASSERT_OK(mproc_shareable_list_new(&l, items, NULL));
  mproc_args_t *q;
  ASSERT_OK(mproc_args_build(&q, "isy", 1, "b", "a", (size_t)1));
  size_t count;
  int64_t first;
  ASSERT_OK(mproc_shareable_list_index(l, q, 0, &count, &first)); /* 1 == 1.0 == True */
  ASSERT_EQ(count, 3);
  ASSERT_EQ(first, 0);
  ASSERT_OK(mproc_shareable_list_index(l, q, 1, &count, &first));
  ASSERT_EQ(count, 0);
  ASSERT_EQ(first, -1);
  ASSERT_OK(mproc_shareable_list_index(l, q, 2, &count, &first)); /* b'a' != 'a' */
  ASSERT_EQ(count, 0);
  mproc_args_free(q);
  mproc_args_free(items);
  drop(l);
}

/* Args: name. Opens the list, doubles item 0 and writes a str into item 1. */
static int t_child_updates(const mproc_args_t *a) {
  mproc_shareable_list_t *l;
  C_OK(mproc_shareable_list_attach(&l, t_str(a, 0)));
  mproc_args_t *v;
  C_OK(mproc_args_new(&v));
  C_OK(mproc_shareable_list_get(l, 0, v));
  int64_t x;
  C_OK(mproc_args_get_int(v, 0, &x));
  mproc_args_free(v);
  C_OK(mproc_args_build(&v, "is", x * 2, "child"));
  C_OK(mproc_shareable_list_set(l, 0, v, 0));
  C_OK(mproc_shareable_list_set(l, 1, v, 1));
  mproc_args_free(v);
  mproc_shareable_list_free(l);
  return 0;
}

TEST(shareable_list_child_attaches, 60, ALL) {
  mproc_shareable_list_t *l = sample("sl-child");
  t_finish(t_start_one(t_child_updates, t_args("s", mproc_shareable_list_name(l))));
  assert_repr(l, "[2, 'child', 'hello', b'by', None, True, -7]");
  drop(l);
}

TEST(shareable_list_not_a_list, 30, ONCE) {
  char name[64];
  sh_shm_name(name, sizeof name, "sl-garbage");
  mproc_shared_memory_t *s;
  ASSERT_OK(mproc_shared_memory_create(&s, name, 64));
  unsigned char *p = mproc_shared_memory_buf(s);
  memset(p, 0xff, 64); /* n = -1 */
  mproc_shareable_list_t *l = NULL;
  ASSERT_RC(mproc_shareable_list_attach(&l, name), MPROC_EPROTO);
  ASSERT_TRUE(l == NULL && strstr(mproc_last_error_message(), name) != NULL);
  int64_t n = 1000; /* more items than the block can hold */
  memcpy(p, &n, 8);
  ASSERT_RC(mproc_shareable_list_attach(&l, name), MPROC_EPROTO);
  ASSERT_OK(mproc_shared_memory_unlink(s));
  mproc_shared_memory_free(s);
  ASSERT_RC(mproc_shareable_list_attach(&l, name), MPROC_ENOENT);
  /* A valid list whose header another process then damaged: every access checks. */
  l = sample("sl-damaged");
  mproc_shareable_list_t *other;
  ASSERT_OK(mproc_shareable_list_attach(&other, mproc_shareable_list_name(l)));
  unsigned char *b = mproc_shared_memory_buf(mproc_shareable_list_shm(l));
  int64_t huge = INT64_MAX / 2;
  memcpy(b + 8 + 3 * 8, &huge, 8); /* item 3's start */
  mproc_args_t *v;
  ASSERT_OK(mproc_args_new(&v));
  ASSERT_RC(mproc_shareable_list_get(other, 2, v), MPROC_EPROTO);
  ASSERT_RC(mproc_shareable_list_get(other, 3, v), MPROC_EPROTO);
  ASSERT_OK(mproc_shareable_list_get(other, 0, v));
  memcpy(b + 8 + 7 * 8, &huge, 8); /* the data area's end */
  ASSERT_RC(mproc_shareable_list_get(other, 0, v), MPROC_EPROTO);
  char f[64];
  ASSERT_RC(mproc_shareable_list_format(other, f, sizeof f), MPROC_EPROTO);
  mproc_args_free(v);
  mproc_shareable_list_free(other);
  drop(l);
}

TEST(shareable_list_closed, 30, ONCE) {
  mproc_shareable_list_t *l = sample("sl-closed");
  ASSERT_OK(mproc_shared_memory_unlink(mproc_shareable_list_shm(l)));
  ASSERT_OK(mproc_shared_memory_close(mproc_shareable_list_shm(l)));
  mproc_args_t *v;
  ASSERT_OK(mproc_args_new(&v));
  ASSERT_RC(mproc_shareable_list_get(l, 0, v), MPROC_ECLOSED);
  ASSERT_RC(mproc_shareable_list_set(l, 0, v, 0), MPROC_ECLOSED);
  ASSERT_EQ(mproc_shareable_list_len(l), 7);
  ASSERT_RC(mproc_shareable_list_get(NULL, 0, v), MPROC_EINVAL);
  mproc_args_free(v);
  mproc_shareable_list_free(l);
  mproc_shareable_list_free(NULL);
}

#ifndef _WIN32
/* Python opens the C list, checks what it reads, writes, and makes a list of its own that C
 * then opens. Python 3.8-3.12 would unlink blocks it merely opened at exit: unregister. */
static const char script[] =
    "import sys\n"
    "from multiprocessing import shared_memory, resource_tracker\n"
    "def untrack(sl):\n"
    "    try:\n"
    "        resource_tracker.unregister(sl.shm._name, 'shared_memory')\n"
    "    except Exception:\n"
    "        pass\n"
    "sl = shared_memory.ShareableList(name=sys.argv[1])\n"
    "untrack(sl)\n"
    "if list(sl) != [1, 2.5, 'hello', b'by', None, True, -7]: sys.exit(4)\n"
    "if sl.format != 'qd8s8sxxxxxx?xxxxxxxx?q': sys.exit(5)\n"
    "sl[0] = 'py'\n"
    "sl[2] = 12345678901\n"
    "sl[4] = False\n"
    "sl.shm.close()\n"
    "mine = shared_memory.ShareableList([3, 'seventeen chars..', None, 0.25, b'\\x01'],\n"
    "                                   name=sys.argv[2])\n"
    "untrack(mine)\n"
    "mine.shm.close()\n";

static void with_python(int minor) {
  char py[512];
  if (!t_find_python(minor, py, sizeof py))
    t_skip("that Python is not installed");
  mproc_shareable_list_t *l = sample("sl-python");
  char theirs[64];
  sh_shm_name(theirs, sizeof theirs, "sl-from-python");
  const char *argv[] = {py, "-c", script, mproc_shareable_list_name(l), theirs,
                        NULL};
  ASSERT_EQ(sh_run_program(argv), 0);
  assert_repr(l, "['py', 2.5, 12345678901, b'by', False, True, -7]");
  assert_format(l, "8sdq8sxxxxxxx?xxxxxxx?q");
  mproc_shareable_list_t *p;
  ASSERT_OK(mproc_shareable_list_attach(&p, theirs));
  assert_repr(p, "[3, 'seventeen chars..', None, 0.25, b'\\x01']");
  assert_format(p, "q24sxxxxxx?xd8s");
  drop(p);
  drop(l);
}
#else
static void with_python(int minor) {
  (void)minor;
  t_skip("POSIX only");
}
#endif

TEST(shareable_list_python311, 60, PYTHON_ONCE) { with_python(11); }
TEST(shareable_list_python312, 60, PYTHON_ONCE) { with_python(12); }
TEST(shareable_list_python313, 60, PYTHON_ONCE) { with_python(13); }
