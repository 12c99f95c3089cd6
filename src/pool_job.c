/* SPDX-License-Identifier: MIT */
/* AsyncResult: one job's per-item outcomes and the calls that read them. Outcomes are stored
 * by item index as they arrive, in arrays rather than per-item allocations (a map of 200,000
 * ints is three flat arrays), and turned into an argument list only when asked for. */
#include <stdlib.h>
#include <string.h>

#include "pool.h"
#include "atomics.h"
#include "alloc.h"

/* --- the hub: the lock and wake-up word a pool shares with its results ----------------------- */

int mproc__hub_new(pool_hub **out) {
  pool_hub *h = mproc__calloc(1, sizeof *h);
  if (h == NULL)
    return MPROC_ENOMEM;
  h->mu_h = h->park = OS_INVALID;
  int rc = mproc__os_mutex_init(&h->mu, &h->mu_h);
  if (rc == 0 && (rc = mproc__os_park_new(&h->park)) != 0)
    mproc__os_close(h->mu_h);
  if (rc != 0) {
    mproc__free(h);
    return rc;
  }
  h->refs = 1;
  *out = h;
  return 0;
}

void mproc__hub_lock(pool_hub *h) { mproc__os_mutex_lock(&h->mu, h->mu_h, OS_NO_DEADLINE); }

void mproc__hub_unlock(pool_hub *h) {
  int dead = h->refs == 0;
  mproc__os_mutex_unlock(&h->mu, h->mu_h);
  if (dead) {
    mproc__os_close(h->mu_h);
    mproc__os_close(h->park);
    mproc__free(h);
  }
}

void mproc__hub_wake(pool_hub *h) {
  MPROC__ATOMIC_ADD_FETCH(&h->seq, 1, MPROC__ATOMIC_RELEASE);
  if (h->sleepers > 0)
    mproc__os_park_wake(&h->seq, h->park, h->sleepers);
}

int mproc__hub_wait(pool_hub *h, int64_t deadline) {
  uint32_t s = MPROC__ATOMIC_LOAD(&h->seq, MPROC__ATOMIC_ACQUIRE);
  if (deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline)
    return MPROC_ETIMEDOUT;
  h->sleepers++;
  mproc__hub_unlock(h);
  int rc = mproc__os_park_wait(&h->seq, s, h->park, deadline);
  mproc__hub_lock(h);
  h->sleepers--;
  return rc;
}

/* --- jobs ------------------------------------------------------------------------------------ */

int mproc__job_new(pool_hub *hub, int kind, size_t n, mproc_result_t **out) {
  mproc_result_t *j = mproc__calloc(1, sizeof *j);
  if (j == NULL)
    return MPROC_ENOMEM;
  j->hub = hub;
  j->in.kind = kind;
  j->n = n;
  j->t0_ns = mproc__os_now_ns();
  mproc__buf_init(&j->in.lists);
  size_t m = n ? n : 1;
  j->rtype = mproc__calloc(m, 1);
  j->rword = mproc__malloc(m * sizeof *j->rword); /* read only where rtype says it was written */
  if (j->rtype == NULL || j->rword == NULL) {
    mproc__free(j->rtype);
    mproc__free(j->rword);
    mproc__free(j);
    return MPROC_ENOMEM;
  }
  *out = j;
  return 0;
}

void mproc__job_discard(mproc_result_t *j) {
  for (size_t i = 0; j->rword && i < j->n; i++)
    if (j->rtype[i] == MPROC_ARG_BYTES || j->rtype[i] == MPROC_ARG_STR)
      mproc__free((void *)(uintptr_t)j->rword[i]);
  for (size_t i = 0; j->msg && i < j->n; i++)
    mproc__free(j->msg[i]);
  mproc__free(j->rtype);
  mproc__free(j->rword);
  mproc__free(j->status);
  mproc__free(j->tcode);
  mproc__free(j->msg);
  mproc__free(j->order);
  mproc_args_free(j->apply_vals);
  mproc_args_free(j->in.own_items);
  mproc__buf_free(&j->in.lists);
  mproc__free(j->in.offs);
  mproc__free(j);
}

void mproc__job_unref(mproc_result_t *j, int user) {
  if (user)
    j->user_ref = 0;
  else
    j->pool_ref = 0;
  if (j->user_ref || j->pool_ref)
    return;
  j->hub->refs--;
  mproc__job_discard(j);
}

static void note_type(mproc_result_t *j, uint8_t type) {
  j->uni = j->uni == 0 || j->uni == type ? type : 0xff;
}

static void finished(mproc_result_t *j, size_t i) {
  j->done++;
  if (j->order)
    j->order[j->norder++] = i;
}

int mproc__job_set_value(mproc_result_t *j, size_t i, uint8_t type, const void *p, size_t len) {
  if (i >= j->n || j->rtype[i] != 0)
    return MPROC_EPROTO;
  if (type == MPROC_ARG_INT || type == MPROC_ARG_DOUBLE) {
    memcpy(&j->rword[i], p, 8);
  } else if (type == MPROC_ARG_BYTES || type == MPROC_ARG_STR) {
    unsigned char *copy = mproc__malloc(sizeof(size_t) + len);
    if (copy == NULL)
      return MPROC_ENOMEM;
    memcpy(copy, &len, sizeof len);
    if (len)
      memcpy(copy + sizeof len, p, len);
    j->rword[i] = (uint64_t)(uintptr_t)copy;
  } else if (type != MPROC_ARG_NONE) {
    return MPROC_EPROTO;
  }
  j->rtype[i] = type;
  note_type(j, type);
  finished(j, i);
  return 0;
}

void mproc__job_set_run(mproc_result_t *j, size_t first, uint8_t type, const unsigned char *p,
                    size_t n) {
  memcpy(j->rword + first, p, 8 * n);
  memset(j->rtype + first, type, n);
  note_type(j, type);
  for (size_t k = 0; j->order && k < n; k++)
    j->order[j->norder++] = first + k;
  j->done += n;
}

static int ensure_failure_arrays(mproc_result_t *j) {
  if (j->status == NULL)
    j->status = mproc__calloc(j->n ? j->n : 1, sizeof *j->status);
  if (j->tcode == NULL)
    j->tcode = mproc__calloc(j->n ? j->n : 1, sizeof *j->tcode);
  if (j->msg == NULL)
    j->msg = mproc__calloc(j->n ? j->n : 1, sizeof *j->msg);
  return j->status && j->tcode && j->msg ? 0 : MPROC_ENOMEM;
}

void mproc__job_set_failure(mproc_result_t *j, size_t i, int status, int code, const char *msg) {
  if (i >= j->n || j->rtype[i] != 0)
    return;
  j->rtype[i] = MPROC_ARG_NONE;
  finished(j, i);
  /* get() reports the lowest failed item, preferring a real failure to a cancellation */
  int cancel = status == MPROC_ECANCELED, was_cancel = j->first_fail == MPROC_ECANCELED;
  if (!j->failed || (was_cancel && !cancel) || (cancel == was_cancel && i < j->first_fail_idx)) {
    j->first_fail = status;
    j->first_fail_idx = i;
  }
  j->failed = 1;
  j->nfailed++;
  if (ensure_failure_arrays(j) != 0)
    return; /* the job-level code above still reports the failure */
  j->status[i] = status;
  j->tcode[i] = code;
  j->msg[i] = msg && *msg ? mproc__strdup(msg) : NULL;
}

void mproc__job_cancel_rest(mproc_result_t *j, int status, const char *msg) {
  for (size_t i = 0; i < j->n; i++)
    if (j->rtype[i] == 0)
      mproc__job_set_failure(j, i, status, 0, msg);
}

void mproc__job_publish(mproc_result_t *j) {
  if (j->ready)
    return;
  MPROC__ATOMIC_STORE(&j->ready, 1, MPROC__ATOMIC_RELEASE);
  mproc__hub_wake(j->hub);
}

int mproc__job_check_ready(mproc_result_t *j) {
  if (j->finished || j->done < j->n)
    return 0;
  j->finished = 1;
  if (j->opts.callback == NULL && j->opts.error_callback == NULL && j->opts.progress == NULL)
    mproc__job_publish(j); /* else after its callbacks (the last progress call first) */
  return 1;
}

/* --- inputs ---------------------------------------------------------------------------------- */

static int set_map_input(mproc_result_t *j, const mproc_args_t *items, int copy) {
  if (mproc__args_has_handles(items))
    return MPROC_ENOTSUP;
  j->in.items = items;
  if (!copy)
    return 0;
  int rc = mproc_args_new(&j->in.own_items);
  if (rc != 0)
    return rc;
  int ut = mproc__args_uniform_type(items);
  if (ut != 0)
    rc = mproc__args_add_run(j->in.own_items, (uint8_t)ut, mproc__args_payload(items),
                         mproc_args_count(items));
  else
    rc = mproc__args_extend(j->in.own_items, items, 0);
  j->in.items = j->in.own_items;
  return rc;
}

static int set_list_input(mproc_result_t *j, const mproc_args_t *const *lists) {
  j->in.offs = mproc__malloc((j->n + 1) * sizeof *j->in.offs);
  if (j->in.offs == NULL)
    return MPROC_ENOMEM;
  for (size_t i = 0; i < j->n; i++) {
    const mproc_args_t *a = lists ? lists[i] : NULL;
    if (a == NULL && j->in.kind == KIND_STAR)
      return MPROC_EINVAL; /* apply's NULL is an empty list; a starmap row must exist */
    if (mproc__args_has_handles(a))
      return MPROC_ENOTSUP;
    j->in.offs[i] = j->in.lists.len;
    mproc__args_encode(a, &j->in.lists);
  }
  j->in.offs[j->n] = j->in.lists.len;
  return j->in.lists.err;
}

int mproc__job_set_input(mproc_result_t *j, const mproc_args_t *items,
                     const mproc_args_t *const *lists, int copy) {
  if (j->in.kind == KIND_MAP)
    return set_map_input(j, items, copy);
  return set_list_input(j, lists);
}

void mproc__job_encode_items(const mproc_result_t *j, size_t first, size_t n, mp_buf *b) {
  if (j->in.kind != KIND_MAP) {
    mproc__put_u8(b, ITEMS_LISTS);
    mproc__put(b, j->in.lists.data + j->in.offs[first], j->in.offs[first + n] - j->in.offs[first]);
    return;
  }
  const mproc_args_t *a = j->in.items;
  int ut = mproc__args_uniform_type(a);
  if (ut != 0) {
    mproc__put_u8(b, ITEMS_UNIFORM);
    mproc__put_u8(b, (uint8_t)ut);
    mproc__put(b, mproc__args_payload(a) + 8 * first, 8 * n);
    return;
  }
  mproc__put_u8(b, ITEMS_PLAIN);
  for (size_t i = first; i < first + n; i++) {
    uint8_t type;
    const unsigned char *p;
    size_t len;
    mproc__args_item(a, i, &type, &p, &len);
    mproc__put_u8(b, type);
    mproc__put_blob(b, p, len);
  }
}

/* --- outputs --------------------------------------------------------------------------------- */

static int add_outcome(mproc_args_t *a, const mproc_result_t *j, size_t i) {
  uint8_t t = j->rtype[i];
  if (t == MPROC_ARG_INT || t == MPROC_ARG_DOUBLE)
    return mproc__args_add_raw(a, t, &j->rword[i], 8);
  if (t == MPROC_ARG_BYTES || t == MPROC_ARG_STR) {
    const unsigned char *p = (const unsigned char *)(uintptr_t)j->rword[i];
    size_t len;
    memcpy(&len, p, sizeof len);
    return mproc__args_add_raw(a, t, p + sizeof len, len);
  }
  return mproc_args_add_none(a);
}

/* A run of items [i, end) holding values of one fixed-size type goes in with one copy. */
static size_t run_end(const mproc_result_t *j, size_t i, size_t to) {
  uint8_t t = j->rtype[i];
  size_t e = i;
  if (t != MPROC_ARG_INT && t != MPROC_ARG_DOUBLE)
    return i;
  while (e < to && j->rtype[e] == t && (j->status == NULL || j->status[e] == 0))
    e++;
  return e;
}

static int item_values(const mproc_result_t *j, size_t from, size_t to, mproc_args_t *a) {
  int rc = 0;
  for (size_t i = from; rc == 0 && i < to;) {
    size_t e = run_end(j, i, to);
    if (e > i + 1) {
      rc = mproc__args_add_run(a, j->rtype[i], &j->rword[i], e - i);
      i = e;
    } else {
      rc = add_outcome(a, j, i++);
    }
  }
  return rc;
}

/* apply's values: what the task added, or None when it added nothing (a Python function without
 * a return statement gives None through apply as through map). */
static int apply_values(mproc_args_t *a, const mproc_args_t *vals) {
  int rc = mproc__args_extend(a, vals, 0);
  return rc == 0 && mproc_args_count(a) == 0 ? mproc_args_add_none(a) : rc;
}

int mproc__job_values(mproc_result_t *j, mproc_args_t **out) {
  mproc_args_t *a;
  int rc = mproc_args_new(&a);
  if (rc != 0)
    return rc;
  if (j->in.kind == KIND_APPLY)
    rc = apply_values(a, j->apply_vals);
  else
    rc = item_values(j, 0, j->n, a);
  if (rc != 0) {
    mproc_args_free(a);
    a = NULL;
  }
  *out = a;
  return rc;
}

/* --- the AsyncResult calls ------------------------------------------------------------------- */

/* Lock held: ready for this caller (its own callback sees the result it is called for). */
static int ready_for_me(const mproc_result_t *r) {
  return r->ready || (r->finished && r->cb_thread == mproc__os_thread_token());
}

static int wait_ready(mproc_result_t *r, int64_t timeout_ms) {
  int64_t deadline = mproc__os_deadline(timeout_ms);
  while (!ready_for_me(r))
    if (mproc__hub_wait(r->hub, deadline) == MPROC_ETIMEDOUT && !ready_for_me(r))
      return MPROC_ETIMEDOUT;
  return 0;
}

int mproc__result_take(mproc_result_t *r, mproc_args_t **values) {
  mproc__hub_lock(r->hub);
  int rc = wait_ready(r, MPROC_FOREVER);
  if (rc == 0 && r->in.kind == KIND_MAP && !r->failed && r->n > 0 && r->done == r->n &&
      (r->uni == MPROC_ARG_INT || r->uni == MPROC_ARG_DOUBLE) &&
      (rc = mproc_args_new(values)) == 0) {
    mproc__args_adopt_run(*values, r->uni, r->rword, r->n);
    r->rword = NULL; /* the list owns it now; nothing reads it after ready */
    mproc__hub_unlock(r->hub);
    return 0;
  }
  mproc__hub_unlock(r->hub);
  return rc ? rc : mproc_result_get(r, MPROC_FOREVER, values);
}

int mproc_result_get(mproc_result_t *r, int64_t timeout_ms, mproc_args_t **values) {
  if (r == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  mproc__hub_lock(r->hub);
  int rc = wait_ready(r, timeout_ms);
  if (rc == 0) {
    int fail = r->failed ? r->first_fail : 0;
    if (values && (r->in.kind != KIND_APPLY || !fail))
      rc = mproc__job_values(r, values);
    else if (values)
      *values = NULL;
    if (rc == 0)
      rc = fail;
  }
  mproc__hub_unlock(r->hub);
  return rc;
}

int mproc_result_wait(mproc_result_t *r, int64_t timeout_ms) {
  if (r == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  mproc__hub_lock(r->hub);
  int rc = wait_ready(r, timeout_ms);
  mproc__hub_unlock(r->hub);
  return rc;
}

int mproc_result_ready(mproc_result_t *r) {
  if (r == NULL)
    return MPROC_EINVAL;
  return MPROC__ATOMIC_LOAD(&r->ready, MPROC__ATOMIC_ACQUIRE);
}

int mproc_result_successful(mproc_result_t *r) {
  if (r == NULL)
    return MPROC_EINVAL;
  mproc__hub_lock(r->hub);
  int rc = !ready_for_me(r) ? MPROC_ESTATE : !r->failed;
  mproc__hub_unlock(r->hub);
  return rc;
}

int mproc_result_progress(mproc_result_t *r, size_t *done, size_t *total) {
  if (r == NULL)
    return MPROC_EINVAL;
  mproc__hub_lock(r->hub);
  if (done)
    *done = r->done;
  if (total)
    *total = r->n;
  mproc__hub_unlock(r->hub);
  return 0;
}

int mproc_result_progress_info(mproc_result_t *r, mproc_progress *out) {
  if (r == NULL || out == NULL)
    return MPROC_EINVAL;
  mproc_progress pr = {0};
  mproc__hub_lock(r->hub);
  pr.done = r->done;
  pr.failed = r->nfailed;
  pr.total = r->n;
  pr.total_known = 1;
  pr.in_flight = r->n - r->done;
  pr.in_flight_max = r->n;
  int64_t t0 = r->t0_ns;
  mproc__hub_unlock(r->hub);
  return mproc__progress_fill(out, &pr, t0);
}

static int item_status(const mproc_result_t *r, size_t i) {
  if (i >= r->n)
    return MPROC_ERANGE;
  if (r->rtype[i] == 0)
    return MPROC_ETIMEDOUT;
  return r->status ? r->status[i] : 0;
}

int mproc_result_status(mproc_result_t *r, size_t i) {
  if (r == NULL)
    return MPROC_EINVAL;
  mproc__hub_lock(r->hub);
  int rc = item_status(r, i);
  mproc__hub_unlock(r->hub);
  return rc;
}

int mproc_result_task_code(mproc_result_t *r, size_t i) {
  if (r == NULL)
    return MPROC_EINVAL;
  mproc__hub_lock(r->hub);
  int rc = item_status(r, i) == MPROC_ETASKFAILED && r->tcode ? r->tcode[i] : 0;
  mproc__hub_unlock(r->hub);
  return rc;
}

const char *mproc_result_error(mproc_result_t *r, size_t i) {
  if (r == NULL)
    return NULL;
  mproc__hub_lock(r->hub);
  const char *m = item_status(r, i) < 0 && r->msg ? r->msg[i] : NULL;
  mproc__hub_unlock(r->hub);
  return m;
}

/* Lock held: the index the iterator hands out next, once it is finished; SIZE_MAX if none is
 * ready yet. */
static size_t next_ready(const mproc_result_t *r) {
  if (r->order)
    return r->next_iter < r->norder ? r->order[r->next_iter] : SIZE_MAX;
  return r->rtype[r->next_iter] != 0 ? r->next_iter : SIZE_MAX;
}

static int iter_item(mproc_result_t *r, size_t i, mproc_args_t **value) {
  int st = r->status ? r->status[i] : 0;
  if (value == NULL || st != 0) {
    if (value)
      *value = NULL;
    return st;
  }
  int rc = mproc_args_new(value);
  if (rc == 0 && r->in.kind == KIND_APPLY)
    rc = apply_values(*value, r->apply_vals);
  else if (rc == 0)
    rc = item_values(r, i, i + 1, *value);
  return rc;
}

int mproc_result_next(mproc_result_t *r, int64_t timeout_ms, mproc_args_t **value,
                      size_t *index) {
  if (r == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  int64_t deadline = mproc__os_deadline(timeout_ms);
  mproc__hub_lock(r->hub);
  int rc = 0;
  size_t i = SIZE_MAX;
  while (r->next_iter < r->n && (i = next_ready(r)) == SIZE_MAX && rc == 0)
    rc = mproc__hub_wait(r->hub, deadline);
  if (r->next_iter >= r->n)
    rc = MPROC_EEOF;
  else if (i == SIZE_MAX)
    rc = MPROC_ETIMEDOUT;
  else {
    r->next_iter++;
    if (index)
      *index = i;
    rc = iter_item(r, i, value);
  }
  mproc__hub_unlock(r->hub);
  return rc;
}

void mproc_result_free(mproc_result_t *r) {
  if (r == NULL)
    return;
  pool_hub *h = r->hub;
  mproc__hub_lock(h);
  mproc__job_unref(r, 1);
  mproc__hub_unlock(h);
}
