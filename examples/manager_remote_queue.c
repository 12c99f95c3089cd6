/* SPDX-License-Identifier: MIT */
/*
 * manager_remote_queue — a queue served over TCP by one process and used by others, which
 * may be on other machines: a server, a client that puts, a client that gets.
 *
 * Python (the multiprocessing documentation's "Using a remote manager"):
 *     # server
 *     from multiprocessing.managers import BaseManager
 *     from queue import Queue
 *     queue = Queue()
 *     class QueueManager(BaseManager): pass
 *     QueueManager.register('get_queue', callable=lambda: queue)
 *     m = QueueManager(address=('', 50000), authkey=b'abracadabra')
 *     s = m.get_server()
 *     s.serve_forever()
 *
 *     # a client that puts
 *     from multiprocessing.managers import BaseManager
 *     class QueueManager(BaseManager): pass
 *     QueueManager.register('get_queue')
 *     m = QueueManager(address=('foo.bar.org', 50000), authkey=b'abracadabra')
 *     m.connect()
 *     queue = m.get_queue()
 *     queue.put('hello')
 *
 *     # a client that gets
 *     ... (the same four lines)
 *     queue = m.get_queue()
 *     print(queue.get())
 *
 * Output of the getting client: hello
 *
 * The roles are one program: `server [ADDRESS]` serves (default tcp:127.0.0.1:50000; give
 * tcp:0.0.0.0:50000 to serve other machines), `put ADDRESS` and `get ADDRESS` are the two
 * clients (e.g. tcp:foo.bar.org:50000). Python's clients above work against this server, and
 * these clients against Python's server. Without a role the program plays all three: it
 * starts the server in a child process on a free loopback port, runs the two clients as
 * child processes, prints what the getting client got and shuts the server down.
 *
 * Usage: manager_remote_queue [--method fork|spawn|forkserver] [server|put|get] [ADDRESS]
 */
#include "example_util.h"

#include <string.h>

static const char authkey[] = "abracadabra";

/* QueueManager.register('get_queue', callable=lambda: queue): every client that asks for
 * get_queue gets the one queue. */
static int register_get_queue(mproc_manager_t *m, const mproc_args_t *args) {
  static const mproc_manager_type get_queue = {
      .typeid = "get_queue", .base_typeid = "Queue", .singleton = 1};
  (void)args;
  return mproc_manager_register(m, &get_queue);
}

/* The server: in this process (serve_forever), or in a child process (start). */
static int serve(const char *address, int in_child, mproc_manager_t **out) {
  mproc_manager_options o = {.address = address, .authkey = authkey,
                             .keylen = strlen(authkey), .setup = register_get_queue};
  return in_child ? mproc_manager_start(out, &o) : mproc_manager_serve(out, &o);
}

/* The clients: connect, get the queue, put 'hello' or print what get returns. */
static int client(const char *role, const char *address) {
  mproc_manager_t *m;
  mproc_proxy_t *queue;
  MPROC_CHECK(mproc_manager_connect(&m, address, authkey, strlen(authkey), 30000));
  MPROC_CHECK(mproc_manager_create(m, "get_queue", NULL, NULL, 30000, &queue));
  if (strcmp(role, "put") == 0) {
    MPROC_CHECK(mproc_mqueue_putf(queue, MPROC_FOREVER, "s", "hello"));
  } else {
    mproc_args_t *item;
    const char *s;
    MPROC_CHECK(mproc_mqueue_get(queue, MPROC_FOREVER, &item));
    MPROC_CHECK(mproc_args_get_str(item, 0, &s));
    printf("%s\n", s);
    mproc_args_free(item);
  }
  mproc_proxy_free(queue);
  mproc_manager_free(m);
  return 0;
}

MPROC_TARGET(client_target, "ss", const char *, role, const char *, address) {
  return client(role, address);
}

/* No role: all three as child processes (the server's threads run in its own process, so
 * the clients can be started by fork too). */
static int all_three(void) {
  mproc_manager_t *m;
  MPROC_CHECK(serve("tcp:127.0.0.1:0", 1, &m));
  const char *address = mproc_manager_address(m);
  mproc_process_t *put, *get;
  MPROC_CHECK(mproc_process_startf(&get, client_target, "ss", "get", address));
  MPROC_CHECK(mproc_process_startf(&put, client_target, "ss", "put", address));
  example_join(put);
  example_join(get);
  MPROC_CHECK(mproc_manager_shutdown(m, 30000));
  mproc_manager_free(m);
  return 0;
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  const char *role = example_positional(argc, argv, 0);
  const char *address = example_positional(argc, argv, 1);
  if (role == NULL)
    return all_three();
  if (strcmp(role, "server") == 0) {
    mproc_manager_t *m;
    MPROC_CHECK(serve(address ? address : "tcp:127.0.0.1:50000", 0, &m));
    printf("serving at %s\n", mproc_manager_address(m));
    fflush(stdout);
    MPROC_CHECK(mproc_manager_join(m, MPROC_FOREVER)); /* serve_forever: until a 'shutdown' */
    mproc_manager_free(m);
    return 0;
  }
  if ((strcmp(role, "put") == 0 || strcmp(role, "get") == 0) && address != NULL)
    return client(role, address);
  fprintf(stderr, "usage: manager_remote_queue [--method M] [server|put|get] [ADDRESS]\n");
  return 2;
}
