/* main() for every test binary: runs one case, or lists them. See runner.h. */
#include "runner.h"

#include <stdarg.h>
#ifdef _WIN32
#include <windows.h>
#else
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
int t_count_anonymous_shm_names(void) {
  DIR *d = opendir("/dev/shm");
  int n = 0;
  ASSERT_TRUE(d != NULL);
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    const char *s = e->d_name;
    if (strncmp(s, "mproc-", 6) == 0 && strlen(s) == 22 &&
        strspn(s + 6, "0123456789abcdef") == 16)
      n++;
  }
  closedir(d);
  return n;
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
#endif
