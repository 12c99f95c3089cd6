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
#include "atomics.h"
#include "log.h"
#include "alloc.h"

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

char *const *mproc__main_argv(void) { return g_argv; }
int mproc__main_called(void) { return g_main_called; }
int mproc__is_bootstrapped_child(void) { return g_is_child; }
os_handle mproc__child_chan(void) { return g_chan; }

int mproc__bootstrap_pending(void) {
  char tok[64];
  return !g_main_called && mproc__os_getenv(MP_BOOT_ENV, tok, sizeof tok) == 0;
}

const char *mproc_current_process_name(void) { return g_name; }
int64_t mproc_current_pid(void) { return mproc__os_getpid(); }
/* A child knows who started it from its bootstrap record; the main process asks the OS. */
int64_t mproc_parent_pid(void) { return g_is_child ? g_parent_pid : mproc__os_getppid(); }

void mproc__boot_encode(const mp_boot *bt, mp_buf *b) {
  mproc__put_u32(b, 1); /* record version */
  mproc__put_u8(b, (uint8_t)bt->method);
  mproc__put_u8(b, (uint8_t)(bt->dies_with_parent != 0));
  mproc__put_u64(b, (uint64_t)bt->parent_pid);
  mproc__put_str(b, bt->name);
  mproc__put_str(b, bt->ident);
  mproc__target_encode(bt->target, b);
  mproc__put_blob(b, bt->self, bt->self_size);
  mproc__args_encode(bt->args, b);
  mproc__put_u8(b, (uint8_t)mproc__log_inherit_level()); /* last: the child's log level */
}

static void send_i32_str(uint32_t type, int code, const char *msg) {
  mp_buf b;
  mproc__buf_init(&b);
  mproc__put_u32(&b, (uint32_t)code);
  mproc__put_str(&b, msg);
  if (b.err == 0)
    mproc__rec_send(g_chan, type, b.data, b.len, mproc__os_deadline(1000));
  mproc__buf_free(&b);
}

/* Exit the way the start method calls for: a re-executed child owns its whole process and runs
 * atexit handlers; a forked child shares the parent's registrations and must not. */
static void child_exit(int code) {
  if (g_method == MPROC_START_SPAWN)
    exit(code);
  mproc__process_exit_hook(); /* what atexit would have done for our own children */
  /* Only the standard streams: other FILE buffers are copies of the parent's, and flushing
   * them here would write the parent's pending data twice. */
  fflush(stdout);
  fflush(stderr);
  mproc__os_exit_now(code);
}

static void child_fail(int err, const char *what) {
  char msg[512];
  snprintf(msg, sizeof msg, "mproc: child %s: %s (%s)", what, mproc_strerror(err),
           mproc_errname(err));
  MPROC__WARN("%s", msg);
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
  mproc__rd_init(&r, rec->data, rec->len);
  if (mproc__get_u32(&r) != 1)
    return MPROC_EPROTO;
  in->method = (mproc_start_method)mproc__get_u8(&r);
  in->dies_with_parent = mproc__get_u8(&r);
  mproc__process_set_dies_with_parent(in->dies_with_parent);
  g_parent_pid = (int64_t)mproc__get_u64(&r);
  char *name = mproc__get_str(&r);
  if (name == NULL)
    return MPROC_EPROTO;
  snprintf(g_name, sizeof g_name, "%s", name);
  mproc__free(name);
  char *ident = mproc__get_str(&r);
  if (ident == NULL)
    return MPROC_EPROTO;
  mproc__process_set_identity(ident);
  mproc__free(ident);
  int rc = mproc__target_decode(&r, &in->target);
  size_t self_size = 0;
  const void *self = rc ? NULL : mproc__get_blob(&r, &self_size);
  if (rc == 0 && r.err == 0)
    rc = mproc__args_decode(&r, &in->args, MP_ARGS_CHILD, handles, nhandles);
  if (rc == 0 && r.err)
    rc = r.err;
  if (rc == 0)
    rc = mproc__args_set_self(in->args, self, self_size);
  int level = mproc__get_u8(&r);
  if (rc == 0 && r.err == 0)
    mproc__log_set_inherited(level);
  return rc;
}

void mproc__child_main(os_handle chan, mproc_start_method method, const os_handle *handles,
                   size_t nhandles, mproc_target_fn direct) {
  g_is_child = 1;
  g_chan = chan;
  g_method = method;
  mproc__log_after_fork_child();
  mproc__process_after_fork_child();
  mproc__forkserver_after_fork_child();
  mproc__heap_after_fork_child();
  mproc__queue_after_fork_child();
  void *inherited = mproc__conn_detach_all(); /* fork: the parent's connections */

  mp_buf rec;
  mproc__buf_init(&rec);
  uint32_t type = 0;
  int rc =
      mproc__rec_recv(chan, &type, &rec, MPROC_ARGS_MAX_BYTES + MP_REC_MAX_SMALL, OS_NO_DEADLINE);
  if (rc != 0) /* the parent went away before telling us what to run: nobody to report to */
    child_exit(CHILD_ERR_EXIT);
  boot_in in = {0};
  rc = (type == MP_REC_BOOT) ? decode_boot(&rec, &in, handles, nhandles) : MPROC_EPROTO;
  mproc__buf_free(&rec);
  if (rc == 0) { /* keep exactly the connections passed as arguments */
    os_handle keep[MP_MAX_PASSED_HANDLES];
    size_t nkeep = mproc__args_handles(in.args, keep, MP_MAX_PASSED_HANDLES);
    mproc__conn_close_detached(inherited, keep, nkeep);
  }
  if (rc != 0)
    child_fail(rc, "could not read its bootstrap record");
  MPROC__DEBUG("boot record received: method %s, parent pid %lld",
               mproc_start_method_name(in.method), (long long)g_parent_pid);
  /* PDEATHSIG was armed before exec, but a parent that died before that is not noticed by it:
   * re-check, as a daemon must never outlive its parent. */
  if (in.dies_with_parent && method == MPROC_START_SPAWN && mproc__os_getppid() != 0 &&
      mproc__os_getppid() != g_parent_pid)
    child_exit(CHILD_ERR_EXIT);
  /* Under fork this path is signal-safety code: another thread may have held the loader's
   * lock at the fork, and dl_iterate_phdr/dlopen would then wait forever. The parent located
   * the target already (mproc_process_new), so the reference is known to resolve. */
  mproc_target_fn fn = direct;
  if (fn == NULL && (rc = mproc__target_resolve(&in.target, &fn)) != 0)
    child_fail(rc, "cannot find its target function");
  MPROC__DEBUG("target located%s; running it", direct ? " (fork: inherited address)" : "");
  mproc__rec_send(chan, MP_REC_READY, NULL, 0, mproc__os_deadline(1000));
  int code = fn(in.args);
  /* The arguments are released (a queue flushes what the target put), but the shared
   * segments stay mapped until the exit itself tears them down: a lock the target still holds
   * is on the kernel's robust list at an address in one of them, and the kernel marks it
   * owner-dead only if that address is still mapped when the process exits. Unmapped first,
   * the next acquirer would wait forever. Marking every segment as inherited is what keeps
   * them mapped (the heap never unmaps an inherited segment). */
  mproc__os_global_lock();
  mproc__heap_after_fork_child();
  mproc__os_global_unlock();
  mproc_args_free(in.args);
  MPROC__DEBUG("target returned %d", code);
  mp_buf b;
  mproc__buf_init(&b);
  mproc__put_u32(&b, (uint32_t)code);
  if (b.err == 0)
    mproc__rec_send(chan, MP_REC_EXIT, b.data, b.len, mproc__os_deadline(1000));
  mproc__buf_free(&b);
  child_exit(code);
}

static MPROC__THREAD_LOCAL mp_fail_sink t_fail_sink;

void mproc__set_fail_sink(mp_fail_sink sink) { t_fail_sink = sink; }

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

int (*mproc__main_hook)(int argc, char **argv);

int mproc_main(int argc, char **argv) {
  if (argc < 0 || (argc > 0 && argv == NULL))
    return MPROC_EINVAL;
  g_argv = argv;
  g_main_called = 1;
  char tok[64];
  if (mproc__os_getenv(MP_BOOT_ENV, tok, sizeof tok) != 0)
    return mproc__main_hook ? mproc__main_hook(argc, argv)
                            : 0; /* not a child: carry on with main */
  /* Remove the token at once so that processes this child starts later, by any means, do not
   * mistake themselves for mproc children. */
  mproc__os_unsetenv(MP_BOOT_ENV);
  int server = 0;
  os_handle h = OS_INVALID;
  if (parse_token(tok, &server, &h) != 0) {
    fprintf(stderr, "mproc: malformed %s=%s in the environment\n", MP_BOOT_ENV, tok);
    exit(CHILD_ERR_EXIT);
  }
  mproc__os_set_inheritable(h, 0);
  if (server)
    mproc__forkserver_serve(h);
  mproc__child_main(h, MPROC_START_SPAWN, NULL, 0, NULL); /* passed handles kept their values */
  return 0; /* not reached */
}
