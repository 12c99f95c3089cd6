/*
 * Named shared memory (Python's shared_memory.SharedMemory): name checks, random names, and
 * the mapping a handle keeps. The OS layer creates, opens and unlinks the named segments.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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
  if (os_random(&r, sizeof r) != 0)
    r = (uint64_t)os_now_ns() ^ ((uint64_t)os_getpid() << 32);
  snprintf(out, MPROC_SHM_NAME_MAX + 1, "mproc_%016llx", (unsigned long long)r);
}

static int finish(mproc_shared_memory_t *s, mproc_shared_memory_t **out) {
  int rc = os_shm_map(s->h, s->size, &s->buf);
  if (rc != 0) {
    os_close(s->h);
    free(s);
    return rc;
  }
  *out = s;
  return 0;
}

int mproc_shared_memory_create(mproc_shared_memory_t **out, const char *name, size_t size) {
  if (out == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  if (size == 0)
    return MPROC_EINVAL;
  mproc_shared_memory_t *s = calloc(1, sizeof *s);
  if (s == NULL)
    return MPROC_ENOMEM;
  int rc = 0;
  if (name != NULL)
    rc = check_name(name, s->name);
  else
    random_name(s->name);
  /* A random name that happens to exist is retried, as Python does. */
  for (int tries = 0; rc == 0; tries++) {
    rc = os_shm_create_named(s->name, size, &s->h);
    if (rc != MPROC_EEXIST || name != NULL || tries == 8)
      break;
    random_name(s->name);
  }
  if (rc != 0) {
    free(s);
    return rc;
  }
  s->size = size;
  rc = finish(s, out);
  if (rc != 0)
    os_shm_unlink_named(s->name); /* never leave a name nobody got a handle to */
  return rc;
}

int mproc_shared_memory_attach(mproc_shared_memory_t **out, const char *name) {
  if (out == NULL)
    return MPROC_EINVAL;
  *out = NULL;
  mproc_shared_memory_t *s = calloc(1, sizeof *s);
  if (s == NULL)
    return MPROC_ENOMEM;
  int rc = check_name(name, s->name);
  if (rc == 0)
    rc = os_shm_open_named(s->name, &s->h, &s->size);
  if (rc == 0 && s->size == 0) { /* created by someone who has not sized it yet */
    os_close(s->h);
    rc = MPROC_EINVAL;
  }
  if (rc != 0) {
    free(s);
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
  if (s == NULL)
    return 0;
  os_shm_unmap(s->buf, s->size);
  int rc = os_close(s->h);
  free(s);
  return rc;
}

int mproc_shared_memory_unlink(mproc_shared_memory_t *s) {
  return s ? os_shm_unlink_named(s->name) : MPROC_EINVAL;
}

int mproc_shared_memory_unlink_name(const char *name) {
  char n[MPROC_SHM_NAME_MAX + 1];
  int rc = check_name(name, n);
  return rc ? rc : os_shm_unlink_named(n);
}
