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
 * A connection is a process argument (format letter 'P'): the child gets its own connection
 * to the same end, and the parent keeps its own, so after the sender has finished the parent
 * can send the end signal on the same end. Messages are typed value lists (mproc_conn_sendf /
 * mproc_conn_recvf); a list holding one None is Python's None, for which mproc_conn_recvf
 * returns MPROC_GOT_NONE instead of 0: `if item is None: break`.
 *
 * Usage: pipe_sender_receiver [--method fork|spawn|forkserver]
 */
#include "example_util.h"

MPROC_TARGET(sender, "P", mproc_conn_t *, pipe) {
  for (int i = 0; i < 5; i++) {
    MPROC_CHECK(mproc_conn_sendf(pipe, "i", i));
    printf("Sent %d\n", i);
  }
  return 0;
}

MPROC_TARGET(receiver, "P", mproc_conn_t *, pipe) {
  int item;
  while (MPROC_CHECK(mproc_conn_recvf(pipe, MPROC_FOREVER, "i", &item)) != MPROC_GOT_NONE)
    printf("Received %d\n", item);
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  mproc_conn_t *parent_conn, *child_conn;
  MPROC_CHECK(mproc_pipe(1, &parent_conn, &child_conn));
  mproc_process_t *sender_process, *receiver_process;
  MPROC_CHECK(mproc_process_newf(&sender_process, sender, "P", parent_conn));
  MPROC_CHECK(mproc_process_newf(&receiver_process, receiver, "P", child_conn));
  MPROC_CHECK(mproc_process_start(sender_process));
  MPROC_CHECK(mproc_process_start(receiver_process));
  example_join(sender_process);
  MPROC_CHECK(mproc_conn_sendf(parent_conn, "n"));
  example_join(receiver_process);
}
