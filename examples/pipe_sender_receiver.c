/* SPDX-License-Identifier: MIT */
/*
 * pipe_sender_receiver — one process sends over a Pipe, another receives until None.
 *
 * Python:
 *     import multiprocessing
 *
 *     def sender(pipe):
 *         for i in range(5):
 *             pipe.send(i)
 *             print(f"Sent {i}")
 *
 *     def receiver(pipe):
 *         while True:
 *             item = pipe.recv()
 *             if item is None:
 *                 break
 *             print(f"Received {item}")
 *
 *     # 创建管道
 *     parent_conn, child_conn = multiprocessing.Pipe()
 *
 *     # 创建发送者和接收者进程
 *     sender_process = multiprocessing.Process(target=sender, args=(parent_conn,))
 *     receiver_process = multiprocessing.Process(target=receiver, args=(child_conn,))
 *
 *     # 启动进程
 *     sender_process.start()
 *     receiver_process.start()
 *
 *     # 等待发送者进程完成
 *     sender_process.join()
 *
 *     # 向管道中添加结束信号
 *     parent_conn.send(None)
 *
 *     # 等待接收者进程完成
 *     receiver_process.join()
 *
 * A connection is a process argument (mproc_args_add_conn): the child gets its own connection
 * to the same end, and the parent keeps its own, so after the sender has finished the parent
 * can send the end signal on the same end. Messages are typed value lists (mproc_conn_send /
 * mproc_conn_recv); a list holding one None is Python's None.
 *
 * Usage: pipe_sender_receiver [--method fork|spawn|forkserver]
 */
#include "example_util.h"

static int sender(const mproc_args_t *args) {
  mproc_conn_t *pipe;
  int rc = mproc_args_get_conn(args, 0, &pipe);
  if (rc != 0)
    return mproc_fail(2, "sender: bad arguments: %s", mproc_strerror(rc));
  for (int i = 0; i < 5; i++) {
    mproc_args_t *item;
    rc = mproc_args_build(&item, "i", i);
    if (rc == 0) {
      rc = mproc_conn_send(pipe, item); /* pipe.send(i) */
      mproc_args_free(item);
    }
    if (rc != 0)
      return mproc_fail(3, "sender: send: %s", mproc_strerror(rc));
    printf("Sent %d\n", i);
    fflush(stdout);
  }
  return 0;
}

static int receiver(const mproc_args_t *args) {
  mproc_conn_t *pipe;
  int rc = mproc_args_get_conn(args, 0, &pipe);
  if (rc != 0)
    return mproc_fail(2, "receiver: bad arguments: %s", mproc_strerror(rc));
  for (;;) {
    mproc_args_t *item;
    rc = mproc_conn_recv(pipe, MPROC_FOREVER, &item); /* item = pipe.recv() */
    if (rc != 0)
      return mproc_fail(3, "receiver: recv: %s", mproc_strerror(rc));
    if (mproc_args_type(item, 0) == MPROC_ARG_NONE) { /* if item is None: break */
      mproc_args_free(item);
      break;
    }
    int value;
    rc = mproc_args_parse(item, "i", &value);
    mproc_args_free(item);
    if (rc != 0)
      return mproc_fail(4, "receiver: unexpected message: %s", mproc_strerror(rc));
    printf("Received %d\n", value);
    fflush(stdout);
  }
  return 0;
}

/* Process(target=target, args=(conn,)), started. */
static int start_with_conn(mproc_process_t **p, mproc_target_fn target, mproc_conn_t *conn) {
  mproc_args_t *args;
  int rc = mproc_args_new(&args);
  if (rc == 0)
    rc = mproc_args_add_conn(args, conn);
  if (rc == 0)
    rc = mproc_process_new(p, target, args);
  mproc_args_free(args);
  if (rc == 0 && (rc = mproc_process_start(*p)) != 0)
    mproc_process_free(*p);
  return rc;
}

static int joined_ok(mproc_process_t *p, const char *name) {
  int code = -1;
  if (mproc_process_join(p, MPROC_FOREVER) != 0 || mproc_process_exitcode(p, &code) != 0)
    return 0;
  if (code != 0)
    fprintf(stderr, "%s exited with %d: %s\n", name, code,
            mproc_process_error(p) ? mproc_process_error(p) : "(no message)");
  return code == 0;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;

  mproc_conn_t *parent_conn, *child_conn;
  int rc = mproc_pipe(1, &parent_conn, &child_conn);
  if (rc != 0)
    return example_die("mproc_pipe", rc);

  mproc_process_t *sender_process, *receiver_process;
  if ((rc = start_with_conn(&sender_process, sender, parent_conn)) != 0)
    return example_die("starting the sender", rc);
  if ((rc = start_with_conn(&receiver_process, receiver, child_conn)) != 0)
    return example_die("starting the receiver", rc);
  mproc_conn_close(child_conn); /* only the receiver uses this end now */

  int ok = joined_ok(sender_process, "sender");

  mproc_args_t *none;
  if ((rc = mproc_args_build(&none, "n")) != 0)
    return example_die("mproc_args_build", rc);
  rc = mproc_conn_send(parent_conn, none); /* parent_conn.send(None) */
  mproc_args_free(none);
  if (rc != 0)
    return example_die("sending the end signal", rc);

  ok &= joined_ok(receiver_process, "receiver");
  mproc_process_close(sender_process);
  mproc_process_close(receiver_process);
  mproc_conn_close(parent_conn);
  return ok ? 0 : 1;
}
