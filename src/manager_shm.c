/* SPDX-License-Identifier: MIT */
/* SharedMemoryManager (Python's multiprocessing.managers.SharedMemoryManager), both halves.
 * The server keeps the names of the segments its clients created through it (the server
 * functions track_segment, release_segment and list_segments, as Python's SharedMemoryServer)
 * and unlinks them all when it stops. A client creates a segment itself and asks the server to
 * track it, as Python's SharedMemoryManager.SharedMemory does, so any mix of C and Python
 * clients and servers agrees by name. */
#include <string.h>

#include "alloc.h"
#include "manager_server.h"
#include "proxy.h"

/* --- server ------------------------------------------------------------------------------- */

static size_t seg_find(const mgr_srv *s, const char *name) {
  for (size_t i = 0; i < s->nsegs; i++)
    if (strcmp(s->segs[i], name) == 0)
      return i;
  return (size_t)-1;
}

static int seg_track(mgr_srv *s, const char *name) {
  char *copy = mproc__strdup(name);
  char **v = copy ? mproc__realloc(s->segs, (s->nsegs + 1) * sizeof *v) : NULL;
  if (v == NULL) {
    mproc__free(copy);
    return MPROC_ENOMEM;
  }
  s->segs = v;
  s->segs[s->nsegs++] = copy;
  return 0;
}

/* Python's destroy_segment: forgets the first entry of that name, then unlinks it. */
static int seg_release(mgr_srv *s, const char *name) {
  size_t i = seg_find(s, name);
  if (i == (size_t)-1)
    return MPROC_ENOENT;
  char *gone = s->segs[i];
  memmove(&s->segs[i], &s->segs[i + 1], (s->nsegs - i - 1) * sizeof *s->segs);
  s->nsegs--;
  mproc_shared_memory_unlink_name(gone);
  mproc__free(gone);
  return 0;
}

static int seg_list(mgr_srv *s, mproc_args_t *reply) {
  mproc_args_t *names;
  int rc = mproc_args_new(&names);
  for (size_t i = 0; rc == 0 && i < s->nsegs; i++)
    rc = mproc_args_add_str(names, s->segs[i]);
  if (rc == 0)
    rc = mproc_args_add_list(reply, names);
  mproc_args_free(names);
  return rc;
}

int mproc__mgr_shm_fn(mgr_srv *s, const char *name, const mproc_args_t *args,
                      mproc_args_t *reply) {
  int track = strcmp(name, "track_segment") == 0, release = strcmp(name, "release_segment") == 0;
  if (!s->shm || (!track && !release && strcmp(name, "list_segments") != 0))
    return 0;
  const char *seg = NULL;
  if ((track || release) && mproc_args_get_str(args, 0, &seg) != 0) {
    mproc__mgr_reply_text(reply, MP_MGR_TRACEBACK, "TypeError: %s() needs a segment name", name);
    return 1;
  }
  mproc_args_t *res;
  int rc = mproc_args_new(&res);
  mproc__os_tlock_acquire(s->lock);
  if (rc == 0)
    rc = track ? seg_track(s, seg) : release ? seg_release(s, seg) : seg_list(s, res);
  mproc__os_tlock_release(s->lock);
  if (rc == MPROC_ENOENT)
    mproc__mgr_reply_text(reply, MP_MGR_TRACEBACK, "ValueError: list.remove(x): x not in list");
  else if (rc != 0)
    mproc__mgr_reply_text(reply, MP_MGR_TRACEBACK, "MemoryError: %s", mproc_strerror(rc));
  else
    mproc__mgr_reply_item(reply, MP_MGR_RETURN, res, 0);
  mproc_args_free(res);
  return 1;
}

void mproc__mgr_shm_unlink_all(mgr_srv *s) {
  for (size_t i = 0; i < s->nsegs; i++) {
    mproc_shared_memory_unlink_name(s->segs[i]);
    mproc__free(s->segs[i]);
  }
  mproc__free(s->segs);
  s->segs = NULL;
  s->nsegs = 0;
}

/* --- client -------------------------------------------------------------------------------- */

int mproc_shared_memory_manager_start(mproc_manager_t **out, const mproc_manager_options *o) {
  mproc_manager_options so;
  memset(&so, 0, sizeof so);
  if (o != NULL)
    so = *o;
  so.shared_memory = 1;
  return mproc_manager_start(out, &so);
}

/* A server function with one str argument (name NULL: none); *result may be NULL. */
static int seg_call(mproc_manager_t *m, const char *fn, const char *name, mproc_args_t **result) {
  if (m == NULL || m->client == NULL)
    return MPROC_EINVAL;
  mproc__clear_error_message();
  mproc_args_t *a = NULL, *r = NULL;
  int rc = name ? mproc_args_build(&a, "s", name) : 0;
  if (rc == 0)
    rc = mproc__mgr_server_call(m->client, fn, a, NULL, mproc__mgr_deadline(m->client, 0), &r);
  if (rc == 0 && result != NULL)
    *result = r, r = NULL;
  mproc_args_free(r);
  mproc_args_free(a);
  return rc;
}

/* The handle's own list of the segments it had tracked. */
static void remember(mproc_manager_t *m, const char *name) {
  char *copy = mproc__strdup(name);
  char **v = copy ? mproc__realloc(m->segs, (m->nsegs + 1) * sizeof *v) : NULL;
  if (v == NULL) {
    mproc__free(copy);
    return; /* not remembered: the server still unlinks it when it stops */
  }
  m->segs = v;
  m->segs[m->nsegs++] = copy;
}

static void forget(mproc_manager_t *m, const char *name) {
  for (size_t i = 0; i < m->nsegs; i++)
    if (strcmp(m->segs[i], name) == 0) {
      mproc__free(m->segs[i]);
      m->segs[i] = m->segs[--m->nsegs];
      return;
    }
}

/* Python leaves this to the creating process's resource tracker, which unlinks at that
 * process's exit whether or not the server still runs; here the segments go only when their
 * server is gone (a started server: stopped by now; a connected one: it does not answer). */
void mproc__mgr_shm_orphans(mproc_manager_t *m) {
  if (m->nsegs == 0)
    return;
  mproc_args_t *r = NULL;
  int gone = m->server != NULL || m->client == NULL ||
             mproc__mgr_server_call(m->client, "dummy", NULL, NULL,
                                    mproc__mgr_deadline(m->client, 0), &r) != 0;
  mproc_args_free(r);
  for (size_t i = 0; i < m->nsegs; i++) {
    if (gone)
      mproc_shared_memory_unlink_name(m->segs[i]);
    mproc__free(m->segs[i]);
  }
  mproc__free(m->segs);
  m->segs = NULL;
  m->nsegs = 0;
}

int mproc_manager_shared_memory(mproc_manager_t *m, size_t size, mproc_shared_memory_t **out) {
  mproc_shared_memory_t *shm = NULL;
  if (m == NULL || out == NULL)
    return MPROC_EINVAL;
  int rc = mproc_shared_memory_create(&shm, NULL, size);
  if (rc == 0 && (rc = seg_call(m, "track_segment", mproc_shared_memory_name(shm), NULL)) != 0) {
    mproc_shared_memory_unlink(shm);
    mproc_shared_memory_free(shm);
    return rc;
  }
  if (rc == 0) {
    remember(m, mproc_shared_memory_name(shm));
    *out = shm;
  }
  return rc;
}

int mproc_manager_shareable_list(mproc_manager_t *m, const mproc_args_t *items,
                                 mproc_shareable_list_t **out) {
  mproc_shareable_list_t *l = NULL;
  if (m == NULL || out == NULL)
    return MPROC_EINVAL;
  int rc = mproc_shareable_list_new(&l, items, NULL);
  if (rc == 0 && (rc = seg_call(m, "track_segment", mproc_shareable_list_name(l), NULL)) != 0) {
    mproc_shared_memory_unlink(mproc_shareable_list_shm(l));
    mproc_shareable_list_free(l);
    return rc;
  }
  if (rc == 0) {
    remember(m, mproc_shareable_list_name(l));
    *out = l;
  }
  return rc;
}

int mproc_manager_release_segment(mproc_manager_t *m, const char *name) {
  int rc = name ? seg_call(m, "release_segment", name, NULL) : MPROC_EINVAL;
  if (rc == 0)
    forget(m, name);
  return rc;
}

int mproc_manager_list_segments(mproc_manager_t *m, mproc_args_t **names) {
  mproc_args_t *r = NULL;
  if (names == NULL)
    return MPROC_EINVAL;
  int rc = seg_call(m, "list_segments", NULL, &r);
  if (rc == 0)
    rc = mproc_args_get_list(r, 0, names);
  mproc_args_free(r);
  return rc;
}
