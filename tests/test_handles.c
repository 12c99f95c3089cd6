/* SPDX-License-Identifier: MIT */
/* One close/free rule for every handle (docs/api.md, "Close and free"): _close is Python's
 * close() and leaves the handle valid (MPROC_ECLOSED from the calls that need what was
 * closed, closing again is 0); _free releases, closing first when needed; every _free and
 * _close accepts NULL. */
#include "runner.h"

#include <string.h>

/* --- process --------------------------------------------------------------------------------- */

TEST(process_close_keeps_handle, 60, ALL) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "i", 7));
  mproc_process_t *p = t_start(t_target_return_arg, a);
  mproc_args_free(a);
  ASSERT_OK(mproc_process_join(p, 30000));
  int64_t pid = mproc_process_pid(p);
  ASSERT_TRUE(pid > 0);
  ASSERT_OK(mproc_process_close(p));
  /* what was remembered still answers */
  ASSERT_EQ(mproc_process_pid(p), pid);
  ASSERT_TRUE(mproc_process_name(p) != NULL);
  ASSERT_EQ(mproc_process_daemon(p), 0);
  /* what needs the process says it is closed, as Python's ValueError */
  int code = -1;
  intptr_t h;
  ASSERT_RC(mproc_process_join(p, 0), MPROC_ECLOSED);
  ASSERT_RC(mproc_process_is_alive(p), MPROC_ECLOSED);
  ASSERT_RC(mproc_process_exitcode(p, &code), MPROC_ECLOSED);
  ASSERT_RC(mproc_process_sentinel(p, &h), MPROC_ECLOSED);
  ASSERT_RC(mproc_process_terminate(p), MPROC_ECLOSED);
  ASSERT_RC(mproc_process_kill(p), MPROC_ECLOSED);
  ASSERT_RC(mproc_process_stop(p, 0), MPROC_ECLOSED);
  ASSERT_RC(mproc_process_start(p), MPROC_ECLOSED);
  size_t idx;
  ASSERT_RC(mproc_process_wait_any(&p, 1, 0, &idx), MPROC_ECLOSED);
  ASSERT_EQ(code, -1);
  ASSERT_OK(mproc_process_close(p)); /* again: nothing to do */
  mproc_process_free(p);
}

TEST(process_close_refused_while_running, 60, ALL) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "l", (int64_t)60000));
  mproc_process_t *p = t_start(t_target_sleep_arg, a);
  mproc_args_free(a);
  ASSERT_RC(mproc_process_close(p), MPROC_ESTATE);
  ASSERT_EQ(mproc_process_is_alive(p), 1); /* nothing was done */
  ASSERT_OK(mproc_process_stop(p, 0));
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

TEST(process_close_never_started, 30, ONCE) {
  mproc_process_t *p;
  ASSERT_OK(mproc_process_new(&p, t_target_return_arg, NULL));
  ASSERT_OK(mproc_process_close(p));
  ASSERT_RC(mproc_process_start(p), MPROC_ECLOSED);
  mproc_process_free(p);
}

/* --- connection ------------------------------------------------------------------------------ */

TEST(conn_close_keeps_handle, 30, ONCE) {
  mproc_conn_t *r, *w;
  ASSERT_OK(mproc_pipe(1, &r, &w));
  ASSERT_OK(mproc_conn_close(w));
  ASSERT_EQ(mproc_conn_fileno(w), -1);
  ASSERT_RC(mproc_conn_send_bytes(w, "x", 1, 0, MPROC_SIZE_REST), MPROC_ECLOSED);
  void *m = NULL;
  size_t n = 0;
  ASSERT_RC(mproc_conn_recv_bytes(w, 100, 0, &m, &n), MPROC_ECLOSED);
  ASSERT_OK(mproc_conn_close(w)); /* again */
  /* the peer sees the close at once */
  ASSERT_RC(mproc_conn_recv_bytes(r, 100, 30000, &m, &n), MPROC_EEOF);
  mproc_conn_free(w);
  mproc_conn_free(r); /* open: free closes it */
}

/* A child frees the connection its argument list owns (and closes it again): the list still
 * releases it exactly once (AddressSanitizer would see a double free). */
static int t_free_arg_conn(const mproc_args_t *a) {
  mproc_conn_t *c;
  C_OK(mproc_args_parse(a, "P", &c));
  C_OK(mproc_conn_send_bytes(c, "bye", 3, 0, MPROC_SIZE_REST));
  mproc_conn_free(c);
  C_OK(mproc_conn_close(c));
  mproc_conn_free(c);
  return 0;
}

TEST(conn_free_argument_in_child, 60, ALL) {
  mproc_conn_t *mine, *theirs;
  ASSERT_OK(mproc_pipe(1, &mine, &theirs));
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "P", theirs));
  mproc_process_t *p = t_start(t_free_arg_conn, a);
  mproc_args_free(a);
  mproc_conn_free(theirs);
  void *m = NULL;
  size_t n = 0;
  ASSERT_OK(mproc_conn_recv_bytes(mine, 100, 30000, &m, &n));
  ASSERT_EQ(n, 3);
  ASSERT_TRUE(memcmp(m, "bye", 3) == 0);
  mproc_free(m);
  ASSERT_RC(mproc_conn_recv_bytes(mine, 100, 30000, &m, &n), MPROC_EEOF);
  ASSERT_EQ(t_join_code(p), 0);
  mproc_process_free(p);
  mproc_conn_free(mine);
}

/* A child frees every object its argument list owns, twice: each free leaves the object to
 * the list (a queue's free closes it), which releases it exactly once after the target
 * returns (AddressSanitizer would see a double free or a use after free). */
static int t_free_arg_objects(const mproc_args_t *a) {
  mproc_lock_t *l;
  mproc_semaphore_t *s;
  mproc_condition_t *c;
  mproc_event_t *e;
  mproc_barrier_t *b;
  mproc_value_t *v;
  mproc_array_t *arr;
  mproc_queue_t *q;
  C_OK(mproc_args_parse(a, "LSCEBVAQ", &l, &s, &c, &e, &b, &v, &arr, &q));
  C_OK(mproc_lock_acquire(l, 0));
  C_OK(mproc_lock_release(l));
  C_OK(mproc_semaphore_acquire(s, 0));
  C_OK(mproc_value_set_int(v, 7));
  C_OK(mproc_array_set_int(arr, 1, 9));
  C_OK(mproc_queue_putf(q, 30000, "i", 42));
  for (int i = 0; i < 2; i++) {
    mproc_lock_free(l);
    mproc_semaphore_free(s);
    mproc_condition_free(c);
    mproc_barrier_free(b);
    mproc_value_free(v);
    mproc_array_free(arr);
    mproc_queue_free(q);
  }
  C_RC(mproc_queue_putf(q, 0, "i", 43), MPROC_ECLOSED);
  C_OK(mproc_event_set(e)); /* still usable after its list's other objects were "freed" */
  mproc_event_free(e);
  mproc_event_free(e);
  return 0;
}

TEST(objects_free_argument_in_child, 60, ALL) {
  mproc_lock_t *l;
  mproc_semaphore_t *s;
  mproc_condition_t *c;
  mproc_event_t *e;
  mproc_barrier_t *b;
  mproc_value_t *v;
  mproc_array_t *arr;
  mproc_queue_t *q;
  ASSERT_OK(mproc_lock_new(&l));
  ASSERT_OK(mproc_semaphore_new(&s, 1));
  ASSERT_OK(mproc_condition_new(&c, NULL));
  ASSERT_OK(mproc_event_new(&e));
  ASSERT_OK(mproc_barrier_new(&b, 2, NULL, MPROC_FOREVER));
  ASSERT_OK(mproc_value_new(&v, 'i', NULL, NULL));
  ASSERT_OK(mproc_array_new(&arr, 'i', 3, NULL, NULL));
  ASSERT_OK(mproc_queue_new(&q, 0));
  mproc_args_t *a;
  ASSERT_OK(mproc_args_build(&a, "LSCEBVAQ", l, s, c, e, b, v, arr, q));
  mproc_process_t *p = t_start(t_free_arg_objects, a);
  mproc_args_free(a);
  int x = 0;
  ASSERT_OK(mproc_queue_getf(q, 30000, "i", &x));
  ASSERT_EQ(x, 42);
  ASSERT_EQ(t_join_code(p), 0);
  ASSERT_EQ(mproc_event_is_set(e), 1);
  int64_t got = 0;
  ASSERT_OK(mproc_value_get_int(v, &got));
  ASSERT_EQ(got, 7);
  ASSERT_OK(mproc_array_get_int(arr, 1, &got));
  ASSERT_EQ(got, 9);
  int sv = -1;
  ASSERT_OK(mproc_semaphore_get_value(s, &sv));
  ASSERT_EQ(sv, 0);
  mproc_process_free(p);
  mproc_lock_free(l);
  mproc_semaphore_free(s);
  mproc_condition_free(c);
  mproc_event_free(e);
  mproc_barrier_free(b);
  mproc_value_free(v);
  mproc_array_free(arr);
  mproc_queue_free(q);
}

/* --- listener -------------------------------------------------------------------------------- */

TEST(listener_close_keeps_handle, 30, ONCE) {
  mproc_listener_t *l;
  ASSERT_OK(mproc_listener_new(&l, "tcp:127.0.0.1:0", NULL, 0, 1));
  char addr[128];
  snprintf(addr, sizeof addr, "%s", mproc_listener_address(l));
  ASSERT_OK(mproc_listener_close(l));
  ASSERT_TRUE(strcmp(mproc_listener_address(l), addr) == 0);
  mproc_conn_t *c = NULL;
  ASSERT_RC(mproc_listener_accept(l, 0, &c), MPROC_ECLOSED);
  ASSERT_TRUE(c == NULL);
  ASSERT_OK(mproc_listener_close(l));
  mproc_listener_free(l);
  /* and one freed while listening */
  ASSERT_OK(mproc_listener_new(&l, "tcp:127.0.0.1:0", NULL, 0, 1));
  mproc_listener_free(l);
}

/* --- shared memory --------------------------------------------------------------------------- */

TEST(shared_memory_close_keeps_handle, 30, ONCE) {
  mproc_shared_memory_t *s;
  ASSERT_OK(mproc_shared_memory_create(&s, NULL, 4096));
  char name[MPROC_SHM_NAME_MAX + 1];
  snprintf(name, sizeof name, "%s", mproc_shared_memory_name(s));
  memset(mproc_shared_memory_buf(s), 7, 4096);
  ASSERT_OK(mproc_shared_memory_close(s));
  ASSERT_TRUE(mproc_shared_memory_buf(s) == NULL);
  ASSERT_EQ(mproc_shared_memory_size(s), 4096);
  ASSERT_TRUE(strcmp(mproc_shared_memory_name(s), name) == 0);
  ASSERT_OK(mproc_shared_memory_close(s));
  ASSERT_OK(mproc_shared_memory_unlink(s)); /* the name is still known */
  mproc_shared_memory_free(s);
  ASSERT_RC(mproc_shared_memory_attach(&s, name), MPROC_ENOENT);
  /* and one freed while mapped */
  ASSERT_OK(mproc_shared_memory_create(&s, NULL, 4096));
  ASSERT_OK(mproc_shared_memory_unlink(s));
  mproc_shared_memory_free(s);
}

/* --- queue and pool (close already was Python's) -------------------------------------------- */

static int t_task_nothing(const mproc_args_t *a, mproc_args_t *r) {
  (void)a;
  (void)r;
  return 0;
}

TEST(queue_and_pool_close_keep_handle, 60, ALL) {
  mproc_queue_t *q;
  ASSERT_OK(mproc_queue_new(&q, 0));
  ASSERT_OK(mproc_queue_put(q, "a", 1, MPROC_FOREVER));
  ASSERT_OK(mproc_queue_close(q));
  ASSERT_RC(mproc_queue_put(q, "b", 1, MPROC_FOREVER), MPROC_ECLOSED);
  ASSERT_OK(mproc_queue_close(q));
  mproc_queue_free(q);

  mproc_pool_options o = MPROC_POOL_OPTIONS_INIT;
  o.processes = 1;
  mproc_pool_t *pool;
  ASSERT_OK(mproc_pool_new(&pool, &o));
  ASSERT_OK(mproc_pool_close(pool));
  mproc_args_t *res = NULL;
  ASSERT_RC(mproc_pool_apply(pool, t_task_nothing, NULL, NULL, &res), MPROC_ECLOSED);
  ASSERT_OK(mproc_pool_close(pool));
  ASSERT_OK(mproc_pool_join(pool, 60000));
  mproc_pool_free(pool);
  /* free alone on an open pool and queue */
  ASSERT_OK(mproc_pool_new(&pool, &o));
  mproc_pool_free(pool);
  ASSERT_OK(mproc_queue_new(&q, 0));
  mproc_queue_free(q);
}

/* --- NULL ------------------------------------------------------------------------------------ */

TEST(free_and_close_accept_null, 30, ONCE) {
  mproc_args_free(NULL);
  mproc_process_free(NULL);
  mproc_conn_free(NULL);
  mproc_listener_free(NULL);
  mproc_lock_free(NULL);
  mproc_semaphore_free(NULL);
  mproc_condition_free(NULL);
  mproc_event_free(NULL);
  mproc_barrier_free(NULL);
  mproc_value_free(NULL);
  mproc_array_free(NULL);
  mproc_shared_memory_free(NULL);
  mproc_queue_free(NULL);
  mproc_pool_free(NULL);
  mproc_result_free(NULL);
  mproc_imap_free(NULL);
  mproc_free(NULL);
  ASSERT_OK(mproc_process_close(NULL));
  ASSERT_OK(mproc_conn_close(NULL));
  ASSERT_OK(mproc_listener_close(NULL));
  ASSERT_OK(mproc_shared_memory_close(NULL));
  ASSERT_OK(mproc_queue_close(NULL));
  ASSERT_OK(mproc_pool_close(NULL));
}
