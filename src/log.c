/* SPDX-License-Identifier: MIT */
/* The debug log: Python's log_to_stderr()/get_logger() for mproc.
 *
 * Lines look like Python's: "[DEBUG/MainProcess 4242] started 'Process-1' ...". They go to the
 * handler set with mproc_set_log_handler, or to stderr, or to the file MPROC_LOG_FILE names.
 * Formatting happens on the stack (no allocation); the handler is read under a tiny spin lock
 * so a handler and its userdata are always seen together. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"
#include "log.h"
#include "atomics.h"

#define LOG_LINE_MAX 1024
#define LEVEL_UNREAD 0

int mproc__log_min = LEVEL_UNREAD;
static mproc_log_fn g_fn;
static void *g_userdata;
static uint32_t g_spin;
static FILE *g_file; /* MPROC_LOG_FILE, opened on first use */
static int g_file_tried;

static void spin_lock(void) {
  uint32_t zero = 0;
  while (!MPROC__ATOMIC_COMPARE_EXCHANGE(&g_spin, &zero, 1, 0, MPROC__ATOMIC_ACQUIRE,
                                         MPROC__ATOMIC_RELAXED)) {
    zero = 0;
    mproc__os_cpu_relax();
  }
}

static void spin_unlock(void) { MPROC__ATOMIC_STORE(&g_spin, 0, MPROC__ATOMIC_RELEASE); }

static int parse_level(const char *s) {
  static const struct {
    const char *name;
    int level;
  } names[] = {{"debug", MPROC_LOG_DEBUG}, {"info", MPROC_LOG_INFO}, {"warn", MPROC_LOG_WARN},
               {"warning", MPROC_LOG_WARN}, {"off", MPROC_LOG_OFF}, {"", MPROC_LOG_OFF}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    size_t k = 0;
    while (names[i].name[k] != '\0' && (s[k] | 0x20) == names[i].name[k])
      k++;
    if (names[i].name[k] == '\0' && s[k] == '\0')
      return names[i].level;
  }
  return MPROC_LOG_OFF; /* an unknown word keeps the default: silent */
}

int mproc__log_slow(int level) {
  int min = MPROC__ATOMIC_LOAD(&mproc__log_min, MPROC__ATOMIC_ACQUIRE);
  if (min == LEVEL_UNREAD) {
    char buf[32];
    int env = mproc__os_getenv("MPROC_LOG", buf, sizeof buf) == 0 ? parse_level(buf)
                                                                   : MPROC_LOG_OFF;
    /* A level set by a call in the meantime wins over the environment. */
    MPROC__ATOMIC_COMPARE_EXCHANGE(&mproc__log_min, &min, env, 0, MPROC__ATOMIC_ACQ_REL,
                                   MPROC__ATOMIC_ACQUIRE);
    min = MPROC__ATOMIC_LOAD(&mproc__log_min, MPROC__ATOMIC_ACQUIRE);
  }
  return min <= level;
}

int mproc_set_log_handler(mproc_log_fn fn, void *userdata, int level) {
  if (level != MPROC_LOG_DEBUG && level != MPROC_LOG_INFO && level != MPROC_LOG_WARN &&
      level != MPROC_LOG_OFF)
    return MPROC_EINVAL;
  spin_lock();
  g_fn = fn;
  g_userdata = userdata;
  spin_unlock();
  MPROC__ATOMIC_STORE(&mproc__log_min, level, MPROC__ATOMIC_RELEASE);
  return 0;
}

int mproc_get_log_level(void) {
  mproc__log_slow(MPROC_LOG_OFF);
  return MPROC__ATOMIC_LOAD(&mproc__log_min, MPROC__ATOMIC_ACQUIRE);
}

/* A fork child has only the forking thread: a lock another thread held stays free. */
void mproc__log_after_fork_child(void) {
  if (MPROC__ATOMIC_LOAD(&g_spin, MPROC__ATOMIC_RELAXED) != 0) /* no write when free: a copy */
    MPROC__ATOMIC_STORE(&g_spin, 0, MPROC__ATOMIC_RELAXED);
}

int mproc__log_inherit_level(void) { return mproc_get_log_level(); }

void mproc__log_set_inherited(int level) {
  if (level == MPROC_LOG_DEBUG || level == MPROC_LOG_INFO || level == MPROC_LOG_WARN ||
      level == MPROC_LOG_OFF)
    MPROC__ATOMIC_STORE(&mproc__log_min, level, MPROC__ATOMIC_RELEASE);
}

static const char *level_name(int level) {
  return level >= MPROC_LOG_WARN ? "WARNING" : level >= MPROC_LOG_INFO ? "INFO" : "DEBUG";
}

/* stderr, or MPROC_LOG_FILE (appended to, so parent and children can share it). Under the
 * spin lock. */
static FILE *sink(void) {
  if (!g_file_tried) {
    char path[1024];
    g_file_tried = 1;
    if (mproc__os_getenv("MPROC_LOG_FILE", path, sizeof path) == 0 && path[0] != '\0')
      g_file = fopen(path, "a");
  }
  return g_file != NULL ? g_file : stderr;
}

void mproc__log_write(int level, const char *fmt, ...) {
  char line[LOG_LINE_MAX];
  int n = snprintf(line, sizeof line, "[%s/%s %lld] ", level_name(level),
                   mproc_current_process_name(), (long long)mproc__os_getpid());
  if (n < 0 || (size_t)n >= sizeof line)
    n = 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
  va_end(ap);
  spin_lock();
  mproc_log_fn fn = g_fn;
  void *ud = g_userdata;
  FILE *f = fn == NULL ? sink() : NULL;
  spin_unlock();
  if (fn != NULL) {
    fn(ud, level, line);
    return;
  }
  size_t len = strlen(line); /* one write per line: lines of several processes do not mix */
  if (len + 1 < sizeof line) {
    line[len] = '\n';
    line[len + 1] = '\0';
  }
  fputs(line, f);
  fflush(f);
}
