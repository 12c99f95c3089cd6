/* SPDX-License-Identifier: MIT */
/*
 * The OS layer: the only door from the portable core (the src/ files) to the platform.
 * Implemented once in src/posix/ and once in src/win32/, with the same file names on both sides
 * (proc.c, chan.c, wait.c, clock.c, sym.c, sys.c, shm.c, sync.c) so a reviewer can diff the pair.
 *
 * Rules every implementation follows:
 *  - Return 0 or a negative MPROC_E* code; translate errno / GetLastError() here (mproc__os_error)
 * and keep the raw value for mproc_last_os_error().
 *  - Every handle created is close-on-exec / non-inheritable from birth (never "create, then
 *    fcntl"). A child inherits exactly the handles named in its spawn request.
 *  - Deadlines are absolute mproc__os_now_ns() values (OS_NO_DEADLINE = none); EINTR is retried
 * with the remainder recomputed. Nothing here installs a signal handler.
 *  - This layer knows nothing of queues, pools or Python semantics.
 */
#ifndef MPROC_OS_H
#define MPROC_OS_H

#include <stddef.h>
#include <stdint.h>

#include "mproc.h"
#include "atomics.h"

/* An fd on POSIX, a HANDLE on Windows. */
typedef intptr_t os_handle;
#define OS_INVALID ((os_handle)-1)
#define OS_NO_DEADLINE INT64_MAX

/* --- errors (error.c in each backend) ----------------------------------------------------- */
/* Records raw (errno or GetLastError value) for mproc_last_os_error() and returns its MPROC_E*
 * translation. */
int mproc__os_error(int raw);
/* mproc__os_error() of the current errno / GetLastError(). */
int mproc__os_last_error(void);

/* --- clock.c --------------------------------------------------------------------------------- */
int64_t mproc__os_now_ns(void); /* monotonic */
/* timeout_ms (MPROC_FOREVER, 0, or > 0) to an absolute deadline. */
int64_t mproc__os_deadline(int64_t timeout_ms);
void mproc__os_sleep_ms(int64_t ms);

/* --- sys.c: identity, environment, process-wide lock ------------------------------------- */
int64_t mproc__os_getpid(void);
/* Parent pid; 0 where the platform has no cheap answer (Windows). */
int64_t mproc__os_getppid(void);
/* Threads in this process, not counting the OS layer's own idle starter thread (it holds
 * nothing a fork child could need); 0 when it cannot be told. */
int mproc__os_thread_count(void);
int mproc__os_cpu_count(void);
int mproc__os_cpu_count_usable(void);
/* Resident memory of this process in bytes (Linux: /proc/self/statm; other POSIX systems: the
 * peak from getrusage; Windows: the working set); 0 when it cannot be told. */
uint64_t mproc__os_rss_bytes(void);
/* Copies the value of an environment variable; MPROC_ENOENT if unset, MPROC_ERANGE if it does
 * not fit. */
int mproc__os_getenv(const char *name, char *buf, size_t cap);
int mproc__os_unsetenv(const char *name);
/* One recursive-safe-enough process-wide lock for the core's global tables (not reentrant). */
void mproc__os_global_lock(void);
void mproc__os_global_unlock(void);
/* Called once before the first child is created: process-wide setup the backend needs
 * (Windows: SetErrorMode is NOT touched; the job object is created lazily). */
int mproc__os_init(void);
/* Ends the process now without running atexit handlers or flushing stdio (the core flushes). */
void mproc__os_exit_now(int code);

/* --- chan.c: bidirectional byte-stream channel ------------------------------------------- */
/* Both ends non-inheritable and blocking. POSIX: socketpair; Windows: a duplex named pipe. */
int mproc__os_chan_pair(os_handle out[2]);
/* Writes all n bytes. MPROC_EPEERGONE if the peer end is closed (never raises SIGPIPE).
 * MPROC_ETIMEDOUT past the deadline (the stream is then unusable: some bytes may be written). */
int mproc__os_chan_write(os_handle h, const void *buf, size_t n, int64_t deadline);
/* Reads 1..n bytes into buf, storing the count in *got. MPROC_EEOF when the peer closed and
 * nothing is left; MPROC_ETIMEDOUT when nothing arrived by the deadline (deadline <= now
 * means: only what is already there). */
int mproc__os_chan_read(os_handle h, void *buf, size_t n, size_t *got, int64_t deadline);
/* Request/reply traffic on a handle only this process reads: later reads through
 * mproc__os_chan_read_sliced may block in the kernel for up to ms at a time (POSIX:
 * SO_RCVTIMEO), one system call per message instead of try / poll / retry. MPROC_ENOTSUP where
 * reads need no such help (Windows: overlapped reads already wait in one call). */
int mproc__os_chan_set_read_slice(os_handle h, int ms);
/* mproc__os_chan_read for a handle given a read slice of slice_ms: a read with at least a slice
 * left before its deadline (or none) blocks in recv, looking at the deadline again after each
 * slice; a shorter one takes the polling path. */
int mproc__os_chan_read_sliced(os_handle h, void *buf, size_t n, size_t *got, int64_t deadline,
                               int slice_ms);
/* Most handles one mproc__os_chan_send_handles message carries. */
#define OS_MAX_SEND_HANDLES 32
/* Sends n > 0 bytes plus nh <= OS_MAX_SEND_HANDLES handles in one message (POSIX SCM_RIGHTS). Windows: MPROC_ENOTSUP
 * until handle passing by DuplicateHandle exists. */
int mproc__os_chan_send_handles(os_handle h, const void *buf, size_t n, const os_handle *hs,
                         size_t nh);
/* Receives what mproc__os_chan_send_handles sent: up to n bytes and up to cap handles (received
 * handles are close-on-exec). */
int mproc__os_chan_recv_handles(os_handle h, void *buf, size_t n, size_t *got, os_handle *hs,
                         size_t cap, size_t *nh, int64_t deadline);
int mproc__os_close(os_handle h); /* OS_INVALID is a no-op; EINTR counts as closed */
/* Closes n valid handles given in ascending order, with one call per run of consecutive values
 * where the system has one (Linux close_range): a fork child drops every handle it inherited
 * from its parent's other children this way. */
void mproc__os_close_sorted(const os_handle *h, size_t n);
int mproc__os_set_inheritable(os_handle h, int inheritable);
/* A second, non-inheritable handle to the same object (dup / DuplicateHandle). */
int mproc__os_handle_dup(os_handle h, os_handle *out);

/* --- shm.c: anonymous shared memory ------------------------------------------------------- */
/* A zero-filled shared segment of size bytes that no name refers to (POSIX: memfd, or an
 * unlinked shm object; Windows: a pagefile-backed section with SEC_COMMIT). Its pages are
 * reserved now: running out of /dev/shm or commit charge is MPROC_ENOSPC here, never a SIGBUS
 * or an access violation when a page is first touched. The handle is non-inheritable. */
int mproc__os_shm_create(size_t size, os_handle *out);
/* Maps size bytes of the segment read-write, shared. */
int mproc__os_shm_map(os_handle h, size_t size, void **addr);
void mproc__os_shm_unmap(void *addr, size_t size);
/* Named segments (SharedMemory); the core has validated name ([A-Za-z0-9._-], no slash).
 * POSIX: shm_open("/name"), mode exactly 0600, pages reserved as above; Windows: a SEC_COMMIT
 * section with that name in the session namespace. MPROC_EEXIST when the name is taken. */
int mproc__os_shm_create_named(const char *name, size_t size, os_handle *out);
/* Opens a named segment; *size is the object's size (Windows: its view's region size, a
 * whole number of pages). MPROC_ENOENT when there is none. */
int mproc__os_shm_open_named(const char *name, os_handle *out, size_t *size);
/* Removes the name (POSIX). Windows: 0; a section's name goes with its last handle. */
int mproc__os_shm_unlink_named(const char *name);
/* Gives the existing named segment `from` the extra name `to` (both keep it until unlinked);
 * MPROC_EEXIST when `to` is taken, whatever it is: never replaces. MPROC_ENOTSUP where names
 * cannot be linked (Windows). */
int mproc__os_shm_link_named(const char *from, const char *to);
/* For a named segment this user may reuse: 0 with *id naming the object among live ones (the
 * same id from two handles = the same memory) when it is owned by this user with mode 0600;
 * MPROC_EACCES when it is not; MPROC_ENOTSUP where it cannot be told (Windows). */
int mproc__os_shm_ident(os_handle h, uint64_t *id);
/* For messages after MPROC_ENOSPC: where new segments live (named 1: named ones, 0: anonymous
 * ones), e.g. "/dev/shm", and the bytes free there now (UINT64_MAX when it cannot be told). */
void mproc__os_shm_space(int named, char *where, size_t cap, uint64_t *free_bytes);
/* 1 where a named segment lives on after its last handle and mapping are gone, until unlinked
 * (POSIX), so another process can open it after its creator died; 0 where it does not
 * (Windows). */
int mproc__os_shm_named_persists(void);
/* A handle of this process to the object behind handle h of process pid (the same user's),
 * for a segment a running process did not inherit. Linux: /proc/<pid>/fd/<h> reopened;
 * Windows: DuplicateHandle out of the other process; MPROC_ENOTSUP on other systems. */
int mproc__os_handle_take(int64_t pid, os_handle h, os_handle *out);

/* --- sync.c: process-shared wait/wake and robust mutexes --------------------------------- */
/* A 64-bit value naming the calling thread: unique among live threads on the machine and
 * unlikely to repeat once the thread is gone (thread id in the low 32 bits, a random salt
 * drawn per thread in the high 32). Never 0. Thread-local, so cheap; renewed in a fork child
 * (POSIX: a pthread_atfork child handler, no signal handler). */
uint64_t mproc__os_thread_token_new(void); /* draws the token (first use in a thread) */
/* Set by mproc__os_thread_token_new; read inline, as every lock operation needs it. */
extern MPROC__THREAD_LOCAL uint64_t mproc__os_token_tls;
static inline uint64_t mproc__os_thread_token(void) {
  uint64_t t = mproc__os_token_tls;
  return t != 0 ? t : mproc__os_thread_token_new();
}

/* Storage for a robust, process-shared, non-recursive mutex, placed in shared memory. Linux: a
 * pthread_mutex_t (robust, pshared); generic POSIX: the owner's pid and start time; Windows:
 * unused, the mutex is the kernel object h. */
typedef union os_mutex_mem {
  unsigned char bytes[48]; /* glibc: 40 on x86-64, 48 on arm64; objects keep their lock and
                              its bookkeeping in one 64-byte cache line */
  uint64_t align_;
} os_mutex_mem;
/* Initializes *m in shared memory and, where the platform needs one, creates the kernel
 * object (*h; OS_INVALID on POSIX). Only the creator calls it. */
int mproc__os_mutex_init(os_mutex_mem *m, os_handle *h);
/* 0: acquired. MPROC_EOWNERDEAD: acquired, and the previous holder died holding it (the OS
 * level is already repaired; recoverability is the caller's business). MPROC_ETIMEDOUT: not by
 * the deadline (a deadline <= now only tries). The caller never locks a mutex it holds. */
int mproc__os_mutex_lock(os_mutex_mem *m, os_handle h, int64_t deadline);
int mproc__os_mutex_unlock(os_mutex_mem *m, os_handle h);

/* Sleeping on a 32-bit word in shared memory, across processes. Linux: a shared futex on addr
 * (h is OS_INVALID). Generic POSIX: the system's wait-on-address call where there is one, else
 * a bounded back-off poll of the word (h is OS_INVALID): so a waker always changes the word
 * before it wakes. Windows: an unnamed kernel semaphore h per object stands in for the
 * address (wake releases n permits, wait takes one). So callers (1) count their sleepers in
 * shared memory and wake at most that many, (2) re-check their condition after every return:
 * wake-ups may be spurious. */
int mproc__os_park_new(os_handle *h); /* POSIX: *h = OS_INVALID, nothing to create */
/* Sleeps unless *addr != expected (Linux checks atomically; Windows relies on (1)) until woken
 * or the deadline: 0 or MPROC_ETIMEDOUT. Every backend also looks at *addr themselves at least
 * every 100 ms and return once it changed: a wake-up can go to a sleeper that is killed before
 * it acts on it (or, on Windows, a permit released for one sleeper can be taken by another),
 * and the others must not sleep on a changed word for good. */
int mproc__os_park_wait(const uint32_t *addr, uint32_t expected, os_handle h, int64_t deadline);
/* Wakes up to n sleepers (n >= 1). */
int mproc__os_park_wake(const uint32_t *addr, os_handle h, uint32_t n);

/* Readiness flag a queue raises for mproc__os_wait_any: Linux an eventfd (readable while set),
 * generic POSIX an unlinked FIFO opened read-write, Windows a manual-reset event (signalled
 * while set). Non-inheritable. */
int mproc__os_notifier_new(os_handle *h);
void mproc__os_notifier_set(os_handle h);
void mproc__os_notifier_clear(os_handle h);

/* 1 if a process with this pid exists and has not exited (a zombie counts as exited), 0 if
 * not. Pids are reused: callers use it only to unblock waits on a peer that vanished. */
int mproc__os_pid_alive(int64_t pid);
/* When the process with this pid started, as an opaque stamp, so that a pid and its stamp name
 * one process even after the pid is reused; 0 when unknown (no such process, not allowed to
 * look, or a system where it cannot be told). */
uint64_t mproc__os_pid_birth(int64_t pid);

/* A joinable thread running fn(arg) with signals blocked (POSIX). */
typedef struct os_thread os_thread;
int mproc__os_thread_start(void (*fn)(void *), void *arg, os_thread **out);
void mproc__os_thread_join(os_thread *t);
/* In-process lock and condition variable (tsync.c) for library threads of one process: a
 * pthread mutex and condition variable (monotonic clock) on POSIX, an SRW lock and condition
 * variable on Windows. Not shared between processes, not recursive. */
typedef struct os_tlock os_tlock;
typedef struct os_tcond os_tcond;
int mproc__os_tlock_new(os_tlock **out);
void mproc__os_tlock_free(os_tlock *l); /* NULL is a no-op */
void mproc__os_tlock_acquire(os_tlock *l);
void mproc__os_tlock_release(os_tlock *l);
int mproc__os_tcond_new(os_tcond **out);
void mproc__os_tcond_free(os_tcond *c); /* NULL is a no-op */
/* Releases l (held), sleeps until woken or the deadline, takes l again: 0 or MPROC_ETIMEDOUT.
 * Wake-ups may be spurious: callers re-check their condition. */
int mproc__os_tcond_wait(os_tcond *c, os_tlock *l, int64_t deadline);
void mproc__os_tcond_signal(os_tcond *c);
void mproc__os_tcond_broadcast(os_tcond *c);
/* Yields the CPU for a moment inside a short spin (pause instruction). */
void mproc__os_cpu_relax(void);

/* --- wait.c ---------------------------------------------------------------------------------- */
/* Blocks until one of hs is ready (a channel readable or at EOF, a process handle/pidfd
 * signalled). *ready = its index. MPROC_ETIMEDOUT past the deadline. OS_INVALID entries are
 * skipped. Any n (Windows waits in groups of 64). */
int mproc__os_wait_any(const os_handle *hs, size_t n, int64_t deadline, size_t *ready);

/* --- proc.c ---------------------------------------------------------------------------------- */
typedef struct os_proc {
  int64_t pid;       /* 0: none */
  os_handle handle;  /* pidfd / process HANDLE: readable or signalled at exit. POSIX kernels
                        without pidfd: our children get a pipe that reaches EOF when the child
                        exits (exit_pipe = 1); attached processes get OS_INVALID */
  int is_child;      /* 1: ours to reap; 0: attached (e.g. a forkserver child) */
  int reaped;        /* 1 once the exit status was collected (or is lost) */
  int status;        /* valid once reaped: exit code, -signal, or MPROC_EXIT_UNKNOWN */
  int exit_pipe;     /* handle is an exit pipe, not a pidfd: never signal or query through it */
} os_proc;

typedef struct os_spawn_req {
  char *const *argv;       /* the parent's argv as mproc_main saw it (POSIX; Windows re-uses
                              GetCommandLineW so quoting stays exactly as it was) */
  const char *env_assign;  /* "NAME=value" added to the child's environment */
  const os_handle *inherit; /* handles the child inherits, same values in the child */
  size_t n_inherit;
  int die_with_parent;     /* daemon: killed when this process dies (PDEATHSIG / Job object) */
  const char *exe;         /* the program to run (UTF-8 path); NULL: this program */
} os_spawn_req;

/* Starts this program (or req->exe) again with the parent's argv. On return the child exists and exec
 * succeeded (or the call failed and nothing is left behind). */
int mproc__os_proc_spawn(const os_spawn_req *req, os_proc *out);
/* fork(2): returns 0 in the parent; the child runs in_child(arg), which never returns. In the
 * child, signal dispositions are reset to default, the mask is emptied, and die_with_parent
 * arms PDEATHSIG with the ppid re-check. A daemon (die_with_parent) must die with the parent
 * PROCESS, while the kernel's parent-death signal follows the parent THREAD: so daemons are
 * created (fork and mproc__os_proc_spawn alike) by a thread that lives as long as the process (the
 * main thread, or the backend's own starter thread); in_child then runs on the child's copy
 * of that thread. Windows: MPROC_ENOTSUP. */
int mproc__os_proc_fork(int die_with_parent, os_proc *out, void (*in_child)(void *), void *arg);
/* 1 where mproc__os_proc_fork works (POSIX), 0 where it is MPROC_ENOTSUP (Windows). */
int mproc__os_can_fork(void);
/* Wraps a process that is not our child (forkserver children): handle may be a pidfd. */
void mproc__os_proc_attach(os_proc *out, int64_t pid, os_handle handle);
/* Reaps our child by the deadline: 0 and p->status set, or MPROC_ETIMEDOUT. Someone else
 * reaping it (SIGCHLD=SIG_IGN, a host waitpid(-1)) gives status MPROC_EXIT_UNKNOWN unless the
 * kernel can still tell the status. For attached processes: waits for exit, status unknown. */
int mproc__os_proc_wait(os_proc *p, int64_t deadline);
/* A child of this process (any kind, ours or the host's) that has exited and waits to be
 * reaped: its pid, not reaped by this call; 0 when there is none, so that looking at each child
 * would find none; -1 when it cannot be told (the caller then looks at each). */
int64_t mproc__os_exited_child(void);
/* hard=0: SIGTERM / TerminateProcess(-15 mapping); hard=1: SIGKILL / TerminateProcess(-9).
 * Never signals a reaped pid. */
int mproc__os_proc_signal(os_proc *p, int hard);
/* Closes the handle; does not reap. */
void mproc__os_proc_release(os_proc *p);

/* --- sym.c: finding functions again in a re-executed or forked child -------------------- */
/* Locates addr in a loaded module: module = "" for the main executable, else the path the
 * module was loaded from; *offset = addr - module base; *avail = bytes readable from addr
 * within the module's mapping (>= 1). MPROC_ENOTARGET if addr is in no module. */
int mproc__os_sym_locate(const void *addr, char *module, size_t cap, uint64_t *offset,
                         size_t *avail);
/* The inverse, in any process of the same build: loads the module if needed. */
int mproc__os_sym_resolve(const char *module, uint64_t offset, void **addr);

/* --- sock.c: random bytes and stream sockets for Listener / Client ----------------------- */
/* n bytes from the OS's CSPRNG (getrandom / BCryptGenRandom). */
int mproc__os_random(void *buf, size_t n);

typedef enum os_addr_kind {
  OS_ADDR_UNIX = 1,     /* filesystem AF_UNIX socket: name = path */
  OS_ADDR_ABSTRACT = 2, /* Linux abstract AF_UNIX name (without the leading NUL) */
  OS_ADDR_TCP = 3,      /* name = host (IPv4 or IPv6 literal or a host name), port */
  OS_ADDR_PIPE = 4      /* Windows named pipe: name = \\.\pipe\... */
} os_addr_kind;

typedef struct os_addr {
  os_addr_kind kind;
  const char *name;
  uint16_t port;
} os_addr;

/* A listening endpoint; what it holds differs by platform (a socket, or the next named pipe
 * instance), so it is opaque. Kinds the platform lacks are MPROC_ENOTSUP. */
typedef struct os_listener os_listener;
/* Binds and listens. A unix path whose socket file exists is taken over only when nobody
 * answers on it (connect fails with ECONNREFUSED): a live listener is MPROC_EEXIST. */
int mproc__os_listen(const os_addr *a, int backlog, os_listener **out);
/* The TCP port actually bound (for port 0); 0 for other kinds. */
uint16_t mproc__os_listener_port(const os_listener *l);
/* Waits for one connection by the deadline; *out is a channel handle usable with
 * mproc__os_chan_read / mproc__os_chan_write / mproc__os_close, non-inheritable. */
int mproc__os_accept(os_listener *l, int64_t deadline, os_handle *out);
/* A handle mproc__os_wait_any reports ready when mproc__os_accept may find a client waiting (POSIX
 * and Windows TCP: the listening socket; Windows pipes: an event set once a client opened the
 * waiting instance). Owned by the listener; valid until mproc__os_listener_close. Wake-ups may be
 * spurious. */
os_handle mproc__os_listener_wait_handle(os_listener *l);
/* Closes the endpoint; a unix listener unlinks its socket file. NULL is accepted. */
void mproc__os_listener_close(os_listener *l);
/* Connects by the deadline. MPROC_ENOENT: nothing listens there (refused, no such path or
 * pipe). */
int mproc__os_connect(const os_addr *a, int64_t deadline, os_handle *out);

/* The process at the other end of an accepted local connection (Linux: SO_PEERCRED, macOS:
 * LOCAL_PEERPID, Windows: the named pipe's client process): 0 and *pid, or MPROC_ENOTSUP
 * where it cannot be told (TCP, other systems). */
int mproc__os_chan_peer_pid(os_handle h, int64_t *pid);

#endif /* MPROC_OS_H */
