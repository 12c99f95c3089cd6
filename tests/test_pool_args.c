/* SPDX-License-Identifier: MIT */
/* apply and map agree on a task that returns nothing (None, as Python), and map inputs built
 * in one call (mproc_args_range / mproc_args_from_ints). */
#include "runner.h"
#include "test_pool.h"

/* Python's `def f(x): pass`. */
static int returns_nothing(const mproc_args_t *args, mproc_args_t *result) {
  (void)args;
  (void)result;
  return 0;
}

static int square(const mproc_args_t *args, mproc_args_t *result) {
  int64_t x;
  int rc = mproc_args_get_int(args, 0, &x);
  return rc ? rc : mproc_args_add_int(result, x * x);
}

/* def scaled(x, f): return x * f */
MPROC_TASK(scaled, "ld", int64_t, x, double, f) {
  return mproc_args_add_double(result, (double)x * f);
}

/* def ignored(x): pass */
MPROC_TASK(ignored, "l", int64_t, x) {
  (void)x;
  return 0;
}

TEST(task_macro_reads_named_parameters, 60, ALL) {
  mproc_pool_t *pool = pt_pool(1, NULL);
  mproc_result_t *res;
  double d = 0;
  ASSERT_OK(mproc_pool_apply_asyncf(pool, scaled, &res, "ld", (int64_t)3, 1.5));
  ASSERT_OK(mproc_result_getf(res, 60000, "d", &d));
  ASSERT_TRUE(d == 4.5);
  mproc_result_free(res);
  mproc_args_t *items, *r;
  ASSERT_OK(mproc_args_range(&items, 0, 3, 1));
  ASSERT_OK(mproc_pool_map(pool, ignored, items, NULL, &r));
  ASSERT_EQ(mproc_args_count(r), 3);
  ASSERT_EQ(mproc_args_type(r, 2), MPROC_ARG_NONE);
  mproc_args_free(r);
  mproc_args_free(items);
  /* An item of the wrong type fails its task with the parse message; the worker lives on. */
  int64_t before = 0, after = 0;
  size_t n = 0;
  ASSERT_OK(mproc_pool_pids(pool, &before, 1, &n));
  ASSERT_OK(mproc_pool_apply_asyncf(pool, scaled, &res, "sd", "three", 1.5));
  ASSERT_RC(mproc_result_get(res, 60000, NULL), MPROC_ETASKFAILED);
  const char *why = mproc_result_error(res, 0);
  if (why == NULL || strstr(why, "argument 0: format 'l' wants an int") == NULL)
    t_fail(__FILE__, __LINE__, "the error is \"%s\"", why ? why : "(none)");
  mproc_result_free(res);
  ASSERT_OK(mproc_pool_apply_asyncf(pool, scaled, &res, "ld", (int64_t)2, 2.0));
  ASSERT_OK(mproc_result_getf(res, 60000, "d", &d));
  ASSERT_TRUE(d == 4.0);
  mproc_result_free(res);
  ASSERT_OK(mproc_pool_pids(pool, &after, 1, &n));
  ASSERT_EQ(after, before);
  mproc_pool_free(pool);
}

TEST(apply_and_map_give_none_for_nothing, 60, ALL) {
  mproc_pool_options o = MPROC_POOL_OPTIONS_INIT;
  o.processes = 2;
  mproc_pool_t *pool;
  ASSERT_OK(mproc_pool_new(&pool, &o));
  mproc_args_t *r, *items;
  ASSERT_OK(mproc_pool_apply(pool, returns_nothing, NULL, NULL, &r));
  ASSERT_EQ(mproc_args_count(r), 1);
  ASSERT_EQ(mproc_args_type(r, 0), MPROC_ARG_NONE);
  mproc_args_free(r);
  mproc_result_t *res;
  ASSERT_OK(mproc_pool_apply_async(pool, returns_nothing, NULL, NULL, &res));
  ASSERT_OK(mproc_result_get(res, 30000, &r));
  char buf[32];
  mproc_args_repr(r, buf, sizeof buf);
  ASSERT_TRUE(strcmp(buf, "[None]") == 0);
  mproc_args_free(r);
  mproc_result_free(res);
  ASSERT_OK(mproc_args_range(&items, 0, 3, 1));
  ASSERT_OK(mproc_pool_map(pool, returns_nothing, items, NULL, &r));
  mproc_args_repr(r, buf, sizeof buf);
  ASSERT_TRUE(strcmp(buf, "[None, None, None]") == 0);
  mproc_args_free(r);
  mproc_args_free(items);
  mproc_pool_free(pool);
}

TEST(map_over_range_and_array, 60, ALL) {
  mproc_pool_options o = MPROC_POOL_OPTIONS_INIT;
  o.processes = 2;
  mproc_pool_t *pool;
  ASSERT_OK(mproc_pool_new(&pool, &o));
  mproc_args_t *items, *r;
  char buf[64];
  ASSERT_OK(mproc_args_range(&items, 0, 10, 1));
  ASSERT_OK(mproc_pool_map(pool, square, items, NULL, &r));
  mproc_args_repr(r, buf, sizeof buf);
  ASSERT_TRUE(strcmp(buf, "[0, 1, 4, 9, 16, 25, 36, 49, 64, 81]") == 0);
  mproc_args_free(r);
  mproc_args_free(items);
  static const int64_t v[] = {-3, 7, 100000};
  ASSERT_OK(mproc_args_from_ints(&items, v, 3));
  ASSERT_OK(mproc_pool_map(pool, square, items, NULL, &r));
  mproc_args_repr(r, buf, sizeof buf);
  ASSERT_TRUE(strcmp(buf, "[9, 49, 10000000000]") == 0);
  mproc_args_free(r);
  mproc_args_free(items);
  mproc_pool_free(pool);
}

/* res = pool.apply_async(f, (20,)); res.get(timeout=1) in one call each. */
TEST(apply_asyncf_and_result_getf, 60, ALL) {
  mproc_pool_t *pool = pt_pool(1, NULL);
  mproc_result_t *res;
  ASSERT_OK(mproc_pool_apply_asyncf(pool, pt_script, &res, "l", PT_SQUARE * PT_ACT + 20));
  int64_t x = 0;
  ASSERT_OK(mproc_result_getf(res, 60000, "l", &x));
  ASSERT_EQ(x, 400);
  ASSERT_RC(mproc_result_getf(res, 60000, "d", &(double){0}), MPROC_ETYPE);
  ASSERT_RC(mproc_result_getf(res, 60000, "s", &(const char *){0}), MPROC_EINVAL);
  mproc_result_free(res);
  /* for x in pool.imap(f, items) */
  mproc_args_t *items;
  ASSERT_OK(mproc_args_build(&items, "ll", PT_SQUARE * PT_ACT + 2, PT_SQUARE * PT_ACT + 3));
  ASSERT_OK(mproc_pool_imap(pool, pt_script, items, NULL, &res));
  mproc_args_free(items);
  ASSERT_OK(mproc_result_nextf(res, 60000, "l", &x));
  ASSERT_EQ(x, 4);
  ASSERT_OK(mproc_result_nextf(res, 60000, "l", &x));
  ASSERT_EQ(x, 9);
  ASSERT_RC(mproc_result_nextf(res, 60000, "l", &x), MPROC_EEOF);
  mproc_result_free(res);
  ASSERT_RC(mproc_pool_apply_asyncf(pool, pt_script, NULL, "l", (int64_t)0), MPROC_EINVAL);
  ASSERT_RC(mproc_pool_apply_asyncf(pool, pt_script, &res, "!"), MPROC_EINVAL);
  ASSERT_TRUE(res == NULL);
  mproc_pool_free(pool);
}
