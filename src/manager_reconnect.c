/* SPDX-License-Identifier: MIT */
/* mproc_manager_reconnect: a client handle opens a new session with the manager at the same
 * address and key, after its server died and another was started there. The old session is
 * marked gone for good, so every proxy made through it keeps answering MPROC_EPEERGONE without
 * touching the network: ids of the new server may coincide with the old ones (Python's are
 * object addresses), and an old proxy must never reach a new object. */
#include "atomics.h"
#include "os.h"
#include "proxy.h"

#define RETRY_MS 20

/* Failures worth another try while the new server comes up. */
static int transient(int rc) {
  return rc == MPROC_ENOENT || rc == MPROC_EOS || rc == MPROC_EPEERGONE || rc == MPROC_EEOF ||
         rc == MPROC_ECLOSED || rc == MPROC_ETIMEDOUT || rc == MPROC_EAGAIN;
}

static int open_again(const mp_mgr_client *old, int64_t timeout_ms, mp_mgr_client **out) {
  mproc_manager_options o = {0};
  o.call_timeout_ms = MPROC__ATOMIC_LOAD(&old->call_timeout_ms, MPROC__ATOMIC_RELAXED);
  o.max_message = old->max_message;
  int64_t deadline = mproc__os_deadline(timeout_ms);
  for (;;) {
    int64_t left = MPROC_FOREVER;
    if (deadline != OS_NO_DEADLINE) {
      left = (deadline - mproc__os_now_ns()) / 1000000;
      left = left > 0 ? left : 0;
    }
    int rc = mproc__mgr_client_open(old->address, old->key, old->keylen, &o, left, out);
    if (rc == 0 || !transient(rc) || left == 0)
      return rc;
    mproc__os_sleep_ms(left == MPROC_FOREVER || left > RETRY_MS ? RETRY_MS : left);
  }
}

int mproc_manager_reconnect(mproc_manager_t *m, int64_t timeout_ms) {
  if (m == NULL || m->client == NULL || timeout_ms < MPROC_FOREVER)
    return MPROC_EINVAL;
  if (m->server != NULL) {
    mproc__set_error_message("this handle runs its server: start a new manager instead");
    return MPROC_ESTATE;
  }
  mproc__clear_error_message();
  mp_mgr_client *old = m->client, *c = NULL;
  int rc = open_again(old, timeout_ms, &c);
  if (rc != 0)
    return rc;
  MPROC__ATOMIC_STORE(&old->dead, 1, MPROC__ATOMIC_RELEASE);
  m->client = c;
  mproc__mgr_client_unref(old);
  return 0;
}
