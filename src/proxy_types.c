/* SPDX-License-Identifier: MIT */
/* SyncManager's shortcuts (Manager().dict() and the rest) and typed helpers over
 * mproc_proxy_call for the methods the tutorials use, with Python's argument conventions
 * (timeouts in seconds, block=False for 0) and results (a False from acquire or wait is
 * MPROC_ETIMEDOUT here). Values are given with mproc_args_build's format letters. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proxy.h"

/* --- SyncManager --------------------------------------------------------------------------- */

static int create_f(mproc_manager_t *m, const char *typeid, mproc_proxy_t **out,
                    const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mproc_args_t *a = NULL;
  int rc = mproc_args_vbuild(&a, fmt, ap);
  va_end(ap);
  if (rc == 0)
    rc = mproc_manager_create(m, typeid, a, NULL, 0, out);
  mproc_args_free(a);
  return rc;
}

int mproc_manager_dict(mproc_manager_t *m, mproc_proxy_t **out) {
  return create_f(m, "dict", out, "");
}
int mproc_manager_list(mproc_manager_t *m, mproc_proxy_t **out) {
  return create_f(m, "list", out, "");
}
int mproc_manager_namespace(mproc_manager_t *m, mproc_proxy_t **out) {
  return create_f(m, "Namespace", out, "");
}
int mproc_manager_queue(mproc_manager_t *m, size_t maxsize, mproc_proxy_t **out) {
  return create_f(m, "Queue", out, "l", (int64_t)maxsize);
}
int mproc_manager_joinable_queue(mproc_manager_t *m, size_t maxsize, mproc_proxy_t **out) {
  return create_f(m, "JoinableQueue", out, "l", (int64_t)maxsize);
}
int mproc_manager_lock(mproc_manager_t *m, mproc_proxy_t **out) {
  return create_f(m, "Lock", out, "");
}
int mproc_manager_rlock(mproc_manager_t *m, mproc_proxy_t **out) {
  return create_f(m, "RLock", out, "");
}
int mproc_manager_semaphore(mproc_manager_t *m, int64_t value, mproc_proxy_t **out) {
  return create_f(m, "Semaphore", out, "l", value);
}
int mproc_manager_bounded_semaphore(mproc_manager_t *m, int64_t value, mproc_proxy_t **out) {
  return create_f(m, "BoundedSemaphore", out, "l", value);
}
int mproc_manager_condition(mproc_manager_t *m, mproc_proxy_t **out) {
  return create_f(m, "Condition", out, "");
}
int mproc_manager_condition_of(mproc_manager_t *m, mproc_proxy_t *lock, mproc_proxy_t **out) {
  mproc_args_t *a = NULL;
  if (lock == NULL)
    return MPROC_EINVAL;
  int rc = mproc_args_new(&a);
  if (rc == 0)
    rc = mproc_args_add_proxy(a, lock);
  if (rc == 0)
    rc = mproc_manager_create(m, "Condition", a, NULL, 0, out);
  mproc_args_free(a);
  return rc;
}
int mproc_manager_event(mproc_manager_t *m, mproc_proxy_t **out) {
  return create_f(m, "Event", out, "");
}
int mproc_manager_barrier(mproc_manager_t *m, int64_t parties, mproc_proxy_t **out) {
  return create_f(m, "Barrier", out, "l", parties);
}

static int create_typed(mproc_manager_t *m, const char *typeid, char typecode,
                        const mproc_args_t *v, int as_list, mproc_proxy_t **out) {
  char tc[2] = {typecode, '\0'};
  mproc_args_t *a = NULL;
  int rc = mproc_args_build(&a, "s", tc);
  if (rc == 0 && as_list)
    rc = mproc_args_add_list(a, v);
  else if (rc == 0 && mproc_args_count(v) != 1)
    rc = MPROC_EINVAL;
  else if (rc == 0)
    rc = mproc__args_extend(a, v, 0);
  if (rc == 0)
    rc = mproc_manager_create(m, typeid, a, NULL, 0, out);
  mproc_args_free(a);
  return rc;
}

int mproc_manager_value(mproc_manager_t *m, char typecode, const mproc_args_t *init,
                        mproc_proxy_t **out) {
  return create_typed(m, "Value", typecode, init, 0, out);
}
int mproc_manager_array(mproc_manager_t *m, char typecode, const mproc_args_t *items,
                        mproc_proxy_t **out) {
  return create_typed(m, "Array", typecode, items, 1, out);
}

/* --- calls with format-built arguments ----------------------------------------------------- */

/* Calls method with the items of pre (may be NULL) followed by those fmt builds. */
static int vcall(mproc_proxy_t *p, const char *method, const mproc_args_t *pre,
                 int64_t timeout_ms, mproc_args_t **result, const char *fmt, va_list ap) {
  mproc_args_t *a = NULL;
  int rc = mproc_args_new(&a);
  if (rc == 0 && pre)
    rc = mproc__args_extend(a, pre, 0);
  if (rc == 0 && fmt)
    rc = mproc_args_vadd(a, fmt, ap);
  if (rc == 0)
    rc = mproc_proxy_call(p, method, a, NULL, timeout_ms, result);
  mproc_args_free(a);
  return rc;
}

int mproc_proxy_callf(mproc_proxy_t *p, const char *method, int64_t timeout_ms,
                      mproc_args_t **result, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = vcall(p, method, NULL, timeout_ms, result, fmt, ap);
  va_end(ap);
  return rc;
}

#define CALLF(p, method, pre, timeout, result, fmt)                                          \
  va_list ap;                                                                                \
  va_start(ap, fmt);                                                                         \
  int rc = vcall(p, method, pre, timeout, result, fmt, ap);                                  \
  va_end(ap);                                                                                \
  return rc

/* A call with no argument, or one int64 argument, and its one result. */
static int call0(mproc_proxy_t *p, const char *method, mproc_args_t **result) {
  return mproc_proxy_call(p, method, NULL, NULL, 0, result);
}

static int call_index(mproc_proxy_t *p, const char *method, int64_t i, mproc_args_t **result) {
  return mproc_proxy_callf(p, method, 0, result, "l", i);
}

static int result_size(mproc_args_t *r, int rc, size_t *n) {
  int64_t v = 0;
  if (rc == 0 && (rc = mproc_args_get_int(r, 0, &v)) == 0)
    *n = (size_t)v;
  mproc_args_free(r);
  return rc;
}

/* A bool result: 1 / 0 into *flag. */
static int result_bool(mproc_args_t *r, int rc, int *flag) {
  if (rc == 0)
    rc = mproc_args_get_bool(r, 0, flag);
  mproc_args_free(r);
  return rc;
}

/* A container result as a new list of its items. */
static int result_items(mproc_args_t *r, int rc, mproc_args_t **items) {
  if (rc == 0)
    rc = mproc_args_type(r, 0) == MPROC_ARG_TUPLE ? mproc_args_get_tuple(r, 0, items)
                                                   : mproc_args_get_list(r, 0, items);
  mproc_args_free(r);
  return rc;
}

/* --- dict ------------------------------------------------------------------------------------ */

int mproc_dict_set(mproc_proxy_t *d, const mproc_args_t *kv) {
  if (mproc_args_count(kv) != 2)
    return MPROC_EINVAL;
  return mproc_proxy_call(d, "__setitem__", kv, NULL, 0, NULL);
}
int mproc_dict_setf(mproc_proxy_t *d, const char *fmt, ...) {
  CALLF(d, "__setitem__", NULL, 0, NULL, fmt);
}
int mproc_dict_getf(mproc_proxy_t *d, mproc_args_t **value, const char *fmt, ...) {
  CALLF(d, "__getitem__", NULL, 0, value, fmt);
}
int mproc_dict_delf(mproc_proxy_t *d, const char *fmt, ...) {
  CALLF(d, "__delitem__", NULL, 0, NULL, fmt);
}
int mproc_dict_popf(mproc_proxy_t *d, mproc_args_t **value, const char *fmt, ...) {
  CALLF(d, "pop", NULL, 0, value, fmt);
}
int mproc_dict_containsf(mproc_proxy_t *d, int *yes, const char *fmt, ...) {
  mproc_args_t *r = NULL;
  va_list ap;
  va_start(ap, fmt);
  int rc = yes ? vcall(d, "__contains__", NULL, 0, &r, fmt, ap) : MPROC_EINVAL;
  va_end(ap);
  return result_bool(r, rc, yes);
}
int mproc_dict_len(mproc_proxy_t *d, size_t *n) {
  mproc_args_t *r = NULL;
  int rc = n ? call0(d, "__len__", &r) : MPROC_EINVAL;
  return result_size(r, rc, n);
}
int mproc_dict_keys(mproc_proxy_t *d, mproc_args_t **keys) {
  mproc_args_t *r = NULL;
  int rc = keys ? call0(d, "keys", &r) : MPROC_EINVAL;
  return result_items(r, rc, keys);
}
int mproc_dict_items(mproc_proxy_t *d, mproc_args_t **items) {
  mproc_args_t *r = NULL;
  int rc = items ? call0(d, "items", &r) : MPROC_EINVAL;
  return result_items(r, rc, items);
}
/* method(value): one argument, v made a dict or a list by wrap. */
static int call_wrapped(mproc_proxy_t *p, const char *method, const mproc_args_t *v,
                        int (*wrap)(mproc_args_t *, const mproc_args_t *)) {
  mproc_args_t *a = NULL;
  int rc = mproc_args_new(&a);
  if (rc == 0)
    rc = wrap(a, v);
  if (rc == 0)
    rc = mproc_proxy_call(p, method, a, NULL, 0, NULL);
  mproc_args_free(a);
  return rc;
}

int mproc_dict_update(mproc_proxy_t *d, const mproc_args_t *kv) {
  return call_wrapped(d, "update", kv, mproc_args_add_dict);
}

/* --- list ------------------------------------------------------------------------------------ */

int mproc_list_appendf(mproc_proxy_t *l, const char *fmt, ...) {
  CALLF(l, "append", NULL, 0, NULL, fmt);
}
int mproc_list_get(mproc_proxy_t *l, int64_t i, mproc_args_t **value) {
  return call_index(l, "__getitem__", i, value);
}
/* method(i, value), the value from one format letter. */
static int call_at_index(mproc_proxy_t *l, const char *method, int64_t i, const char *fmt,
                         va_list ap) {
  mproc_args_t *pre = NULL;
  int rc = mproc_args_build(&pre, "l", i);
  if (rc == 0)
    rc = vcall(l, method, pre, 0, NULL, fmt, ap);
  mproc_args_free(pre);
  return rc;
}
int mproc_list_setf(mproc_proxy_t *l, int64_t i, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = call_at_index(l, "__setitem__", i, fmt, ap);
  va_end(ap);
  return rc;
}
int mproc_list_insertf(mproc_proxy_t *l, int64_t i, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = call_at_index(l, "insert", i, fmt, ap);
  va_end(ap);
  return rc;
}
int mproc_list_len(mproc_proxy_t *l, size_t *n) {
  mproc_args_t *r = NULL;
  int rc = n ? call0(l, "__len__", &r) : MPROC_EINVAL;
  return result_size(r, rc, n);
}
int mproc_list_extend(mproc_proxy_t *l, const mproc_args_t *items) {
  return call_wrapped(l, "extend", items, mproc_args_add_list);
}
int mproc_list_pop(mproc_proxy_t *l, int64_t i, mproc_args_t **value) {
  return call_index(l, "pop", i, value);
}

/* --- Namespace ------------------------------------------------------------------------------- */

int mproc_namespace_setf(mproc_proxy_t *ns, const char *name, const char *fmt, ...) {
  mproc_args_t *pre = NULL;
  int rc0 = mproc_args_build(&pre, "s", name);
  if (rc0 != 0)
    return rc0;
  va_list ap;
  va_start(ap, fmt);
  int rc = vcall(ns, "__setattr__", pre, 0, NULL, fmt, ap);
  va_end(ap);
  mproc_args_free(pre);
  return rc;
}
int mproc_namespace_get(mproc_proxy_t *ns, const char *name, mproc_args_t **value) {
  return mproc_proxy_callf(ns, "__getattribute__", 0, value, "s", name);
}
int mproc_namespace_del(mproc_proxy_t *ns, const char *name) {
  return mproc_proxy_callf(ns, "__delattr__", 0, NULL, "s", name);
}

/* --- Queue, JoinableQueue -------------------------------------------------------------------- */

/* Python's (block, timeout) for a timeout in ms, after the item in pre. */
static int add_block(mproc_args_t *a, int64_t timeout_ms) {
  if (timeout_ms == MPROC_FOREVER)
    return 0;
  if (timeout_ms == 0)
    return mproc_args_add_bool(a, 0);
  int rc = mproc_args_add_bool(a, 1);
  return rc ? rc : mproc_args_add_double(a, (double)timeout_ms / 1000.0);
}

int mproc_mqueue_putf(mproc_proxy_t *q, int64_t timeout_ms, const char *fmt, ...) {
  mproc_args_t *a = NULL;
  int rc = mproc_args_new(&a);
  va_list ap;
  va_start(ap, fmt);
  if (rc == 0)
    rc = mproc_args_vadd(a, fmt, ap);
  va_end(ap);
  if (rc == 0 && mproc_args_count(a) != 1)
    rc = MPROC_EINVAL;
  if (rc == 0)
    rc = add_block(a, timeout_ms);
  if (rc == 0)
    rc = mproc_proxy_call(q, "put", a, NULL, timeout_ms, NULL);
  mproc_args_free(a);
  return rc;
}
int mproc_mqueue_get(mproc_proxy_t *q, int64_t timeout_ms, mproc_args_t **item) {
  mproc_args_t *a = NULL;
  int rc = mproc_args_new(&a);
  if (rc == 0)
    rc = add_block(a, timeout_ms);
  if (rc == 0)
    rc = mproc_proxy_call(q, "get", a, NULL, timeout_ms, item);
  mproc_args_free(a);
  return rc;
}
int mproc_mqueue_qsize(mproc_proxy_t *q, size_t *n) {
  mproc_args_t *r = NULL;
  int rc = n ? call0(q, "qsize", &r) : MPROC_EINVAL;
  return result_size(r, rc, n);
}
int mproc_mqueue_shutdown(mproc_proxy_t *q, int immediate) {
  return mproc_proxy_callf(q, "shutdown", 0, NULL, "?", immediate);
}
int mproc_mqueue_task_done(mproc_proxy_t *q) { return call0(q, "task_done", NULL); }
int mproc_mqueue_join(mproc_proxy_t *q, int64_t timeout_ms) {
  return mproc_proxy_call(q, "join", NULL, NULL, timeout_ms, NULL);
}

/* --- Lock, RLock, Semaphore, BoundedSemaphore, Condition -------------------------------------- */

static int timed_bool(mproc_proxy_t *p, const char *method, int64_t timeout_ms, int block_arg) {
  mproc_args_t *a = NULL, *r = NULL;
  int rc = mproc_args_new(&a);
  if (rc == 0 && block_arg)
    rc = add_block(a, timeout_ms); /* acquire(blocking, timeout) */
  else if (rc == 0 && timeout_ms != MPROC_FOREVER)
    rc = mproc_args_add_double(a, (double)timeout_ms / 1000.0); /* wait(timeout) */
  if (rc == 0)
    rc = mproc_proxy_call(p, method, a, NULL, timeout_ms, &r);
  int got = 0;
  rc = result_bool(r, rc, &got);
  mproc_args_free(a);
  return rc == 0 && !got ? MPROC_ETIMEDOUT : rc;
}

int mproc_mlock_acquire(mproc_proxy_t *l, int64_t timeout_ms) {
  return timed_bool(l, "acquire", timeout_ms, 1);
}
int mproc_mlock_release(mproc_proxy_t *l) { return call0(l, "release", NULL); }

/* --- Event ----------------------------------------------------------------------------------- */

int mproc_mevent_set(mproc_proxy_t *e) { return call0(e, "set", NULL); }
int mproc_mevent_clear(mproc_proxy_t *e) { return call0(e, "clear", NULL); }
int mproc_mevent_is_set(mproc_proxy_t *e, int *flag) {
  mproc_args_t *r = NULL;
  int rc = flag ? call0(e, "is_set", &r) : MPROC_EINVAL;
  return result_bool(r, rc, flag);
}
int mproc_mevent_wait(mproc_proxy_t *e, int64_t timeout_ms) {
  return timed_bool(e, "wait", timeout_ms, 0);
}

/* --- Value ----------------------------------------------------------------------------------- */

int mproc_mvalue_get(mproc_proxy_t *v, mproc_args_t **value) { return call0(v, "get", value); }
int mproc_mvalue_setf(mproc_proxy_t *v, const char *fmt, ...) {
  CALLF(v, "set", NULL, 0, NULL, fmt);
}

/* --- made from a value, printed ------------------------------------------------------------- */

/* typeid(value): item 0 of v as the one argument (a list's items, a dict's pairs). */
static int create_from(mproc_manager_t *m, const char *typeid, const mproc_args_t *v,
                       int (*wrap)(mproc_args_t *, const mproc_args_t *), mproc_proxy_t **out) {
  mproc_args_t *a = NULL;
  int rc = mproc_args_new(&a);
  if (rc == 0)
    rc = wrap(a, v);
  if (rc == 0)
    rc = mproc_manager_create(m, typeid, a, NULL, 0, out);
  mproc_args_free(a);
  return rc;
}

int mproc_manager_list_from(mproc_manager_t *m, const mproc_args_t *items, mproc_proxy_t **out) {
  return items ? create_from(m, "list", items, mproc_args_add_list, out)
               : mproc_manager_list(m, out);
}

int mproc_manager_dict_from(mproc_manager_t *m, const mproc_args_t *kv, mproc_proxy_t **out) {
  return kv ? create_from(m, "dict", kv, mproc_args_add_dict, out) : mproc_manager_dict(m, out);
}

int mproc_proxy_print(mproc_proxy_t *p) {
  mproc_args_t *r = NULL;
  const char *s = NULL;
  int rc = call0(p, "__str__", &r);
  if (rc == 0)
    rc = mproc_args_get_str(r, 0, &s);
  if (rc == 0 && (printf("%s\n", s) < 0 || fflush(stdout) != 0))
    rc = MPROC_EOS;
  mproc_args_free(r);
  return rc;
}
