/* SPDX-License-Identifier: MIT */
/*
 * Named shared memory (Python's shared_memory.SharedMemory): name checks, random names, and
 * the mapping a handle keeps. The OS layer creates, opens and unlinks the named segments.
 * An out-of-space failure leaves a message (mproc_last_error_message): "no space" means little
 * without where and how much.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "alloc.h"

static void format_bytes(char *buf, size_t cap, uint64_t n) {
  if (n == UINT64_MAX)
    snprintf(buf, cap, "an unknown amount");
  else
    snprintf(buf, cap, "%.1f MiB (%llu bytes)", (double)n / (1024.0 * 1024.0),
             (unsigned long long)n);
}

void mproc__shm_nospace_message(int named, const char *what, uint64_t asked) {
  char where[200], free_s[64], asked_s[64];
  uint64_t free_bytes = UINT64_MAX;
  mproc__os_shm_space(named, where, sizeof where, &free_bytes);
  format_bytes(free_s, sizeof free_s, free_bytes);
  format_bytes(asked_s, sizeof asked_s, asked);
  mproc__set_error_message("no space for %s in %s: %s free, %s asked", what, where, free_s,
                           asked_s);
}

/* --- named blocks ----------------------------------------------------------------------------- */

struct mproc_shared_memory {
  os_handle h;
  void *buf;
  size_t size;
  char name[MPROC_SHM_NAME_MAX + 1];
};

/* Accepts [A-Za-z0-9._-]{1,MPROC_SHM_NAME_MAX} after an optional '/', which is dropped (Python
 * names are given both ways). "." and ".." are refused: they are directories in /dev/shm. */
static int check_name(const char *name, char *out) {
  if (name == NULL)
    return MPROC_EINVAL;
  if (name[0] == '/')
    name++;
  size_t n = strlen(name);
  if (n == 0 || n > MPROC_SHM_NAME_MAX || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
    return MPROC_EINVAL;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '-';
    if (!ok)
      return MPROC_EINVAL;
  }
  memcpy(out, name, n + 1);
  return 0;
}

static void random_name(char *out) {
  uint64_t r = 0;
  if (mproc__os_random(&r, sizeof r) != 0)
    r = (uint64_t)mproc__os_now_ns() ^ ((uint64_t)mproc__os_getpid() << 32);
  snprintf(out, MPROC_SHM_NAME_MAX + 1, "mproc_%016llx", (unsigned long long)r);
}

static int finish(mproc_shared_memory_t *s, mproc_shared_memory_t **out) {
  int rc = mproc__os_shm_map(s->h, s->size, &s->buf);
  if (rc != 0) {
    mproc__os_close(s->h);
    mproc__free(s);
    return rc;
  }
  *out = s;
  return 0;
}

/* A failure the OS reported, explained: where named blocks live, and how much room was there. */
static void create_failed(const char *name, size_t size, int rc) {
  char what[MPROC_SHM_NAME_MAX + 64];
  snprintf(what, sizeof what, "shared memory '%s'", name);
  if (rc == MPROC_ENOSPC) {
    mproc__shm_nospace_message(1, what, size);
  } else if (rc != MPROC_EEXIST && rc != MPROC_EINVAL && rc != MPROC_ENOMEM) {
    char where[200];
    uint64_t ignored;
    mproc__os_shm_space(1, where, sizeof where, &ignored);
    mproc__set_error_message("cannot create %s in %s (%s, OS error %d): named shared memory "
                             "lives there, as in Python; anonymous objects do not need it",
                             what, where, mproc_errname(rc), mproc_last_os_error());
  }
}

int mproc_shared_memory_create(mproc_shared_memory_t **out, const char *name, size_t size) {
  mproc__clear_error_message();
  if (out == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  if (size == 0)
    return MPROC_EINVAL;
  mproc_shared_memory_t *s = mproc__calloc(1, sizeof *s);
  if (s == NULL)
    return MPROC_ENOMEM;
  int rc = 0;
  if (name != NULL)
    rc = check_name(name, s->name);
  else
    random_name(s->name);
  /* A random name that happens to exist is retried, as Python does. */
  for (int tries = 0; rc == 0; tries++) {
    rc = mproc__os_shm_create_named(s->name, size, &s->h);
    if (rc != MPROC_EEXIST || name != NULL || tries == 8)
      break;
    random_name(s->name);
  }
  if (rc != 0) {
    create_failed(s->name, size, rc);
    mproc__free(s);
    return rc;
  }
  s->size = size;
  char kept[MPROC_SHM_NAME_MAX + 1]; /* finish frees s when it fails */
  memcpy(kept, s->name, sizeof kept);
  rc = finish(s, out);
  if (rc != 0) {
    mproc__os_shm_unlink_named(kept); /* never leave a name nobody got a handle to */
    create_failed(kept, size, rc);
  }
  return rc;
}

int mproc_shared_memory_attach(mproc_shared_memory_t **out, const char *name) {
  if (out == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  mproc_shared_memory_t *s = mproc__calloc(1, sizeof *s);
  if (s == NULL)
    return MPROC_ENOMEM;
  int rc = check_name(name, s->name);
  if (rc == 0)
    rc = mproc__os_shm_open_named(s->name, &s->h, &s->size);
  if (rc == 0 && s->size == 0) { /* created by someone who has not sized it yet */
    mproc__os_close(s->h);
    rc = MPROC_EINVAL;
  }
  if (rc != 0) {
    mproc__free(s);
    return rc;
  }
  return finish(s, out);
}

void *mproc_shared_memory_buf(const mproc_shared_memory_t *s) { return s ? s->buf : NULL; }
size_t mproc_shared_memory_size(const mproc_shared_memory_t *s) { return s ? s->size : 0; }
const char *mproc_shared_memory_name(const mproc_shared_memory_t *s) {
  return s ? s->name : NULL;
}

int mproc_shared_memory_close(mproc_shared_memory_t *s) {
  if (s == NULL || s->buf == NULL)
    return 0;
  mproc__os_shm_unmap(s->buf, s->size);
  s->buf = NULL; /* mproc_shared_memory_buf is NULL from now on, as Python's buf is None */
  int rc = mproc__os_close(s->h);
  s->h = OS_INVALID;
  return rc;
}

void mproc_shared_memory_free(mproc_shared_memory_t *s) {
  if (s == NULL)
    return;
  (void)mproc_shared_memory_close(s);
  mproc__free(s);
}

int mproc_shared_memory_unlink(mproc_shared_memory_t *s) {
  return s ? mproc__os_shm_unlink_named(s->name) : MPROC_EINVAL;
}

int mproc_shared_memory_unlink_name(const char *name) {
  char n[MPROC_SHM_NAME_MAX + 1];
  int rc = check_name(name, n);
  return rc ? rc : mproc__os_shm_unlink_named(n);
}
