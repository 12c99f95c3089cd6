/* SPDX-License-Identifier: MIT */
/* The handles a fork child must not keep (its parent's channels and pidfds for its other
 * children, the forkserver connection, its own channel's parent end), gathered and closed
 * together: sorted, a run of consecutive values costs one system call where the OS has one.
 * A parent that started many children before this one hands it many such handles, one per
 * child or two, and they are usually consecutive. No allocation: the child may have inherited
 * malloc's state from any moment, and writes as little memory as it can (each page written is a
 * copy of the parent's). */
#include "internal.h"

void mproc__closer_flush(mp_closer *c) {
  /* insertion sort: a few hundred values at most, mostly ascending already */
  for (size_t i = 1; i < c->n; i++) {
    os_handle v = c->h[i];
    size_t j = i;
    for (; j > 0 && c->h[j - 1] > v; j--)
      c->h[j] = c->h[j - 1];
    c->h[j] = v;
  }
  size_t k = 0; /* a handle listed twice is closed once */
  for (size_t i = 0; i < c->n; i++)
    if (k == 0 || c->h[i] != c->h[k - 1])
      c->h[k++] = c->h[i];
  mproc__os_close_sorted(c->h, k);
  c->n = 0;
}

void mproc__closer_add(mp_closer *c, os_handle h) {
  if (h == OS_INVALID)
    return;
  if (c->n == MP_CLOSER_MAX)
    mproc__closer_flush(c);
  c->h[c->n++] = h;
}
