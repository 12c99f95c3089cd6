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
 * instance state (mproc_process_bind); the connection travels as a process argument.
 *
 * Usage: pipe_producer_consumer [--method fork|spawn|forkserver] [--count N]
 */
#include "example_util.h"

#include <stdlib.h>

typedef struct producter {
  int count; /* messages to send; the Python loop is endless */
} producter;

/* time.time(): seconds since the epoch. */
static double wall_time(void) {
#ifdef _WIN32
  FILETIME ft;
  GetSystemTimeAsFileTime(&ft);
  ULARGE_INTEGER t;
  t.LowPart = ft.dwLowDateTime;
  t.HighPart = ft.dwHighDateTime;
  return (double)(t.QuadPart - 116444736000000000ULL) / 1e7;
#else
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
#endif
}

static int producter_run(const mproc_args_t *args) {
  const producter *self = mproc_args_self(args, NULL);
  mproc_conn_t *conn;
  int rc = mproc_args_get_conn(args, 0, &conn);
  if (rc != 0 || self == NULL)
    return mproc_fail(2, "producter: bad arguments");
  printf("%s\n", mproc_current_process_name());
  for (int i = 0; i < self->count; i++) {
    printf("send...............\n");
    fflush(stdout);
    mproc_args_t *msg;
    rc = mproc_args_build(&msg, "d", wall_time());
    if (rc == 0) {
      rc = mproc_conn_send(conn, msg); /* self.conn.send(time.time()) */
      mproc_args_free(msg);
    }
    if (rc != 0)
      return mproc_fail(3, "producter: send: %s", mproc_strerror(rc));
  }
  return 0; /* the connection closes with the process */
}

static int consumer_run(const mproc_args_t *args) {
  mproc_conn_t *conn;
  int rc = mproc_args_get_conn(args, 0, &conn);
  if (rc != 0)
    return mproc_fail(2, "consumer: bad arguments");
  printf("%s\n", mproc_current_process_name());
  int received = 0;
  for (;;) {
    printf("recv.............\n");
    fflush(stdout);
    mproc_args_t *msg;
    rc = mproc_conn_recv(conn, MPROC_FOREVER, &msg); /* recv = self.conn.recv() */
    if (rc == MPROC_EEOF)
      break;
    if (rc != 0)
      return mproc_fail(3, "consumer: recv: %s", mproc_strerror(rc));
    double t;
    rc = mproc_args_parse(msg, "d", &t);
    mproc_args_free(msg);
    if (rc != 0)
      return mproc_fail(4, "consumer: unexpected message: %s", mproc_strerror(rc));
    printf("%.6f\n", t); /* print(recv) */
    received++;
  }
  printf("EOFError: the producter is gone after %d messages\n", received);
  fflush(stdout);
  return 0;
}

/* Producter(conn) / Consumer(conn): a named process with the connection as its argument. */
static int make(mproc_process_t **p, mproc_target_fn run, const char *name, mproc_conn_t *conn) {
  mproc_args_t *args;
  int rc = mproc_args_new(&args);
  if (rc == 0)
    rc = mproc_args_add_conn(args, conn);
  if (rc == 0)
    rc = mproc_process_new(p, run, args);
  mproc_args_free(args);
  if (rc == 0 && (rc = mproc_process_set_name(*p, name)) != 0)
    mproc_process_free(*p);
  return rc;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;
  producter state = {5};
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], "--count") == 0)
      state.count = atoi(argv[i + 1]);

  mproc_conn_t *conn1, *conn2;
  int rc = mproc_pipe(1, &conn1, &conn2);
  if (rc != 0)
    return example_die("mproc_pipe", rc);

  mproc_process_t *prod, *cons;
  if ((rc = make(&prod, producter_run, "producter", conn2)) != 0 ||
      (rc = mproc_process_bind(prod, &state, sizeof state)) != 0 ||
      (rc = mproc_process_start(prod)) != 0)
    return example_die("starting the producter", rc);
  mproc_conn_free(conn2); /* the producter holds this end alone: its exit is the EOF */

  if ((rc = make(&cons, consumer_run, "consumer", conn1)) != 0 ||
      (rc = mproc_process_start(cons)) != 0)
    return example_die("starting the consumer", rc);
  mproc_conn_free(conn1);

  int ok = 1;
  mproc_process_t *procs[2] = {cons, prod}; /* consumer.join(), then the producter */
  for (int i = 0; i < 2; i++) {
    int code = -1;
    if (mproc_process_join(procs[i], MPROC_FOREVER) != 0 ||
        mproc_process_exitcode(procs[i], &code) != 0 || code != 0) {
      fprintf(stderr, "%s exited with %d: %s\n", mproc_process_name(procs[i]), code,
              mproc_process_error(procs[i]) ? mproc_process_error(procs[i]) : "(no message)");
      ok = 0;
    }
    mproc_process_free(procs[i]);
  }
  return ok ? 0 : 1;
}
