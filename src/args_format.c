/* SPDX-License-Identifier: MIT */
/* Format letters: building, extending and parsing argument lists in one call, objects and
 * functions included, with a message naming the position and both types when an item does not
 * match its letter. Only the public calls of args.c are used here. */
#include <stdint.h>
#include <string.h>

#include "internal.h"

const char *mproc_arg_type_name(int type) {
  switch (type) {
  case MPROC_ARG_INT: return "int";
  case MPROC_ARG_DOUBLE: return "float";
  case MPROC_ARG_BYTES: return "bytes";
  case MPROC_ARG_STR: return "str";
  case MPROC_ARG_CONN: return "connection";
  case MPROC_ARG_NONE: return "None";
  case MPROC_ARG_LOCK: return "lock";
  case MPROC_ARG_SEMAPHORE: return "semaphore";
  case MPROC_ARG_CONDITION: return "condition";
  case MPROC_ARG_EVENT: return "event";
  case MPROC_ARG_BARRIER: return "barrier";
  case MPROC_ARG_VALUE: return "value";
  case MPROC_ARG_ARRAY: return "array";
  case MPROC_ARG_QUEUE: return "queue";
  case MPROC_ARG_FUNC: return "function";
  case MPROC_ARG_BOOL: return "bool";
  case MPROC_ARG_BIGINT: return "int";
  case MPROC_ARG_TUPLE: return "tuple";
  case MPROC_ARG_LIST: return "list";
  case MPROC_ARG_DICT: return "dict";
  case MPROC_ARG_PYOBJECT: return "object";
  default: return "unknown";
  }
}

/* The type a letter stands for, or 0 for a letter that is not one. */
static int letter_type(char c) {
  switch (c) {
  case 'i': case 'l': return MPROC_ARG_INT;
  case 'd': return MPROC_ARG_DOUBLE;
  case 's': return MPROC_ARG_STR;
  case 'y': return MPROC_ARG_BYTES;
  case 'n': return MPROC_ARG_NONE;
  case '?': return MPROC_ARG_BOOL;
  case 'P': return MPROC_ARG_CONN;
  case 'Q': return MPROC_ARG_QUEUE;
  case 'L': return MPROC_ARG_LOCK;
  case 'S': return MPROC_ARG_SEMAPHORE;
  case 'C': return MPROC_ARG_CONDITION;
  case 'E': return MPROC_ARG_EVENT;
  case 'B': return MPROC_ARG_BARRIER;
  case 'V': return MPROC_ARG_VALUE;
  case 'A': return MPROC_ARG_ARRAY;
  case 'F': return MPROC_ARG_FUNC;
  case 'M': return MPROC_ARG_PYOBJECT; /* a manager proxy travels as Python's RebuildProxy */
  default: return 0;
  }
}

static int add_object(mproc_args_t *a, char c, void *obj) {
  switch (c) {
  case 'P': return mproc_args_add_conn(a, obj);
  case 'Q': return mproc_args_add_queue(a, obj);
  case 'L': return mproc_args_add_lock(a, obj);
  case 'S': return mproc_args_add_semaphore(a, obj);
  case 'C': return mproc_args_add_condition(a, obj);
  case 'E': return mproc_args_add_event(a, obj);
  case 'B': return mproc_args_add_barrier(a, obj);
  case 'V': return mproc_args_add_value(a, obj);
  case 'M': return mproc_args_add_proxy(a, obj);
  default: return mproc_args_add_array(a, obj);
  }
}

static int build_one(mproc_args_t *a, char c, va_list *ap) {
  switch (c) {
  case 'i':
    return mproc_args_add_int(a, va_arg(*ap, int));
  case 'l':
    return mproc_args_add_int(a, va_arg(*ap, int64_t));
  case 'd':
    return mproc_args_add_double(a, va_arg(*ap, double));
  case 's':
    return mproc_args_add_str(a, va_arg(*ap, const char *));
  case 'y': {
    const void *p = va_arg(*ap, const void *);
    return mproc_args_add_bytes(a, p, va_arg(*ap, size_t));
  }
  case 'n':
    return mproc_args_add_none(a);
  case '?':
    return mproc_args_add_bool(a, va_arg(*ap, int));
  case 'F':
    return mproc_args_add_func(a, va_arg(*ap, mproc_fn));
  default:
    return letter_type(c) ? add_object(a, c, va_arg(*ap, void *)) : MPROC_EINVAL;
  }
}

int mproc_args_vadd(mproc_args_t *a, const char *fmt, va_list ap) {
  if (a == NULL || fmt == NULL)
    return MPROC_EINVAL;
  mproc__clear_error_message();
  size_t start = mproc_args_count(a), pos = 0;
  int rc = 0;
  va_list cp;
  va_copy(cp, ap);
  for (const char *f = fmt; rc == 0 && *f; f++, pos++) {
    if (*f == ' ')
      pos--;
    else if ((rc = build_one(a, *f, &cp)) != 0 && mproc_last_error_message()[0] == '\0')
      mproc__set_error_message("argument %zu (format '%c'): %s", start + pos, *f,
                               letter_type(*f) ? mproc_strerror(rc) : "unknown format letter");
  }
  va_end(cp);
  return rc;
}

int mproc_args_add(mproc_args_t *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = mproc_args_vadd(a, fmt, ap);
  va_end(ap);
  return rc;
}

int mproc_args_vbuild(mproc_args_t **out, const char *fmt, va_list ap) {
  if (out == NULL || fmt == NULL)
    return MPROC_EINVAL;
  mproc_args_t *a;
  int rc = mproc_args_new(&a);
  if (rc == 0)
    rc = mproc_args_vadd(a, fmt, ap);
  if (rc != 0) {
    mproc_args_free(a);
    a = NULL;
  }
  *out = a;
  return rc;
}

int mproc_args_build(mproc_args_t **out, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = mproc_args_vbuild(out, fmt, ap);
  va_end(ap);
  return rc;
}

static int get_object(const mproc_args_t *a, size_t i, char c, void **out) {
  switch (c) {
  case 'P': return mproc_args_get_conn(a, i, (mproc_conn_t **)out);
  case 'Q': return mproc_args_get_queue(a, i, (mproc_queue_t **)out);
  case 'L': return mproc_args_get_lock(a, i, (mproc_lock_t **)out);
  case 'S': return mproc_args_get_semaphore(a, i, (mproc_semaphore_t **)out);
  case 'C': return mproc_args_get_condition(a, i, (mproc_condition_t **)out);
  case 'E': return mproc_args_get_event(a, i, (mproc_event_t **)out);
  case 'B': return mproc_args_get_barrier(a, i, (mproc_barrier_t **)out);
  case 'V': return mproc_args_get_value(a, i, (mproc_value_t **)out);
  case 'M': return mproc_args_get_proxy(a, i, (mproc_proxy_t **)out); /* a new proxy */
  default: return mproc_args_get_array(a, i, (mproc_array_t **)out);
  }
}

/* 'F' stores into a function pointer of the caller's own type: all function pointers share one
 * representation on every platform the library supports, so the bytes are copied. */
static int parse_func(const mproc_args_t *a, size_t i, void *dst) {
  mproc_fn fn;
  int rc = mproc_args_get_func(a, i, &fn);
  if (rc == 0)
    memcpy(dst, &fn, sizeof fn);
  return rc;
}

static int parse_one(const mproc_args_t *a, size_t i, char c, va_list *ap) {
  int64_t v;
  int rc;
  switch (c) {
  case 'i':
    if ((rc = mproc_args_get_int(a, i, &v)) != 0)
      return rc;
    if (v < INT32_MIN || v > INT32_MAX) {
      mproc__set_error_message("argument %zu: %lld does not fit format 'i' (int)", i,
                               (long long)v);
      return MPROC_ERANGE;
    }
    *va_arg(*ap, int *) = (int)v;
    return 0;
  case 'l':
    return mproc_args_get_int(a, i, va_arg(*ap, int64_t *));
  case 'd':
    return mproc_args_get_double(a, i, va_arg(*ap, double *));
  case 's':
    return mproc_args_get_str(a, i, va_arg(*ap, const char **));
  case 'y': {
    const void **p = va_arg(*ap, const void **);
    return mproc_args_get_bytes(a, i, p, va_arg(*ap, size_t *));
  }
  case 'n':
    rc = mproc_args_type(a, i);
    return rc == MPROC_ARG_NONE ? 0 : rc < 0 ? rc : MPROC_ETYPE;
  case '?':
    return mproc_args_get_bool(a, i, va_arg(*ap, int *));
  case 'F':
    return parse_func(a, i, va_arg(*ap, void *));
  default:
    return get_object(a, i, c, va_arg(*ap, void **));
  }
}

static const char *article(const char *noun) {
  return strchr("aeiou", noun[0]) ? "an" : "a";
}

/* The message for an item that does not match its letter. */
static void mismatch(const mproc_args_t *a, size_t i, char c, int rc) {
  const char *want = mproc_arg_type_name(letter_type(c));
  int t = mproc_args_type(a, i);
  if (rc == MPROC_ETYPE)
    mproc__set_error_message("argument %zu: format '%c' wants %s %s, the list holds %s %s", i,
                             c, article(want), want, article(mproc_arg_type_name(t)),
                             mproc_arg_type_name(t));
  else if (rc == MPROC_ERANGE && t == MPROC_ERANGE)
    mproc__set_error_message("argument %zu: format '%c' wants %s %s, the list has only %zu "
                             "item%s", i, c, article(want), want, mproc_args_count(a),
                             mproc_args_count(a) == 1 ? "" : "s");
}

/* Parses a with fmt; letters outside `allowed` (NULL: any) are refused up front. */
static int vparse(const mproc_args_t *a, const char *fmt, const char *allowed, va_list *ap) {
  if (a == NULL || fmt == NULL)
    return MPROC_EINVAL;
  mproc__clear_error_message();
  for (const char *f = fmt; *f; f++)
    if (*f != ' ' && (letter_type(*f) == 0 || (allowed && strchr(allowed, *f) == NULL))) {
      mproc__set_error_message("format '%s': %s letter '%c'", fmt,
                               letter_type(*f) ? "this call cannot take the" : "unknown", *f);
      return MPROC_EINVAL;
    }
  int rc = 0;
  size_t i = 0, nproxies = 0;
  mproc_proxy_t **proxies[16]; /* 'M' items parsed so far: new proxies the caller would own */
  for (const char *f = fmt; rc == 0 && *f; f++) {
    if (*f == ' ')
      continue;
    void *dst = NULL;
    if (*f == 'M') {
      va_list cp;
      va_copy(cp, *ap);
      dst = va_arg(cp, void *);
      va_end(cp);
    }
    if ((rc = parse_one(a, i, *f, ap)) != 0)
      mismatch(a, i, *f, rc);
    else if (*f == 'M' && nproxies < sizeof proxies / sizeof proxies[0])
      proxies[nproxies++] = dst;
    i++;
  }
  for (size_t k = 0; rc != 0 && k < nproxies; k++) { /* a failed parse hands out nothing */
    mproc_proxy_free(*proxies[k]);
    *proxies[k] = NULL;
  }
  return rc;
}

int mproc_args_parse(const mproc_args_t *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vparse(a, fmt, NULL, &ap);
  va_end(ap);
  return rc;
}

/* Process(target, args=(...)) with the list built from fmt; *out is NULL on failure. */
static int vnewf(mproc_process_t **out, mproc_target_fn target, const char *fmt, va_list ap) {
  if (out == NULL || fmt == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  mproc_args_t *a;
  int rc = mproc_args_vbuild(&a, fmt, ap);
  if (rc == 0)
    rc = mproc_process_new(out, target, a);
  mproc_args_free(a);
  return rc;
}

int mproc_process_newf(mproc_process_t **out, mproc_target_fn target, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vnewf(out, target, fmt, ap);
  va_end(ap);
  return rc;
}

int mproc_process_startf(mproc_process_t **out, mproc_target_fn target, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vnewf(out, target, fmt, ap);
  va_end(ap);
  if (rc == 0 && (rc = mproc_process_start(*out)) != 0) {
    mproc_process_free(*out);
    *out = NULL;
  }
  return rc;
}

int mproc_queue_putf(mproc_queue_t *q, int64_t timeout_ms, const char *fmt, ...) {
  mproc_args_t *a = NULL;
  va_list ap;
  va_start(ap, fmt);
  int rc = mproc_args_vbuild(&a, fmt, ap);
  va_end(ap);
  if (rc == 0)
    rc = mproc_queue_put_values(q, a, timeout_ms);
  mproc_args_free(a);
  return rc;
}

int mproc_conn_sendf(mproc_conn_t *c, const char *fmt, ...) {
  mproc_args_t *a = NULL;
  va_list ap;
  va_start(ap, fmt);
  int rc = mproc_args_vbuild(&a, fmt, ap);
  va_end(ap);
  if (rc == 0)
    rc = mproc_conn_send(c, a);
  mproc_args_free(a);
  return rc;
}

/* --- receiving into variables ---------------------------------------------------------------- *
 * The list a receive returns is freed before these return, so only letters whose value is
 * copied out are taken: i l d n. */

#define COPIED_LETTERS "ildn"

/* 0 when fmt has only letters whose value is copied out (checked before anything is taken). */
static int copied_only(const char *fmt) {
  if (fmt == NULL)
    return MPROC_EINVAL;
  for (const char *f = fmt; *f; f++)
    if (*f != ' ' && strchr(COPIED_LETTERS, *f) == NULL) {
      mproc__set_error_message("format '%s': letter '%c' cannot be read from a message that is "
                               "freed before the call returns (letters i l d n only)", fmt, *f);
      return MPROC_EINVAL;
    }
  return 0;
}

/* Where a receiving call takes its message from. */
typedef enum { FROM_CONN, FROM_QUEUE, FROM_RESULT, FROM_RESULT_NEXT } source;

static int fetch(source from, void *obj, int64_t timeout_ms, mproc_args_t **got) {
  switch (from) {
  case FROM_CONN: return mproc_conn_recv(obj, timeout_ms, got);
  case FROM_QUEUE: return mproc_queue_get_values(obj, timeout_ms, got);
  case FROM_RESULT: return mproc_result_get(obj, timeout_ms, got);
  default: return mproc_result_next(obj, timeout_ms, got, NULL);
  }
}

/* A message that is just None (the usual end of a stream) received from a connection or a
 * queue with a format that does not ask for a None. */
static int is_none_sentinel(source from, const mproc_args_t *got, const char *fmt) {
  while (*fmt == ' ')
    fmt++;
  return (from == FROM_CONN || from == FROM_QUEUE) && *fmt != 'n' &&
         mproc_args_count(got) == 1 && mproc_args_type(got, 0) == MPROC_ARG_NONE;
}

/* Checks fmt, takes one message, reads it into the caller's variables and frees it. */
static int vgetf(source from, void *obj, int64_t timeout_ms, const char *fmt, va_list *ap) {
  mproc_args_t *got = NULL;
  int rc = copied_only(fmt);
  if (rc == 0)
    rc = fetch(from, obj, timeout_ms, &got);
  if (rc == 0 && is_none_sentinel(from, got, fmt))
    rc = MPROC_GOT_NONE;
  else if (rc == 0)
    rc = vparse(got, fmt, COPIED_LETTERS, ap);
  mproc_args_free(got);
  return rc;
}

#define GETF(from, obj)                                                                      \
  va_list ap;                                                                                \
  va_start(ap, fmt);                                                                         \
  int rc = vgetf(from, obj, timeout_ms, fmt, &ap);                                           \
  va_end(ap);                                                                                \
  return rc

int mproc_conn_recvf(mproc_conn_t *c, int64_t timeout_ms, const char *fmt, ...) {
  GETF(FROM_CONN, c);
}

int mproc_queue_getf(mproc_queue_t *q, int64_t timeout_ms, const char *fmt, ...) {
  GETF(FROM_QUEUE, q);
}

int mproc_result_getf(mproc_result_t *res, int64_t timeout_ms, const char *fmt, ...) {
  GETF(FROM_RESULT, res);
}

int mproc_result_nextf(mproc_result_t *res, int64_t timeout_ms, const char *fmt, ...) {
  GETF(FROM_RESULT_NEXT, res);
}

int mproc_pool_apply_asyncf(mproc_pool_t *pool, mproc_task_fn fn, mproc_result_t **out,
                            const char *fmt, ...) {
  if (out == NULL || fmt == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  mproc_args_t *a;
  va_list ap;
  va_start(ap, fmt);
  int rc = mproc_args_vbuild(&a, fmt, ap);
  va_end(ap);
  if (rc == 0)
    rc = mproc_pool_apply_async(pool, fn, a, NULL, out);
  mproc_args_free(a);
  return rc;
}

/* --- lists for Pool.map in one call ---------------------------------------------------------- */

int mproc_args_from_ints(mproc_args_t **out, const int64_t *values, size_t n) {
  if (out == NULL || (values == NULL && n > 0))
    return MPROC_EINVAL;
  int rc = mproc_args_new(out);
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = mproc_args_add_int(*out, values[i]);
  if (rc != 0 && *out != NULL) {
    mproc_args_free(*out);
    *out = NULL;
  }
  return rc;
}

int mproc_args_from_doubles(mproc_args_t **out, const double *values, size_t n) {
  if (out == NULL || (values == NULL && n > 0))
    return MPROC_EINVAL;
  int rc = mproc_args_new(out);
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = mproc_args_add_double(*out, values[i]);
  if (rc != 0 && *out != NULL) {
    mproc_args_free(*out);
    *out = NULL;
  }
  return rc;
}

/* len(range(start, stop, step)), computed without overflow: the span fits in uint64_t. */
static uint64_t range_len(int64_t start, int64_t stop, int64_t step) {
  if (step > 0 && start < stop)
    return ((uint64_t)stop - (uint64_t)start - 1) / (uint64_t)step + 1;
  if (step < 0 && start > stop)
    return ((uint64_t)start - (uint64_t)stop - 1) / (0 - (uint64_t)step) + 1;
  return 0;
}

int mproc_args_range(mproc_args_t **out, int64_t start, int64_t stop, int64_t step) {
  if (out == NULL || step == 0)
    return MPROC_EINVAL;
  uint64_t n = range_len(start, stop, step);
  if (n > MPROC_ARGS_MAX_BYTES / 8)
    return MPROC_EMSGSIZE;
  int rc = mproc_args_new(out);
  uint64_t v = (uint64_t)start; /* two's complement steps: no signed overflow on the way */
  for (uint64_t i = 0; rc == 0 && i < n; i++, v += (uint64_t)step)
    rc = mproc_args_add_int(*out, (int64_t)v);
  if (rc != 0 && *out != NULL) {
    mproc_args_free(*out);
    *out = NULL;
  }
  return rc;
}
