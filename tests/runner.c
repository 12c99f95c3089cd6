/* SPDX-License-Identifier: MIT */
/* main() for every test binary: runs one case, or lists them. See runner.h. */
#include "runner.h"

#include <stdarg.h>
#ifdef _WIN32
#include <windows.h>
#else
#include <glob.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#endif

#define MAX_TESTS 256

static struct {
  const char *name;
  t_fn fn;
} g_tests[MAX_TESTS];
static int g_ntests;
static mproc_start_method g_method = MPROC_START_SPAWN;
static const char *g_case = "?";

void t_register(const char *name, t_fn fn) {
  if (g_ntests < MAX_TESTS) {
    g_tests[g_ntests].name = name;
    g_tests[g_ntests].fn = fn;
    g_ntests++;
  }
}

mproc_start_method t_method(void) { return g_method; }

void t_skip(const char *why) {
  printf("SKIP %s: %s\n", g_case, why);
  fflush(stdout);
  exit(T_SKIP_CODE);
}

void t_fail(const char *file, int line, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "FAIL %s [%s] %s:%d: ", g_case, mproc_start_method_name(g_method), file, line);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  fflush(NULL);
  abort();
}

void t_sleep_ms(int ms) {
#ifdef _WIN32
  Sleep((DWORD)ms);
#else
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0)
    ;
#endif
}

void t_temp_path(char *buf, size_t cap, const char *tag) {
#ifdef _WIN32
  char dir[MAX_PATH];
  GetTempPathA(sizeof dir, dir);
  snprintf(buf, cap, "%smproc-test-%lu-%s", dir, (unsigned long)GetCurrentProcessId(), tag);
#else
  const char *dir = getenv("TMPDIR");
  snprintf(buf, cap, "%s/mproc-test-%ld-%s", dir && *dir ? dir : "/tmp", (long)getpid(), tag);
#endif
}

int t_target_return_arg(const mproc_args_t *a) {
  int64_t v = 0;
  mproc_args_get_int(a, 0, &v);
  return (int)v;
}

int t_target_sleep_arg(const mproc_args_t *a) {
  int64_t ms = 0;
  mproc_args_get_int(a, 0, &ms);
  t_sleep_ms((int)ms);
  return 0;
}

mproc_process_t *t_start(mproc_target_fn fn, mproc_args_t *args) {
  mproc_process_t *p = NULL;
  ASSERT_OK(mproc_process_new(&p, fn, args));
  ASSERT_OK(mproc_process_start(p));
  return p;
}

int t_join_code(mproc_process_t *p) {
  int code = 0;
  ASSERT_OK(mproc_process_join(p, 30000));
  ASSERT_OK(mproc_process_exitcode(p, &code));
  return code;
}

int (*t_pre_main_hook)(int argc, char **argv);

int main(int argc, char **argv) {
#ifdef _WIN32
  /* A crashing child must exit, not wait on an error dialog. Test binaries own their process,
   * so setting this process-wide state is theirs to do (the library never does). */
  SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX);
#endif
  if (t_pre_main_hook) {
    int rc = t_pre_main_hook(argc, argv);
    if (rc >= 0)
      return rc;
  }
  mproc_main(argc, argv); /* spawned children run here and never return */
  if (argc >= 2 && strcmp(argv[1], "--list") == 0) {
    for (int i = 0; i < g_ntests; i++)
      printf("%s\n", g_tests[i].name);
    return 0;
  }
  if (argc < 2) {
    fprintf(stderr, "usage: %s --list | CASE [fork|spawn|forkserver]\n", argv[0]);
    return 2;
  }
  if (argc >= 3 && mproc_start_method_parse(argv[2], &g_method) != 0) {
    fprintf(stderr, "unknown start method %s\n", argv[2]);
    return 2;
  }
  if (argc >= 3 && mproc_set_start_method(g_method) != 0)
    t_skip("start method not available on this platform");
  g_case = argv[1];
  for (int i = 0; i < g_ntests; i++)
    if (strcmp(g_tests[i].name, argv[1]) == 0) {
      g_tests[i].fn();
      printf("PASS %s [%s]\n", g_case, mproc_start_method_name(g_method));
      fflush(stdout);
      return 0;
    }
  fprintf(stderr, "no test case named %s\n", argv[1]);
  return 2;
}

/* --- helpers the area tests share (see runner.h) --- */

#ifndef _WIN32
char t_proc_state(int64_t pid) {
  char path[64], buf[512];
  snprintf(path, sizeof path, "/proc/%lld/stat", (long long)pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *p = strrchr(buf, ')'); /* the name in parentheses may hold anything */
  return p && p[1] == ' ' ? p[2] : 0;
}
#endif

int64_t t_now_ms(void) {
#ifdef _WIN32
  LARGE_INTEGER f, c;
  QueryPerformanceFrequency(&f);
  QueryPerformanceCounter(&c);
  return (int64_t)(c.QuadPart / (f.QuadPart / 1000));
#else
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
#endif
}

void t_assert_waited(int rc, int want, int64_t t0, int64_t ms, const char *what,
                     const char *file, int line) {
  int64_t took = t_now_ms() - t0;
  if (rc != want)
    t_fail(file, line, "%s: got %s, want %s", what, mproc_errname(rc), mproc_errname(want));
  if (took < ms * 3 / 4 || took > 5000 + ms)
    t_fail(file, line, "%s: a %lld ms timeout took %lld ms", what, (long long)ms,
           (long long)took);
}

mproc_args_t *t_args(const char *kinds, ...) {
  mproc_args_t *a;
  ASSERT_OK(mproc_args_new(&a));
  va_list ap;
  va_start(ap, kinds);
  for (const char *k = kinds; *k; k++) {
    switch (*k) {
    case 'L': ASSERT_OK(mproc_args_add_lock(a, va_arg(ap, mproc_lock_t *))); break;
    case 'S': ASSERT_OK(mproc_args_add_semaphore(a, va_arg(ap, mproc_semaphore_t *))); break;
    case 'C': ASSERT_OK(mproc_args_add_condition(a, va_arg(ap, mproc_condition_t *))); break;
    case 'E': ASSERT_OK(mproc_args_add_event(a, va_arg(ap, mproc_event_t *))); break;
    case 'B': ASSERT_OK(mproc_args_add_barrier(a, va_arg(ap, mproc_barrier_t *))); break;
    case 'Q': ASSERT_OK(mproc_args_add_queue(a, va_arg(ap, mproc_queue_t *))); break;
    case 'V': ASSERT_OK(mproc_args_add_value(a, va_arg(ap, mproc_value_t *))); break;
    case 'A': ASSERT_OK(mproc_args_add_array(a, va_arg(ap, mproc_array_t *))); break;
    case 'i': ASSERT_OK(mproc_args_add_int(a, va_arg(ap, int))); break;
    case 'l': ASSERT_OK(mproc_args_add_int(a, va_arg(ap, int64_t))); break;
    case 's': ASSERT_OK(mproc_args_add_str(a, va_arg(ap, const char *))); break;
    default: t_fail(__FILE__, __LINE__, "bad kind %c", *k);
    }
  }
  va_end(ap);
  return a;
}

void t_start_n(mproc_process_t **ps, int n, mproc_target_fn fn, mproc_args_t *a) {
  for (int i = 0; i < n; i++)
    ps[i] = t_start(fn, a);
  mproc_args_free(a);
}

mproc_process_t *t_start_one(mproc_target_fn fn, mproc_args_t *a) {
  mproc_process_t *p;
  t_start_n(&p, 1, fn, a);
  return p;
}

void t_finish_ms(mproc_process_t *p, int64_t join_ms) {
  int code = -1;
  ASSERT_OK(mproc_process_join(p, join_ms));
  ASSERT_OK(mproc_process_exitcode(p, &code));
  if (code != 0)
    t_fail(__FILE__, __LINE__, "child exit %d: %s", code,
           mproc_process_error(p) ? mproc_process_error(p) : "(no message)");
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

void t_finish(mproc_process_t *p) { t_finish_ms(p, 30000); }

void t_finish_n(mproc_process_t **ps, int n) {
  for (int i = 0; i < n; i++)
    t_finish(ps[i]);
}

void t_kill_and_reap(mproc_process_t *p) {
  ASSERT_OK(mproc_process_kill(p));
  ASSERT_EQ(t_join_code(p), -9);
  ASSERT_OK(mproc_process_close(p));
  mproc_process_free(p);
}

int t_run_grandchild(int rc, mproc_target_fn fn, mproc_args_t *ga, int allow_fork_with_threads) {
  mproc_process_t *g;
  if (rc == 0)
    rc = mproc_process_new(&g, fn, ga);
  mproc_args_free(ga);
  if (rc == 0 && allow_fork_with_threads)
    rc = mproc_process_allow_fork_with_threads(g, 1);
  C_OK(rc);
  C_OK(mproc_process_start(g));
  int code = -1;
  C_OK(mproc_process_join(g, 60000));
  C_OK(mproc_process_exitcode(g, &code));
  if (code != 0)
    return mproc_fail(code, "grandchild: %s", mproc_process_error(g));
  mproc_process_free(g);
  return 0;
}

#define T_ARG_GETTER(ret, name, get)                                                         \
  ret *name(const mproc_args_t *a, size_t i) {                                               \
    ret *o = NULL;                                                                           \
    return get(a, i, &o) == 0 ? o : NULL;                                                    \
  }
T_ARG_GETTER(mproc_lock_t, t_lock, mproc_args_get_lock)
T_ARG_GETTER(mproc_semaphore_t, t_sem, mproc_args_get_semaphore)
T_ARG_GETTER(mproc_condition_t, t_cond, mproc_args_get_condition)
T_ARG_GETTER(mproc_event_t, t_event, mproc_args_get_event)
T_ARG_GETTER(mproc_barrier_t, t_barrier, mproc_args_get_barrier)
T_ARG_GETTER(mproc_queue_t, t_queue, mproc_args_get_queue)
T_ARG_GETTER(mproc_value_t, t_value, mproc_args_get_value)
T_ARG_GETTER(mproc_array_t, t_array, mproc_args_get_array)

const char *t_str(const mproc_args_t *a, size_t i) {
  const char *s = NULL;
  return mproc_args_get_str(a, i, &s) == 0 ? s : NULL;
}

int64_t t_int64(const mproc_args_t *a, size_t i) {
  int64_t v = -1;
  mproc_args_get_int(a, i, &v);
  return v;
}

int t_int(const mproc_args_t *a, size_t i) { return (int)t_int64(a, i); }

struct t_thread {
  void (*fn)(void *);
  void *arg;
#ifdef _WIN32
  HANDLE h;
#else
  pthread_t t;
#endif
};

#ifdef _WIN32
static DWORD WINAPI t_thread_main(LPVOID p) {
  t_thread *t = p;
  t->fn(t->arg);
  return 0;
}
#else
static void *t_thread_main(void *p) {
  t_thread *t = p;
  t->fn(t->arg);
  return NULL;
}
#endif

t_thread *t_thread_start(void (*fn)(void *), void *arg) {
  t_thread *t = calloc(1, sizeof *t);
  ASSERT_TRUE(t != NULL);
  t->fn = fn;
  t->arg = arg;
#ifdef _WIN32
  t->h = CreateThread(NULL, 0, t_thread_main, t, 0, NULL);
  ASSERT_TRUE(t->h != NULL);
#else
  ASSERT_EQ(pthread_create(&t->t, NULL, t_thread_main, t), 0);
#endif
  return t;
}

void t_thread_join(t_thread *t) {
#ifdef _WIN32
  WaitForSingleObject(t->h, INFINITE);
  CloseHandle(t->h);
#else
  pthread_join(t->t, NULL);
#endif
  free(t);
}

/* --- resource counts (POSIX) --- */
#ifndef _WIN32
#include <dirent.h>

int t_count_entries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  ASSERT_TRUE(d != NULL);
  for (struct dirent *e; (e = readdir(d)) != NULL;)
    n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return n;
}

/* Names in /dev/shm an anonymous segment could leave: "mproc-" and 16 hex digits, what the
 * library uses where memfd is missing (it unlinks them at once). Not all of /dev/shm: other
 * tests running at the same time create named blocks there on purpose. */
static int scan_anonymous_shm(char names[][24], int cap) {
  DIR *d = opendir("/dev/shm");
  int n = 0;
  ASSERT_TRUE(d != NULL);
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    const char *s = e->d_name;
    if (strncmp(s, "mproc-", 6) == 0 && strlen(s) == 22 &&
        strspn(s + 6, "0123456789abcdef") == 16) {
      if (names != NULL && n < cap)
        memcpy(names[n], s, 23);
      n++;
    }
  }
  closedir(d);
  return n;
}

/* Only names still there 100 ms later count: a test running beside this one may be between
 * creating and unlinking an anonymous segment's name, which is no leak. */
int t_count_anonymous_shm_names(void) {
  static char first[64][24];
  int n1 = scan_anonymous_shm(first, 64), kept = 0;
  if (n1 == 0)
    return 0;
  t_sleep_ms(100);
  char now[64][24];
  int n2 = scan_anonymous_shm(now, 64);
  for (int i = 0; i < n1 && i < 64; i++)
    for (int j = 0; j < n2 && j < 64; j++)
      if (strcmp(first[i], now[j]) == 0) {
        kept++;
        break;
      }
  return kept;
}

/* Shared mappings of this process: memfds and /dev/shm objects. */
int t_count_shared_maps(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  char line[1024];
  int n = 0;
  ASSERT_TRUE(f != NULL);
  while (fgets(line, sizeof line, f))
    n += strstr(line, "/memfd:") != NULL || strstr(line, "/dev/shm/") != NULL;
  fclose(f);
  return n;
}

void t_assert_nothing_left(int fds, int maps, int shm) {
  ASSERT_EQ(t_count_entries("/proc/self/fd"), fds);
  ASSERT_EQ(t_count_shared_maps(), maps);
  ASSERT_EQ(t_count_anonymous_shm_names(), shm); /* anonymous: never a name in /dev/shm */
  size_t n = 9;
  ASSERT_OK(mproc_active_children(NULL, 0, &n));
  ASSERT_EQ(n, 0);
}
#endif

int t_count_handles(void) {
#ifdef _WIN32
  /* GetProcessHandleCount is a stub under Wine: probe the handle table instead (values are
   * multiples of 4). */
  int n = 0;
  for (uintptr_t v = 4; v < 65536; v += 4) {
    DWORD flags;
    if (GetHandleInformation((HANDLE)v, &flags))
      n++;
  }
  return n;
#else
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  if (d == NULL)
    return -1;
  while (readdir(d) != NULL)
    n++;
  closedir(d);
  return n - 3; /* ".", ".." and the directory's own fd */
#endif
}

/* --- fault tests ---------------------------------------------------------------------------- */

static uint64_t g_fault_seed, g_rand_state;

uint64_t t_fault_seed(void) {
  if (g_fault_seed == 0) {
    const char *env = getenv("MPROC_FAULT_SEED");
    g_fault_seed = env && *env ? strtoull(env, NULL, 0) : (uint64_t)t_now_ms() * 2654435761u;
    if (g_fault_seed == 0)
      g_fault_seed = 1;
    g_rand_state = g_fault_seed;
    printf("fault seed: MPROC_FAULT_SEED=%" PRIu64 "\n", g_fault_seed);
    fflush(stdout);
  }
  return g_fault_seed;
}

int t_fault_rounds(int quick_default) {
  const char *env = getenv("MPROC_FAULT_ROUNDS");
  int n = env && *env ? atoi(env) : quick_default;
  return n > 0 ? n : quick_default;
}

uint32_t t_rand(void) {
  t_fault_seed();
  g_rand_state ^= g_rand_state >> 12;
  g_rand_state ^= g_rand_state << 25;
  g_rand_state ^= g_rand_state >> 27;
  return (uint32_t)((g_rand_state * 0x2545F4914F6CDD1Dull) >> 32);
}

int t_rand_range(int lo, int hi) {
  return hi <= lo ? lo : lo + (int)(t_rand() % (uint32_t)(hi - lo + 1));
}

#ifndef _WIN32
int t_find_python(int minor, char *out, size_t cap) {
  char pattern[512];
  const char *home = getenv("HOME");
  snprintf(pattern, sizeof pattern, "%s/.pyenv/versions/3.%d.*/bin/python3", home ? home : "",
           minor);
  glob_t g;
  int found = glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc > 0;
  if (found)
    snprintf(out, cap, "%s", g.gl_pathv[g.gl_pathc - 1]);
  if (found || home)
    globfree(&g);
#ifdef MPROC_TEST_PYTHON
  if (!found) {
    char cmd[1024], ver[32] = "";
    snprintf(cmd, sizeof cmd, "%s -c 'import sys; print(sys.version_info[1])'",
             MPROC_TEST_PYTHON);
    FILE *f = popen(cmd, "r");
    if (f != NULL) {
      found = fgets(ver, sizeof ver, f) != NULL && atoi(ver) == minor;
      pclose(f);
    }
    if (found)
      snprintf(out, cap, "%s", MPROC_TEST_PYTHON);
  }
#endif
  return found;
}
#endif
