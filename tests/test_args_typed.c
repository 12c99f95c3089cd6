/* SPDX-License-Identifier: MIT */
/* Typed arguments: format letters for every object a child can receive, the messages a
 * mismatch leaves (position and both types), functions as values under every start method,
 * list constructors for Pool.map, mproc_parent_pid in the main process and MPROC_CHECK. */
#include "runner.h"

#ifndef _WIN32
#include <unistd.h>
#endif

/* --- objects by format letter ------------------------------------------------------------ */

/* Args "PQLSCEBVA i": uses each object once, the way its owner checks afterwards. */
static int objects_child(const mproc_args_t *a) {
  mproc_conn_t *c;
  mproc_queue_t *q;
  mproc_lock_t *l;
  mproc_semaphore_t *s;
  mproc_condition_t *cv;
  mproc_event_t *e;
  mproc_barrier_t *b;
  mproc_value_t *v;
  mproc_array_t *arr;
  int n;
  C_OK(mproc_args_parse(a, "PQLSCEBVA i", &c, &q, &l, &s, &cv, &e, &b, &v, &arr, &n));
  mproc_args_t *msg;
  C_OK(mproc_args_build(&msg, "i", n));
  C_OK(mproc_conn_send(c, msg));
  C_OK(mproc_queue_put_values(q, msg, MPROC_FOREVER));
  mproc_args_free(msg);
  C_OK(mproc_lock_acquire(l, MPROC_FOREVER));
  C_OK(mproc_lock_release(l));
  C_OK(mproc_semaphore_release(s));
  C_OK(mproc_condition_acquire(cv, MPROC_FOREVER));
  C_OK(mproc_condition_release(cv));
  C_OK(mproc_event_set(e));
  C_EQ(mproc_barrier_parties(b), 1);
  C_OK(mproc_value_set_int(v, n));
  C_OK(mproc_array_set_int(arr, 1, n + 1));
  return 0;
}

TEST(format_letters_objects, 60, ALL) {
  mproc_conn_t *r, *w;
  mproc_queue_t *q;
  mproc_lock_t *l;
  mproc_semaphore_t *s;
  mproc_condition_t *cv;
  mproc_event_t *e;
  mproc_barrier_t *b;
  mproc_value_t *v;
  mproc_array_t *arr;
  ASSERT_OK(mproc_pipe(0, &r, &w));
  ASSERT_OK(mproc_queue_new(&q, 0));
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_semaphore_new(&s, 0));
  ASSERT_OK(mproc_condition_new(&cv, NULL));
  ASSERT_OK(mproc_event_new(&e));
  ASSERT_OK(mproc_barrier_new(&b, 1, NULL, MPROC_FOREVER));
  ASSERT_OK(mproc_value_new(&v, 'i', NULL, MPROC_LOCK_NEW));
  ASSERT_OK(mproc_array_new(&arr, 'q', 3, NULL, MPROC_LOCK_NEW));
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "PQLSCEBVA i", w, q, l, s, cv, e, b, v, arr, 41));
  ASSERT_EQ(mproc_args_type(a, 0), MPROC_ARG_CONN);
  ASSERT_EQ(mproc_args_type(a, 8), MPROC_ARG_ARRAY);
  t_finish(t_start_one(objects_child, a));
  mproc_args_t *got;
  int64_t x;
  ASSERT_OK(mproc_conn_recv(r, 10000, &got));
  ASSERT_OK(mproc_args_parse(got, "l", &x));
  ASSERT_EQ(x, 41);
  mproc_args_free(got);
  ASSERT_OK(mproc_queue_get_values(q, 10000, &got));
  ASSERT_OK(mproc_args_parse(got, "l", &x));
  ASSERT_EQ(x, 41);
  mproc_args_free(got);
  ASSERT_OK(mproc_semaphore_acquire(s, 0));
  ASSERT_EQ(mproc_event_is_set(e), 1);
  ASSERT_OK(mproc_value_get_int(v, &x));
  ASSERT_EQ(x, 41);
  ASSERT_OK(mproc_array_get_int(arr, 1, &x));
  ASSERT_EQ(x, 42);
  mproc_conn_free(r);
  mproc_conn_free(w);
  mproc_queue_free(q);
  mproc_condition_free(cv);
  mproc_lock_free(l);
  mproc_semaphore_free(s);
  mproc_event_free(e);
  mproc_barrier_free(b);
  mproc_value_free(v);
  mproc_array_free(arr);
}

/* Args "is": asks for a lock where the string is, and reports what the library said. */
static int wrong_letter_child(const mproc_args_t *a) {
  int n;
  mproc_lock_t *l;
  int rc = mproc_args_parse(a, "iL", &n, &l);
  return mproc_fail(rc == MPROC_ETYPE ? 3 : 4, "%s", mproc_last_error_message());
}

TEST(format_mismatch_in_child, 60, ALL) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "is", 1, "two"));
  mproc_process_t *p = t_start_one(wrong_letter_child, a);
  ASSERT_EQ(t_join_code(p), 3);
  ASSERT_TRUE(strcmp(mproc_process_error(p),
                     "argument 1: format 'L' wants a lock, the list holds a str") == 0);
  mproc_process_free(p);
}

TEST(format_mismatch_messages, 30, ONCE) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "is", 1, "two"));
  int n;
  mproc_queue_t *q;
  const char *s;
  ASSERT_RC(mproc_args_parse(a, "Q", &q), MPROC_ETYPE);
  ASSERT_TRUE(strcmp(mproc_last_error_message(),
                     "argument 0: format 'Q' wants a queue, the list holds an int") == 0);
  ASSERT_RC(mproc_args_parse(a, "isi", &n, &s, &n), MPROC_ERANGE);
  ASSERT_TRUE(strcmp(mproc_last_error_message(),
                     "argument 2: format 'i' wants an int, the list has only 2 items") == 0);
  ASSERT_RC(mproc_args_parse(a, "iZ", &n, &s), MPROC_EINVAL);
  ASSERT_TRUE(strstr(mproc_last_error_message(), "unknown letter 'Z'") != NULL);
  mproc_event_t *e;
  ASSERT_RC(mproc_args_get_event(a, 1, &e), MPROC_ETYPE);
  ASSERT_TRUE(strcmp(mproc_last_error_message(), "argument 1 is str, not event") == 0);
  ASSERT_OK(mproc_args_parse(a, "is", &n, &s));
  ASSERT_EQ(mproc_last_error_message()[0], '\0');
  ASSERT_EQ(n, 1);
  ASSERT_RC(mproc_args_add(a, "L", (mproc_lock_t *)NULL), MPROC_EINVAL);
  ASSERT_TRUE(strstr(mproc_last_error_message(), "argument 2 (format 'L')") != NULL);
  ASSERT_OK(mproc_args_add(a, "dn", 2.5));
  ASSERT_EQ(mproc_args_count(a), 4);
  ASSERT_EQ(mproc_args_type(a, 3), MPROC_ARG_NONE);
  ASSERT_TRUE(strcmp(mproc_arg_type_name(MPROC_ARG_FUNC), "function") == 0);
  ASSERT_TRUE(strcmp(mproc_arg_type_name(99), "unknown") == 0);
  mproc_args_free(a);
}

/* --- functions as values ---------------------------------------------------------------- */

static int triple(int x) { return 3 * x; }
static const char *greet(void) { return "hello"; }

/* Args "Fi F": calls both functions it was given. */
static int func_child(const mproc_args_t *a) {
  int (*fn)(int);
  const char *(*g)(void);
  int x;
  C_OK(mproc_args_parse(a, "Fi F", &fn, &x, &g));
  C_TRUE(strcmp(g(), "hello") == 0);
  return fn(x);
}

TEST(process_newf, 60, ALL) {
  mproc_process_t *p;
  ASSERT_OK(mproc_process_newf(&p, func_child, "FiF", MPROC_FN(triple), 4, MPROC_FN(greet)));
  ASSERT_OK(mproc_process_start(p));
  ASSERT_EQ(t_join_code(p), 12);
  ASSERT_RC(mproc_process_newf(&p, func_child, "Z"), MPROC_EINVAL);
  ASSERT_TRUE(p == NULL);
}

TEST(process_startf, 60, ALL) {
  mproc_process_t *p;
  ASSERT_OK(mproc_process_startf(&p, func_child, "FiF", MPROC_FN(triple), 5, MPROC_FN(greet)));
  ASSERT_TRUE(mproc_process_pid(p) > 0); /* already started */
  ASSERT_EQ(t_join_code(p), 15);
  mproc_process_free(p);
  p = (mproc_process_t *)&p; /* must be overwritten */
  ASSERT_RC(mproc_process_startf(&p, func_child, "iZ", 1), MPROC_EINVAL);
  ASSERT_TRUE(p == NULL);
  ASSERT_RC(mproc_process_startf(NULL, func_child, "i", 1), MPROC_EINVAL);
  size_t count;
  ASSERT_OK(mproc_active_children(NULL, 0, &count));
  ASSERT_EQ(count, 0); /* the failed calls left no child behind */
}

/* def typed_target(lock, x, s): with lock: return x + len(s) */
MPROC_TARGET(typed_target, "Lis", mproc_lock_t *, lock, int, x, const char *, s) {
  C_OK(mproc_lock_acquire(lock, 30000));
  C_OK(mproc_lock_release(lock));
  return x + (int)strlen(s);
}

TEST(target_macro_reads_named_parameters, 60, ALL) {
  mproc_lock_t *l;
  mproc_process_t *p;
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_process_startf(&p, typed_target, "Lis", l, 4, "abc"));
  ASSERT_EQ(t_join_code(p), 7);
  mproc_process_free(p);
  /* a list that does not match the format: the child ends with 1 and says why */
  ASSERT_OK(mproc_process_startf(&p, typed_target, "iis", 1, 4, "abc"));
  ASSERT_EQ(t_join_code(p), 1);
  ASSERT_TRUE(mproc_process_error(p) != NULL);
  ASSERT_TRUE(strstr(mproc_process_error(p), "format 'L' wants a lock, the list holds an int"));
  mproc_process_free(p);
  mproc_lock_free(l);
}

TEST(func_argument_in_child, 60, ALL) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "FiF", MPROC_FN(triple), 7, MPROC_FN(greet)));
  ASSERT_EQ(mproc_args_type(a, 0), MPROC_ARG_FUNC);
  mproc_fn f;
  ASSERT_OK(mproc_args_get_func(a, 0, &f)); /* resolves in the parent too */
  ASSERT_EQ(((int (*)(int))f)(2), 6);
  ASSERT_EQ(t_join_code(t_start_one(func_child, a)), 21);
}

/* Args "Q": takes a function from the queue and puts back what it returns for 5. */
static int func_queue_child(const mproc_args_t *a) {
  mproc_queue_t *q;
  C_OK(mproc_args_parse(a, "Q", &q));
  mproc_args_t *item;
  C_OK(mproc_queue_get_values(q, 30000, &item));
  int (*fn)(int);
  C_OK(mproc_args_parse(item, "F", &fn));
  mproc_args_free(item);
  C_OK(mproc_args_build(&item, "i", fn(5)));
  C_OK(mproc_queue_put_values(q, item, MPROC_FOREVER));
  mproc_args_free(item);
  return 0;
}

TEST(func_through_queue, 60, ALL) {
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new(&q, 0));
  mproc_args_t *a, *item;
  ASSERT_OK(mproc_args_build(&a, "Q", q));
  mproc_process_t *p = t_start_one(func_queue_child, a);
  ASSERT_OK(mproc_args_build(&item, "F", MPROC_FN(triple)));
  ASSERT_OK(mproc_queue_put_values(q, item, MPROC_FOREVER));
  mproc_args_free(item);
  t_finish(p);
  int64_t x;
  ASSERT_OK(mproc_queue_get_values(q, 10000, &item));
  ASSERT_OK(mproc_args_parse(item, "l", &x));
  ASSERT_EQ(x, 15);
  mproc_args_free(item);
  mproc_queue_free(q);
}

TEST(putf_and_sendf, 30, ONCE) {
  mproc_queue_t *q;
  mproc_conn_t *r, *w;
  mproc_args_t *got;
  char buf[64];
  ASSERT_OK(mproc_queue_new(&q, 0));
  ASSERT_OK(mproc_queue_putf(q, 0, "isn", 1, "str"));
  ASSERT_OK(mproc_queue_get_values(q, 0, &got));
  mproc_args_repr(got, buf, sizeof buf);
  ASSERT_TRUE(strcmp(buf, "[1, 'str', None]") == 0);
  mproc_args_free(got);
  ASSERT_RC(mproc_queue_putf(q, 0, "L", (mproc_lock_t *)NULL), MPROC_EINVAL);
  mproc_queue_free(q);
  ASSERT_OK(mproc_pipe(1, &r, &w));
  ASSERT_OK(mproc_conn_sendf(w, "dy", 0.5, "ab", (size_t)2));
  ASSERT_OK(mproc_conn_recv(r, 10000, &got));
  mproc_args_repr(got, buf, sizeof buf);
  ASSERT_TRUE(strcmp(buf, "[0.5, b'ab']") == 0);
  mproc_args_free(got);
  mproc_conn_free(r);
  mproc_conn_free(w);
}

TEST(func_rejects_null, 30, ONCE) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_RC(mproc_args_add_func(a, NULL), MPROC_EINVAL);
  ASSERT_OK(mproc_args_add_int(a, 1));
  mproc_fn f;
  ASSERT_RC(mproc_args_get_func(a, 0, &f), MPROC_ETYPE);
  ASSERT_RC(mproc_args_get_func(a, 1, &f), MPROC_ERANGE);
  mproc_args_free(a);
}

/* --- lists for map ---------------------------------------------------------------------- */

static void assert_ints(const mproc_args_t *a, const int64_t *want, size_t n) {
  ASSERT_EQ(mproc_args_count(a), n);
  for (size_t i = 0; i < n; i++) {
    int64_t x;
    ASSERT_OK(mproc_args_get_int(a, i, &x));
    ASSERT_EQ(x, want[i]);
  }
}

TEST(list_constructors, 30, ONCE) {
  mproc_args_t *a;
  static const int64_t v[] = {5, -1, INT64_MAX};
  ASSERT_OK(mproc_args_from_ints(&a, v, 3));
  assert_ints(a, v, 3);
  mproc_args_free(a);
  ASSERT_OK(mproc_args_range(&a, 0, 10, 3));
  assert_ints(a, (const int64_t[]){0, 3, 6, 9}, 4);
  mproc_args_free(a);
  ASSERT_OK(mproc_args_range(&a, 10, 0, -3));
  assert_ints(a, (const int64_t[]){10, 7, 4, 1}, 4);
  mproc_args_free(a);
  ASSERT_OK(mproc_args_range(&a, 5, 5, 1));
  ASSERT_EQ(mproc_args_count(a), 0);
  mproc_args_free(a);
  ASSERT_OK(mproc_args_range(&a, INT64_MAX - 2, INT64_MAX, 1));
  assert_ints(a, (const int64_t[]){INT64_MAX - 2, INT64_MAX - 1}, 2);
  mproc_args_free(a);
  ASSERT_OK(mproc_args_range(&a, INT64_MIN, INT64_MAX, INT64_MAX));
  assert_ints(a, (const int64_t[]){INT64_MIN, -1, INT64_MAX - 1}, 3);
  mproc_args_free(a);
  ASSERT_RC(mproc_args_range(&a, 0, 1, 0), MPROC_EINVAL);
  ASSERT_RC(mproc_args_range(&a, 0, INT64_MAX, 1), MPROC_EMSGSIZE);
  static const double d[] = {0.5, -2};
  ASSERT_OK(mproc_args_from_doubles(&a, d, 2));
  double x;
  ASSERT_OK(mproc_args_get_double(a, 1, &x));
  ASSERT_TRUE(x == -2);
  mproc_args_free(a);
  ASSERT_RC(mproc_args_from_ints(&a, NULL, 1), MPROC_EINVAL);
  ASSERT_OK(mproc_args_from_ints(&a, NULL, 0));
  ASSERT_EQ(mproc_args_count(a), 0);
  mproc_args_free(a);
}

/* --- parent pid --------------------------------------------------------------------------- */

TEST(parent_pid_in_main, 30, ONCE) {
  int64_t ppid = mproc_parent_pid();
  ASSERT_TRUE(ppid != mproc_current_pid());
#ifndef _WIN32
  ASSERT_TRUE(ppid > 0);
  ASSERT_EQ(ppid, getppid());
#else
  ASSERT_TRUE(ppid >= 0); /* 0 when started by a non-Windows process (Wine from a shell) */
#endif
}

/* Args "l": the parent's pid, which this process must report as its parent. */
static int parent_pid_child(const mproc_args_t *a) {
  int64_t want;
  C_OK(mproc_args_parse(a, "l", &want));
  C_EQ(mproc_parent_pid(), want);
  return 0;
}

TEST(parent_pid_in_child, 60, ALL) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "l", mproc_current_pid()));
  t_finish(t_start_one(parent_pid_child, a));
}

/* --- MPROC_CHECK ----------------------------------------------------------------------------- */

/* Args "i": a checked parse that wants a lock: must exit with 1 and leave the report. */
static int check_child(const mproc_args_t *a) {
  int n = MPROC_CHECK(mproc_args_count(a) == 1 ? 5 : -1);
  mproc_lock_t *l;
  MPROC_CHECK(mproc_args_parse(a, "L", &l));
  return n; /* not reached */
}

TEST(check_macro_exits_with_report, 60, ALL) {
  ASSERT_EQ(MPROC_CHECK(7), 7);
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "i", 1));
  mproc_process_t *p = t_start_one(check_child, a);
  ASSERT_EQ(t_join_code(p), 1);
  const char *msg = mproc_process_error(p);
  ASSERT_TRUE(msg != NULL);
  ASSERT_TRUE(strstr(msg, "mproc_args_parse(a, \"L\", &l) failed: MPROC_ETYPE") != NULL);
  ASSERT_TRUE(strstr(msg, "test_args_typed.c:") != NULL);
  ASSERT_TRUE(strstr(msg, "format 'L' wants a lock, the list holds an int") != NULL);
  mproc_process_free(p);
}

/* --- receiving into variables: conn.recv(), q.get() in one call ------------------------------- */

/* while (item := q.get()) is not None: a None message ends the loop, distinct from errors. */
TEST(recvf_and_getf_none_sentinel, 30, ONCE) {
  mproc_conn_t *a, *b;
  ASSERT_OK(mproc_pipe(1, &a, &b));
  int i = 5;
  ASSERT_OK(mproc_conn_sendf(a, "n"));
  ASSERT_RC(mproc_conn_recvf(b, 30000, "i", &i), MPROC_GOT_NONE);
  ASSERT_EQ(i, 5); /* untouched */
  ASSERT_OK(mproc_conn_sendf(a, "n"));
  ASSERT_OK(mproc_conn_recvf(b, 30000, " n")); /* asked for: an ordinary match */
  ASSERT_OK(mproc_conn_sendf(a, "nn"));
  ASSERT_RC(mproc_conn_recvf(b, 30000, "i", &i), MPROC_ETYPE); /* not just None */
  mproc_conn_free(a);
  mproc_conn_free(b);
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new(&q, 0));
  ASSERT_OK(mproc_queue_putf(q, MPROC_FOREVER, "i", 3));
  ASSERT_OK(mproc_queue_putf(q, MPROC_FOREVER, "n"));
  int sum = 0, n = 0;
  while (MPROC_CHECK(mproc_queue_getf(q, 30000, "i", &i)) == 0) {
    sum += i;
    n++;
  }
  ASSERT_EQ(n, 1);
  ASSERT_EQ(sum, 3);
  ASSERT_OK(mproc_queue_putf(q, MPROC_FOREVER, "d", 1.5));
  ASSERT_RC(mproc_queue_getf(q, 30000, "i", &i), MPROC_ETYPE);
  mproc_queue_free(q);
}

TEST(recvf_and_getf_read_into_variables, 30, ONCE) {
  mproc_conn_t *a, *b;
  ASSERT_OK(mproc_pipe(1, &a, &b));
  ASSERT_OK(mproc_conn_sendf(a, "idn", 7, 2.5));
  int i = 0;
  double d = 0;
  ASSERT_OK(mproc_conn_recvf(b, 30000, "idn", &i, &d));
  ASSERT_EQ(i, 7);
  ASSERT_TRUE(d == 2.5);
  /* a mismatch names the position and both types; the message is consumed either way */
  ASSERT_OK(mproc_conn_sendf(a, "s", "x"));
  ASSERT_RC(mproc_conn_recvf(b, 30000, "l", &(int64_t){0}), MPROC_ETYPE);
  ASSERT_TRUE(strstr(mproc_last_error_message(), "argument 0") != NULL);
  /* letters whose value would point into the freed message are refused before receiving */
  const char *s;
  ASSERT_OK(mproc_conn_sendf(a, "s", "x"));
  ASSERT_RC(mproc_conn_recvf(b, 30000, "s", &s), MPROC_EINVAL);
  ASSERT_EQ(mproc_conn_poll(b, 0), 1); /* still there */
  mproc_conn_free(a);
  ASSERT_RC(mproc_conn_recvf(b, 30000, "s", &s), MPROC_EINVAL);
  ASSERT_RC(mproc_conn_recvf(b, 30000, ""), 0); /* the "x" */
  ASSERT_RC(mproc_conn_recvf(b, 30000, "i", &i), MPROC_EEOF);
  mproc_conn_free(b);

  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new(&q, 0));
  ASSERT_OK(mproc_queue_putf(q, MPROC_FOREVER, "l", (int64_t)1 << 40));
  int64_t l = 0;
  ASSERT_OK(mproc_queue_getf(q, 30000, "l", &l));
  ASSERT_EQ(l, (int64_t)1 << 40);
  ASSERT_RC(mproc_queue_getf(q, 0, "l", &l), MPROC_EEMPTY);
  mproc_queue_free(q);
}
