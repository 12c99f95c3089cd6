/* SPDX-License-Identifier: MIT */
/*
 * pipe_producer_consumer — a producer and a consumer process at the two ends of one Pipe.
 *
 * Python:
 *     import time
 *     import multiprocessing as mp
 *
 *     class Producter(mp.Process):
 *         def __init__(self, conn):
 *             super(Producter, self).__init__()
 *             self.name = 'producter'
 *             self.conn = conn
 *
 *         def run(self):
 *             print(self.name)
 *             while True:
 *                 print('send...............')
 *                 self.conn.send(time.time())
 *                 # time.sleep(1)
 *
 *     class Consumer(mp.Process):
 *         def __init__(self, conn):
 *             super(Consumer, self).__init__()
 *             self.name = 'consumer'
 *             self.conn = conn
 *
 *         def run(self):
 *             print(self.name)
 *             while True:
 *                 print('recv.............')
 *                 recv = self.conn.recv()
 *                 print(recv)
 *
 *     if __name__ == '__main__':
 *         conn1, conn2 = mp.Pipe()
 *         producter = Producter(conn2)
 *         producter.start()
 *         consumer = Consumer(conn1)
 *         consumer.start()
 *         consumer.join()
 *
 * The Python program never ends (both loops are endless and the main process waits for the
 * consumer). Here the producer sends `--count N` timestamps (default 5) and returns; its end
 * of the pipe closes with it, and the consumer's next receive reports end of stream — what
 * Python raises as EOFError — so the consumer ends too. The "subclass" is a target plus its
 * name (mproc_process_set_name); the connection, and the count, travel as process arguments.
 *
 * Usage: pipe_producer_consumer [--method fork|spawn|forkserver] [--count N]
 */
#include "example_util.h"

/* count: messages to send; the Python loop is endless */
MPROC_TARGET(producter_run, "Pi", mproc_conn_t *, conn, int, count) {
  printf("%s\n", mproc_current_process_name());
  for (int i = 0; i < count; i++) {
    printf("send...............\n");
    MPROC_CHECK(mproc_conn_sendf(conn, "d", example_time())); /* self.conn.send(time.time()) */
  }
  return 0; /* the connection closes with the process */
}

MPROC_TARGET(consumer_run, "P", mproc_conn_t *, conn) {
  printf("%s\n", mproc_current_process_name());
  int received = 0;
  for (;; received++) {
    printf("recv.............\n");
    double recv;
    int rc = mproc_conn_recvf(conn, MPROC_FOREVER, "d", &recv); /* recv = self.conn.recv() */
    if (rc == MPROC_EEOF)
      break;
    MPROC_CHECK(rc);
    printf("%.6f\n", recv);
  }
  printf("EOFError: the producter is gone after %d messages\n", received);
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  int count = (int)example_arg_long(argc, argv, "--count", 5);
  mproc_conn_t *conn1, *conn2;
  MPROC_CHECK(mproc_pipe(1, &conn1, &conn2));
  mproc_process_t *prod, *consumer;
  MPROC_CHECK(mproc_process_newf(&prod, producter_run, "Pi", conn2, count)); /* Producter(conn2) */
  MPROC_CHECK(mproc_process_set_name(prod, "producter"));
  MPROC_CHECK(mproc_process_start(prod));
  mproc_conn_free(conn2); /* the producter holds this end alone: its exit is the EOF */
  MPROC_CHECK(mproc_process_newf(&consumer, consumer_run, "P", conn1)); /* Consumer(conn1) */
  MPROC_CHECK(mproc_process_set_name(consumer, "consumer"));
  MPROC_CHECK(mproc_process_start(consumer));
  mproc_conn_free(conn1);
  example_join(consumer);
  example_join(prod);
}
