/* SPDX-License-Identifier: MIT */
/* The child's side of starting a process, the same for every start method, and mproc_main.
 *
 * Sequence: the parent encodes one BOOT record and creates the child (fork, re-exec, or via the
 * forkserver) with one end of a channel. A re-executed or forkserver child reads the record from
 * the channel; a forked one decodes the same record from its copy of the parent's memory. The
 * child resolves the target, runs it, and sends EXIT with the return value before it exits.
 * mproc_fail() sends FAIL records in between. The parent reads these records after the child
 * has exited, so none of this costs the parent a wake-up per start. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__has_include)
#if __has_include(<stdio_ext.h>)
#include <stdio_ext.h> /* __fpending: glibc, musl, bionic */
#define MP_HAVE_FPENDING 1
#endif
#endif

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

/* stdout and stderr, each only if it holds pending output where the C library can tell: an
 * fflush takes the stream's lock, a write to the C library's memory, which in a fork child
 * (and in its parent, after each fork) is one more page to copy. */
void mproc__flush_std(void) {
#ifdef MP_HAVE_FPENDING
  if (__fpending(stdout) > 0)
    fflush(stdout);
  if (__fpending(stderr) > 0)
    fflush(stderr);
#else
  fflush(stdout);
  fflush(stderr);
#endif
}

/* Exit the way the start method calls for: a re-executed child owns its whole process and runs
 * atexit handlers; a forked child shares the parent's registrations and must not. */
static void child_exit(int code) {
  if (g_method == MPROC_START_SPAWN)
    exit(code);
  mproc__process_exit_hook(); /* what atexit would have done for our own children */
  /* Only the standard streams: other FILE buffers are copies of the parent's, and flushing
   * them here would write the parent's pending data twice. */
  mproc__flush_std();
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

/* A string of the record into buf, cut to fit; no allocation (a fork child decodes its record
 * while malloc's pages are still the parent's). */
static int get_str_into(mp_rd *r, char *buf, size_t cap) {
  uint32_t n = mproc__get_u32(r);
  size_t left = r->err ? 0 : r->len - r->pos;
  if (r->err || n > left)
    return r->err = MPROC_EPROTO;
  size_t k = n < cap - 1 ? n : cap - 1;
  memcpy(buf, r->p + r->pos, k);
  buf[k] = '\0';
  r->pos += n;
  return 0;
}

static int decode_boot(const void *data, size_t len, boot_in *in, const os_handle *handles,
                       size_t nhandles) {
  mp_rd r;
  mproc__rd_init(&r, data, len);
  if (mproc__get_u32(&r) != 1)
    return MPROC_EPROTO;
  in->method = (mproc_start_method)mproc__get_u8(&r);
  in->dies_with_parent = mproc__get_u8(&r);
  mproc__process_set_dies_with_parent(in->dies_with_parent);
  g_parent_pid = (int64_t)mproc__get_u64(&r);
  char ident[64];
  if (get_str_into(&r, g_name, sizeof g_name) != 0 || get_str_into(&r, ident, sizeof ident) != 0)
    return MPROC_EPROTO;
  mproc__process_set_identity(ident);
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

/* What every child inherited from its parent and must not keep, dropped in one go. */
static void forget_parent(const mp_child_start *cs) {
  mp_closer c;
  c.n = 0;
  mproc__closer_add(&c, cs->drop);
  mproc__log_after_fork_child();
  mproc__process_after_fork_child(&c);
  mproc__forkserver_after_fork_child(&c);
  mproc__closer_flush(&c);
  mproc__heap_after_fork_child();
  mproc__queue_after_fork_child();
}

/* Room for a BOOT record sent before the child existed, with its header. */
typedef struct boot_head {
  unsigned char b[12 + MP_BOOT_PRESEND_MAX];
} boot_head;

/* The BOOT record: from memory under fork, else from the channel. 0, or the child exits.
 * Nothing follows the record on the channel, so one read may take it whole: a small record
 * (sent before the child existed) costs one call, a large one streams in after its start. */
static int read_boot(const mp_child_start *cs, boot_head *head, mp_buf *rec, const void **data,
                     size_t *len) {
  if (cs->boot != NULL) {
    *data = cs->boot, *len = cs->boot_len;
    return 0;
  }
  size_t got = 0;
  uint32_t type = 0;
  int rc = mproc__os_chan_read(cs->chan, head->b, sizeof head->b, &got, OS_NO_DEADLINE);
  mp_rd r;
  mproc__rd_init(&r, head->b, got);
  type = mproc__get_u32(&r);
  uint64_t n = mproc__get_u64(&r);
  if (rc == 0 && r.err == 0 && n == got - 12) { /* all of it in one read */
    *data = head->b + 12, *len = (size_t)n;
    return type == MP_REC_BOOT ? 0 : MPROC_EPROTO;
  }
  if (rc == 0)
    rc = mproc__rec_recv_rest(cs->chan, head->b, got, &type, rec,
                              MPROC_ARGS_MAX_BYTES + MP_REC_MAX_SMALL, OS_NO_DEADLINE);
  if (rc != 0) /* the parent went away before telling us what to run: nobody to report to */
    child_exit(CHILD_ERR_EXIT);
  *data = rec->data, *len = rec->len;
  return type == MP_REC_BOOT ? 0 : MPROC_EPROTO;
}

/* The target's return value, then the exit: the parent reads the record after the exit. */
static void report_exit(int code) {
  unsigned char b[4];
  for (int i = 0; i < 4; i++)
    b[i] = (unsigned char)((uint32_t)code >> (8 * i));
  mproc__rec_send(g_chan, MP_REC_EXIT, b, sizeof b, mproc__os_deadline(1000));
  child_exit(code);
}

void mproc__child_main(const mp_child_start *cs) {
  g_is_child = 1;
  g_chan = cs->chan;
  g_method = cs->method;
  void *inherited = mproc__conn_detach_all(); /* fork: the parent's connections */
  forget_parent(cs);

  mp_buf rec;
  mproc__buf_init(&rec);
  const void *data = NULL;
  size_t len = 0;
  boot_in in = {0};
  boot_head head;
  int rc = read_boot(cs, &head, &rec, &data, &len);
  if (rc == 0)
    rc = decode_boot(data, len, &in, cs->handles, cs->nhandles);
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
  if (in.dies_with_parent && cs->method == MPROC_START_SPAWN && mproc__os_getppid() != 0 &&
      mproc__os_getppid() != g_parent_pid)
    child_exit(CHILD_ERR_EXIT);
  /* Under fork this path is signal-safety code: another thread may have held the loader's
   * lock at the fork, and dl_iterate_phdr/dlopen would then wait forever. The parent located
   * the target already (mproc_process_new), so the reference is known to resolve. */
  mproc_target_fn fn = cs->direct;
  if (fn == NULL && (rc = mproc__target_resolve(&in.target, &fn)) != 0)
    child_fail(rc, "cannot find its target function");
  MPROC__DEBUG("target located%s; running it", cs->direct ? " (fork: inherited address)" : "");
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
  report_exit(code);
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
  mp_child_start cs = {h, MPROC_START_SPAWN, NULL, 0, NULL, NULL, 0, OS_INVALID};
  mproc__child_main(&cs); /* passed handles kept their values */
  return 0; /* not reached */
}
