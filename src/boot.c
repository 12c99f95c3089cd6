/* SPDX-License-Identifier: MIT */
/* The child's side of starting a process, the same for every start method, and mproc_main.
 *
 * Sequence: the parent creates the child (fork, re-exec, or via the forkserver) with one end of a
 * channel, then sends one BOOT record on it. The child reads it, resolves the target, answers
 * READY, runs the target, and sends EXIT with the return value before it exits. mproc_fail()
 * sends FAIL records in between. The parent reads these records after the child has exited, so
 * none of this costs the parent a wake-up per start. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "heap.h"
#include "pool.h"

#define CHILD_ERR_EXIT 255
#define FAIL_MSG_MAX 4096
#define FAIL_SEND_MAX 16 /* bounded so a chatty child cannot fill the channel and block */

static char *const *g_argv;
static int g_main_called;
static int g_is_child;
static os_handle g_chan = OS_INVALID;
static mproc_start_method g_method;
static int64_t g_parent_pid;
static int g_fail_sent;
static char g_name[256] = "MainProcess";

char *const *mp_main_argv(void) { return g_argv; }
int mp_main_called(void) { return g_main_called; }
int mp_is_bootstrapped_child(void) { return g_is_child; }
os_handle mp_child_chan(void) { return g_chan; }

int mp_bootstrap_pending(void) {
  char tok[64];
  return !g_main_called && os_getenv(MP_BOOT_ENV, tok, sizeof tok) == 0;
}

const char *mproc_current_process_name(void) { return g_name; }
int64_t mproc_current_pid(void) { return os_getpid(); }
int64_t mproc_parent_pid(void) { return g_parent_pid; }

void mp_boot_encode(const mp_boot *bt, mp_buf *b) {
  mp_put_u32(b, 1); /* record version */
  mp_put_u8(b, (uint8_t)bt->method);
  mp_put_u8(b, (uint8_t)(bt->dies_with_parent != 0));
  mp_put_u64(b, (uint64_t)bt->parent_pid);
  mp_put_str(b, bt->name);
  mp_put_str(b, bt->ident);
  mp_target_encode(bt->target, b);
  mp_put_blob(b, bt->self, bt->self_size);
  mp_args_encode(bt->args, b);
}

static void send_i32_str(uint32_t type, int code, const char *msg) {
  mp_buf b;
  mp_buf_init(&b);
  mp_put_u32(&b, (uint32_t)code);
  mp_put_str(&b, msg);
  if (b.err == 0)
    mp_rec_send(g_chan, type, b.data, b.len, os_deadline(1000));
  mp_buf_free(&b);
}

/* Exit the way the start method calls for: a re-executed child owns its whole process and runs
 * atexit handlers; a forked child shares the parent's registrations and must not. */
static void child_exit(int code) {
  if (g_method == MPROC_START_SPAWN)
    exit(code);
  mp_process_exit_hook(); /* what atexit would have done for our own children */
  /* Only the standard streams: other FILE buffers are copies of the parent's, and flushing
   * them here would write the parent's pending data twice. */
  fflush(stdout);
  fflush(stderr);
  os_exit_now(code);
}

static void child_fail(int err, const char *what) {
  char msg[512];
  snprintf(msg, sizeof msg, "mproc: child %s: %s (%s)", what, mproc_strerror(err),
           mproc_errname(err));
  send_i32_str(MP_REC_CHILD_ERR, err, msg);
  child_exit(CHILD_ERR_EXIT);
}

typedef struct boot_in {
  mp_target_ref target;
  mproc_args_t *args;
  int dies_with_parent;
  mproc_start_method method;
} boot_in;

static int decode_boot(const mp_buf *rec, boot_in *in, const os_handle *handles,
                       size_t nhandles) {
  mp_rd r;
  mp_rd_init(&r, rec->data, rec->len);
  if (mp_get_u32(&r) != 1)
    return MPROC_EPROTO;
  in->method = (mproc_start_method)mp_get_u8(&r);
  in->dies_with_parent = mp_get_u8(&r);
  mp_process_set_dies_with_parent(in->dies_with_parent);
  g_parent_pid = (int64_t)mp_get_u64(&r);
  char *name = mp_get_str(&r);
  if (name == NULL)
    return MPROC_EPROTO;
  snprintf(g_name, sizeof g_name, "%s", name);
  free(name);
  char *ident = mp_get_str(&r);
  if (ident == NULL)
    return MPROC_EPROTO;
  mp_process_set_identity(ident);
  free(ident);
  int rc = mp_target_decode(&r, &in->target);
  size_t self_size = 0;
  const void *self = rc ? NULL : mp_get_blob(&r, &self_size);
  if (rc == 0 && r.err == 0)
    rc = mp_args_decode(&r, &in->args, MP_ARGS_CHILD, handles, nhandles);
  if (rc == 0 && r.err)
    rc = r.err;
  if (rc == 0)
    rc = mp_args_set_self(in->args, self, self_size);
  return rc;
}

void mp_child_main(os_handle chan, mproc_start_method method, const os_handle *handles,
                   size_t nhandles, mproc_target_fn direct) {
  g_is_child = 1;
  g_chan = chan;
  g_method = method;
  mp_process_after_fork_child();
  mp_forkserver_after_fork_child();
  mp_heap_after_fork_child();
  mp_queue_after_fork_child();
  void *inherited = mp_conn_detach_all(); /* fork: the parent's connections */

  mp_buf rec;
  mp_buf_init(&rec);
  uint32_t type = 0;
  int rc = mp_rec_recv(chan, &type, &rec, MPROC_ARGS_MAX_BYTES + MP_REC_MAX_SMALL, OS_NO_DEADLINE);
  if (rc != 0) /* the parent went away before telling us what to run: nobody to report to */
    child_exit(CHILD_ERR_EXIT);
  boot_in in = {0};
  rc = (type == MP_REC_BOOT) ? decode_boot(&rec, &in, handles, nhandles) : MPROC_EPROTO;
  mp_buf_free(&rec);
  if (rc == 0) { /* keep exactly the connections passed as arguments */
    os_handle keep[MP_MAX_PASSED_HANDLES];
    size_t nkeep = mp_args_handles(in.args, keep, MP_MAX_PASSED_HANDLES);
    mp_conn_close_detached(inherited, keep, nkeep);
  }
  if (rc != 0)
    child_fail(rc, "could not read its bootstrap record");
  /* PDEATHSIG was armed before exec, but a parent that died before that is not noticed by it:
   * re-check, as a daemon must never outlive its parent. */
  if (in.dies_with_parent && method == MPROC_START_SPAWN && os_getppid() != 0 &&
      os_getppid() != g_parent_pid)
    child_exit(CHILD_ERR_EXIT);
  /* Under fork this path is signal-safety code: another thread may have held the loader's
   * lock at the fork, and dl_iterate_phdr/dlopen would then wait forever. The parent located
   * the target already (mproc_process_new), so the reference is known to resolve. */
  mproc_target_fn fn = direct;
  if (fn == NULL && (rc = mp_target_resolve(&in.target, &fn)) != 0)
    child_fail(rc, "cannot find its target function");
  mp_rec_send(chan, MP_REC_READY, NULL, 0, os_deadline(1000));
  int code = fn(in.args);
  /* The arguments are released (a queue flushes what the target put), but the shared
   * segments stay mapped until the exit itself tears them down: a lock the target still holds
   * is on the kernel's robust list at an address in one of them, and the kernel marks it
   * owner-dead only if that address is still mapped when the process exits. Unmapped first,
   * the next acquirer would wait forever. Marking every segment as inherited is what keeps
   * them mapped (the heap never unmaps an inherited segment). */
  os_global_lock();
  mp_heap_after_fork_child();
  os_global_unlock();
  mproc_args_free(in.args);
  mp_buf b;
  mp_buf_init(&b);
  mp_put_u32(&b, (uint32_t)code);
  if (b.err == 0)
    mp_rec_send(chan, MP_REC_EXIT, b.data, b.len, os_deadline(1000));
  mp_buf_free(&b);
  child_exit(code);
}

static _Thread_local mp_fail_sink t_fail_sink;

void mp_set_fail_sink(mp_fail_sink sink) { t_fail_sink = sink; }

int mproc_fail(int code, const char *fmt, ...) {
  char msg[FAIL_MSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  if (fmt != NULL)
    vsnprintf(msg, sizeof msg, fmt, ap);
  else
    msg[0] = '\0';
  va_end(ap);
  if (t_fail_sink != NULL)
    t_fail_sink(code, msg);
  else if (g_is_child && g_fail_sent < FAIL_SEND_MAX) {
    g_fail_sent++;
    send_i32_str(MP_REC_FAIL, code, msg);
  }
  return code;
}

/* The token is "spawn:<handle>" or "forkserver:<handle>". */
static int parse_token(const char *tok, int *server, os_handle *h) {
  const char *num;
  if (strncmp(tok, "spawn:", 6) == 0)
    *server = 0, num = tok + 6;
  else if (strncmp(tok, "forkserver:", 11) == 0)
    *server = 1, num = tok + 11;
  else
    return MPROC_EPROTO;
  char *end;
  long long v = strtoll(num, &end, 10);
  if (end == num || *end != '\0' || v < 0)
    return MPROC_EPROTO;
  *h = (os_handle)v;
  return 0;
}

int (*mp_main_hook)(int argc, char **argv);

int mproc_main(int argc, char **argv) {
  if (argc < 0 || (argc > 0 && argv == NULL))
    return MPROC_EINVAL;
  g_argv = argv;
  g_main_called = 1;
  char tok[64];
  if (os_getenv(MP_BOOT_ENV, tok, sizeof tok) != 0)
    return mp_main_hook ? mp_main_hook(argc, argv) : 0; /* not a child: carry on with main */
  /* Remove the token at once so that processes this child starts later, by any means, do not
   * mistake themselves for mproc children. */
  os_unsetenv(MP_BOOT_ENV);
  int server = 0;
  os_handle h = OS_INVALID;
  if (parse_token(tok, &server, &h) != 0) {
    fprintf(stderr, "mproc: malformed %s=%s in the environment\n", MP_BOOT_ENV, tok);
    exit(CHILD_ERR_EXIT);
  }
  os_set_inheritable(h, 0);
  if (server)
    mp_forkserver_serve(h);
  mp_child_main(h, MPROC_START_SPAWN, NULL, 0, NULL); /* passed handles kept their values */
  return 0; /* not reached */
}
