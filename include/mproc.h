/* SPDX-License-Identifier: MIT */
/**
 * @file mproc.h
 * @brief The mproc API.
 *
 * mproc — Python's multiprocessing as a portable C library.
 *
 * Conventions (docs/api.md has the long form):
 *  - Every call that can fail returns int: 0 on success or a negative MPROC_E* code.
 *    Constructors return the object through an out-parameter.
 *  - Timeouts are int64_t milliseconds: MPROC_FOREVER (-1) blocks without limit, 0 never
 *    blocks. They are measured on a monotonic clock; EINTR never reaches the caller.
 *  - Handles are opaque and created/freed by the library. No platform type appears here:
 *    pids and OS handles cross the API as fixed-width integers.
 *  - The default start method is MPROC_START_SPAWN on every platform (docs/start-methods.md).
 */
#ifndef MPROC_H
#define MPROC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/** @def MPROC_API
 * Marks the library's exported symbols: dllexport/dllimport on Windows, default visibility
 * elsewhere; empty with MPROC_STATIC (a static library). */
#if defined(MPROC_STATIC)
#define MPROC_API
#elif defined(_WIN32) || defined(__CYGWIN__)
#if defined(MPROC_BUILDING)
#define MPROC_API __declspec(dllexport)
#else
#define MPROC_API __declspec(dllimport)
#endif
#elif defined(__GNUC__) || defined(__clang__)
#define MPROC_API __attribute__((visibility("default")))
#else
#define MPROC_API
#endif

/** @def MPROC_PRINTF
 * Lets the compiler check printf-style arguments of mproc_fail. */
#if defined(__MINGW32__)
/* mingw's plain `printf` check is msvcrt's dialect (no %zu); the library formats with mingw's
 * C99 printf (__USE_MINGW_ANSI_STDIO), so callers are checked against that. */
#define MPROC_PRINTF(f, a) __attribute__((format(gnu_printf, f, a)))
#elif defined(__GNUC__) || defined(__clang__)
#define MPROC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define MPROC_PRINTF(f, a)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/** The version of this header. CMake's project(VERSION) is the source: the build.version test
 * fails when these differ from it. docs/versioning.md has the compatibility rules. */
#define MPROC_VERSION_MAJOR 0
/** Minor version of this header. */
#define MPROC_VERSION_MINOR 1
/** Patch version of this header. */
#define MPROC_VERSION_PATCH 0
/** This header's version as one number: (major << 16) | (minor << 8) | patch. */
#define MPROC_VERSION_HEX \
  ((MPROC_VERSION_MAJOR << 16) | (MPROC_VERSION_MINOR << 8) | MPROC_VERSION_PATCH)
/** True (at preprocessing time) when this header is at least version maj.min.pat. */
#define MPROC_VERSION_AT_LEAST(maj, min, pat) \
  (MPROC_VERSION_HEX >= (((maj) << 16) | ((min) << 8) | (pat)))

/** The version of the library actually linked (with a shared library it may be newer than the
 * header the program was compiled with): MPROC_VERSION_HEX's layout, and "major.minor.patch".
 * Any thread, any time, even before mproc_main(). */
MPROC_API unsigned mproc_version(void);
/** The linked library's version as "major.minor.patch". */
MPROC_API const char *mproc_version_string(void);

/** @defgroup errors Errors
 * Errors. One list generates the enum, mproc_strerror() and mproc_errname().
 * Codes are compile-time constants and never change value once released.
 * Thread safety: mproc_strerror / mproc_errname keep no state (any thread); the last-error
 * calls are per thread.
 * @{ */
/** The error list: XX(name, value, message) for every MPROC_E* code. */
#define MPROC_ERRNO_MAP(XX)                                                                   \
  XX(EINVAL, -1, "invalid argument")                                                          \
  XX(ENOMEM, -2, "out of memory")                                                             \
  XX(ETIMEDOUT, -3, "timed out")                                                              \
  XX(ESTATE, -4, "operation not valid in the object's current state")                        \
  XX(ERUNNING, -5, "process has not exited yet")                                              \
  XX(ENOTARGET, -6, "target function cannot be resolved in a child process")                 \
  XX(EBOOTSTRAP, -7, "a spawned child tried to start a process before bootstrapping; call "   \
                     "mproc_main(argc, argv) first thing in main()")                          \
  XX(ENOMAIN, -8, "spawn and forkserver need mproc_main(argc, argv) to be called first thing " \
                  "in main()")                                                                 \
  XX(EUNSAFE, -9, "fork refused: the process has more than one thread (use spawn, or allow "  \
                  "fork with threads explicitly)")                                             \
  XX(ENOTSUP, -10, "not supported on this platform")                                          \
  XX(EOS, -11, "operating system error (see mproc_last_os_error)")                           \
  XX(EMFILE, -12, "too many open files or handles")                                           \
  XX(ENOSPC, -13, "no space left (shared memory or disk)")                                    \
  XX(EAGAIN, -14, "resource temporarily unavailable")                                         \
  XX(EACCES, -15, "permission denied")                                                        \
  XX(ENOENT, -16, "no such file, name or process")                                            \
  XX(EEXIST, -17, "name already exists")                                                      \
  XX(EEOF, -18, "end of stream: the peer closed its end")                                    \
  XX(EPEERGONE, -19, "peer process died or closed the channel mid-message")                  \
  XX(EOWNERDEAD, -20, "previous owner died holding the lock; state may be inconsistent")     \
  XX(ENOTRECOVERABLE, -21, "lock is not recoverable")                                          \
  XX(EBROKEN, -22, "barrier or object is broken")                                             \
  XX(EMSGSIZE, -23, "message or argument too large")                                          \
  XX(EFULL, -24, "full")                                                                       \
  XX(EEMPTY, -25, "empty")                                                                     \
  XX(ECLOSED, -26, "object is closed")                                                        \
  XX(ERANGE, -27, "index or value out of range")                                              \
  XX(ETYPE, -28, "value has a different type")                                                \
  XX(EBUILDMISMATCH, -29, "child runs a different build of the program")                     \
  XX(EWORKERDIED, -30, "worker process died")                                                 \
  XX(EAUTH, -31, "authentication failed")                                                     \
  XX(EPROTO, -32, "protocol error: malformed data from peer")                                 \
  XX(ECHILDFAILED, -33, "child process failed before running its target")                     \
  XX(EINTERNAL, -34, "internal error")                                                        \
  XX(ETOOSMALL, -35, "buffer too small for the message (the message is kept)")               \
  XX(EDIRECTION, -36, "connection is not open in this direction")                             \
  XX(ENOTOWNER, -37, "the calling thread does not hold the lock")                             \
  XX(EDEADLK, -38, "would deadlock: the calling thread already holds this non-recursive lock")\
  XX(EOVERRELEASE, -39, "released more times than acquired (or task_done more than put)")    \
  XX(ETASKFAILED, -40, "task returned an error (see mproc_result_task_code / _error)")         \
  XX(ETASKTIMEOUT, -41, "task ran past its time limit; its worker was killed and replaced")   \
  XX(EPOISON, -42, "task killed every worker it was retried on")                            \
  XX(ECANCELED, -43, "task cancelled before it ran (fail-fast, terminate or pool freed)")    \
  XX(EBROKENPOOL, -44, "pool is broken: its workers cannot start or its policy gave up")   \
  XX(EREMOTE, -45, "the manager raised an error (see mproc_last_error_message)")

/** The MPROC_E* codes (all negative; 0 is MPROC_OK). */
typedef enum mproc_errno {
  MPROC_OK = 0,
/** Expands one entry of MPROC_ERRNO_MAP into an enumerator (undefined after use). */
#define MPROC_ERR_ENUM_(name, val, msg) MPROC_##name = (val),
  MPROC_ERRNO_MAP(MPROC_ERR_ENUM_)
#undef MPROC_ERR_ENUM_
} mproc_errno;

/** "invalid argument" etc.; "unknown error" for codes outside the list. Never NULL. */
MPROC_API const char *mproc_strerror(int err);
/** "MPROC_EINVAL" etc.; "MPROC_UNKNOWN" for codes outside the list. Never NULL. */
MPROC_API const char *mproc_errname(int err);
/** errno (POSIX) or GetLastError() (Windows) behind the calling thread's last MPROC_E* from
 * the OS layer; 0 when none. Thread-local. */
MPROC_API int mproc_last_os_error(void);
/** A sentence on the calling thread's last failure when its code alone does not say enough,
 * e.g. after MPROC_ENOSPC from shared memory: which filesystem, how much was free, how much
 * was asked. "" when there is none. Set by the calls that document it (shared memory and
 * shared-heap constructors), cleared when they start. Thread-local; never NULL. */
MPROC_API const char *mproc_last_error_message(void);

/** Timeouts, in milliseconds. */
#define MPROC_FOREVER ((int64_t)-1)
/** Timeout that never blocks (0 ms). */
#define MPROC_NOWAIT ((int64_t)0)

/** @} */

/** @defgroup start_methods Start methods
 * Start methods (Python's get_context / set_start_method).
 * Thread safety: every call, from any thread at any time.
 * @{ */
/** How a child process is started. */
typedef enum mproc_start_method {
  MPROC_START_DEFAULT = 0, /**< resolve to the global default at start() */
  MPROC_START_FORK = 1,    /**< POSIX only */
  MPROC_START_SPAWN = 2,   /**< POSIX and Windows; the default */
  MPROC_START_FORKSERVER = 3 /**< POSIX only */
} mproc_start_method;

/** Sets the global default. MPROC_ENOTSUP for a method this platform lacks. Thread-safe. */
MPROC_API int mproc_set_start_method(mproc_start_method method);
/** The global default start method. */
MPROC_API mproc_start_method mproc_get_start_method(void);
/** "fork", "spawn", "forkserver"; NULL for an invalid value. */
MPROC_API const char *mproc_start_method_name(mproc_start_method method);
/** Parses "fork", "spawn", "forkserver". MPROC_EINVAL for anything else. */
MPROC_API int mproc_start_method_parse(const char *name, mproc_start_method *out);
/** 1 if this platform supports the method, else 0. */
MPROC_API int mproc_start_method_available(mproc_start_method method);

/** @} */

/** @defgroup entry_point Entry point
 * Entry point: the C form of `if __name__ == '__main__':`.
 *
 * Call first thing in main(). In the parent it records argv and returns 0. In a child started
 * by spawn it runs the target and exits: the rest of main never runs there. In the forkserver
 * process it serves until the parent goes away and exits. Returns a negative code only if the
 * arguments are invalid. Thread safety: main thread, before the program starts any thread.
 * @{ */
/** Call first thing in main(): records argv in the parent, runs the target in a spawned child. */
MPROC_API int mproc_main(int argc, char **argv);

/** Sets the program the spawn start method runs for children (Python's set_executable):
 * path (UTF-8) names an executable that calls mproc_main first thing, such as the mproc-helper
 * installed with the library; NULL restores the default, the running program. For a library
 * inside a host application (a plugin or DLL whose process main() it does not own): spawning
 * then never starts the host, and needs no mproc_main in the host. Targets and tasks must then
 * live in a shared library (the child loads it by path); a target in the host's executable
 * fails to resolve in the child (MPROC_ENOTARGET or MPROC_EBUILDMISMATCH), never runs wrong
 * code. The forkserver's server is started from the same program (as Python's forkserver does;
 * the server is started once, with the program set at that moment), so a host without
 * mproc_main may use forkserver too. fork is unaffected. Thread-safe; applies to processes
 * started after.
 * @return 0, or MPROC_EINVAL for "" or a path of 4096 bytes or more. */
MPROC_API int mproc_set_executable(const char *path);
/** Copies the path set with mproc_set_executable into buf: 0, MPROC_ENOENT when none is set,
 * MPROC_ERANGE when cap is too small (buf is then ""). */
MPROC_API int mproc_get_executable(char *buf, size_t cap);

/** @} */

/** @defgroup arguments Arguments
 * Arguments: typed values carried into a child (copied, never shared).
 * Thread safety: one thread at a time per list; concurrent readers of a list nobody modifies
 * are fine; different lists are independent.
 * @{ */
/** An argument list: typed values carried into a child or a task. */
typedef struct mproc_args mproc_args_t;

/** Type of an item of an argument list. */
typedef enum mproc_arg_type {
  MPROC_ARG_INT = 1,    /**< int64_t */
  MPROC_ARG_DOUBLE = 2, /**< double */
  MPROC_ARG_BYTES = 3,  /**< byte string, any content, up to MPROC_ARGS_MAX_BYTES in total */
  MPROC_ARG_STR = 4,    /**< NUL-terminated string */
  MPROC_ARG_CONN = 5,   /**< a connection (mproc_args_add_conn) */
  MPROC_ARG_NONE = 6,   /**< no value: Python's None, e.g. the sentinel that ends a stream */
  MPROC_ARG_LOCK = 7,      /**< a Lock or RLock (mproc_args_add_lock) */
  MPROC_ARG_SEMAPHORE = 8, /**< a Semaphore or BoundedSemaphore */
  MPROC_ARG_CONDITION = 9, /**< a Condition (and its lock) */
  MPROC_ARG_EVENT = 10,    /**< an Event */
  MPROC_ARG_BARRIER = 11,  /**< a Barrier */
  MPROC_ARG_VALUE = 12,    /**< a shared Value (and its lock) */
  MPROC_ARG_ARRAY = 13,    /**< a shared Array (and its lock) */
  MPROC_ARG_QUEUE = 14,    /**< a Queue, SimpleQueue or JoinableQueue */
  MPROC_ARG_FUNC = 15,     /**< a function of the program or of a shared library */
  MPROC_ARG_BOOL = 16,     /**< True or False (mproc_args_add_bool) */
  MPROC_ARG_BIGINT = 17,   /**< an int beyond int64_t (mproc_args_add_bigint) */
  MPROC_ARG_TUPLE = 18,    /**< a tuple of data values (mproc_args_add_tuple) */
  MPROC_ARG_LIST = 19,     /**< a list of data values (mproc_args_add_list) */
  MPROC_ARG_DICT = 20,     /**< a dict of data values, in insertion order (mproc_args_add_dict) */
  MPROC_ARG_PYOBJECT = 21  /**< an inert Python object reference read from a peer (see below) */
} mproc_arg_type;

/** Total encoded size of an argument list, per process: 1 GiB. */
#define MPROC_ARGS_MAX_BYTES ((size_t)1 << 30)

/** Tuples, lists and dicts nest at most this deep (a list inside a tuple is two levels). */
#define MPROC_ARGS_MAX_DEPTH 64

/** Creates an empty list. */
MPROC_API int mproc_args_new(mproc_args_t **out);
/** Builds a list from a format: 'i' int, 'l' int64_t, 'd' double, 's' const char *,
 * 'y' (const void *, size_t) bytes, 'n' None (takes no argument), '?' bool (an int).
 * Spaces are ignored. */
MPROC_API int mproc_args_build(mproc_args_t **out, const char *fmt, ...);
/** mproc_args_build with a va_list. */
MPROC_API int mproc_args_vbuild(mproc_args_t **out, const char *fmt, va_list ap);
/** Releases the list and what it owns. NULL is accepted. */
MPROC_API void mproc_args_free(mproc_args_t *args);
/** Appends an integer. */
MPROC_API int mproc_args_add_int(mproc_args_t *args, int64_t value);
/** Appends a double. */
MPROC_API int mproc_args_add_double(mproc_args_t *args, double value);
/** Appends a copy of size bytes (any content). */
MPROC_API int mproc_args_add_bytes(mproc_args_t *args, const void *data, size_t size);
/** Appends a copy of a NUL-terminated string. */
MPROC_API int mproc_args_add_str(mproc_args_t *args, const char *s);
/** Appends None. */
MPROC_API int mproc_args_add_none(mproc_args_t *args);

/** Number of items (0 for NULL). */
MPROC_API size_t mproc_args_count(const mproc_args_t *args);
/** Type of item i, or MPROC_ERANGE / MPROC_EINVAL. */
MPROC_API int mproc_args_type(const mproc_args_t *args, size_t i);
/** Item i as an integer: MPROC_ETYPE if it is not one, MPROC_ERANGE past the end. */
MPROC_API int mproc_args_get_int(const mproc_args_t *args, size_t i, int64_t *out);
/** Item i as a double: MPROC_ETYPE if it is not one, MPROC_ERANGE past the end. */
MPROC_API int mproc_args_get_double(const mproc_args_t *args, size_t i, double *out);
/** Pointers stay valid as long as the list does. */
MPROC_API int mproc_args_get_bytes(const mproc_args_t *args, size_t i, const void **data,
                                   size_t *size);
/** Item i as a string (valid while the list is): MPROC_ETYPE / MPROC_ERANGE as above. */
MPROC_API int mproc_args_get_str(const mproc_args_t *args, size_t i, const char **out);
/** Python data beyond flat lists. Items of these kinds are "data values": int, float, bytes,
 * str, None, bool, big int, tuple, list and dict. A tuple, list or dict holds data values only
 * (connections, shared objects and functions are refused with MPROC_ETYPE), at most
 * MPROC_ARGS_MAX_DEPTH levels deep (MPROC_EMSGSIZE beyond), and travels wherever a list does:
 * process arguments under every start method, mproc_conn_send, mproc_queue_put_values.
 *
 * Ownership: the appenders copy. mproc_args_add_list(a, items) stores a copy of items at the
 * end of a; the caller still owns items (and frees it). The container getters return a new
 * list, a copy of the container's items, that the caller releases with mproc_args_free;
 * changing it does not change the container. Containers are values, as Python's are after a
 * trip through pickle: to change one, build the new value and append it.
 *
 * Integers: Python has one int type; here an int that fits in int64_t is MPROC_ARG_INT, and
 * any other is MPROC_ARG_BIGINT, held as Python's int.to_bytes(n, 'little', signed=True)
 * with the fewest bytes. mproc_args_add_bigint normalises (a value that fits becomes an
 * MPROC_ARG_INT), so each integer has exactly one form; mproc_args_get_int on a big int is
 * MPROC_ERANGE (the message says so), mproc_args_get_bigint reads both kinds. bool is its own
 * kind (MPROC_ARG_BOOL): mproc_args_get_int on it is MPROC_ETYPE. */
MPROC_API int mproc_args_add_bool(mproc_args_t *args, int value);
/** Appends the integer whose little-endian two's-complement bytes are data[0..size) (Python's
 * int.to_bytes(size, 'little', signed=True)); size \> 0, else MPROC_EINVAL. Stored as an
 * MPROC_ARG_INT when it fits in int64_t, else as MPROC_ARG_BIGINT. */
MPROC_API int mproc_args_add_bigint(mproc_args_t *args, const void *data, size_t size);
/** Appends a tuple holding a copy of the items of items (NULL: the empty tuple). */
MPROC_API int mproc_args_add_tuple(mproc_args_t *args, const mproc_args_t *items);
/** Appends a list holding a copy of the items of items (NULL: the empty list). */
MPROC_API int mproc_args_add_list(mproc_args_t *args, const mproc_args_t *items);
/** Appends a dict built from kv, a list of key, value, key, value ... (NULL: the empty dict;
 * an odd count is MPROC_EINVAL). Keys must be hashable as in Python (no list or dict, also not
 * inside a tuple: MPROC_ETYPE, "unhashable type"). Keys that Python finds equal (1, 1.0 and
 * True; but never nan) make one entry, as dict(...) does: the first key keeps its position,
 * the last value wins. Insertion order is kept. */
MPROC_API int mproc_args_add_dict(mproc_args_t *args, const mproc_args_t *kv);
/** Item i as a bool (0 or 1): MPROC_ETYPE if it is not one, MPROC_ERANGE past the end. */
MPROC_API int mproc_args_get_bool(const mproc_args_t *args, size_t i, int *out);
/** Item i, an MPROC_ARG_INT or MPROC_ARG_BIGINT, as little-endian two's-complement bytes
 * (valid while the list is): the 8 bytes of an int64_t for an MPROC_ARG_INT, the fewest bytes
 * for a big int. Python reads them with int.from_bytes(data, 'little', signed=True). */
MPROC_API int mproc_args_get_bigint(const mproc_args_t *args, size_t i, const void **data,
                                    size_t *size);
/** Item i, a tuple, as a new list of its items (release with mproc_args_free). */
MPROC_API int mproc_args_get_tuple(const mproc_args_t *args, size_t i, mproc_args_t **out);
/** Item i, a list, as a new list of its items (release with mproc_args_free). */
MPROC_API int mproc_args_get_list(const mproc_args_t *args, size_t i, mproc_args_t **out);
/** Item i, a dict, as a new list key, value, key, value ... in insertion order (release with
 * mproc_args_free). */
MPROC_API int mproc_args_get_dict(const mproc_args_t *args, size_t i, mproc_args_t **out);
/** Item i, an MPROC_ARG_PYOBJECT, as a new list of five items (release with mproc_args_free):
 * module (str), name (str), kind (int: 0 the global itself, e.g. a proxy class; 1 the result
 * of calling it with args, as pickle's REDUCE; 2 an instance made with args, as NEWOBJ), args
 * (a tuple, None for kind 0) and state (what pickle's BUILD set, or None). Such items come
 * only from peers that speak Python's pickle (the manager protocol), where the decoder
 * accepts a fixed whitelist of shapes — built-in exceptions, queue.Empty, slices, bytearrays,
 * sets, array.array, the manager's Token and proxies (docs/manager.md). Nothing is ever looked
 * up or run: the item is data, printed by repr as Python would show the object
 * (KeyError('k'), {1, 2}, Token(typeid='dict', address=..., id='1')). */
MPROC_API int mproc_args_get_pyobject(const mproc_args_t *args, size_t i, mproc_args_t **out);

/** Reads items in order with the same format letters as mproc_args_build, each taking a
 * pointer ('i' int *, 'l' int64_t *, 'd' double *, 's' const char **, 'y' const void **,
 * size_t *; 'n' takes none and checks the item is None; '?' int *). MPROC_ETYPE /
 * MPROC_ERANGE when the list does not match. mproc_args_type(args, i) == MPROC_ARG_NONE
 * tests for None. */
MPROC_API int mproc_args_parse(const mproc_args_t *args, const char *fmt, ...);
/** The bound state of a "subclass-style" process (mproc_process_bind), in the child: a private
 * writable copy. NULL when none was bound. */
MPROC_API void *mproc_args_self(const mproc_args_t *args, size_t *size);

/** Format letters for the objects a child can receive, accepted by mproc_args_build,
 * mproc_args_add and mproc_args_parse beside i l d s y n: 'P' connection (a Pipe end),
 * 'Q' queue (any kind), 'L' lock (Lock or RLock), 'S' semaphore, 'C' condition, 'E' event,
 * 'B' barrier, 'V' value, 'A' array — each the object's handle (mproc_lock_t and so on) when
 * building, a pointer to a handle variable when parsing — and 'F' function (building:
 * MPROC_FN(f); parsing: the address of a function pointer variable of the function's own
 * type), and 'M' a manager proxy (mproc_proxy_t; parsing makes a new proxy with a reference
 * of its own, which the caller frees with mproc_proxy_free, as mproc_args_get_proxy does).
 * When an item does not match its letter, parse
 * returns MPROC_ETYPE (MPROC_ERANGE past the end) and mproc_last_error_message() names the
 * position and both types, e.g. "argument 1: format 'L' wants a lock, the list holds an int".
 * The single-item getters (mproc_args_get_int and the rest) set the same message. Shared
 * memory blocks travel by name ('s'). */
MPROC_API int mproc_args_add(mproc_args_t *args, const char *fmt, ...);
/** mproc_args_add with a va_list. */
MPROC_API int mproc_args_vadd(mproc_args_t *args, const char *fmt, va_list ap);
/** "int", "float", "bytes", "str", "connection", "None", "lock", ..., "function" for an
 * MPROC_ARG_* type; "unknown" otherwise. Never NULL. */
MPROC_API const char *mproc_arg_type_name(int type);

/** A function as a typed value (Python passes functions to children by reference). The child
 * finds it again the way process targets are found (the module that holds it, checked against
 * its code), under every start method; any function of the program or of a shared library
 * works, whatever its signature. Call it through a pointer of its real type:
 *
 *     int (*fn)(int);
 *     mproc_args_parse(args, "F", &fn);
 *     fn(3);
 *
 * Functions travel in process arguments, connections (mproc_conn_send) and queues
 * (mproc_queue_put_values); MPROC_ENOTARGET if fn is not inside a loaded module. */
typedef void (*mproc_fn)(void);
/** Any function pointer as an mproc_fn (a cast, as C allows between function pointers). */
#define MPROC_FN(f) ((mproc_fn)(f))
/** Appends a function, given as MPROC_FN(f) (format letter 'F'). */
MPROC_API int mproc_args_add_func(mproc_args_t *args, mproc_fn fn);
/** Resolves item i in this process: MPROC_ENOTARGET / MPROC_EBUILDMISMATCH when the module is
 * not loaded here or holds different code. Cast *out back to the function's own type. */
MPROC_API int mproc_args_get_func(const mproc_args_t *args, size_t i, mproc_fn *out);

/** Lists for Pool.map built in one call: n ints / doubles copied from values (NULL only for
 * n == 0), or Python's range(start, stop, step) (step != 0, else MPROC_EINVAL; an empty range
 * is an empty list). *out is released with mproc_args_free. */
MPROC_API int mproc_args_from_ints(mproc_args_t **out, const int64_t *values, size_t n);
/** The same for doubles. */
MPROC_API int mproc_args_from_doubles(mproc_args_t **out, const double *values, size_t n);
/** Python's range(start, stop, step) as a list of ints. */
MPROC_API int mproc_args_range(mproc_args_t **out, int64_t start, int64_t stop, int64_t step);

/** What Python's repr() prints for the same data: a list as [1, 'str', None, b'\\x00', 2.5]
 * (ints in decimal, floats in the shortest form that reads back exactly — 0.1, 1e+16, inf,
 * nan —, bytes as b'...' and strings as '...' with Python's quote choice and escapes; strings
 * are UTF-8, printed as they are except control characters and U+0080..U+00A0, U+00AD, which
 * are escaped as Python does; invalid UTF-8 bytes show as \\x..), objects as \<lock\>,
 * \<queue\> ...
 * Writes at most cap bytes including a NUL (buf may be NULL when cap is 0) and returns the
 * length the whole text needs, as snprintf does; MPROC_EINVAL / MPROC_EMSGSIZE (over INT_MAX). */
MPROC_API int mproc_args_repr(const mproc_args_t *args, char *buf, size_t cap);
/** The repr of item i alone (Python's repr(x)). MPROC_ERANGE past the end. */
MPROC_API int mproc_args_repr_item(const mproc_args_t *args, size_t i, char *buf, size_t cap);
/** repr(float): the shortest text that reads back as v ("0.1", "3.1415926", "1e-05"). */
MPROC_API int mproc_repr_double(double v, char *buf, size_t cap);
/** print(list): the list's repr and a newline on stdout (flushed). 0 or a negative code. */
MPROC_API int mproc_args_print(const mproc_args_t *args);

/** @} */

/** @defgroup process Process
 * Process (Python's multiprocessing.Process).
 *
 * A target is a plain function. The child finds it again by its address relative to the
 * module (executable or shared library) that holds it, checked against the code bytes there,
 * so no registration table is needed; targets must be functions of the program or of a shared
 * library, not pointers into data. Its return value becomes the exit code (0..255 on POSIX).
 * Thread safety: one thread at a time per handle (share one under your own lock); different
 * handles may be used from different threads at once. mproc_fail: in a child, from the thread
 * that runs the target.
 * @{ */
/** A child process handle. */
typedef struct mproc_process mproc_process_t;
/** A process target: runs in the child; its return value is the exit code. */
typedef int (*mproc_target_fn)(const mproc_args_t *args);

/** Exit code when the status is not knowable (the child was reaped by someone else). */
#define MPROC_EXIT_UNKNOWN (-1000)

/** args may be NULL; it is copied. The target is located at once: MPROC_ENOTARGET if it is
 * not inside a loaded module. */
MPROC_API int mproc_process_new(mproc_process_t **out, mproc_target_fn target,
                                const mproc_args_t *args);
/** Process(target=f, args=(...)) in one call: the arguments given by format letters (the
 * letters of mproc_args_build, objects and functions included). */
MPROC_API int mproc_process_newf(mproc_process_t **out, mproc_target_fn target,
                                 const char *fmt, ...);
/** Process(target=f, args=(...)).start() in one call: mproc_process_newf, then
 * mproc_process_start. On failure nothing is left behind (*out is NULL, no child runs) and the
 * code is the first call's that failed. Name, daemon flag and bound state need the two-step
 * form, since they are set between creation and start. */
MPROC_API int mproc_process_startf(mproc_process_t **out, mproc_target_fn target,
                                   const char *fmt, ...);
/** Name shown by mproc_current_process_name() in the child; default "Process-N". */
MPROC_API int mproc_process_set_name(mproc_process_t *p, const char *name);
/** The process name ("Process-N" unless set). */
MPROC_API const char *mproc_process_name(const mproc_process_t *p);
/** Daemon children are killed when the parent exits, even by SIGKILL (Linux: parent-death
 * signal; Windows: Job object). Only before start: MPROC_ESTATE after. */
MPROC_API int mproc_process_set_daemon(mproc_process_t *p, int daemon);
/** 1 if the process is a daemon, else 0. */
MPROC_API int mproc_process_daemon(const mproc_process_t *p);
/** This process's start method (before start; default: the global one). */
MPROC_API int mproc_process_set_start_method(mproc_process_t *p, mproc_start_method method);
/** fork normally refuses a multi-threaded parent (MPROC_EUNSAFE): children of a threaded
 * parent can deadlock on locks other threads held. Set 1 to accept that risk. */
MPROC_API int mproc_process_allow_fork_with_threads(mproc_process_t *p, int allow);
/** "Subclass-style" processes: state (a plain struct, no pointers) copied into the child and
 * handed to the target as mproc_args_self(). */
MPROC_API int mproc_process_bind(mproc_process_t *p, const void *self, size_t size);

/** Starts the child with its start method (docs/start-methods.md). */
MPROC_API int mproc_process_start(mproc_process_t *p);
/** 0 once the process has exited (it is then reaped), MPROC_ETIMEDOUT otherwise.
 * MPROC_ESTATE if it was never started. */
MPROC_API int mproc_process_join(mproc_process_t *p, int64_t timeout_ms);
/** 1 running, 0 not started or exited, or a negative code. Reaps as it checks. */
MPROC_API int mproc_process_is_alive(mproc_process_t *p);
/** 0 before start. */
MPROC_API int64_t mproc_process_pid(const mproc_process_t *p);
/** 0 and *code once exited: the target's return value, -N for signal N (POSIX), the process
 * exit code on Windows (-15 after terminate, -9 after kill, NTSTATUS values as they are).
 * MPROC_ERUNNING while running, MPROC_ESTATE before start. */
MPROC_API int mproc_process_exitcode(mproc_process_t *p, int *code);
/** The message a failing child handed over (mproc_fail, or the library's own explanation of a
 * bootstrap failure); for a child killed by a signal without one, what killed it, e.g.
 * "killed by signal 6 (SIGABRT, Aborted)"; NULL when there is none. Valid until the process
 * is closed. */
MPROC_API const char *mproc_process_error(mproc_process_t *p);
/** Library-side error that stopped the child before its target ran (e.g. MPROC_ENOTARGET,
 * MPROC_EBUILDMISMATCH), or 0. */
MPROC_API int mproc_process_child_error(mproc_process_t *p);
/** SIGTERM / TerminateProcess; SIGKILL / TerminateProcess. No-op after exit. */
MPROC_API int mproc_process_terminate(mproc_process_t *p);
/** SIGKILL / TerminateProcess. No-op after exit. */
MPROC_API int mproc_process_kill(mproc_process_t *p);
/** Stops a child the graceful way, then the sure way: terminate, wait up to grace_ms for it to
 * exit, kill it if it has not, and reap it. 0 once it is gone (its exit code is then readable;
 * 0 at once if it had exited already). Windows has no graceful step: terminate already ends
 * the process. grace_ms: 0 kills at once if the terminate did not end it, MPROC_FOREVER waits
 * as long as the child takes. */
MPROC_API int mproc_process_stop(mproc_process_t *p, int64_t grace_ms);
/** An OS object that becomes ready when the process exits (a pidfd or pipe fd on POSIX, usable
 * with poll; a process HANDLE on Windows). MPROC_ESTATE before start. */
MPROC_API int mproc_process_sentinel(const mproc_process_t *p, intptr_t *out);
/** Python's close(): MPROC_ESTATE (nothing done) while the process runs; otherwise releases
 * the OS objects the handle holds. The handle stays valid until mproc_process_free: name, pid,
 * daemon, error and child_error still answer, start, join, is_alive, exitcode, sentinel,
 * terminate, kill, stop and wait_any say MPROC_ECLOSED. Closing again is 0; NULL is accepted. */
MPROC_API int mproc_process_close(mproc_process_t *p);
/** Releases the handle in any state (closed or not); the last use of it. A running child is not
 * killed: the library keeps reaping it (non-daemon children are still joined at exit), so it
 * never becomes a zombie. NULL is accepted. */
MPROC_API void mproc_process_free(mproc_process_t *p);

/** Waits until at least one of the started processes has exited; *index (may be NULL) names
 * the first. MPROC_ETIMEDOUT otherwise. */
MPROC_API int mproc_process_wait_any(mproc_process_t *const *procs, size_t n,
                                     int64_t timeout_ms, size_t *index);

/** In a child: records a message for the parent (read with mproc_process_error after join)
 * and returns code, so a target can `return mproc_fail(2, "bad input %d", x);`. The message
 * is sent at once, so it survives a later crash. Max 4 KiB; longer messages are cut. */
MPROC_API int mproc_fail(int code, const char *fmt, ...) MPROC_PRINTF(2, 3);

/** For programs that would die on a Python exception anyway: MPROC_CHECK(call) evaluates to
 * call's result when it is >= 0; a negative result prints the call's text, file, line,
 * mproc_errname, mproc_strerror and mproc_last_error_message on stderr, e.g.
 * "example.c:12: mproc_process_start(p) failed: MPROC_ENOTARGET (...)", hands the same text to
 * the parent (mproc_fail) in a child, and exits with status 1 (Python's exit status after an
 * uncaught exception). Not for results a program handles (timeouts, empty queues, EOF). */
#define MPROC_CHECK(call) mproc_check((call), #call, __FILE__, __LINE__)
/** The function behind MPROC_CHECK: returns rc when rc >= 0 (and clears the calling thread's
 * last error message, so a later report never shows a stale one), else reports and exits. */
MPROC_API int mproc_check(int rc, const char *call, const char *file, int line);

/** @cond MPROC_INTERNAL */
/* Machinery of MPROC_TARGET and MPROC_TASK: (type, name) pairs spelled as parameters (P),
 * declarations (D), addresses (A) and names (N). MPROC__X re-scans, for MSVC's traditional
 * preprocessor. */
#define MPROC__X(x) x
#define MPROC__CAT(a, b) MPROC__CAT_(a, b)
#define MPROC__CAT_(a, b) a##b
#define MPROC__NARGS(...) \
  MPROC__X(MPROC__NARGS_(__VA_ARGS__, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0))
#define MPROC__NARGS_(a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, a12, n, ...) n
#define MPROC__PAIRS(kind, ...) MPROC__X(MPROC__CAT(kind, MPROC__NARGS(__VA_ARGS__))(__VA_ARGS__))
#define MPROC__P2(t, a) t a
#define MPROC__P4(t, a, ...) t a, MPROC__X(MPROC__P2(__VA_ARGS__))
#define MPROC__P6(t, a, ...) t a, MPROC__X(MPROC__P4(__VA_ARGS__))
#define MPROC__P8(t, a, ...) t a, MPROC__X(MPROC__P6(__VA_ARGS__))
#define MPROC__P10(t, a, ...) t a, MPROC__X(MPROC__P8(__VA_ARGS__))
#define MPROC__P12(t, a, ...) t a, MPROC__X(MPROC__P10(__VA_ARGS__))
#define MPROC__D2(t, a) t a;
#define MPROC__D4(t, a, ...) t a; MPROC__X(MPROC__D2(__VA_ARGS__))
#define MPROC__D6(t, a, ...) t a; MPROC__X(MPROC__D4(__VA_ARGS__))
#define MPROC__D8(t, a, ...) t a; MPROC__X(MPROC__D6(__VA_ARGS__))
#define MPROC__D10(t, a, ...) t a; MPROC__X(MPROC__D8(__VA_ARGS__))
#define MPROC__D12(t, a, ...) t a; MPROC__X(MPROC__D10(__VA_ARGS__))
#define MPROC__A2(t, a) &a
#define MPROC__A4(t, a, ...) &a, MPROC__X(MPROC__A2(__VA_ARGS__))
#define MPROC__A6(t, a, ...) &a, MPROC__X(MPROC__A4(__VA_ARGS__))
#define MPROC__A8(t, a, ...) &a, MPROC__X(MPROC__A6(__VA_ARGS__))
#define MPROC__A10(t, a, ...) &a, MPROC__X(MPROC__A8(__VA_ARGS__))
#define MPROC__A12(t, a, ...) &a, MPROC__X(MPROC__A10(__VA_ARGS__))
#define MPROC__N2(t, a) a
#define MPROC__N4(t, a, ...) a, MPROC__X(MPROC__N2(__VA_ARGS__))
#define MPROC__N6(t, a, ...) a, MPROC__X(MPROC__N4(__VA_ARGS__))
#define MPROC__N8(t, a, ...) a, MPROC__X(MPROC__N6(__VA_ARGS__))
#define MPROC__N10(t, a, ...) a, MPROC__X(MPROC__N8(__VA_ARGS__))
#define MPROC__N12(t, a, ...) a, MPROC__X(MPROC__N10(__VA_ARGS__))
#if defined(__GNUC__) || defined(__clang__)
#define MPROC__MAYBE_UNUSED __attribute__((unused))
#else
#define MPROC__MAYBE_UNUSED
#endif
/** @endcond */

/** `def name(a, b):` for a process target: defines `static int name(const mproc_args_t *)`,
 * which reads its arguments into the named, typed parameters with mproc_args_parse(args, fmt,
 * ...) under MPROC_CHECK (a list that does not match ends the child with status 1 and a
 * message naming the position and both types) and then runs the body that follows:
 *
 *     MPROC_TARGET(lock_func, "Li", mproc_lock_t *, l, int, number) {
 *       ...
 *       return 0;
 *     }
 *
 * The parameters come as (type, name) pairs, one to six, one pair per letter ('y' takes two
 * pairs, data and size; a function ('F') needs a typedef for its pointer type). A target
 * without arguments is a plain function. The body returns the exit code as any target does. */
#define MPROC_TARGET(name, fmt, ...)                                                          \
  static int name##_body_(MPROC__PAIRS(MPROC__P, __VA_ARGS__));                              \
  static int name(const mproc_args_t *mproc_args_) {                                         \
    MPROC__PAIRS(MPROC__D, __VA_ARGS__)                                                      \
    MPROC_CHECK(mproc_args_parse(mproc_args_, fmt, MPROC__PAIRS(MPROC__A, __VA_ARGS__)));    \
    return name##_body_(MPROC__PAIRS(MPROC__N, __VA_ARGS__));                                \
  }                                                                                          \
  static int name##_body_(MPROC__PAIRS(MPROC__P, __VA_ARGS__))

/** @} */

/** @defgroup connections Connections
 * Connections (Python's Pipe() and Connection).
 *
 * Messages keep their boundaries and may be up to MPROC_MSG_MAX bytes. The framing is
 * Python's: a 4-byte big-endian length, or -1 and an 8-byte length for messages of 2 GiB and
 * more, so a peer speaking multiprocessing.connection reads our byte messages and we read its.
 * Thread safety: one connection may be used by one sender thread and one receiver thread at
 * the same time; two threads sending (or two receiving) on one connection need a lock.
 * @{ */
/** One end of a connection. */
typedef struct mproc_conn mproc_conn_t;

/** Largest message a connection carries, in bytes. */
#define MPROC_MSG_MAX ((uint64_t)1 << 62)
/** "the rest of the buffer" for the size argument of mproc_conn_send_bytes. */
#define MPROC_SIZE_REST ((size_t)-1)

/** Two connected ends. duplex != 0: both ends send and receive. duplex == 0: *conn1 only
 * receives and *conn2 only sends, as in Python. */
MPROC_API int mproc_pipe(int duplex, mproc_conn_t **conn1, mproc_conn_t **conn2);
/** Sends buf[offset, offset + size) as one message (size MPROC_SIZE_REST: to the end).
 * Python's bounds rules: MPROC_ERANGE for offset > buflen or offset + size > buflen.
 * Blocks while the peer's buffer is full; MPROC_EPEERGONE when the peer is gone. */
MPROC_API int mproc_conn_send_bytes(mproc_conn_t *c, const void *buf, size_t buflen,
                                    size_t offset, size_t size);
/** Receives one message into a new buffer (*out, release with mproc_free). A message longer
 * than maxlength is MPROC_EMSGSIZE, and, as in Python, a duplex connection then stops
 * receiving (readable() 0, receives MPROC_EDIRECTION, sends still work) while a receive-only
 * one is closed (MPROC_ECLOSED). MPROC_EEOF
 * when the peer closed and nothing is left; MPROC_EPEERGONE for a message cut short;
 * MPROC_ETIMEDOUT when nothing arrived in time (nothing is consumed). */
MPROC_API int mproc_conn_recv_bytes(mproc_conn_t *c, size_t maxlength, int64_t timeout_ms,
                                    void **out, size_t *size);
/** Receives one message into buf + offset. If it does not fit, MPROC_ETOOSMALL with *size set
 * to the message length: the message stays queued for the next receive (Python's
 * BufferTooShort, without losing anything). */
MPROC_API int mproc_conn_recv_bytes_into(mproc_conn_t *c, void *buf, size_t buflen,
                                         size_t offset, int64_t timeout_ms, size_t *size);
/** 1 if a message (or EOF) is ready to receive, 0 if not by the timeout, or an error. */
MPROC_API int mproc_conn_poll(mproc_conn_t *c, int64_t timeout_ms);
/** Typed values (the same ones process arguments carry). Not a Python wire format. */
MPROC_API int mproc_conn_send(mproc_conn_t *c, const mproc_args_t *values);
/** Receives typed values sent with mproc_conn_send (release with mproc_args_free). */
MPROC_API int mproc_conn_recv(mproc_conn_t *c, int64_t timeout_ms, mproc_args_t **values);
/** conn.send((...)) in one call: the message is the list the format letters build. */
MPROC_API int mproc_conn_sendf(mproc_conn_t *c, const char *fmt, ...);
/** What mproc_conn_recvf and mproc_queue_getf return (instead of 0) for a message that is just
 * None: the sentinel a producer sends to say "no more". Positive, so MPROC_CHECK passes it
 * through. */
#define MPROC_GOT_NONE 1
/** x = conn.recv() in one call: receives one message (as mproc_conn_recv) and reads it into
 * variables with mproc_args_parse's letters i l d n (values copied out; the message is freed
 * before the call returns, so s y and objects are MPROC_EINVAL: use mproc_conn_recv for
 * those). MPROC_EEOF, MPROC_ETIMEDOUT and the rest as mproc_conn_recv; MPROC_ETYPE when the
 * message does not match, e.g. mproc_conn_recvf(c, MPROC_FOREVER, "d", &t). A message that
 * is just None, the usual end of a stream, returns MPROC_GOT_NONE (positive; the variables
 * are untouched) unless the format starts with 'n', so `if item is None: break` reads
 * `while (MPROC_CHECK(mproc_conn_recvf(c, MPROC_FOREVER, "i", &x)) == 0)`. */
MPROC_API int mproc_conn_recvf(mproc_conn_t *c, int64_t timeout_ms, const char *fmt, ...);
/** The fd (POSIX) or HANDLE (Windows) as an integer; -1 once closed. */
MPROC_API intptr_t mproc_conn_fileno(const mproc_conn_t *c);
/** 1 if this end can receive, else 0. */
MPROC_API int mproc_conn_readable(const mproc_conn_t *c);
/** 1 if this end can send, else 0. */
MPROC_API int mproc_conn_writable(const mproc_conn_t *c);
/** Python's conn.close(): closes the channel (the peer sees EOF). The handle stays valid until
 * mproc_conn_free: send and recv say MPROC_ECLOSED, fileno is -1, closing again is 0. NULL is
 * accepted. */
MPROC_API int mproc_conn_close(mproc_conn_t *c);
/** Closes the connection if it is open and releases the handle; the last use of it. NULL is
 * accepted. A connection a child got from its argument list (mproc_args_get_conn) belongs to
 * the list: freeing it only closes it, and the list frees it after the target returns. */
MPROC_API void mproc_conn_free(mproc_conn_t *c);
/** Releases buffers the library returned (mproc_conn_recv_bytes). */
MPROC_API void mproc_free(void *p);

/** A connection as a process argument: the child gets its own connection to the same channel
 * (close yours when the child alone should hold that end, so EOF can be seen). The connection
 * must stay open until mproc_process_start has returned. */
MPROC_API int mproc_args_add_conn(mproc_args_t *args, mproc_conn_t *c);
/** In the child: the connection, owned by args (valid while the target runs, also after the
 * target closed it with mproc_conn_close). */
MPROC_API int mproc_args_get_conn(const mproc_args_t *args, size_t i, mproc_conn_t **out);

/** @} */

/** @defgroup listener_client Listener / Client
 * Listener / Client (Python's multiprocessing.connection), wire-compatible with Python for
 * byte messages, including the authkey handshake (HMAC-SHA256 "{sha256}", and the legacy
 * HMAC-MD5 form older Pythons send).
 *
 * Addresses: "unix:/path/to/socket", "unix:@name" (Linux abstract namespace),
 * "tcp:127.0.0.1:5000", "tcp:[::1]:5000" (port 0: any free port, see mproc_listener_address),
 * "pipe:\\.\pipe\name" (Windows named pipe). authkey NULL: no authentication; a non-NULL
 * key with keylen 0 is an empty key that still runs the handshake (Python 3.13's b"").
 * Thread safety: several threads may call mproc_listener_accept on one listener at once, and
 * mproc_listener_address from any thread; mproc_listener_close must not overlap any other call
 * on that listener. mproc_client: any thread, concurrently.
 * @{ */
/** A listening socket or pipe that accepts connections. */
typedef struct mproc_listener mproc_listener_t;

/** Listens at address (syntax above); authkey NULL: no authentication. */
MPROC_API int mproc_listener_new(mproc_listener_t **out, const char *address, const void *authkey,
                                 size_t keylen, int backlog);
/** Returns one client whose handshake is complete. Handshakes run concurrently, each with its
 * own 5 s limit and at most 64 in progress (past that the oldest is dropped), so silent
 * clients cannot keep others out. MPROC_EAUTH when clients failed or were dropped in this call
 * and none completed (the listener stays usable: call again). Thread safety: several threads
 * may accept on one listener at once (each connection goes to exactly one of them, and each
 * caller's timeout holds); mproc_listener_close must not overlap them. */
MPROC_API int mproc_listener_accept(mproc_listener_t *l, int64_t timeout_ms, mproc_conn_t **out);
/** The bound address in the same syntax (with the real port for port 0). */
MPROC_API const char *mproc_listener_address(const mproc_listener_t *l);
/** Python's Listener.close(): stops listening (connections already accepted stay open). The
 * handle stays valid until mproc_listener_free: accept says MPROC_ECLOSED, address still
 * answers, closing again is 0. NULL is accepted. */
MPROC_API int mproc_listener_close(mproc_listener_t *l);
/** Closes the listener if it is open and releases the handle; the last use of it. NULL is
 * accepted. */
MPROC_API void mproc_listener_free(mproc_listener_t *l);
/** Connects and answers the handshake; MPROC_EAUTH on a wrong key. */
MPROC_API int mproc_client(const char *address, const void *authkey, size_t keylen,
                           int64_t timeout_ms, mproc_conn_t **out);

/** @} */

/** @defgroup synchronization Synchronization
 * Synchronization (Python's multiprocessing.synchronize): Lock, RLock, Semaphore,
 * BoundedSemaphore, Condition, Event, Barrier.
 *
 * Every object lives in anonymous shared memory (plus, on Windows, unnamed kernel objects), so
 * nothing outlives the last process holding it, SIGKILL included. Pass one to a child with
 * mproc_args_add_<kind>; the child's copy (mproc_args_get_<kind>) is the same object and is
 * owned by the child's argument list. The creating process frees the object with
 * mproc_<kind>_free once no child uses it any more (as in Python, the creator owns the memory).
 *
 * Thread safety: every call may be made from any thread at the same time as any other, except
 * _free, which must be the last use in the calling process.
 *
 * Timeouts: MPROC_FOREVER blocks, 0 only tries (Python's block=False), > 0 waits at most that
 * many milliseconds. "Not acquired in time" is MPROC_ETIMEDOUT.
 *
 * A process that dies holding a Lock or RLock (a Condition's lock included) does not deadlock
 * the others: the next acquirer gets the lock together with MPROC_EOWNERDEAD. It should repair
 * what the lock protects and call mproc_lock_consistent(); releasing the lock without doing so
 * makes it MPROC_ENOTRECOVERABLE for every later acquirer (POSIX robust-mutex semantics, also
 * on Windows).
 * @{ */
typedef struct mproc_lock mproc_lock_t;       /**< Lock and RLock */
typedef struct mproc_semaphore mproc_semaphore_t; /**< Semaphore and BoundedSemaphore */
/** A Condition (with its lock). */
typedef struct mproc_condition mproc_condition_t;
/** An Event. */
typedef struct mproc_event mproc_event_t;
/** A Barrier. */
typedef struct mproc_barrier mproc_barrier_t;

/** A non-recursive lock (Python's Lock). Unlike Python's, only the holder may release it: the
 * owner is what lets a dead holder be detected (use a Semaphore(1) to hand a permit between
 * threads). */
MPROC_API int mproc_lock_new(mproc_lock_t **out);
/** A recursive lock (Python's RLock): the holding thread may acquire it again; it is free once
 * released as many times as acquired. */
MPROC_API int mproc_rlock_new(mproc_lock_t **out);
/** 0: acquired. MPROC_ETIMEDOUT: not acquired in time. MPROC_EOWNERDEAD: acquired; the previous
 * holder died holding it. MPROC_ENOTRECOVERABLE: not acquired; the lock is unusable.
 * MPROC_EDEADLK: a Lock (not RLock) already held by the calling thread, with a timeout other
 * than 0 (with 0 it is MPROC_ETIMEDOUT, as Python's acquire(False) returns False). */
MPROC_API int mproc_lock_acquire(mproc_lock_t *lock, int64_t timeout_ms);
/** MPROC_EOVERRELEASE when nobody holds it; MPROC_ENOTOWNER when another thread does. The state
 * is unchanged on error. */
MPROC_API int mproc_lock_release(mproc_lock_t *lock);
/** After MPROC_EOWNERDEAD, by the holder: the protected state is repaired. */
MPROC_API int mproc_lock_consistent(mproc_lock_t *lock);
/** 1 if the calling thread holds the lock, else 0 (negative for a bad handle). */
MPROC_API int mproc_lock_is_mine(const mproc_lock_t *lock);
/** 1 for an RLock, 0 for a Lock. */
MPROC_API int mproc_lock_is_recursive(const mproc_lock_t *lock);
/** Frees the lock in this process (the creator, once no child uses it). */
MPROC_API void mproc_lock_free(mproc_lock_t *lock);

/** "with lock:" for C. rc (an int the caller declares) receives the acquire result; the body
 * runs only when the lock was acquired (0 or MPROC_EOWNERDEAD) and the lock is released after
 * it. Leaving the body by break, return or goto skips the release. */
#define MPROC_WITH_LOCK(lock, rc)                                                             \
  for (int mproc_with_once_ = ((rc) = mproc_lock_acquire((lock), MPROC_FOREVER),              \
                               (rc) == 0 || (rc) == MPROC_EOWNERDEAD);                       \
       mproc_with_once_; mproc_with_once_ = 0, (void)mproc_lock_release(lock))

/** Largest semaphore value. */
#define MPROC_SEMAPHORE_MAX 0x7fffffff
/** A Semaphore with an initial value. */
MPROC_API int mproc_semaphore_new(mproc_semaphore_t **out, unsigned value);
/** A BoundedSemaphore: releasing it above its initial value is MPROC_EOVERRELEASE. */
MPROC_API int mproc_bounded_semaphore_new(mproc_semaphore_t **out, unsigned value);
/** 0: one permit taken. MPROC_ETIMEDOUT: none in time. */
MPROC_API int mproc_semaphore_acquire(mproc_semaphore_t *s, int64_t timeout_ms);
/** Any thread or process may release. MPROC_EOVERRELEASE above a BoundedSemaphore's initial
 * value; MPROC_ERANGE above MPROC_SEMAPHORE_MAX. */
MPROC_API int mproc_semaphore_release(mproc_semaphore_t *s);
/** The current value (a snapshot), on every platform. */
MPROC_API int mproc_semaphore_get_value(const mproc_semaphore_t *s, int *out);
/** Frees the semaphore in this process. */
MPROC_API void mproc_semaphore_free(mproc_semaphore_t *s);

/** A Condition over lock (a Lock or RLock; NULL creates an RLock, as Python does). The
 * condition does not take ownership of a lock passed in: free the condition first. */
MPROC_API int mproc_condition_new(mproc_condition_t **out, mproc_lock_t *lock);
/** The condition's lock (for mproc_lock_acquire / release / consistent). */
MPROC_API mproc_lock_t *mproc_condition_lock(const mproc_condition_t *c);
/** Acquires the condition's lock (as mproc_lock_acquire). */
MPROC_API int mproc_condition_acquire(mproc_condition_t *c, int64_t timeout_ms);
/** Releases the condition's lock. */
MPROC_API int mproc_condition_release(mproc_condition_t *c);
/** Releases the lock (every level of an RLock), waits for a notification, reacquires it.
 * 0: notified. MPROC_ETIMEDOUT: not notified in time (the lock is held again either way).
 * MPROC_ENOTOWNER: the calling thread does not hold the lock. MPROC_EOWNERDEAD: reacquiring
 * found the lock's holder dead (the lock is held; see mproc_lock_consistent). */
MPROC_API int mproc_condition_wait(mproc_condition_t *c, int64_t timeout_ms);
/** Waits until pred(ctx) returns non-zero, checking it under the lock before each wait.
 * 0: the predicate holds. MPROC_ETIMEDOUT: it still does not after timeout_ms. */
MPROC_API int mproc_condition_wait_for(mproc_condition_t *c, int (*pred)(void *ctx), void *ctx,
                                       int64_t timeout_ms);
/** Wakes up to n waiters (exactly min(n, waiting)). The caller must hold the lock
 * (MPROC_ENOTOWNER otherwise). */
MPROC_API int mproc_condition_notify(mproc_condition_t *c, size_t n);
/** notify_all: as mproc_condition_notify for every waiter. */
MPROC_API int mproc_condition_notify_all(mproc_condition_t *c);
/** Frees the condition in this process. */
MPROC_API void mproc_condition_free(mproc_condition_t *c);

/** An Event, initially clear. */
MPROC_API int mproc_event_new(mproc_event_t **out);
/** Sets the flag and wakes every waiter. */
MPROC_API int mproc_event_set(mproc_event_t *e);
/** Clears the flag. */
MPROC_API int mproc_event_clear(mproc_event_t *e);
/** 1 if set, 0 if not (negative for a bad handle). */
MPROC_API int mproc_event_is_set(const mproc_event_t *e);
/** 0 once the flag is set; MPROC_ETIMEDOUT if it is still clear after timeout_ms. */
MPROC_API int mproc_event_wait(mproc_event_t *e, int64_t timeout_ms);
/** Frees the event in this process. */
MPROC_API void mproc_event_free(mproc_event_t *e);

/** A Barrier's action runs once per cycle, in the last process/thread to arrive, before any
 * waiter is released. It is found in every process the way process targets are (a function of
 * the program or of a shared library). Non-zero breaks the barrier. */
typedef int (*mproc_barrier_action_fn)(void);
/** For mproc_barrier_wait: use the timeout given at creation. */
#define MPROC_BARRIER_DEFAULT_TIMEOUT ((int64_t)-2)
/** parties >= 1; action may be NULL; timeout_ms is the default for wait (MPROC_FOREVER: none). */
MPROC_API int mproc_barrier_new(mproc_barrier_t **out, unsigned parties,
                                mproc_barrier_action_fn action, int64_t timeout_ms);
/** Waits until all parties have called it. 0 with *index (may be NULL) = the arrival order,
 * 0 .. parties-1. MPROC_EBROKEN when the barrier is or becomes broken: a timeout (the waiter
 * that timed out breaks it for everyone, as Python does), abort, reset while waiting, or a
 * failing action. A party that died leaves the others waiting only until their timeout. */
MPROC_API int mproc_barrier_wait(mproc_barrier_t *b, int64_t timeout_ms, unsigned *index);
/** Back to the initial state; current waiters get MPROC_EBROKEN. */
MPROC_API int mproc_barrier_reset(mproc_barrier_t *b);
/** Puts the barrier in the broken state. */
MPROC_API int mproc_barrier_abort(mproc_barrier_t *b);
/** Parties the barrier was created for. */
MPROC_API unsigned mproc_barrier_parties(const mproc_barrier_t *b);
/** Parties waiting now. */
MPROC_API unsigned mproc_barrier_n_waiting(const mproc_barrier_t *b);
/** 1 if broken, 0 if not (negative for a bad handle). */
MPROC_API int mproc_barrier_broken(const mproc_barrier_t *b);
/** Frees the barrier in this process. */
MPROC_API void mproc_barrier_free(mproc_barrier_t *b);

/** Synchronization objects as process arguments. The object must not be freed before
 * mproc_process_start has returned; the child's copy is owned by its argument list. */
MPROC_API int mproc_args_add_lock(mproc_args_t *args, mproc_lock_t *lock);
/** In the child: item i as a Lock/RLock (owned by the list). */
MPROC_API int mproc_args_get_lock(const mproc_args_t *args, size_t i, mproc_lock_t **out);
/** Appends a Semaphore for a child. */
MPROC_API int mproc_args_add_semaphore(mproc_args_t *args, mproc_semaphore_t *s);
/** In the child: item i as a Semaphore (owned by the list). */
MPROC_API int mproc_args_get_semaphore(const mproc_args_t *args, size_t i,
                                       mproc_semaphore_t **out);
/** Appends a Condition for a child. */
MPROC_API int mproc_args_add_condition(mproc_args_t *args, mproc_condition_t *c);
/** In the child: item i as a Condition (owned by the list). */
MPROC_API int mproc_args_get_condition(const mproc_args_t *args, size_t i,
                                       mproc_condition_t **out);
/** Appends an Event for a child. */
MPROC_API int mproc_args_add_event(mproc_args_t *args, mproc_event_t *e);
/** In the child: item i as an Event (owned by the list). */
MPROC_API int mproc_args_get_event(const mproc_args_t *args, size_t i, mproc_event_t **out);
/** Appends a Barrier for a child. */
MPROC_API int mproc_args_add_barrier(mproc_args_t *args, mproc_barrier_t *b);
/** In the child: item i as a Barrier (owned by the list). */
MPROC_API int mproc_args_get_barrier(const mproc_args_t *args, size_t i, mproc_barrier_t **out);

/** @} */

/** @defgroup shared_state Shared state
 * Shared state (Python's Value, Array, RawValue, RawArray and shared_memory.SharedMemory).
 *
 * Value and Array live in the same anonymous shared heap as the synchronization objects: the
 * kernel frees them when the last process holding them exits (SIGKILL included), and ten
 * thousand small values share a few mappings and file descriptors. Pass them to children with
 * mproc_args_add_value / mproc_args_add_array: the child sees the same memory.
 *
 * Element types are Python's typecodes: 'c' char, '?' bool, 'b' int8, 'B' uint8, 'h' int16,
 * 'H' uint16, 'i' int32, 'I' uint32, 'l' long, 'L' unsigned long ('l'/'L' are C long: 64-bit
 * on Linux, 32-bit on Windows, as in Python), 'q' int64, 'Q' uint64, 'f' float, 'd' double;
 * or a record (any struct of a given size and alignment, copied as bytes; no pointers).
 *
 * lock: MPROC_LOCK_NEW gives the object a new RLock (Python's default lock=True),
 * MPROC_LOCK_NONE gives none (RawValue / RawArray), any other value is a Lock or RLock of
 * yours (it must outlive the object). The get/set helpers take the lock around the copy;
 * direct access through the pointer does not.
 *
 * Thread safety: like the sync objects: any thread, concurrently; _free last.
 * @{ */
/** A shared Value. */
typedef struct mproc_value mproc_value_t;
/** A shared Array. */
typedef struct mproc_array mproc_array_t;

/** lock argument: give the object a new RLock of its own. */
#define MPROC_LOCK_NEW ((mproc_lock_t *)0)
/** lock argument: no lock (RawValue / RawArray). */
#define MPROC_LOCK_NONE ((mproc_lock_t *)1)

/** init: one element to copy in, or NULL for zero. MPROC_EINVAL for an unknown typecode. */
MPROC_API int mproc_value_new(mproc_value_t **out, char typecode, const void *init,
                              mproc_lock_t *lock);
/** A record value: size bytes aligned to align (a power of two up to 64). */
MPROC_API int mproc_value_new_record(mproc_value_t **out, size_t size, size_t align,
                                     const void *init, mproc_lock_t *lock);
/** RawValue(typecode, init): mproc_value_new(out, typecode, init, MPROC_LOCK_NONE). */
MPROC_API int mproc_raw_value_new(mproc_value_t **out, char typecode, const void *init);
/** The shared memory itself (aligned for the type). */
MPROC_API void *mproc_value_ptr(const mproc_value_t *v);
/** The lock, or NULL for a raw value. */
MPROC_API mproc_lock_t *mproc_value_get_lock(const mproc_value_t *v);
/** Copies the value out / in under its lock (if any). */
MPROC_API int mproc_value_get(const mproc_value_t *v, void *out);
/** Copies one element in under the value's lock (if any). */
MPROC_API int mproc_value_set(mproc_value_t *v, const void *in);
/** The typecode (0 for a record) and element size. */
MPROC_API char mproc_value_typecode(const mproc_value_t *v);
/** Size of the element in bytes. */
MPROC_API size_t mproc_value_size(const mproc_value_t *v);
/** Frees the value in this process. */
MPROC_API void mproc_value_free(mproc_value_t *v);

/** Array(typecode, length or initial data): init NULL zero-fills, else holds length elements. */
MPROC_API int mproc_array_new(mproc_array_t **out, char typecode, size_t length,
                              const void *init, mproc_lock_t *lock);
/** An array of length records of size bytes aligned to align. */
MPROC_API int mproc_array_new_record(mproc_array_t **out, size_t size, size_t align,
                                     size_t length, const void *init, mproc_lock_t *lock);
/** RawArray: mproc_array_new with MPROC_LOCK_NONE. */
MPROC_API int mproc_raw_array_new(mproc_array_t **out, char typecode, size_t length,
                                  const void *init);
/** The shared elements themselves. */
MPROC_API void *mproc_array_ptr(const mproc_array_t *a);
/** Number of elements. */
MPROC_API size_t mproc_array_length(const mproc_array_t *a);
/** Size of one element in bytes. */
MPROC_API size_t mproc_array_elem_size(const mproc_array_t *a);
/** The typecode (0 for records). */
MPROC_API char mproc_array_typecode(const mproc_array_t *a);
/** The lock, or NULL for a raw array. */
MPROC_API mproc_lock_t *mproc_array_get_lock(const mproc_array_t *a);
/** Bounds-checked element copies under the lock: MPROC_ERANGE for i >= length. */
MPROC_API int mproc_array_get(const mproc_array_t *a, size_t i, void *out);
/** Copies element i in under the lock: MPROC_ERANGE for i >= length. */
MPROC_API int mproc_array_set(mproc_array_t *a, size_t i, const void *in);
/** Elements [start, start + n) as one copy under the lock (Python's slices). */
MPROC_API int mproc_array_get_slice(const mproc_array_t *a, size_t start, size_t n, void *out);
/** Copies elements [start, start + n) in as one copy under the lock. */
MPROC_API int mproc_array_set_slice(mproc_array_t *a, size_t start, size_t n, const void *in);
/** Frees the array in this process. */
MPROC_API void mproc_array_free(mproc_array_t *a);

/** Atomic operations on integer Values and Array elements (typecodes c ? b B h H i I l L q Q),
 * lock-free, no lock taken: sequentially consistent, as C11's default. Values cross as
 * int64_t (unsigned types: their bits; narrower types: truncated on store, sign- or
 * zero-extended on load). MPROC_ETYPE for float, double and records. add stores the old value
 * in *old (may be NULL); cas compares with *expected, stores desired if equal and returns 1,
 * else loads the current value into *expected and returns 0. */
MPROC_API int mproc_value_load(const mproc_value_t *v, int64_t *out);
/** Atomic store (see above). */
MPROC_API int mproc_value_store(mproc_value_t *v, int64_t value);
/** Atomic add; *old gets the previous value (may be NULL). */
MPROC_API int mproc_value_add(mproc_value_t *v, int64_t delta, int64_t *old);
/** Atomic compare-and-swap (see above). */
MPROC_API int mproc_value_cas(mproc_value_t *v, int64_t *expected, int64_t desired);
/** Atomic load of element i. */
MPROC_API int mproc_array_load(const mproc_array_t *a, size_t i, int64_t *out);
/** Atomic store to element i. */
MPROC_API int mproc_array_store(mproc_array_t *a, size_t i, int64_t value);
/** Atomic add to element i; *old gets the previous value (may be NULL). */
MPROC_API int mproc_array_add(mproc_array_t *a, size_t i, int64_t delta, int64_t *old);
/** Atomic compare-and-swap of element i. */
MPROC_API int mproc_array_cas(mproc_array_t *a, size_t i, int64_t *expected, int64_t desired);

/** Typed copies under the object's lock (if it has one), checked against the typecode: the
 * _int forms for the integer typecodes (c ? b B h H i I l L q Q), the _double forms for f and
 * d; any other pairing is MPROC_ETYPE with a message naming the typecode. Storing an int the
 * element cannot hold (300 into 'b', -1 into 'I', 2 into '?') is MPROC_ERANGE and stores
 * nothing (Python's ctypes would wrap it silently); reading a 'Q'/'L' element above INT64_MAX is
 * MPROC_ERANGE. Array forms: MPROC_ERANGE for i >= length. */
MPROC_API int mproc_value_get_int(const mproc_value_t *v, int64_t *out);
/** Stores an int in the Value (typed, checked; see mproc_value_get_int). */
MPROC_API int mproc_value_set_int(mproc_value_t *v, int64_t value);
/** The Value as a double (typecodes f and d). */
MPROC_API int mproc_value_get_double(const mproc_value_t *v, double *out);
/** Stores a double in the Value (typecodes f and d). */
MPROC_API int mproc_value_set_double(mproc_value_t *v, double value);
/** `v.value += delta` under the Value's own lock (with get_lock(), in Python's terms): one
 * read-modify-write no other locked access can interleave with; *result (may be NULL) is the
 * new value. A raw value (MPROC_LOCK_NONE) has no lock: the update is then not atomic, as in
 * Python. MPROC_ERANGE (nothing stored) when the sum does not fit the type. */
MPROC_API int mproc_value_add_int(mproc_value_t *v, int64_t delta, int64_t *result);
/** `v.value += delta` for f and d Values (as mproc_value_add_int). */
MPROC_API int mproc_value_add_double(mproc_value_t *v, double delta, double *result);
/** Element i as an int (as mproc_value_get_int). */
MPROC_API int mproc_array_get_int(const mproc_array_t *a, size_t i, int64_t *out);
/** Stores an int in element i (as mproc_value_set_int). */
MPROC_API int mproc_array_set_int(mproc_array_t *a, size_t i, int64_t value);
/** Element i as a double (typecodes f and d). */
MPROC_API int mproc_array_get_double(const mproc_array_t *a, size_t i, double *out);
/** Stores a double in element i (typecodes f and d). */
MPROC_API int mproc_array_set_double(mproc_array_t *a, size_t i, double value);
/** `a[i] += delta` under the Array's lock (as mproc_value_add_int). */
MPROC_API int mproc_array_add_int(mproc_array_t *a, size_t i, int64_t delta, int64_t *result);
/** `a[i] += delta` for f and d Arrays (as mproc_value_add_double). */
MPROC_API int mproc_array_add_double(mproc_array_t *a, size_t i, double delta, double *result);
/** repr(v.value) and repr(a[:]) as Python prints them: 3.1415926, True, b'x', [0, -1, -2]
 * ('c' arrays as one bytes object, as Python's slice gives; records as \<record of N bytes\>).
 * snprintf's contract, as mproc_args_repr. The copy is taken under the lock. */
MPROC_API int mproc_value_repr(const mproc_value_t *v, char *buf, size_t cap);
/** repr(a[:]) (as mproc_value_repr). */
MPROC_API int mproc_array_repr(const mproc_array_t *a, char *buf, size_t cap);
/** print(v.value) / print(a[:]): the repr and a newline on stdout (flushed). */
MPROC_API int mproc_value_print(const mproc_value_t *v);
/** print(a[:]). */
MPROC_API int mproc_array_print(const mproc_array_t *a);

/** Appends a shared Value for a child (the child sees the same memory). */
MPROC_API int mproc_args_add_value(mproc_args_t *args, mproc_value_t *v);
/** In the child: item i as a Value (owned by the list). */
MPROC_API int mproc_args_get_value(const mproc_args_t *args, size_t i, mproc_value_t **out);
/** Appends a shared Array for a child (the child sees the same memory). */
MPROC_API int mproc_args_add_array(mproc_args_t *args, mproc_array_t *a);
/** In the child: item i as an Array (owned by the list). */
MPROC_API int mproc_args_get_array(const mproc_args_t *args, size_t i, mproc_array_t **out);

/** Named shared memory (Python's shared_memory.SharedMemory): a block any process can open by
 * name, including processes this one did not start.
 *
 * Names: 1..MPROC_SHM_NAME_MAX characters of A-Z a-z 0-9 . _ - (an optional leading '/' is
 * ignored); anything else is MPROC_EINVAL. POSIX: the object is /dev/shm/\<name\>, mode 0600
 * (only this user can open it); Python's SharedMemory(name) opens the same object. Windows: a
 * pagefile-backed section named \<name\> in the session's namespace.
 *
 * Lifetime: POSIX: the name exists until someone unlinks it, even after every process is gone
 * (like a file); the memory lives until the name is unlinked and the last mapping closed.
 * A program that crashed before unlinking leaves the name behind: mproc_shared_memory_unlink_name
 * removes it. Windows: the name and memory disappear when the last handle is closed, so
 * unlink has nothing to do and returns 0. */
typedef struct mproc_shared_memory mproc_shared_memory_t;
/** Longest name of a named shared memory block, in characters. */
#define MPROC_SHM_NAME_MAX 200
/** name NULL picks a fresh random name (read it back with mproc_shared_memory_name).
 * MPROC_EEXIST if the name is taken; MPROC_EINVAL for size 0 (as Python); MPROC_ENOSPC when
 * the memory cannot be reserved (never a SIGBUS later). */
MPROC_API int mproc_shared_memory_create(mproc_shared_memory_t **out, const char *name,
                                         size_t size);
/** Opens an existing block by name; its size is read from the object. MPROC_ENOENT if missing. */
MPROC_API int mproc_shared_memory_attach(mproc_shared_memory_t **out, const char *name);
/** The mapped block; NULL after mproc_shared_memory_close. */
MPROC_API void *mproc_shared_memory_buf(const mproc_shared_memory_t *s);
/** Size of the block in bytes. */
MPROC_API size_t mproc_shared_memory_size(const mproc_shared_memory_t *s);
/** The block's name. */
MPROC_API const char *mproc_shared_memory_name(const mproc_shared_memory_t *s);
/** Python's SharedMemory.close(): unmaps the block in this process (it stays for others). The
 * handle stays valid until mproc_shared_memory_free: buf is NULL, size and name still answer,
 * unlink still works, closing again is 0. NULL is accepted. */
MPROC_API int mproc_shared_memory_close(mproc_shared_memory_t *s);
/** Closes the handle if it is open and releases it; the last use of it. NULL is accepted. */
MPROC_API void mproc_shared_memory_free(mproc_shared_memory_t *s);
/** Removes the name (POSIX): processes that have it open keep their memory. */
MPROC_API int mproc_shared_memory_unlink(mproc_shared_memory_t *s);
/** Removes a name left behind, e.g. by a program that crashed. MPROC_ENOENT if there is none. */
MPROC_API int mproc_shared_memory_unlink_name(const char *name);

/** Python's shared_memory.ShareableList: a fixed-length list of int (64-bit), float, bool,
 * str, bytes and None values in a named shared memory block, laid out exactly as Python
 * 3.8-3.13 lay it out, so a list made here opens in Python with ShareableList(name=...) and
 * the other way round. Items are read into and written from mproc_args_t values. As in Python
 * a str or bytes item keeps the slot it was created with (8 * (len / 8 + 1) bytes; a longer
 * value is MPROC_EMSGSIZE), trailing NUL bytes of a str or bytes item are not kept, and there
 * is no lock: concurrent writers of one item race. The block may be written by any process, so
 * every access checks what it finds (MPROC_EPROTO, with a message, for a block that does not
 * hold a valid list). Thread safety: as the block itself (reads and writes of different items
 * from different threads are fine). */
typedef struct mproc_shareable_list mproc_shareable_list_t;
/** ShareableList(sequence, name=name): a new block holding the items of items (NULL: an empty
 * list). name NULL picks a fresh name. MPROC_ETYPE for items of other kinds (the message names
 * the position), MPROC_ERANGE for ints beyond 64 bits, MPROC_EINVAL for a str that is not
 * UTF-8; the block is then not created. Errors of mproc_shared_memory_create otherwise. */
MPROC_API int mproc_shareable_list_new(mproc_shareable_list_t **out, const mproc_args_t *items,
                                       const char *name);
/** ShareableList(name=name): opens an existing list. MPROC_ENOENT if there is no such block,
 * MPROC_EPROTO if the block does not hold a ShareableList. */
MPROC_API int mproc_shareable_list_attach(mproc_shareable_list_t **out, const char *name);
/** len(sl); 0 for NULL. */
MPROC_API size_t mproc_shareable_list_len(const mproc_shareable_list_t *l);
/** sl[i] appended to out (i \< 0 counts from the end). MPROC_ERANGE outside the list,
 * MPROC_ECLOSED after the block was closed. */
MPROC_API int mproc_shareable_list_get(const mproc_shareable_list_t *l, int64_t i,
                                       mproc_args_t *out);
/** sl[i] = item j of v. A str or bytes longer than the item's slot is MPROC_EMSGSIZE (Python's
 * ValueError); kinds as mproc_shareable_list_new. */
MPROC_API int mproc_shareable_list_set(mproc_shareable_list_t *l, int64_t i,
                                       const mproc_args_t *v, size_t j);
/** list(sl): every item, as a new list (release with mproc_args_free). */
MPROC_API int mproc_shareable_list_items(const mproc_shareable_list_t *l, mproc_args_t **out);
/** sl.count(value) and sl.index(value) at once, for item j of v, with Python's equality
 * (1 == 1.0 == True): *count the number of equal items, *first the first one's position or -1
 * (Python's ValueError). Either pointer may be NULL. */
MPROC_API int mproc_shareable_list_index(const mproc_shareable_list_t *l, const mproc_args_t *v,
                                         size_t j, size_t *count, int64_t *first);
/** sl.format, e.g. "q8sd", with snprintf's contract (the length it needs, excluding the NUL). */
MPROC_API int mproc_shareable_list_format(const mproc_shareable_list_t *l, char *buf, size_t cap);
/** repr(sl), e.g. "ShareableList([1, 'a', None], name='psm_x')", with snprintf's contract. */
MPROC_API int mproc_shareable_list_repr(const mproc_shareable_list_t *l, char *buf, size_t cap);
/** sl.shm: the block (owned by the list), for close and unlink. */
MPROC_API mproc_shared_memory_t *mproc_shareable_list_shm(const mproc_shareable_list_t *l);
/** The block's name (sl.shm.name). */
MPROC_API const char *mproc_shareable_list_name(const mproc_shareable_list_t *l);
/** Closes the block in this process and releases the handle (the name stays: unlink it with
 * mproc_shared_memory_unlink(mproc_shareable_list_shm(l)) first where it should go). NULL is
 * accepted. */
MPROC_API void mproc_shareable_list_free(mproc_shareable_list_t *l);

/** @} */

/** @defgroup queues Queues
 * Queues (Python's multiprocessing Queue, SimpleQueue, JoinableQueue).
 *
 * A queue is a ring buffer in anonymous shared memory: put copies the item in, get copies it
 * out, and the kernel is entered only to sleep when the queue is empty or full (and to wake a
 * sleeper). There is no feeder thread on the normal path, so an item is in the queue when put
 * returns, and a process that exits right after put has delivered it. Items larger than the
 * ring are streamed through it in chunks. docs/queue.md describes the design.
 *
 * Items are byte strings of any size (0 bytes included) or lists of typed values (the ones
 * process arguments carry, without connections or objects). A producer killed in the middle of
 * a put leaves no partial item visible; a consumer killed in the middle of a get leaves the
 * queue usable for the others.
 *
 * maxsize 0 means unbounded, as in Python: put never waits for room. When the ring is full,
 * or the item is bigger than half of it, the item goes into shared segments the queue owns
 * (named, so that they outlive a killed producer; see docs/queue.md) and is in the queue when
 * put returns. Windows, where a named segment dies with its last handle: the item is kept in
 * this process and a background thread moves it into the ring as room appears (Python's feeder
 * thread, only for overflow); at exit the process waits for that to finish
 * (mproc_queue_join_thread) unless mproc_queue_cancel_join_thread was called.
 *
 * Thread safety: every call may be made from any thread at the same time as any other, except
 * _free, which must be the last use in the calling process.
 * @{ */
/** A Queue, SimpleQueue or JoinableQueue. */
typedef struct mproc_queue mproc_queue_t;

/** Default size of the shared ring. */
#define MPROC_QUEUE_BUFFER_DEFAULT ((size_t)1 << 20)

/** Queue(maxsize). */
MPROC_API int mproc_queue_new(mproc_queue_t **out, size_t maxsize);
/** The same with a ring of buffer_bytes (4 KiB .. 1 GiB): bigger rings absorb bursts. */
MPROC_API int mproc_queue_new_sized(mproc_queue_t **out, size_t maxsize, size_t buffer_bytes);
/** SimpleQueue(): unbounded; put/get/empty/close. */
MPROC_API int mproc_simple_queue_new(mproc_queue_t **out);
/** JoinableQueue(maxsize): adds task_done / join. */
MPROC_API int mproc_joinable_queue_new(mproc_queue_t **out, size_t maxsize);

/** Puts one item. timeout_ms applies while a bounded queue is full: MPROC_EFULL (Python's
 * queue.Full) when there is still no room, with 0 (put_nowait) or after the timeout.
 * MPROC_ECLOSED after mproc_queue_close in this process. */
MPROC_API int mproc_queue_put(mproc_queue_t *q, const void *data, size_t size,
                              int64_t timeout_ms);
/** Takes one item into a new buffer (*data, release with mproc_free; never NULL, even for 0
 * bytes). MPROC_EEMPTY (Python's queue.Empty) when none arrives in time. */
MPROC_API int mproc_queue_get(mproc_queue_t *q, int64_t timeout_ms, void **data, size_t *size);
/** Takes one item into the caller's buffer: 0 with *size its length. An item longer than cap
 * is MPROC_ETOOSMALL with *size its length; it is kept by this handle and is the next item any
 * get on this handle returns (call again with a buffer that large; no other process can take
 * it any more). MPROC_EEMPTY when none arrives in time. */
MPROC_API int mproc_queue_get_into(mproc_queue_t *q, void *buf, size_t cap, size_t *size,
                                   int64_t timeout_ms);
/** Puts a list of typed values as one item (as mproc_queue_put). */
MPROC_API int mproc_queue_put_values(mproc_queue_t *q, const mproc_args_t *values,
                                     int64_t timeout_ms);
/** Takes one item put with mproc_queue_put_values (as mproc_queue_get). */
MPROC_API int mproc_queue_get_values(mproc_queue_t *q, int64_t timeout_ms,
                                     mproc_args_t **values);
/** q.put((...)) in one call: the item is the list the format letters build (mproc_args_build's
 * letters, without objects), e.g. mproc_queue_putf(q, MPROC_FOREVER, "i", x). */
MPROC_API int mproc_queue_putf(mproc_queue_t *q, int64_t timeout_ms, const char *fmt, ...);
/** x = q.get() in one call: takes one item put with mproc_queue_put_values / mproc_queue_putf
 * and reads it into variables with the letters i l d n (as mproc_conn_recvf, MPROC_GOT_NONE
 * for an item that is just None included), e.g. mproc_queue_getf(q, MPROC_FOREVER, "i", &x). */
MPROC_API int mproc_queue_getf(mproc_queue_t *q, int64_t timeout_ms, const char *fmt, ...);
/** Items in the queue now (exact at the moment it was read; others may change it at once).
 * Windows: items still held back in a producer's overflow are not counted. */
MPROC_API int64_t mproc_queue_qsize(const mproc_queue_t *q);
/** 1 or 0; MPROC_ECLOSED after mproc_queue_close on this handle (Python's empty() raises
 * then). qsize and full still answer on a closed handle, as in Python. */
MPROC_API int mproc_queue_empty(const mproc_queue_t *q);
/** 1 if a bounded queue is full, else 0. */
MPROC_API int mproc_queue_full(const mproc_queue_t *q);
/** This process will not use the queue any more (Python's close()): later put/get on this
 * handle are MPROC_ECLOSED. Items already put stay deliverable. The handle stays valid until
 * mproc_queue_free; closing again is 0, NULL is accepted. */
MPROC_API int mproc_queue_close(mproc_queue_t *q);
/** Waits until this process's overflow (unbounded queues, Windows) is in the ring; elsewhere
 * there is none to wait for. */
MPROC_API int mproc_queue_join_thread(mproc_queue_t *q);
/** Exit (and _free) will not wait for this process's overflow: it may be lost. */
MPROC_API int mproc_queue_cancel_join_thread(mproc_queue_t *q);
/** JoinableQueue: one item put earlier is processed. MPROC_EOVERRELEASE when called more times
 * than items were put (Python's ValueError); MPROC_ETYPE on a plain Queue. */
MPROC_API int mproc_queue_task_done(mproc_queue_t *q);
/** JoinableQueue: until every item put has been task_done. MPROC_ETIMEDOUT after the timeout.
 * Items that can never arrive count as done (Windows: those a killed producer still held). */
MPROC_API int mproc_queue_join(mproc_queue_t *q, int64_t timeout_ms);
/** Closes the handle if it is open, waits for this process's overflow (unless cancelled),
 * then releases the handle; the last use of it. NULL is accepted. */
MPROC_API void mproc_queue_free(mproc_queue_t *q);

/** Appends a queue for a child. */
MPROC_API int mproc_args_add_queue(mproc_args_t *args, mproc_queue_t *q);
/** In the child: item i as a queue (owned by the list). */
MPROC_API int mproc_args_get_queue(const mproc_args_t *args, size_t i, mproc_queue_t **out);

/** @} */

/** @defgroup pool Pool
 * Pool (Python's multiprocessing.Pool and AsyncResult).
 *
 * A task is a plain function found in workers the way process targets are (no table). It
 * reads its arguments from args and adds its return value(s) to result; it returns 0, or
 * nonzero to fail (mproc_fail() in a task attaches a message to that task only):
 *
 *     static int square(const mproc_args_t *args, mproc_args_t *result) {
 *       int64_t x;
 *       int rc = mproc_args_get_int(args, 0, &x);
 *       return rc ? rc : mproc_args_add_int(result, x * x);
 *     }
 *
 * map/imap call the task once per item of a list, with that item as its only argument, and
 * keep one value per item (a task that adds nothing gives None; adding more than one fails the
 * item with MPROC_EINVAL). starmap passes a whole argument list per item. apply keeps every
 * value the task added (None when it added none, as map). Arguments and results are the typed
 * values of mproc_args_t, without connections or shared objects (those travel as initargs);
 * any size works.
 *
 * Every item ends as exactly one of: a value, a task error (MPROC_ETASKFAILED, the task's own
 * return code and message), MPROC_EWORKERDIED (its worker died: the message names the pid,
 * the exit code or signal, and the item), MPROC_ETASKTIMEOUT, MPROC_EPOISON (it killed
 * 1 + max_task_retries workers), MPROC_ECANCELED or MPROC_EBROKENPOOL. A dead worker is seen
 * within milliseconds: the items it held fail (or are retried, per the pool's policy), items
 * queued to it but not begun go to the other workers, and a replacement starts.
 *
 * One thread per pool, started by mproc_pool_new, feeds the workers, collects results and
 * runs callbacks. Under the fork start method, replacement workers are forked from that
 * thread (as Python does); spawn and forkserver have no such caveat.
 * Thread safety: every call may be made from any thread; a result handle may be read by
 * several threads, and is freed once by its owner.
 * @{ */
/** A pool of worker processes. */
typedef struct mproc_pool mproc_pool_t;
typedef struct mproc_result mproc_result_t; /**< AsyncResult, and the iterator of imap */

/** A pool task: reads args, adds its value(s) to result, returns 0 or nonzero to fail. */
typedef int (*mproc_task_fn)(const mproc_args_t *args, mproc_args_t *result);
/** `def name(x):` for a pool task, as MPROC_TARGET is for a process target: defines
 * `static int name(const mproc_args_t *, mproc_args_t *)`, which reads the item into the
 * named, typed parameters and runs the body that follows, where `result` is the list the task
 * adds its value to (`return x * x` reads `return mproc_args_add_int(result, x * x);`; a body
 * that adds nothing returns None, as a Python task without a return does):
 *
 *     MPROC_TASK(square, "l", int64_t, x) {
 *       return mproc_args_add_int(result, x * x);
 *     }
 *
 * An item that does not match the format fails that task (Python's TypeError), with the
 * message naming the position and both types; the worker goes on. */
#define MPROC_TASK(name, fmt, ...)                                                            \
  static int name##_body_(mproc_args_t *result MPROC__MAYBE_UNUSED,                          \
                          MPROC__PAIRS(MPROC__P, __VA_ARGS__));                              \
  static int name(const mproc_args_t *mproc_args_, mproc_args_t *mproc_result_) {            \
    MPROC__PAIRS(MPROC__D, __VA_ARGS__)                                                      \
    int mproc_rc_ = mproc_args_parse(mproc_args_, fmt, MPROC__PAIRS(MPROC__A, __VA_ARGS__)); \
    if (mproc_rc_ != 0)                                                                      \
      return mproc_fail(mproc_rc_, "%s", mproc_last_error_message());                        \
    return name##_body_(mproc_result_, MPROC__PAIRS(MPROC__N, __VA_ARGS__));                 \
  }                                                                                          \
  static int name##_body_(mproc_args_t *result MPROC__MAYBE_UNUSED,                          \
                          MPROC__PAIRS(MPROC__P, __VA_ARGS__))
/** Runs in the pool's thread when a result becomes ready. Returning nonzero is the C form of a
 * callback that raised: it is counted (mproc_pool_callback_failures) and the pool goes on. */
typedef int (*mproc_result_cb)(mproc_result_t *res, void *ctx);

/** What the pool does with the items a dead worker held. */
typedef enum mproc_pool_on_death {
  MPROC_POOL_FAIL_TASK = 0,  /**< fail them with MPROC_EWORKERDIED; the pool goes on */
  MPROC_POOL_RETRY_TASK = 1, /**< run them again elsewhere, up to max_task_retries times each,
                                then MPROC_EPOISON */
  MPROC_POOL_BREAK = 2       /**< fail everything outstanding and refuse new work
                                (concurrent.futures' BrokenProcessPool) */
} mproc_pool_on_death;

/** Option structs grow at their end only, and the leading `size` says how much of the struct
 * the caller's header had, so one compiled against an older header keeps working with a newer
 * library (docs/versioning.md). size 0 stands for the 0.1 layout: `{0}` and designated
 * initialisers written for 0.1 stay valid. To use a field added later, start from
 * MPROC_POOL_OPTIONS_INIT / MPROC_TASK_OPTIONS_INIT (which set size to sizeof). A size larger
 * than the library knows is accepted only if the unknown tail is all zero (else MPROC_EINVAL).
 *
 * Zero-initialised options are the defaults ({0}, or NULL for mproc_pool_new). */
typedef struct mproc_pool_options {
  size_t size;                   /**< 0 (the 0.1 layout) or sizeof(mproc_pool_options) */
  int processes;                 /**< 0: mproc_cpu_count_usable() */
  mproc_target_fn initializer;   /**< run once in each worker before its first task; nonzero
                                    breaks the pool (MPROC_EBROKENPOOL, with its message) */
  const mproc_args_t *initargs;  /**< may carry connections, queues, locks, values ... */
  unsigned maxtasksperchild;     /**< 0: unlimited; else a worker exits after that many chunks
                                    and a fresh one takes its place */
  mproc_start_method start_method; /**< MPROC_START_DEFAULT: the global default */
  mproc_pool_on_death on_death; /**< what happens to a dead worker's items */
  unsigned max_task_retries;     /**< for MPROC_POOL_RETRY_TASK (0 means 1) */
  /** Since 0.2: 0 for no limit; else a worker whose resident memory (RSS; the working set on
   * Windows) exceeds this many bytes after a chunk exits between chunks and a fresh one takes
   * its place, as with maxtasksperchild (docs/pool.md). */
  uint64_t max_memory_per_child;
} mproc_pool_options;
/** Pool options with every default and the current size. */
#define MPROC_POOL_OPTIONS_INIT {.size = sizeof(mproc_pool_options)}

/** Progress of a map-family call, apply or generator-fed imap, counted in items (never in
 * chunks). Filled by mproc_result_progress_info and mproc_imap_progress, and handed to a
 * progress callback. Grows at its end only: set size to sizeof(mproc_progress) before a call
 * (0 means the same); the library writes no more than size bytes. */
typedef struct mproc_progress {
  size_t size;            /**< in: bytes of the caller's struct; out: bytes written */
  uint64_t done;          /**< items finished, failed ones included */
  uint64_t failed;        /**< of those, items that ended with a failure code */
  uint64_t total;         /**< items in all; for a generator, the items taken from it so far */
  int total_known;        /**< 1 when total is final (a list, or a generator that ended) */
  uint64_t in_flight;     /**< items submitted and not yet finished (generator imap: taken
                               from the generator and not yet handed to the caller) */
  uint64_t in_flight_max; /**< the most in_flight has ever been (a bounded window's proof) */
  int64_t elapsed_ms;     /**< since the call was submitted */
  double items_per_s;     /**< done / elapsed (0 in the first millisecond) */
} mproc_progress;
/** An mproc_progress ready to be filled. */
#define MPROC_PROGRESS_INIT {.size = sizeof(mproc_progress)}

/** Called with the progress of one call: rate-limited to one call per progress_interval_ms
 * while items finish, and once more at the end (done == total). For map, starmap, apply and
 * list imap it runs in the pool's thread (keep it short; it must not wait for this pool); for
 * a generator-fed imap, in the thread calling mproc_imap_next. ctx is the task options' ctx. */
typedef void (*mproc_progress_cb)(const mproc_progress *progress, void *ctx);

/** Per call: zero-initialised (or NULL) is Python's behaviour. */
typedef struct mproc_task_options {
  size_t size;               /**< 0 (the 0.1 layout) or sizeof(mproc_task_options) */
  size_t chunksize;          /**< map family: items per chunk; 0: automatic (Python's rule,
                                ceil(n / (4 * processes)); imap's default is 1) */
  int64_t task_timeout_ms;   /**< > 0: an item running longer gets its worker killed and fails
                                with MPROC_ETASKTIMEOUT (items are then sent one per chunk);
                                0 or MPROC_FOREVER: no limit */
  int fail_fast;             /**< map family: the first failed item cancels the items not begun
                                (MPROC_ECANCELED) and makes the result ready at once */
  mproc_result_cb callback;       /**< on success; may be NULL */
  mproc_result_cb error_callback; /**< on failure; may be NULL */
  void *ctx;                      /**< handed to both callbacks (and to progress) */
  /** Since 0.2. Generator-fed imap only: items taken from the generator and not yet handed
   * to the caller, at most (Python's buffersize). 0: 4 * processes * chunksize. */
  size_t max_in_flight;
  /** Since 0.2: progress callback (mproc_progress_cb), or NULL for none. */
  mproc_progress_cb progress;
  /** Since 0.2: least time between two progress calls; 0: 200 ms. */
  int64_t progress_interval_ms;
} mproc_task_options;
/** Task options with every default and the current size. */
#define MPROC_TASK_OPTIONS_INIT {.size = sizeof(mproc_task_options)}

/** Starts the workers (all started, or nothing is left behind) and the pool's thread. */
MPROC_API int mproc_pool_new(mproc_pool_t **out, const mproc_pool_options *opts);
/** Number of worker slots. */
MPROC_API int mproc_pool_processes(const mproc_pool_t *pool);
/** Pids of the live workers (up to cap); *count is how many there are. */
MPROC_API int mproc_pool_pids(mproc_pool_t *pool, int64_t *pids, size_t cap, size_t *count);
/** Workers started over the pool's life, replacements included. */
MPROC_API uint64_t mproc_pool_workers_started(mproc_pool_t *pool);
/** Callbacks that returned nonzero so far. */
MPROC_API uint64_t mproc_pool_callback_failures(mproc_pool_t *pool);

/** apply(fn, args): blocks; *result (release with mproc_args_free) holds the values the task
 * added. Returns 0 or the item's failure code (then *result is NULL). args NULL: no arguments.
 * Per-item messages (mproc_result_error) are read through the _async forms. */
MPROC_API int mproc_pool_apply(mproc_pool_t *pool, mproc_task_fn fn, const mproc_args_t *args,
                               const mproc_task_options *opts, mproc_args_t **result);
/** out may be NULL: the pool then frees the result after its callback. */
MPROC_API int mproc_pool_apply_async(mproc_pool_t *pool, mproc_task_fn fn,
                                     const mproc_args_t *args, const mproc_task_options *opts,
                                     mproc_result_t **out);
/** res = pool.apply_async(fn, (...)) in one call: the arguments given by format letters (those
 * of mproc_args_build), default task options, e.g.
 * mproc_pool_apply_asyncf(pool, func, &res, "i", 20). */
MPROC_API int mproc_pool_apply_asyncf(mproc_pool_t *pool, mproc_task_fn fn, mproc_result_t **out,
                                      const char *fmt, ...);
/** map(fn, items): *results has one value per item, in order. Returns 0, or the code of the
 * first failed item; *results is set even then (failed items are None), so nothing that
 * succeeded is lost; mproc_result_status tells them apart through the _async form. */
MPROC_API int mproc_pool_map(mproc_pool_t *pool, mproc_task_fn fn, const mproc_args_t *items,
                             const mproc_task_options *opts, mproc_args_t **results);
/** map_async: as mproc_pool_map, returning a result handle at once. */
MPROC_API int mproc_pool_map_async(mproc_pool_t *pool, mproc_task_fn fn,
                                   const mproc_args_t *items, const mproc_task_options *opts,
                                   mproc_result_t **out);
/** starmap(fn, items): item i is the whole argument list items[i]. */
MPROC_API int mproc_pool_starmap(mproc_pool_t *pool, mproc_task_fn fn,
                                 const mproc_args_t *const *items, size_t n,
                                 const mproc_task_options *opts, mproc_args_t **results);
/** starmap_async: as mproc_pool_starmap, returning a result handle. */
MPROC_API int mproc_pool_starmap_async(mproc_pool_t *pool, mproc_task_fn fn,
                                       const mproc_args_t *const *items, size_t n,
                                       const mproc_task_options *opts, mproc_result_t **out);
/** imap / imap_unordered: iterate with mproc_result_next (in item order, or as items finish). */
MPROC_API int mproc_pool_imap(mproc_pool_t *pool, mproc_task_fn fn, const mproc_args_t *items,
                              const mproc_task_options *opts, mproc_result_t **out);
/** imap_unordered: mproc_result_next hands items out as they finish. */
MPROC_API int mproc_pool_imap_unordered(mproc_pool_t *pool, mproc_task_fn fn,
                                        const mproc_args_t *items,
                                        const mproc_task_options *opts, mproc_result_t **out);

/** The function of mproc_pool_map_array, called in a worker once per chunk: in and out point
 * at element number first of the input and output arrays; it reads count elements at in,
 * writes count elements at out, and returns 0, or nonzero to fail the call (mproc_fail()
 * adds a message). args is the call's args (an empty list when it gave NULL). */
typedef int (*mproc_array_fn)(const void *in, void *out, size_t first, size_t count,
                              const mproc_args_t *args);
/** A map over a shared Array, in place: fn runs in the workers over chunks of in (read where
 * it lies) and writes the results into out (which may be in itself), with no message per
 * chunk: workers claim chunks by an atomic add on a counter in shared memory. in and out must
 * have the same length; their typecodes may differ (fn sees raw elements). args (may be NULL)
 * holds typed values handed to every call of fn, as a task's (no shared objects). opts:
 * chunksize is elements per claim (0: ceil(length / (4 * processes)), Python's rule);
 * task_timeout_ms limits each worker's whole share; callbacks, progress and fail_fast are not
 * used. Returns 0 once every element is written; MPROC_EINVAL (NULL arguments, lengths that
 * differ; mproc_last_error_message says which), MPROC_ECLOSED after close, MPROC_ETASKFAILED
 * when fn failed (the other workers stop at their next chunk; the message names the elements
 * and fn's message), the code of a worker's death or time limit (MPROC_EWORKERDIED, ...),
 * unless the retry policy ran its share again; then out may be partly written. MPROC_ENOTSUP
 * where a worker cannot reach memory it did not inherit (POSIX systems other than Linux). */
MPROC_API int mproc_pool_map_array(mproc_pool_t *pool, mproc_array_fn fn, const mproc_array_t *in,
                                   mproc_array_t *out, const mproc_args_t *args,
                                   const mproc_task_options *opts);

/** Python's Pool.close(): no more work may be submitted (MPROC_ECLOSED); what was submitted
 * still runs. The handle stays valid until mproc_pool_free (join after close); closing again is
 * 0, NULL is accepted. */
MPROC_API int mproc_pool_close(mproc_pool_t *pool);
/** Stops every worker now (SIGTERM, then SIGKILL after 500 ms), even mid-task; outstanding
 * items fail with MPROC_ECANCELED. Returns within about a second, from any thread. */
MPROC_API int mproc_pool_terminate(mproc_pool_t *pool);
/** After close or terminate: waits until all submitted work is done (callbacks included) and
 * the workers have exited. MPROC_ESTATE before close; MPROC_ETIMEDOUT after the timeout. */
MPROC_API int mproc_pool_join(mproc_pool_t *pool, int64_t timeout_ms);
/** Terminates if still running (outstanding items: MPROC_ECANCELED), then releases the pool.
 * Result handles stay valid until freed. NULL is accepted. A pool never freed is terminated
 * at exit. Not from the pool's own callbacks. */
MPROC_API void mproc_pool_free(mproc_pool_t *pool);

/** AsyncResult.get: waits for the whole result. apply: *values = the values the task added;
 * map family: one value per item. Returns 0, the first failure code (by item order; *values
 * is still set for a map, failed items None), or MPROC_ETIMEDOUT when not ready in time
 * (values untouched). values may be NULL. Release *values with mproc_args_free. */
MPROC_API int mproc_result_get(mproc_result_t *res, int64_t timeout_ms, mproc_args_t **values);
/** x = res.get(timeout) in one call: mproc_result_get, then the values read into variables
 * with the letters i l d n (as mproc_conn_recvf), e.g. mproc_result_getf(res, 1000, "l", &x)
 * for an apply whose task added one int64. */
MPROC_API int mproc_result_getf(mproc_result_t *res, int64_t timeout_ms, const char *fmt, ...);
/** 0 once ready, MPROC_ETIMEDOUT otherwise. */
MPROC_API int mproc_result_wait(mproc_result_t *res, int64_t timeout_ms);
/** 1 if ready, else 0. */
MPROC_API int mproc_result_ready(mproc_result_t *res);
/** 1 if every item succeeded, 0 if one failed; MPROC_ESTATE while not ready (Python's
 * ValueError). */
MPROC_API int mproc_result_successful(mproc_result_t *res);
/** Items finished so far and in all (a long map's progress). */
MPROC_API int mproc_result_progress(mproc_result_t *res, size_t *done, size_t *total);
/** The next item: in order for imap (and map/starmap results), as finished for imap_unordered.
 * 0 with *value = a new list holding that item's value (release with mproc_args_free) and
 * *index = its position (either pointer may be NULL); the item's failure code (with *index set
 * and *value NULL; iteration goes on past it); MPROC_EEOF after the last item;
 * MPROC_ETIMEDOUT when the next one is not ready in time. */
MPROC_API int mproc_result_next(mproc_result_t *res, int64_t timeout_ms, mproc_args_t **value,
                                size_t *index);
/** for x in it: one step in one call: mproc_result_next, then the value read into variables
 * with the letters i l d n (as mproc_conn_recvf), e.g.
 * while (mproc_result_nextf(it, MPROC_FOREVER, "l", &x) == 0). MPROC_EEOF after the last. */
MPROC_API int mproc_result_nextf(mproc_result_t *res, int64_t timeout_ms, const char *fmt, ...);
/** Per item, once that item is finished: 0 or its failure code; MPROC_ETIMEDOUT if it is not
 * finished yet; MPROC_ERANGE past the end. */
MPROC_API int mproc_result_status(mproc_result_t *res, size_t i);
/** The task's own nonzero return value for an MPROC_ETASKFAILED item, else 0. */
MPROC_API int mproc_result_task_code(mproc_result_t *res, size_t i);
/** The message of a failed item (mproc_fail in the task, or what the pool saw: which worker
 * died and how); NULL if none. Valid until the result is freed. */
MPROC_API const char *mproc_result_error(mproc_result_t *res, size_t i);
/** Releases the handle. Work still running finishes (its result is discarded). NULL is fine. */
MPROC_API void mproc_result_free(mproc_result_t *res);
/** Progress in items: done, failed, total, in flight, elapsed time and rate (tqdm's
 * figures). Any thread, any time, also before the result is ready. out->size must be set.
 * @return 0, or MPROC_EINVAL. */
MPROC_API int mproc_result_progress_info(mproc_result_t *res, mproc_progress *out);

/** @} */

/** @defgroup generator_fed Generator-fed imap
 * Generator-fed imap (Python's imap / imap_unordered over an iterator, with a bounded
 * buffer): the input is taken from a callback as the caller consumes results, so a source of
 * a billion items runs in the memory of max_in_flight items.
 *
 * The generator runs only in the thread calling mproc_imap_next (never in the pool's thread),
 * so it needs no locking of its own. Each call fills `item` (an empty list) with the task's
 * whole argument list: one value is map's item, several are a starmap row.
 * Thread safety: one thread at a time per iterator; different iterators are independent.
 * @{ */
/** The iterator of mproc_pool_imap_gen / mproc_pool_imap_unordered_gen. */
typedef struct mproc_imap mproc_imap_t;

/** Gives the next item: returns 0 with item filled, MPROC_EEOF when there are no more, or
 * another negative MPROC_E* code for an error (positive values count as MPROC_EINVAL). */
typedef int (*mproc_gen_fn)(void *ud, mproc_args_t *item);

/** imap(fn, generator): results come in item order. opts: chunksize (default 1),
 * task_timeout_ms, max_in_flight, progress, progress_interval_ms and ctx apply; callback,
 * error_callback and fail_fast are MPROC_EINVAL here. Nothing is taken from the generator
 * before the first mproc_imap_next. */
MPROC_API int mproc_pool_imap_gen(mproc_pool_t *pool, mproc_task_fn fn, mproc_gen_fn gen,
                                  void *ud, const mproc_task_options *opts, mproc_imap_t **out);
/** The same with results handed out as they finish (imap_unordered). */
MPROC_API int mproc_pool_imap_unordered_gen(mproc_pool_t *pool, mproc_task_fn fn,
                                            mproc_gen_fn gen, void *ud,
                                            const mproc_task_options *opts, mproc_imap_t **out);
/** The next result, as mproc_result_next: 0 with *value (release with mproc_args_free) and
 * *index (the item's position in the generator's order; either pointer may be NULL), or the
 * item's failure code (*value NULL; mproc_imap_error says why; iteration goes on past it),
 * MPROC_ETIMEDOUT when none is ready in time. Once every item taken has been handed out:
 * the generator's error code if it failed (once), then MPROC_EEOF. Items are taken from the
 * generator here, in batches, while fewer than max_in_flight are outstanding. */
MPROC_API int mproc_imap_next(mproc_imap_t *it, int64_t timeout_ms, mproc_args_t **value,
                              uint64_t *index);
/** The message of the last failed item mproc_imap_next handed out (NULL if none); valid
 * until the next call on the iterator. */
MPROC_API const char *mproc_imap_error(mproc_imap_t *it);
/** Progress of the iteration (total counts the items taken so far until the generator ends).
 * out->size must be set. */
MPROC_API int mproc_imap_progress(mproc_imap_t *it, mproc_progress *out);
/** Stops the iteration at any point: the generator is not called again; items already
 * submitted still run and their results are discarded. NULL is fine. It may be freed after
 * its pool; mproc_imap_next may not be called once the pool is freed. */
MPROC_API void mproc_imap_free(mproc_imap_t *it);

/** @} */

/** @defgroup waiting_on Waiting on many objects
 * Waiting on many objects (Python's multiprocessing.connection.wait).
 * Thread safety: any thread; each object follows its own group's rule (a connection waited on
 * counts as its receiver, a process handle as a use of that handle).
 * @{ */
/** What an mproc_waitable refers to. */
typedef enum mproc_wait_kind {
  MPROC_WAIT_CONN = 1,    /**< obj: mproc_conn_t *; ready when a message or EOF can be read */
  MPROC_WAIT_PROCESS = 2, /**< obj: mproc_process_t *; ready when the process has exited */
  MPROC_WAIT_HANDLE = 3,  /**< handle: an fd / HANDLE; readable (POSIX) or signalled */
  MPROC_WAIT_QUEUE = 4    /**< obj: mproc_queue_t *; ready when an item can be got (another
                             consumer may take it first) */
} mproc_wait_kind;

/** One object for mproc_wait. */
typedef struct mproc_waitable {
  mproc_wait_kind kind; /**< which object this is */
  void *obj; /**< the object (CONN, PROCESS, QUEUE) */
  intptr_t handle; /**< an fd / HANDLE (HANDLE kind) */
  int ready; /**< out: 1 if ready */
} mproc_waitable;

/** Blocks until at least one object is ready; sets each ready flag and *nready (may be NULL).
 * MPROC_ETIMEDOUT when none is ready in time. n == 0 (objs may be NULL): as Python's
 * wait([], timeout), sleeps for the timeout and returns 0 with *nready = 0 (at once for
 * MPROC_FOREVER, since nothing could ever become ready). */
MPROC_API int mproc_wait(mproc_waitable *objs, size_t n, int64_t timeout_ms, size_t *nready);

/** @} */

/** @defgroup module_functions Module functions
 * Module functions. Thread safety: every call, from any thread at any time.
 * @{ */
/** "MainProcess" in the main process, the process name in a child. */
MPROC_API const char *mproc_current_process_name(void);
/** This process's pid. */
MPROC_API int64_t mproc_current_pid(void);
/** The pid of the process that started this one; in the main process, its OS parent (Python's
 * os.getppid(); on Windows the creator's pid as the process list records it, 0 when there is
 * none, e.g. under Wine when started from a Unix shell). */
MPROC_API int64_t mproc_parent_pid(void);
/** Reaps exited children, then copies up to cap handles of still-running children started by
 * this process (handles stay owned by the caller who created them); *count is the total. */
MPROC_API int mproc_active_children(mproc_process_t **out, size_t cap, size_t *count);
/** Logical CPUs in the machine (Python's os.cpu_count()). At least 1. */
MPROC_API int mproc_cpu_count(void);
/** CPUs this process may use: min(affinity mask, ceil(cgroup CPU quota)). At least 1. */
MPROC_API int mproc_cpu_count_usable(void);

/** @} */

/** @defgroup embedding Embedding: allocator and logging hooks
 * Hooks for a product that embeds mproc (docs/embedding.md).
 * @{ */

/** A malloc replacement for mproc_set_allocator. */
typedef void *(*mproc_malloc_fn)(size_t size);
/** A realloc replacement for mproc_set_allocator. */
typedef void *(*mproc_realloc_fn)(void *ptr, size_t size);
/** A calloc replacement for mproc_set_allocator. */
typedef void *(*mproc_calloc_fn)(size_t count, size_t size);
/** A free replacement for mproc_set_allocator. */
typedef void (*mproc_free_fn)(void *ptr);

/** Routes every heap allocation the library makes (in this process and in children it starts
 * with fork) through the given functions, like libuv's uv_replace_allocator(). All four are
 * required and must behave like their C library namesakes (realloc(NULL, n) allocates,
 * free(NULL) does nothing). Call it before any other mproc function, first thing in main()
 * (before mproc_main() where a constructor does not run it for you): MPROC_ESTATE once the
 * library has allocated anything, MPROC_EINVAL for a NULL argument. Not thread-safe: call it
 * while the process has one thread. Shared memory and OS objects are not heap allocations and
 * do not go through it; memory the library hands to the caller is still released with the
 * library's own calls (mproc_free(), mproc_*_free()). */
MPROC_API int mproc_set_allocator(mproc_malloc_fn malloc_fn, mproc_realloc_fn realloc_fn,
                                  mproc_calloc_fn calloc_fn, mproc_free_fn free_fn);

/** Log levels; the numbers are Python's logging levels. */
typedef enum mproc_log_level {
  MPROC_LOG_DEBUG = 10, /**< every start, child bootstrap step, exit, pool worker start/death */
  MPROC_LOG_INFO = 20,  /**< exits that were not clean, replaced pool workers */
  MPROC_LOG_WARN = 30,  /**< children that failed to start */
  MPROC_LOG_OFF = 100   /**< nothing is logged (the default) */
} mproc_log_level;

/** Receives one log line (no trailing newline) with its level. Called from whatever thread
 * logged, possibly several at once; it must not call mproc functions. */
typedef void (*mproc_log_fn)(void *userdata, int level, const char *line);

/** Python's log_to_stderr()/get_logger().setLevel(): lines at `level` or above go to fn (with
 * userdata), or to stderr when fn is NULL (to MPROC_LOG_FILE when that environment variable
 * names a file). MPROC_LOG_OFF (the default) turns logging off. Children started afterwards
 * log at the same level (to stderr / MPROC_LOG_FILE; under fork to fn). The environment
 * variable MPROC_LOG=debug|info|warn sets the level without a call, for the process and its
 * children. MPROC_EINVAL for an unknown level. Thread-safe. */
MPROC_API int mproc_set_log_handler(mproc_log_fn fn, void *userdata, int level);

/** The current level (MPROC_LOG_OFF when logging is off). */
MPROC_API int mproc_get_log_level(void);

/** @} */

/** @defgroup manager Manager
 * Manager (Python's multiprocessing.managers): shared dict, list, Namespace, queues, sync types,
 * Value and Array kept by a server process (or server threads) and used through proxies, wire-
 * compatible with Python 3.8-3.13 clients and servers. docs/manager.md has the protocol, the
 * safe pickle subset and the failure model.
 * @{ */
/** A manager: a server this process runs (mproc_manager_start / _serve), or a connection to
 * one (mproc_manager_connect). Either way proxies are created through it. */
typedef struct mproc_manager mproc_manager_t;
/** A proxy: a reference to one object kept by a manager (Python's BaseProxy). */
typedef struct mproc_proxy mproc_proxy_t;

/** Options of a manager; all-zero is the default for every field. */
typedef struct mproc_manager_options {
  /** Listener address in mproc_listener_new's syntax; NULL: a unix socket with a random name
   * (Linux: in the abstract namespace, so no file outlives the server; Windows: a named
   * pipe). A TCP address binds loopback unless a host is given explicitly. */
  const char *address;
  /** Authentication key; NULL: 32 random bytes (read back with mproc_manager_authkey). */
  const void *authkey;
  /** Length of authkey. */
  size_t keylen;
  /** Transport deadline per call beyond the operation's own timeout; 0: 30 s; MPROC_FOREVER
   * allowed. */
  int64_t call_timeout_ms;
  /** Largest message accepted; 0: 64 MiB. */
  size_t max_message;
  /** Connections served at once; 0: 256 (later clients wait in the backlog). */
  unsigned max_connections;
  /** Objects kept at once; 0: 1 M (a create beyond answers MPROC_ENOSPC). */
  size_t max_objects;
  /** mproc_manager_start: the start method of the server's process; MPROC_START_DEFAULT: the
   * global one. */
  mproc_start_method start_method;
  /** Called in the server's process before it serves (mproc_manager_start: in the child,
   * under every start method; mproc_manager_serve: in this process), to register the
   * program's own types with mproc_manager_register. The function is found in the child as
   * process targets are, so it must be a function of the program or of a shared library.
   * A non-zero return stops the server from starting (that code is returned). NULL: none. */
  int (*setup)(mproc_manager_t *m, const mproc_args_t *args);
  /** Arguments for setup, copied (data values only under spawn and forkserver); may be NULL. */
  const mproc_args_t *setup_args;
  /** Non-zero: a SharedMemoryManager server (Python's SharedMemoryServer): it also serves
   * track_segment, release_segment and list_segments and unlinks every tracked segment when
   * it stops (mproc_shared_memory_manager_start sets it). */
  int shared_memory;
} mproc_manager_options;

/* Server side */

/** A method of a registered type: runs in the server on the thread serving the calling
 * connection (one thread per connection, as Python's). args holds the positional arguments,
 * kwargs the keyword arguments as key, value, key, value ... (both data values). On success
 * it appends exactly one value, the result, to result (nothing appended means None) and
 * returns 0. To raise, it returns a negative MPROC_E* code (sent to Python as the exception
 * the manager documentation lists for it, e.g. MPROC_ENOENT as KeyError, with
 * mproc_last_error_message() as its text when one was set), or appends an exception made with
 * mproc_manager_raise and returns what that returned. Methods of user types run without any
 * server lock: an object shared by several clients must be thread-safe itself. A blocking
 * method must return within its own timeout; shutdown waits for it. */
typedef int (*mproc_manager_method_fn)(void *obj, const mproc_args_t *args,
                                       const mproc_args_t *kwargs, mproc_args_t *result,
                                       void *ctx);

/** One exposed method of a registered type (Python's exposed list and method_to_typeid). */
typedef struct mproc_manager_method {
  /** The name clients call, e.g. "get" or "__getitem__". */
  const char *name;
  /** The implementation. */
  mproc_manager_method_fn fn;
  /** Python's method_to_typeid: when set, the result (a single value) becomes a new object of
   * this registered typeid (created with the result as its only argument) and the client gets
   * a proxy to it (a PROXY reply); NULL: the value itself is returned. */
  const char *returns_typeid;
  /** 1 if the method may wait (documentation only: every call already has its own thread). */
  int blocking;
} mproc_manager_method;

/** A typeid served by a manager (Python's BaseManager.register on the server side). Python
 * clients use it with register('typeid') (an AutoProxy built from the methods listed here). */
typedef struct mproc_manager_type {
  /** The typeid clients create, e.g. "Foo". */
  const char *typeid;
  /** Makes a new object from the create request's arguments (kwargs as key, value, ...):
   * 0 and *obj, or a negative code (sent back as an error). NULL with base_typeid set: the
   * base type's create. */
  int (*create)(const mproc_args_t *args, const mproc_args_t *kwargs, void **obj, void *ctx);
  /** Releases an object once its last reference is gone, or at shutdown; may be NULL. */
  void (*destroy)(void *obj, void *ctx);
  /** The text for repr() and str() (the '__repr__' / '__str__' fallbacks): a string from
   * malloc() in *text. NULL: "\<typeid object\>". */
  int (*repr)(void *obj, char **text, void *ctx);
  /** The object's value for the proxy's _getvalue() (the GETVALUE call): appends one value to out.
   * NULL: such calls are answered with an error. */
  int (*getvalue)(void *obj, mproc_args_t *out, void *ctx);
  /** The exposed methods (the array must outlive the manager). */
  const mproc_manager_method *methods;
  /** How many methods there are. */
  size_t n_methods;
  /** Passed to every function above. */
  void *ctx;
  /** When set, this typeid serves objects of that already registered typeid (a built-in
   * one such as "Queue", or one of the program's): every function left NULL above comes from
   * it, and methods too when methods is NULL. */
  const char *base_typeid;
  /** 1: every create answers the same object (made by the first create and kept until the
   * server stops), as Python's register('get_queue', callable=lambda: queue) does. */
  int singleton;
} mproc_manager_type;

/** Positive code a method returns after appending an exception with mproc_manager_raise. */
#define MPROC_MANAGER_RAISED 1

/** Appends to result the exception module.name(message) (message NULL: no arguments) for a
 * method to raise, and returns MPROC_MANAGER_RAISED. module and name must be one of the
 * exceptions the pickle whitelist knows ("builtins"/"KeyError", "_queue"/"Empty",
 * "queue"/"Full", "threading"/"BrokenBarrierError", ...); MPROC_EINVAL otherwise. */
MPROC_API int mproc_manager_raise(mproc_args_t *result, const char *module, const char *name,
                                  const char *message);

/** Python's get_server().serve_forever() without blocking: a server run by threads of this
 * process (an accepting thread and one thread per connection), listening at o-\>address (o
 * may be NULL: defaults). It serves the SyncManager typeids and whatever o-\>setup
 * registers. A TCP address needs an explicit authkey (MPROC_EINVAL otherwise). Stop it with
 * mproc_manager_shutdown (or a client's 'shutdown' request) and release it with
 * mproc_manager_free. */
MPROC_API int mproc_manager_serve(mproc_manager_t **out, const mproc_manager_options *o);

/** Python's Manager().start(): the same server in a child process started with
 * o-\>start_method; the child dies with this process and is reaped by shutdown / free.
 * Returns once the child listens (its address is then known). */
MPROC_API int mproc_manager_start(mproc_manager_t **out, const mproc_manager_options *o);

/** Registers a type before the server serves: call it from o-\>setup. MPROC_ESTATE once
 * serving, MPROC_EEXIST for a typeid already registered (the built-in ones included),
 * MPROC_ENOENT for an unknown base_typeid. The struct is copied; its strings and method array
 * must outlive the manager. */
MPROC_API int mproc_manager_register(mproc_manager_t *m, const mproc_manager_type *t);

/** The address clients connect to, in mproc_listener_new's syntax; NULL for a manager
 * without a server. */
MPROC_API const char *mproc_manager_address(const mproc_manager_t *m);

/** The authentication key of the server (the one given, or the random one made for it).
 * MPROC_ESTATE for a manager without a server. */
MPROC_API int mproc_manager_authkey(const mproc_manager_t *m, const void **key, size_t *len);

/** Stops the server: calls in flight finish and are answered, the listener closes, every
 * method waiting in the server (queue get, lock acquire, ...) is woken with an error, and the
 * server's threads (or its process) are waited for up to timeout_ms (MPROC_FOREVER allowed).
 * MPROC_ETIMEDOUT when they did not finish in time (call again, or free). 0 when already
 * stopped. */
MPROC_API int mproc_manager_shutdown(mproc_manager_t *m, int64_t timeout_ms);

/** Waits until the server has stopped (a client's 'shutdown' request, or
 * mproc_manager_shutdown from another thread): 0, or MPROC_ETIMEDOUT. */
MPROC_API int mproc_manager_join(mproc_manager_t *m, int64_t timeout_ms);

/** Releases a manager handle of either kind; the last use of it. A server this process runs
 * (mproc_manager_serve / _start) is shut down first (waiting as long as it takes; a started
 * child is killed after 5 s). A handle from mproc_manager_connect ends its client session
 * once the proxies created through it are freed too (they keep working until then); that
 * server and its objects stay. NULL is accepted. */
MPROC_API void mproc_manager_free(mproc_manager_t *m);
/* Client side */

/** Connects to the manager at address (mproc_listener_new's syntax) with its key, as Python's
 * BaseManager(address, authkey).connect(): one authenticated connection and a 'dummy' ping
 * within timeout_ms. MPROC_EAUTH for a wrong key, MPROC_ENOENT when nobody listens,
 * MPROC_ETIMEDOUT. Release the handle with mproc_manager_free. Works with Python
 * 3.8-3.13 managers (SyncManager and BaseManager with registered typeids) and mproc's. */
MPROC_API int mproc_manager_connect(mproc_manager_t **out, const char *address,
                                    const void *authkey, size_t keylen, int64_t timeout_ms);
/** Transport deadline of every call beyond the operation's own timeout (default 30 s; 0
 * restores it; MPROC_FOREVER: none). A call past it is MPROC_ETIMEDOUT and its connection is
 * dropped. */
MPROC_API int mproc_manager_set_call_timeout(mproc_manager_t *m, int64_t timeout_ms);
/** Reconnects a handle from mproc_manager_connect after its server died and a new one was
 * started at the same address with the same key: opens a new session (retrying refused
 * connections until timeout_ms, MPROC_FOREVER for no limit) and, once it answers, ends the old
 * one. Proxies made before keep returning MPROC_EPEERGONE (their objects died with the old
 * server; ids may repeat, so they never call the new one); proxies made after use the new
 * server. On failure the handle keeps its old session. MPROC_ESTATE for a handle that runs
 * its server (mproc_manager_serve / _start). Reconnecting while the old server still runs
 * also ends the old session: its objects then stay referenced there until it stops. */
MPROC_API int mproc_manager_reconnect(mproc_manager_t *m, int64_t timeout_ms);
/** Creates an object of typeid on the server (Python's manager._create(typeid, *args,
 * **kwds)): args positional values, kwargs key, value, ... (either may be NULL). *out is a
 * proxy holding one reference. A typeid the server does not know is MPROC_EREMOTE with
 * Python's text (mproc_last_error_message). timeout_ms: how long creating may wait, beyond
 * the call timeout. */
MPROC_API int mproc_manager_create(mproc_manager_t *m, const char *typeid,
                                   const mproc_args_t *args, const mproc_args_t *kwargs,
                                   int64_t timeout_ms, mproc_proxy_t **out);
/** Manager().dict(): an empty shared dict. */
MPROC_API int mproc_manager_dict(mproc_manager_t *m, mproc_proxy_t **out);
/** Manager().list(): an empty shared list. */
MPROC_API int mproc_manager_list(mproc_manager_t *m, mproc_proxy_t **out);
/** Manager().list(items): a shared list holding a copy of the items of items (NULL: empty). */
MPROC_API int mproc_manager_list_from(mproc_manager_t *m, const mproc_args_t *items,
                                      mproc_proxy_t **out);
/** Manager().dict(mapping): a shared dict of the pairs of kv (key, value, key, value, ...;
 * NULL: empty). */
MPROC_API int mproc_manager_dict_from(mproc_manager_t *m, const mproc_args_t *kv,
                                      mproc_proxy_t **out);
/** Manager().Namespace(). */
MPROC_API int mproc_manager_namespace(mproc_manager_t *m, mproc_proxy_t **out);
/** Manager().Queue(maxsize) (0: unbounded). */
MPROC_API int mproc_manager_queue(mproc_manager_t *m, size_t maxsize, mproc_proxy_t **out);
/** Manager().JoinableQueue(maxsize). */
MPROC_API int mproc_manager_joinable_queue(mproc_manager_t *m, size_t maxsize,
                                           mproc_proxy_t **out);
/** Manager().Lock(). */
MPROC_API int mproc_manager_lock(mproc_manager_t *m, mproc_proxy_t **out);
/** Manager().RLock(). */
MPROC_API int mproc_manager_rlock(mproc_manager_t *m, mproc_proxy_t **out);
/** Manager().Semaphore(value). */
MPROC_API int mproc_manager_semaphore(mproc_manager_t *m, int64_t value, mproc_proxy_t **out);
/** Manager().BoundedSemaphore(value). */
MPROC_API int mproc_manager_bounded_semaphore(mproc_manager_t *m, int64_t value,
                                              mproc_proxy_t **out);
/** Manager().Condition(). */
MPROC_API int mproc_manager_condition(mproc_manager_t *m, mproc_proxy_t **out);
/** Manager().Event(). */
MPROC_API int mproc_manager_event(mproc_manager_t *m, mproc_proxy_t **out);
/** Manager().Barrier(parties). */
MPROC_API int mproc_manager_barrier(mproc_manager_t *m, int64_t parties, mproc_proxy_t **out);
/** Manager().Value(typecode, value): init holds the one initial value. */
MPROC_API int mproc_manager_value(mproc_manager_t *m, char typecode, const mproc_args_t *init,
                                  mproc_proxy_t **out);
/** Manager().Array(typecode, sequence): the items of items. */
MPROC_API int mproc_manager_array(mproc_manager_t *m, char typecode, const mproc_args_t *items,
                                  mproc_proxy_t **out);
/** The number of objects the server keeps (its number_of_objects()). */
MPROC_API int mproc_manager_number_of_objects(mproc_manager_t *m, size_t *n);
/** The server's debug_info() text (release with mproc_free). */
MPROC_API int mproc_manager_debug_info(mproc_manager_t *m, char **text);
/** Asks the server to stop (the 'shutdown' server function: Python's manager.shutdown() sends
 * it). Later calls on its proxies are MPROC_EPEERGONE. */
MPROC_API int mproc_manager_remote_shutdown(mproc_manager_t *m);

/** Python's SharedMemoryManager().start(): mproc_manager_start with o->shared_memory set (o
 * may be NULL). Segments created through the manager (mproc_manager_shared_memory,
 * mproc_manager_shareable_list, or Python clients' smm.SharedMemory / smm.ShareableList) are
 * unlinked when the server stops. */
MPROC_API int mproc_shared_memory_manager_start(mproc_manager_t **out,
                                                const mproc_manager_options *o);
/** smm.SharedMemory(size): creates a block of size bytes under a fresh name and has the
 * manager track it ('track_segment'); if the manager refuses, the block is unlinked again. Any
 * SharedMemoryManager server works: mproc's or Python's 3.8-3.13. */
MPROC_API int mproc_manager_shared_memory(mproc_manager_t *m, size_t size,
                                          mproc_shared_memory_t **out);
/** smm.ShareableList(items): a new ShareableList (mproc_shareable_list_new's items) tracked by
 * the manager. */
MPROC_API int mproc_manager_shareable_list(mproc_manager_t *m, const mproc_args_t *items,
                                           mproc_shareable_list_t **out);
/** The server unlinks the named segment now and stops tracking it ('release_segment'); a name
 * it does not track is MPROC_EREMOTE (Python's ValueError). */
MPROC_API int mproc_manager_release_segment(mproc_manager_t *m, const char *name);
/** The names the server tracks ('list_segments'), as a new list of str items. */
MPROC_API int mproc_manager_list_segments(mproc_manager_t *m, mproc_args_t **names);
/** Calls method on the proxy's object (Python's proxy._callmethod(method, args, kwds)): args
 * positional values, kwargs key, value, ... (either may be NULL). *result (may be NULL) is a
 * one-item list holding the return value (release with mproc_args_free); a proxy inside it is
 * read with mproc_args_get_proxy. timeout_ms: how long the method itself may wait (0 for a
 * method that never waits, MPROC_FOREVER); the call's deadline is that plus the call timeout
 * (mproc_manager_set_call_timeout), MPROC_ETIMEDOUT past it. A raised exception becomes a
 * code (KeyError and AttributeError MPROC_ENOENT, IndexError MPROC_ERANGE, queue.Empty
 * MPROC_EEMPTY, queue.Full MPROC_EFULL, TypeError MPROC_ETYPE, ValueError MPROC_EINVAL,
 * BrokenBarrierError MPROC_EBROKEN, anything else MPROC_EREMOTE) and mproc_last_error_message()
 * holds Python's text, e.g. "KeyError: 'missing'"; server failures (unknown method, a reply
 * that could not be pickled) are MPROC_EREMOTE with the traceback's last line. The server gone
 * (end of stream, reset, refused): MPROC_EPEERGONE, for this and every later call through the
 * same manager. A method that returns a new object (a \#PROXY reply) is MPROC_ETYPE here:
 * use mproc_proxy_call_proxy. Thread safety: any proxy from any thread; calls in flight at
 * the same time use different connections. */
MPROC_API int mproc_proxy_call(mproc_proxy_t *p, const char *method, const mproc_args_t *args,
                               const mproc_args_t *kwargs, int64_t timeout_ms,
                               mproc_args_t **result);
/** mproc_proxy_call with positional arguments built from format letters (mproc_args_build's),
 * e.g. mproc_proxy_callf(d, "get", 0, &r, "sn", "key"). */
MPROC_API int mproc_proxy_callf(mproc_proxy_t *p, const char *method, int64_t timeout_ms,
                                mproc_args_t **result, const char *fmt, ...);
/** A call whose result is an object: a method registered to return a typeid (a \#PROXY
 * reply), or one returning a stored proxy. *out is a new proxy. */
MPROC_API int mproc_proxy_call_proxy(mproc_proxy_t *p, const char *method,
                                     const mproc_args_t *args, const mproc_args_t *kwargs,
                                     int64_t timeout_ms, mproc_proxy_t **out);
/** A copy of the object's value (Python's proxy._getvalue(), the \#GETVALUE request), as a
 * one-item list. */
MPROC_API int mproc_proxy_getvalue(mproc_proxy_t *p, int64_t timeout_ms, mproc_args_t **value);
/** The proxy's typeid ("dict", "Queue", ...). */
MPROC_API const char *mproc_proxy_typeid(const mproc_proxy_t *p);
/** The object's id on the server (Python's token.id). */
MPROC_API const char *mproc_proxy_id(const mproc_proxy_t *p);
/** A second proxy to the same object, with a reference of its own (an 'incref'). */
MPROC_API int mproc_proxy_dup(mproc_proxy_t *p, mproc_proxy_t **out);
/** Drops the proxy's reference (a 'decref', bounded by the call timeout, skipped at once when
 * the server is gone) and frees it. NULL is accepted. Keeps mproc_last_error_message(). */
MPROC_API void mproc_proxy_free(mproc_proxy_t *p);
/** print(proxy): the object's str() as the server makes it (e.g. "{'a': 1}" for a dict,
 * as Python prints it) and a newline on stdout, flushed. */
MPROC_API int mproc_proxy_print(mproc_proxy_t *p);
/** Appends Python's array.array(typecode, items) (typecodes b B h H i I l L q Q f d; int
 * items, or float or int items for 'f' and 'd'; 'l' and 'L' as 8 bytes) in the form manager
 * peers send, e.g. to assign a slice of a manager Array. MPROC_ETYPE for other items. */
MPROC_API int mproc_args_add_pyarray(mproc_args_t *args, char typecode, const mproc_args_t *items);
/** Item i, an array.array (as a manager Array's slices and _getvalue() arrive): its typecode
 * and a new list of its items. MPROC_ETYPE when the item is not one. */
MPROC_API int mproc_args_get_pyarray(const mproc_args_t *args, size_t i, char *typecode,
                                     mproc_args_t **items);
/** A slice part that is None (l[:3] has start None): Python's slice(None, 3, None). */
#define MPROC_SLICE_NONE INT64_MIN
/** Appends Python's slice(start, stop, step), MPROC_SLICE_NONE for a part left out, e.g. as the
 * index argument of __getitem__, __setitem__ or __delitem__ in mproc_proxy_call. */
MPROC_API int mproc_args_add_slice(mproc_args_t *args, int64_t start, int64_t stop, int64_t step);
/** l[start:stop:step] of a manager list as a new list of the items (MPROC_SLICE_NONE: a part
 * left out). A zero step is MPROC_EINVAL ("ValueError: slice step cannot be zero"). */
MPROC_API int mproc_list_get_slice(mproc_proxy_t *l, int64_t start, int64_t stop, int64_t step,
                                   mproc_args_t **items);
/** l[start:stop:step] = items: with a step of 1 (or MPROC_SLICE_NONE) the slice is replaced and
 * the list may grow or shrink; an extended slice needs exactly as many items as it has
 * (MPROC_EINVAL otherwise, with Python's message). */
MPROC_API int mproc_list_set_slice(mproc_proxy_t *l, int64_t start, int64_t stop, int64_t step,
                                   const mproc_args_t *items);
/** del l[start:stop:step] of a manager list. */
MPROC_API int mproc_list_del_slice(mproc_proxy_t *l, int64_t start, int64_t stop, int64_t step);
/** Condition(lock) on the manager: a Condition that uses the manager Lock or RLock proxy lock
 * (Python's manager.Condition(lock)); mproc_manager_condition makes one with an RLock of its
 * own. */
MPROC_API int mproc_manager_condition_of(mproc_manager_t *m, mproc_proxy_t *lock,
                                         mproc_proxy_t **out);
/** Appends a proxy as a value: Python's RebuildProxy(ProxyType, Token(typeid, address, id),
 * 'pickle', kwds). In process arguments it carries the manager's key, so a child reconnects
 * under every start method; sent to a manager (as a call argument, e.g. stored in a shared
 * dict) the key is left out, as Python leaves it out. repr prints the key as \<hidden\>. */
MPROC_API int mproc_args_add_proxy(mproc_args_t *args, const mproc_proxy_t *p);
/** Item i, a proxy (from mproc_args_add_proxy, or one returned inside a result), as a new
 * proxy with a reference of its own (an 'incref', as unpickling a proxy does). A proxy without
 * a key is found again through a manager this process is connected to at the same address
 * (MPROC_ENOENT when none); MPROC_ETYPE when the item is not a proxy. */
MPROC_API int mproc_args_get_proxy(const mproc_args_t *args, size_t i, mproc_proxy_t **out);

/** d[key] = value, the two items of kv. */
MPROC_API int mproc_dict_set(mproc_proxy_t *d, const mproc_args_t *kv);
/** d[key] = value with key and value built from two format letters: ("si", "a", 1). */
MPROC_API int mproc_dict_setf(mproc_proxy_t *d, const char *fmt, ...);
/** *value = [d[key]] (key from one format letter); MPROC_ENOENT when missing. */
MPROC_API int mproc_dict_getf(mproc_proxy_t *d, mproc_args_t **value, const char *fmt, ...);
/** del d[key]; MPROC_ENOENT when missing. */
MPROC_API int mproc_dict_delf(mproc_proxy_t *d, const char *fmt, ...);
/** *value = [d.pop(key)] (a second letter gives a default); MPROC_ENOENT when missing. */
MPROC_API int mproc_dict_popf(mproc_proxy_t *d, mproc_args_t **value, const char *fmt, ...);
/** *yes = key in d. */
MPROC_API int mproc_dict_containsf(mproc_proxy_t *d, int *yes, const char *fmt, ...);
/** *n = len(d). */
MPROC_API int mproc_dict_len(mproc_proxy_t *d, size_t *n);
/** The keys, in order, as a new list. */
MPROC_API int mproc_dict_keys(mproc_proxy_t *d, mproc_args_t **keys);
/** The (key, value) tuples, in order, as a new list. */
MPROC_API int mproc_dict_items(mproc_proxy_t *d, mproc_args_t **items);
/** d.update(dict(kv)): kv is key, value, ... */
MPROC_API int mproc_dict_update(mproc_proxy_t *d, const mproc_args_t *kv);
/** l.append(value) (one format letter). */
MPROC_API int mproc_list_appendf(mproc_proxy_t *l, const char *fmt, ...);
/** *value = [l[i]] (negative i counts from the end); MPROC_ERANGE out of range. */
MPROC_API int mproc_list_get(mproc_proxy_t *l, int64_t i, mproc_args_t **value);
/** l[i] = value (one format letter); MPROC_ERANGE out of range. */
MPROC_API int mproc_list_setf(mproc_proxy_t *l, int64_t i, const char *fmt, ...);
/** l.insert(i, value) (one format letter). */
MPROC_API int mproc_list_insertf(mproc_proxy_t *l, int64_t i, const char *fmt, ...);
/** *n = len(l). */
MPROC_API int mproc_list_len(mproc_proxy_t *l, size_t *n);
/** l.extend(items). */
MPROC_API int mproc_list_extend(mproc_proxy_t *l, const mproc_args_t *items);
/** *value = [l.pop(i)]; MPROC_ERANGE when empty or out of range. */
MPROC_API int mproc_list_pop(mproc_proxy_t *l, int64_t i, mproc_args_t **value);
/** setattr(ns, name, value) (one format letter). */
MPROC_API int mproc_namespace_setf(mproc_proxy_t *ns, const char *name, const char *fmt, ...);
/** *value = [ns.name]; MPROC_ENOENT when there is no such attribute. */
MPROC_API int mproc_namespace_get(mproc_proxy_t *ns, const char *name, mproc_args_t **value);
/** delattr(ns, name); MPROC_ENOENT when there is no such attribute. */
MPROC_API int mproc_namespace_del(mproc_proxy_t *ns, const char *name);
/** q.put(item, block, timeout) on a manager Queue (item from one format letter): 0 never
 * waits, MPROC_FOREVER waits as long as it takes; MPROC_EFULL when still full. */
MPROC_API int mproc_mqueue_putf(mproc_proxy_t *q, int64_t timeout_ms, const char *fmt, ...);
/** *item = [q.get(block, timeout)]; MPROC_EEMPTY when nothing came in time. */
MPROC_API int mproc_mqueue_get(mproc_proxy_t *q, int64_t timeout_ms, mproc_args_t **item);
/** *n = q.qsize(). */
MPROC_API int mproc_mqueue_qsize(mproc_proxy_t *q, size_t *n);
/** q.task_done() (JoinableQueue). */
MPROC_API int mproc_mqueue_task_done(mproc_proxy_t *q);
/** q.join(): waits until every item put was marked done; MPROC_ETIMEDOUT past timeout_ms
 * (plus the call timeout). */
MPROC_API int mproc_mqueue_join(mproc_proxy_t *q, int64_t timeout_ms);
/** acquire(blocking, timeout) of a manager Lock, RLock, Semaphore, BoundedSemaphore or
 * Condition: 0 acquired, MPROC_ETIMEDOUT not by the timeout (0: a single try). */
MPROC_API int mproc_mlock_acquire(mproc_proxy_t *l, int64_t timeout_ms);
/** release(); releasing an unlocked Lock is MPROC_EREMOTE ("RuntimeError: release unlocked
 * lock"), a BoundedSemaphore released too often MPROC_EINVAL (ValueError). */
MPROC_API int mproc_mlock_release(mproc_proxy_t *l);
/** Queue.shutdown(immediate) of a manager Queue or JoinableQueue (Python 3.13 servers and
 * mproc's): later puts fail, and gets once the queue is empty, with MPROC_ECLOSED
 * ("queue.ShutDown"); immediate drops the items left. Older Python servers: MPROC_EREMOTE. */
MPROC_API int mproc_mqueue_shutdown(mproc_proxy_t *q, int immediate);
/** Event.set() of a manager Event. */
MPROC_API int mproc_mevent_set(mproc_proxy_t *e);
/** Event.clear(). */
MPROC_API int mproc_mevent_clear(mproc_proxy_t *e);
/** *flag = Event.is_set(). */
MPROC_API int mproc_mevent_is_set(mproc_proxy_t *e, int *flag);
/** Event.wait(timeout): 0 set, MPROC_ETIMEDOUT not set by the timeout. */
MPROC_API int mproc_mevent_wait(mproc_proxy_t *e, int64_t timeout_ms);
/** *value = [v.get()] of a manager Value. */
MPROC_API int mproc_mvalue_get(mproc_proxy_t *v, mproc_args_t **value);
/** v.set(value) (one format letter). */
MPROC_API int mproc_mvalue_setf(mproc_proxy_t *v, const char *fmt, ...);

/** @} */

#ifdef __cplusplus
}
#endif
#endif /**< MPROC_H */
