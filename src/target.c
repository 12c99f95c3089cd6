/* SPDX-License-Identifier: MIT */
/* Target references: how a child finds the parent's function without a registration table.
 *
 * A function is named by (module, offset from the module's base). Under fork the child could use
 * the raw pointer, but every start method takes this same path so that a target that only works
 * under fork cannot exist. The first bytes of the function's code are hashed in the parent and
 * checked in the child: a re-executed binary that was rebuilt in between, or a module that loads
 * at a different version, is caught as MPROC_EBUILDMISMATCH instead of jumping into garbage. */
#include <string.h>

#include "internal.h"

#define HASH_BYTES 32

/* FNV-1a: a fingerprint, not a security measure. */
static uint64_t fnv1a(const unsigned char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

/* Function pointers and object pointers share a representation on every platform we target
 * (POSIX requires it for dlsym; Windows for GetProcAddress). */
static const void *fn_to_ptr(mproc_target_fn fn) {
  const void *p;
  memcpy(&p, &fn, sizeof p);
  return p;
}

/* Pools and loops create many processes with the same target: remember the last lookup
 * (modules are never unloaded under a live target reference). */
static struct {
  mproc_target_fn fn;
  mp_target_ref ref;
} g_last;

int mproc__target_locate(mproc_target_fn fn, mp_target_ref *ref) {
  if (fn == NULL)
    return MPROC_EINVAL;
  mproc__os_global_lock();
  int hit = g_last.fn == fn;
  if (hit)
    *ref = g_last.ref;
  mproc__os_global_unlock();
  if (hit)
    return 0;
  size_t avail = 0;
  const void *addr = fn_to_ptr(fn);
  int rc = mproc__os_sym_locate(addr, ref->module, sizeof ref->module, &ref->offset, &avail);
  if (rc != 0)
    return rc == MPROC_ERANGE ? MPROC_ENOTARGET : rc;
  ref->hash_len = (uint32_t)(avail < HASH_BYTES ? avail : HASH_BYTES);
  ref->hash = fnv1a(addr, ref->hash_len);
  mproc__os_global_lock();
  g_last.fn = fn;
  g_last.ref = *ref;
  mproc__os_global_unlock();
  return 0;
}

void mproc__target_encode(const mp_target_ref *ref, mp_buf *b) {
  mproc__put_str(b, ref->module);
  mproc__put_u64(b, ref->offset);
  mproc__put_u64(b, ref->hash);
  mproc__put_u32(b, ref->hash_len);
}

int mproc__target_decode(mp_rd *r, mp_target_ref *ref) {
  uint32_t n = mproc__get_u32(r);
  if (r->err || n >= sizeof ref->module || n > r->len - r->pos)
    return MPROC_EPROTO;
  memcpy(ref->module, r->p + r->pos, n);
  ref->module[n] = '\0';
  r->pos += n;
  ref->offset = mproc__get_u64(r);
  ref->hash = mproc__get_u64(r);
  ref->hash_len = mproc__get_u32(r);
  if (r->err || ref->hash_len > HASH_BYTES)
    return MPROC_EPROTO;
  return 0;
}

int mproc__target_resolve(const mp_target_ref *ref, mproc_target_fn *fn) {
  void *addr = NULL;
  int rc = mproc__os_sym_resolve(ref->module, ref->offset, &addr);
  if (rc != 0)
    return MPROC_ENOTARGET;
  /* The module is loaded and addr lies inside it (mproc__os_sym_resolve checked the offset), so the
   * hashed bytes are readable: they were readable at the same offset in the parent's copy. */
  if (fnv1a(addr, ref->hash_len) != ref->hash)
    return MPROC_EBUILDMISMATCH;
  memcpy(fn, &addr, sizeof *fn);
  return 0;
}
