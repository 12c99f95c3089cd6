/* SPDX-License-Identifier: MIT */
/* Waits that must end because something happened, not because a timeout or a polling slice ran
 * out: data arriving wakes mproc_conn_poll and mproc_wait, and a wait over more handles than
 * one Windows wait call takes (64) wakes on the last of them. */
#include "runner.h"

#include <stdlib.h>

/* Sleeps int argument 1 ms, then sends one byte on connection argument 0. */
static int w_send_later(const mproc_args_t *a) {
  mproc_conn_t *c;
  int64_t ms;
  C_OK(mproc_args_get_conn(a, 0, &c));
  C_OK(mproc_args_get_int(a, 1, &ms));
  t_sleep_ms((int)ms);
  C_OK(mproc_conn_send_bytes(c, "!", 1, 0, MPROC_SIZE_REST));
  return 0;
}

static mproc_process_t *send_later(mproc_conn_t *w, int ms) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  ASSERT_OK(mproc_args_add_conn(a, w));
  ASSERT_OK(mproc_args_add_int(a, ms));
  return t_start_one(w_send_later, a);
}

TEST(poll_woken_by_data_from_child, 120, ALL) {
  mproc_conn_t *r, *w;
  ASSERT_OK(mproc_pipe(0, &r, &w));
  mproc_process_t *p = send_later(w, 300);
  /* the timeout is a hang catcher: only the data can end this wait */
  ASSERT_EQ(mproc_conn_poll(r, 100000), 1);
  char b = 0;
  size_t got = 0;
  ASSERT_OK(mproc_conn_recv_bytes_into(r, &b, 1, 0, 1000, &got));
  ASSERT_TRUE(got == 1 && b == '!');
  t_finish(p);
  /* and mproc_wait, over the connection and the (now exited) sender's sentinel */
  p = send_later(w, 300);
  mproc_waitable ws[1] = {{MPROC_WAIT_CONN, r, 0, 0}};
  size_t n = 0;
  ASSERT_OK(mproc_wait(ws, 1, 100000, &n));
  ASSERT_TRUE(n == 1 && ws[0].ready == 1);
  ASSERT_OK(mproc_conn_recv_bytes_into(r, &b, 1, 0, 1000, &got));
  t_finish(p);
  mproc_conn_free(r);
  mproc_conn_free(w);
}

#define MANY_CONNS 100

typedef struct late_send {
  mproc_conn_t *c;
} late_send;

static void send_after_200ms(void *arg) {
  late_send *s = arg;
  t_sleep_ms(200);
  mproc_conn_send_bytes(s->c, "x", 1, 0, MPROC_SIZE_REST);
}

/* 100 connections (and with them 100 handles), the last one written by a thread. */
TEST(wait_over_100_conns_wakes_on_last, 120, ONCE) {
  mproc_conn_t *r[MANY_CONNS], *w[MANY_CONNS];
  mproc_waitable *ws = calloc(MANY_CONNS, sizeof *ws);
  ASSERT_TRUE(ws != NULL);
  for (int i = 0; i < MANY_CONNS; i++) {
    ASSERT_OK(mproc_pipe(0, &r[i], &w[i]));
    ws[i] = (mproc_waitable){MPROC_WAIT_CONN, r[i], 0, 0};
  }
  for (int round = 0; round < 3; round++) {
    late_send s = {w[MANY_CONNS - 1 - round]};
    t_thread *t = t_thread_start(send_after_200ms, &s);
    size_t n = 0;
    ASSERT_OK(mproc_wait(ws, MANY_CONNS, 100000, &n));
    ASSERT_EQ(n, 1);
    ASSERT_EQ(ws[MANY_CONNS - 1 - round].ready, 1);
    t_thread_join(t);
    char b;
    size_t got;
    ASSERT_OK(mproc_conn_recv_bytes_into(r[MANY_CONNS - 1 - round], &b, 1, 0, 1000, &got));
    for (int i = 0; i < MANY_CONNS; i++)
      ws[i].ready = 0;
  }
  /* nothing ready: the wait times out, and every handle is left usable */
  size_t n = 9;
  ASSERT_RC(mproc_wait(ws, MANY_CONNS, 50, &n), MPROC_ETIMEDOUT);
  ASSERT_OK(mproc_conn_send_bytes(w[0], "y", 1, 0, MPROC_SIZE_REST));
  ASSERT_EQ(mproc_conn_poll(r[0], 100000), 1);
  for (int i = 0; i < MANY_CONNS; i++) {
    mproc_conn_free(r[i]);
    mproc_conn_free(w[i]);
  }
  free(ws);
}
