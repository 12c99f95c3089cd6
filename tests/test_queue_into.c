/* SPDX-License-Identifier: MIT */
/* mproc_queue_get_into: items received into the caller's buffer; one that does not fit is
 * kept by the handle for the next get, whatever its form. */
#include "runner.h"

/* Args "Q": puts "hello", then 100 bytes of 'x'. */
static int into_producer(const mproc_args_t *a) {
  mproc_queue_t *q;
  C_OK(mproc_args_parse(a, "Q", &q));
  char big[100];
  memset(big, 'x', sizeof big);
  C_OK(mproc_queue_put(q, "hello", 5, MPROC_FOREVER));
  C_OK(mproc_queue_put(q, big, sizeof big, MPROC_FOREVER));
  C_OK(mproc_queue_put(q, "", 0, MPROC_FOREVER));
  return 0;
}

TEST(get_into_caller_buffer, 60, ALL) {
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new(&q, 0));
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "Q", q));
  t_finish(t_start_one(into_producer, a));
  char buf[128];
  size_t n = 0;
  ASSERT_OK(mproc_queue_get_into(q, buf, 16, &n, 10000));
  ASSERT_EQ(n, 5);
  ASSERT_TRUE(memcmp(buf, "hello", 5) == 0);
  ASSERT_RC(mproc_queue_get_into(q, buf, 10, &n, 10000), MPROC_ETOOSMALL);
  ASSERT_EQ(n, 100);
  ASSERT_RC(mproc_queue_get_into(q, buf, 99, &n, 0), MPROC_ETOOSMALL); /* still the same */
  ASSERT_EQ(n, 100);
  ASSERT_OK(mproc_queue_get_into(q, buf, sizeof buf, &n, 0));
  ASSERT_EQ(n, 100);
  ASSERT_TRUE(buf[0] == 'x' && buf[99] == 'x');
  ASSERT_OK(mproc_queue_get_into(q, NULL, 0, &n, 10000));
  ASSERT_EQ(n, 0);
  ASSERT_RC(mproc_queue_get_into(q, buf, sizeof buf, &n, 0), MPROC_EEMPTY);
  ASSERT_RC(mproc_queue_get_into(q, NULL, 4, &n, 0), MPROC_EINVAL);
  mproc_queue_free(q);
}

TEST(get_into_kept_item_reaches_get, 30, ONCE) {
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new(&q, 0));
  ASSERT_OK(mproc_queue_put(q, "0123456789", 10, 0));
  ASSERT_OK(mproc_queue_put(q, "ab", 2, 0));
  char buf[4];
  size_t n;
  ASSERT_RC(mproc_queue_get_into(q, buf, sizeof buf, &n, 0), MPROC_ETOOSMALL);
  void *data;
  ASSERT_OK(mproc_queue_get(q, 0, &data, &n));
  ASSERT_EQ(n, 10);
  ASSERT_TRUE(memcmp(data, "0123456789", 10) == 0);
  mproc_free(data);
  ASSERT_OK(mproc_queue_get_into(q, buf, sizeof buf, &n, 0));
  ASSERT_EQ(n, 2);
  /* a kept item is freed with the handle */
  ASSERT_OK(mproc_queue_put(q, "0123456789", 10, 0));
  ASSERT_RC(mproc_queue_get_into(q, buf, sizeof buf, &n, 0), MPROC_ETOOSMALL);
  mproc_queue_free(q);
}
