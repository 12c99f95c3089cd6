/* SPDX-License-Identifier: MIT */
/* Built-in typeids Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event and Barrier:
 * Python's threading objects kept by the server. An owner is the server thread serving the
 * caller's connection (one per client thread, as in Python), named by its thread token. Waits
 * honour their timeouts and end with an error when the server stops. */
#include <string.h>

#include "manager_server.h"
#include "alloc.h"

enum { K_LOCK, K_RLOCK, K_SEM, K_BSEM };

typedef struct msync {
  int kind;
  int64_t value, initial; /* Lock: 1 free, 0 held; semaphores: the counter */
  uint64_t owner;         /* RLock */
  int64_t depth;          /* RLock */
} msync;

static int stopped(mproc_args_t *res) {
  return mproc_manager_raise(res, "builtins", "RuntimeError", "the manager is shutting down");
}

static int sync_new(int kind, int64_t value, void **obj) {
  msync *x = mproc__calloc(1, sizeof *x);
  if (x == NULL)
    return MPROC_ENOMEM;
  x->kind = kind;
  x->value = x->initial = value;
  *obj = x;
  return 0;
}

static void sync_destroy(void *obj, void *ctx) {
  (void)ctx;
  mproc__free(obj);
}

static int lock_create(const mproc_args_t *a, const mproc_args_t *kw, void **obj, void *ctx) {
  (void)a, (void)kw, (void)ctx;
  return sync_new(K_LOCK, 1, obj);
}

static int rlock_create(const mproc_args_t *a, const mproc_args_t *kw, void **obj, void *ctx) {
  (void)a, (void)kw, (void)ctx;
  return sync_new(K_RLOCK, 1, obj);
}

static int sem_value(const mproc_args_t *a, const mproc_args_t *kw, int64_t *v) {
  mgr_val x;
  *v = 1;
  if (mproc__mgr_arg(a, kw, 0, "value", &x) && mproc__mgr_val_int(&x, v) != 0)
    return MPROC_ETYPE;
  if (*v < 0) {
    mproc__set_error_message("semaphore initial value must be >= 0");
    return MPROC_EINVAL;
  }
  return 0;
}

static int sem_create(const mproc_args_t *a, const mproc_args_t *kw, void **obj, void *ctx) {
  int64_t v;
  (void)ctx;
  int rc = sem_value(a, kw, &v);
  return rc ? rc : sync_new(K_SEM, v, obj);
}

static int bsem_create(const mproc_args_t *a, const mproc_args_t *kw, void **obj, void *ctx) {
  int64_t v;
  (void)ctx;
  int rc = sem_value(a, kw, &v);
  return rc ? rc : sync_new(K_BSEM, v, obj);
}

/* One attempt (gil held): 1 acquired. */
static int try_take(msync *x, uint64_t me) {
  if (x->kind == K_RLOCK) {
    if (x->depth > 0 && x->owner != me)
      return 0;
    x->owner = me;
    x->depth++;
    return 1;
  }
  if (x->value <= 0)
    return 0;
  x->value--;
  return 1;
}

/* acquire(blocking=True, timeout=-1): Lock and RLock; semaphores take timeout=None. */
static int take(msync *x, mgr_srv *s, int64_t deadline, int *got) {
  uint64_t me = mproc__os_thread_token();
  int rc = 0;
  while (!(*got = try_take(x, me)) && rc == 0)
    rc = deadline == 0 ? MPROC_ETIMEDOUT : mproc__mgr_wait(s, deadline);
  return rc == MPROC_ETIMEDOUT ? 0 : rc;
}

static int acquire_args(const mproc_args_t *a, const mproc_args_t *kw, int64_t *deadline) {
  mgr_val b, t;
  int block = !mproc__mgr_arg(a, kw, 0, "blocking", &b) || mproc__mgr_truth(&b);
  int64_t ms = MPROC_FOREVER;
  if (mproc__mgr_arg(a, kw, 1, "timeout", &t)) {
    double d = 0;
    if (t.type == MPROC_ARG_DOUBLE)
      memcpy(&d, t.p, 8);
    int neg_one = (t.type == MPROC_ARG_DOUBLE && d == -1.0) ||
                  (t.type == MPROC_ARG_INT && t.p[0] == 0xff && t.p[7] == 0xff);
    if (!neg_one) {
      if (!block && t.type != MPROC_ARG_NONE) {
        mproc__set_error_message("can't specify a timeout for a non-blocking call");
        return MPROC_EINVAL;
      }
      int rc = mproc__mgr_timeout_ms(&t, &ms);
      if (rc != 0)
        return rc;
    }
  }
  *deadline = block ? mproc__os_deadline(ms) : 0;
  return 0;
}

MGR_METHOD(s_acquire) {
  int64_t deadline;
  int got = 0, rc = acquire_args(a, kw, &deadline);
  if (rc != 0)
    return rc;
  MGR_LOCK(ctx);
  rc = take(obj, ctx, deadline, &got);
  MGR_UNLOCK(ctx);
  if (rc == MPROC_ECLOSED)
    return stopped(res);
  return rc ? rc : mproc_args_add_bool(res, got);
}

/* One release (gil held): 0, or raised into res. */
static int give(msync *x, mproc_args_t *res, int64_t n) {
  switch (x->kind) {
  case K_LOCK:
    if (x->value > 0)
      return mproc_manager_raise(res, "builtins", "RuntimeError", "release unlocked lock");
    x->value = 1;
    return 0;
  case K_RLOCK:
    if (x->depth == 0 || x->owner != mproc__os_thread_token())
      return mproc_manager_raise(res, "builtins", "RuntimeError",
                                 "cannot release un-acquired lock");
    if (--x->depth == 0)
      x->owner = 0;
    return 0;
  case K_BSEM:
    if (x->value + n > x->initial)
      return mproc_manager_raise(res, "builtins", "ValueError",
                                 "Semaphore released too many times");
    x->value += n;
    return 0;
  default:
    x->value += n;
    return 0;
  }
}

MGR_METHOD(s_release) {
  msync *x = obj;
  mgr_val v;
  int64_t n = 1;
  if ((x->kind == K_SEM || x->kind == K_BSEM) && mproc__mgr_arg(a, kw, 0, "n", &v) &&
      (mproc__mgr_val_int(&v, &n) != 0 || n < 1))
    return mproc_manager_raise(res, "builtins", "ValueError", "n must be one or more");
  MGR_LOCK(ctx);
  int rc = give(x, res, n);
  if (rc == 0)
    MGR_WAKE(ctx);
  MGR_UNLOCK(ctx);
  return rc;
}

static const mproc_manager_method lock_methods[] = {{"acquire", s_acquire, NULL, 1},
                                                    {"release", s_release, NULL, 0}};

/* --- Condition (its own RLock, or the Lock / RLock given) ----------------------------------- */

typedef struct waiter {
  int notified;
  struct waiter *next;
} waiter;

typedef struct mcond {
  msync own;   /* the lock when none was given */
  msync *lock; /* &own, or the server's Lock / RLock object a Condition(lock) was made with */
  waiter *waiters;
} mcond;

/* Condition(lock): a proxy of this server's Lock or RLock (kept from then on, as Python keeps
 * the proxy its Condition holds); None or nothing: an RLock of its own. */
static int cond_lock(const mproc_args_t *a, const mproc_args_t *kw, mgr_srv *s, msync **out) {
  static const char *const locks[] = {"Lock", "RLock", NULL};
  mgr_val l;
  *out = NULL;
  if (!mproc__mgr_arg(a, kw, 0, "lock", &l) || l.type == MPROC_ARG_NONE)
    return 0;
  void *obj = mproc__mgr_proxy_target(s, &l, locks);
  if (obj == NULL) {
    mproc__set_error_message("Condition(lock) takes a Lock or RLock of this manager");
    return MPROC_ETYPE;
  }
  *out = obj;
  return 0;
}

static int cond_create(const mproc_args_t *a, const mproc_args_t *kw, void **obj, void *ctx) {
  msync *lock;
  int rc = cond_lock(a, kw, ctx, &lock);
  if (rc != 0)
    return rc;
  mcond *c = mproc__calloc(1, sizeof *c);
  if (c == NULL)
    return MPROC_ENOMEM;
  c->own.kind = K_RLOCK;
  c->own.value = 1;
  c->lock = lock ? lock : &c->own;
  *obj = c;
  return 0;
}

/* Python's _is_owned: an RLock held by this thread; a Lock held by anyone. */
static int owned(const mcond *c) {
  const msync *l = c->lock;
  if (l->kind == K_LOCK)
    return l->value <= 0;
  return l->depth > 0 && l->owner == mproc__os_thread_token();
}

MGR_METHOD(c_acquire) { return s_acquire(((mcond *)obj)->lock, a, kw, res, ctx); }
MGR_METHOD(c_release) { return s_release(((mcond *)obj)->lock, a, kw, res, ctx); }

/* Releases the lock whatever its depth; returns the depth to restore. */
static int64_t release_all(msync *l) {
  int64_t depth = l->depth;
  if (l->kind == K_LOCK) {
    l->value = 1;
  } else {
    l->depth = 0;
    l->owner = 0;
  }
  return depth;
}

static void unlink_waiter(mcond *c, waiter *w) {
  for (waiter **pp = &c->waiters; *pp; pp = &(*pp)->next)
    if (*pp == w) {
      *pp = w->next;
      return;
    }
}

/* wait(timeout=None): releases the lock fully, waits for a notify, takes it back. */
MGR_METHOD(c_wait) {
  mcond *c = obj;
  mgr_val t;
  int64_t ms = MPROC_FOREVER;
  if (mproc__mgr_arg(a, kw, 0, "timeout", &t) && mproc__mgr_timeout_ms(&t, &ms) != 0)
    return MPROC_ETYPE;
  int64_t deadline = mproc__os_deadline(ms);
  MGR_LOCK(ctx);
  if (!owned(c)) {
    MGR_UNLOCK(ctx);
    return mproc_manager_raise(res, "builtins", "RuntimeError", "cannot wait on un-acquired lock");
  }
  waiter w = {0, c->waiters};
  c->waiters = &w;
  int64_t depth = release_all(c->lock);
  MGR_WAKE(ctx);
  int rc = 0;
  while (!w.notified && rc == 0)
    rc = mproc__mgr_wait(ctx, deadline);
  if (!w.notified)
    unlink_waiter(c, &w);
  int got = 0;
  while (!got && rc != MPROC_ECLOSED) { /* take the lock back, as Python does, without limit */
    int r = take(c->lock, ctx, OS_NO_DEADLINE, &got);
    if (r == MPROC_ECLOSED)
      rc = r;
  }
  if (got && c->lock->kind == K_RLOCK)
    c->lock->depth = depth;
  MGR_UNLOCK(ctx);
  if (rc == MPROC_ECLOSED)
    return stopped(res);
  return mproc_args_add_bool(res, w.notified);
}

static int notify(mcond *c, mproc_args_t *res, void *ctx, int64_t n) {
  MGR_LOCK(ctx);
  int rc = 0;
  if (!owned(c)) {
    rc = mproc_manager_raise(res, "builtins", "RuntimeError", "cannot notify on un-acquired lock");
  } else {
    /* the oldest waiters are at the end of the list */
    size_t count = 0;
    for (waiter *w = c->waiters; w; w = w->next)
      count++;
    while (c->waiters && (n < 0 || n-- > 0)) {
      waiter **pp = &c->waiters;
      while ((*pp)->next)
        pp = &(*pp)->next;
      (*pp)->notified = 1;
      *pp = NULL;
    }
    (void)count;
    MGR_WAKE(ctx);
  }
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(c_notify) {
  mgr_val v;
  int64_t n = 1;
  if (mproc__mgr_arg(a, kw, 0, "n", &v) && mproc__mgr_val_int(&v, &n) != 0)
    return MPROC_ETYPE;
  return notify(obj, res, ctx, n < 0 ? 0 : n);
}

MGR_METHOD(c_notify_all) {
  (void)a, (void)kw;
  return notify(obj, res, ctx, -1);
}

static const mproc_manager_method cond_methods[] = {
    {"acquire", c_acquire, NULL, 1}, {"release", c_release, NULL, 0},
    {"wait", c_wait, NULL, 1},       {"notify", c_notify, NULL, 0},
    {"notify_all", c_notify_all, NULL, 0}};

/* --- Event ------------------------------------------------------------------------------------ */

static int event_create(const mproc_args_t *a, const mproc_args_t *kw, void **obj, void *ctx) {
  (void)a, (void)kw, (void)ctx;
  return sync_new(K_LOCK, 0, obj); /* value: the flag */
}

MGR_METHOD(e_is_set) {
  (void)a, (void)kw;
  MGR_LOCK(ctx);
  int rc = mproc_args_add_bool(res, ((msync *)obj)->value != 0);
  MGR_UNLOCK(ctx);
  return rc;
}

MGR_METHOD(e_set) {
  (void)a, (void)kw, (void)res;
  MGR_LOCK(ctx);
  ((msync *)obj)->value = 1;
  MGR_WAKE(ctx);
  MGR_UNLOCK(ctx);
  return 0;
}

MGR_METHOD(e_clear) {
  (void)a, (void)kw, (void)res;
  MGR_LOCK(ctx);
  ((msync *)obj)->value = 0;
  MGR_UNLOCK(ctx);
  return 0;
}

MGR_METHOD(e_wait) {
  mgr_val t;
  int64_t ms = MPROC_FOREVER;
  if (mproc__mgr_arg(a, kw, 0, "timeout", &t) && mproc__mgr_timeout_ms(&t, &ms) != 0)
    return MPROC_ETYPE;
  int64_t deadline = mproc__os_deadline(ms);
  msync *x = obj;
  MGR_LOCK(ctx);
  int rc = 0;
  while (x->value == 0 && rc == 0)
    rc = mproc__mgr_wait(ctx, deadline);
  int flag = x->value != 0;
  MGR_UNLOCK(ctx);
  if (rc == MPROC_ECLOSED)
    return stopped(res);
  return mproc_args_add_bool(res, flag);
}

static const mproc_manager_method event_methods[] = {{"is_set", e_is_set, NULL, 0},
                                                     {"set", e_set, NULL, 0},
                                                     {"clear", e_clear, NULL, 0},
                                                     {"wait", e_wait, NULL, 1}};

/* --- Barrier ---------------------------------------------------------------------------------- */

typedef struct mbarrier {
  int64_t parties, count;
  int64_t timeout_ms; /* default for wait() */
  uint64_t released;  /* rounds completed */
  uint64_t epoch;     /* resets: waiters of a reset round see it broken */
  int broken;
} mbarrier;

static int barrier_create(const mproc_args_t *a, const mproc_args_t *kw, void **obj, void *ctx) {
  mgr_val p, act, t;
  int64_t parties, ms = MPROC_FOREVER;
  (void)ctx;
  if (!mproc__mgr_arg(a, kw, 0, "parties", &p) || mproc__mgr_val_int(&p, &parties) != 0)
    return MPROC_ETYPE;
  if (parties < 1) {
    mproc__set_error_message("parties must be >= 1");
    return MPROC_EINVAL;
  }
  if (mproc__mgr_arg(a, kw, 1, "action", &act) && act.type != MPROC_ARG_NONE) {
    mproc__set_error_message("a Barrier action cannot run in an mproc manager");
    return MPROC_ETYPE;
  }
  if (mproc__mgr_arg(a, kw, 2, "timeout", &t) && mproc__mgr_timeout_ms(&t, &ms) != 0)
    return MPROC_ETYPE;
  mbarrier *b = mproc__calloc(1, sizeof *b);
  if (b == NULL)
    return MPROC_ENOMEM;
  b->parties = parties;
  b->timeout_ms = ms;
  *obj = b;
  return 0;
}

static int broken(mproc_args_t *res) {
  return mproc_manager_raise(res, "threading", "BrokenBarrierError", NULL);
}

/* Waits for the round to complete (gil held): 0, MPROC_EBROKEN (aborted, reset, timed out)
 * or MPROC_ECLOSED. */
static int b_round(mbarrier *b, mgr_srv *s, int64_t deadline) {
  uint64_t released = b->released, epoch = b->epoch;
  int rc = 0;
  while (rc == 0 && b->released == released && b->epoch == epoch && !b->broken)
    rc = mproc__mgr_wait(s, deadline);
  if (b->released != released)
    return 0;
  if (b->epoch == epoch && !b->broken) { /* our timeout (or stop) breaks it for everyone */
    b->broken = 1;
    MGR_WAKE(s);
  }
  return rc == MPROC_ECLOSED ? rc : MPROC_EBROKEN;
}

MGR_METHOD(b_wait) {
  mbarrier *b = obj;
  mgr_val t;
  int64_t ms = b->timeout_ms;
  if (mproc__mgr_arg(a, kw, 0, "timeout", &t) && t.type != MPROC_ARG_NONE &&
      mproc__mgr_timeout_ms(&t, &ms) != 0)
    return MPROC_ETYPE;
  int64_t deadline = mproc__os_deadline(ms);
  MGR_LOCK(ctx);
  int rc = 0;
  int64_t index = b->count;
  if (b->broken) {
    rc = MPROC_EBROKEN;
  } else if (++b->count == b->parties) {
    b->count = 0;
    b->released++;
    MGR_WAKE(ctx);
  } else {
    rc = b_round(b, ctx, deadline);
  }
  MGR_UNLOCK(ctx);
  if (rc == MPROC_ECLOSED)
    return stopped(res);
  return rc ? broken(res) : mproc_args_add_int(res, index);
}

MGR_METHOD(b_abort) {
  mbarrier *b = obj;
  (void)a, (void)kw, (void)res;
  MGR_LOCK(ctx);
  b->broken = 1;
  MGR_WAKE(ctx);
  MGR_UNLOCK(ctx);
  return 0;
}

MGR_METHOD(b_reset) {
  mbarrier *b = obj;
  (void)a, (void)kw, (void)res;
  MGR_LOCK(ctx);
  b->epoch++; /* waiters of this round get BrokenBarrierError */
  b->count = 0;
  b->broken = 0;
  MGR_WAKE(ctx);
  MGR_UNLOCK(ctx);
  return 0;
}

MGR_METHOD(b_attr) {
  mbarrier *b = obj;
  const char *name;
  (void)kw;
  if (mproc_args_get_str(a, 0, &name) != 0)
    return MPROC_ETYPE;
  MGR_LOCK(ctx);
  int rc;
  if (strcmp(name, "parties") == 0)
    rc = mproc_args_add_int(res, b->parties);
  else if (strcmp(name, "n_waiting") == 0)
    rc = mproc_args_add_int(res, b->broken ? 0 : b->count);
  else if (strcmp(name, "broken") == 0)
    rc = mproc_args_add_bool(res, b->broken);
  else
    rc = mproc_manager_raise(res, "builtins", "AttributeError",
                             "'Barrier' object has no such attribute");
  MGR_UNLOCK(ctx);
  return rc;
}

static const mproc_manager_method barrier_methods[] = {{"__getattribute__", b_attr, NULL, 0},
                                                       {"wait", b_wait, NULL, 1},
                                                       {"abort", b_abort, NULL, 0},
                                                       {"reset", b_reset, NULL, 0}};

#define N(x) (sizeof(x) / sizeof((x)[0]))
#define T(id, create, methods) \
  {id, create, sync_destroy, NULL, NULL, methods, N(methods), NULL, NULL, 0}

const mproc_manager_type mproc__mgr_syncs[] = {
    T("Lock", lock_create, lock_methods),      T("RLock", rlock_create, lock_methods),
    T("Semaphore", sem_create, lock_methods),  T("BoundedSemaphore", bsem_create, lock_methods),
    T("Condition", cond_create, cond_methods), T("Event", event_create, event_methods),
    T("Barrier", barrier_create, barrier_methods)};
const size_t mproc__mgr_nsyncs = N(mproc__mgr_syncs);
