/* SPDX-License-Identifier: MIT */
/* Identity, CPU counts, environment, the core's global lock, exit. Thread and usable-CPU counts
 * are per system: Linux /proc, sched_getaffinity and cgroups; macOS proc_pidinfo; FreeBSD
 * sysctl(KERN_PROC_PID) and cpuset_getaffinity. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <libproc.h>
#include <sys/proc_info.h>
#elif defined(__FreeBSD__)
#include <sys/param.h>
#include <sys/cpuset.h>
#include <sys/sysctl.h>
#include <sys/user.h>
#endif

#include "posix.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;

void mproc__os_global_lock(void) { pthread_mutex_lock(&g_lock); }
void mproc__os_global_unlock(void) { pthread_mutex_unlock(&g_lock); }

/* fork() copies the lock in whatever state it is: held by another thread at that instant (a
 * pool thread forks workers while user threads call in), the child's copy would stay held
 * forever and the child would hang at its first library call. So every fork, ours or the
 * host's, takes the lock first and releases it on both sides. This is the library's
 * only in-process lock; a second one must join these handlers in a fixed order. */
static void lock_prepare(void) { pthread_mutex_lock(&g_lock); }
static void lock_parent(void) { pthread_mutex_unlock(&g_lock); }
/* The child's only thread is the one whose prepare handler took the lock: releasing it is
 * the same as a fresh lock, and unlike overwriting the memory, checkers that track lock state
 * (TSan) see it. */
static void lock_child(void) { pthread_mutex_unlock(&g_lock); }
__attribute__((constructor)) static void lock_register(void) {
  pthread_atfork(lock_prepare, lock_parent, lock_child);
}
int mproc__os_init(void) { return 0; }
/* Called through a pointer the loader fills in at startup: a forked child would otherwise bind
 * _exit lazily on its first call (the parent never calls it), a symbol lookup and a write to
 * a page it shares with its parent, in every child. */
static void (*const volatile exit_fn)(int) = _exit;
void mproc__os_exit_now(int code) { exit_fn(code); }
int64_t mproc__os_getpid(void) { return (int64_t)getpid(); }
int64_t mproc__os_getppid(void) { return (int64_t)getppid(); }

#if defined(__linux__)
/* procfs gives /proc/self/task one link per thread plus "." and "..": one stat() call. */
static int thread_count_fast(void) {
  struct stat st;
  if (stat("/proc/self/task", &st) != 0 || st.st_nlink < 3)
    return 0;
  return (int)st.st_nlink - 2;
}

/* Field 20 of /proc/self/stat. The comm field may contain spaces and parentheses, so parsing
 * starts after the last ')'. */
static int thread_count_stat(void) {
  FILE *f = fopen("/proc/self/stat", "re");
  if (f == NULL)
    return 0;
  char buf[1024];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *p = strrchr(buf, ')');
  int threads = 0;
  /* after ")": state(3) ... num_threads is the 18th field from state */
  for (int field = 2; p && *p; p++) {
    if (*p == ' ' && ++field == 20) {
      threads = atoi(p + 1);
      break;
    }
  }
  return threads;
}

#elif defined(__APPLE__)
static int thread_count_fast(void) {
  struct proc_taskinfo ti;
  if (proc_pidinfo(getpid(), PROC_PIDTASKINFO, 0, &ti, sizeof ti) != (int)sizeof ti)
    return 0;
  return ti.pti_threadnum;
}
static int thread_count_stat(void) { return 0; }
#elif defined(__FreeBSD__)
static int thread_count_fast(void) {
  struct kinfo_proc kp;
  size_t len = sizeof kp;
  int mib[4] = {CTL_KERN, KERN_PROC, KERN_PROC_PID, getpid()};
  if (sysctl(mib, 4, &kp, &len, NULL, 0) != 0 || len != sizeof kp)
    return 0;
  return kp.ki_numthreads;
}
static int thread_count_stat(void) { return 0; }
#else
static int thread_count_fast(void) { return 0; }
static int thread_count_stat(void) { return 0; }
#endif

int mproc__os_thread_count(void) {
  int n = thread_count_fast();
  if (n <= 0)
    n = thread_count_stat();
  return n > 1 && mproc__px_starter_running() ? n - 1 : n;
}

int mproc__os_cpu_count(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 0;
}

#if defined(__linux__)
static int affinity_count(void) {
  for (int ncpu = 1024; ncpu <= 1 << 20; ncpu *= 2) {
    cpu_set_t *set = CPU_ALLOC(ncpu);
    if (set == NULL)
      return 0;
    size_t size = CPU_ALLOC_SIZE(ncpu);
    int rc = sched_getaffinity(0, size, set);
    int n = rc == 0 ? CPU_COUNT_S(size, set) : 0;
    CPU_FREE(set);
    if (rc == 0 || errno != EINVAL)
      return n;
  }
  return 0;
}

/* Reads "quota period" (v2 cpu.max; "max" = none) or a v1 pair of files. 0 = no limit. */
static double read_quota(const char *dir) {
  char path[512], buf[128];
  snprintf(path, sizeof path, "/sys/fs/cgroup%s/cpu.max", dir);
  FILE *f = fopen(path, "re");
  if (f != NULL) {
    double q = 0, per = 0;
    int ok = fgets(buf, sizeof buf, f) != NULL && sscanf(buf, "%lf %lf", &q, &per) == 2;
    fclose(f);
    return ok && per > 0 ? q / per : 0;
  }
  long long q = -1, per = 0;
  snprintf(path, sizeof path, "/sys/fs/cgroup/cpu,cpuacct%s/cpu.cfs_quota_us", dir);
  if ((f = fopen(path, "re")) != NULL) {
    if (fscanf(f, "%lld", &q) != 1)
      q = -1;
    fclose(f);
  }
  snprintf(path, sizeof path, "/sys/fs/cgroup/cpu,cpuacct%s/cpu.cfs_period_us", dir);
  if ((f = fopen(path, "re")) != NULL) {
    if (fscanf(f, "%lld", &per) != 1)
      per = 0;
    fclose(f);
  }
  return q > 0 && per > 0 ? (double)q / (double)per : 0;
}

/* The quota of this process's cgroup (v2 "0::/path" or the v1 cpu controller line). */
static double cgroup_quota(void) {
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (f == NULL)
    return 0;
  char line[1024];
  double quota = 0;
  while (quota == 0 && fgets(line, sizeof line, f)) {
    line[strcspn(line, "\n")] = '\0';
    char *ctrl = strchr(line, ':'), *path = ctrl ? strchr(ctrl + 1, ':') : NULL;
    if (path == NULL)
      continue;
    *path++ = '\0';
    if (strcmp(ctrl + 1, "") == 0 || strstr(ctrl + 1, "cpu") != NULL)
      quota = read_quota(strcmp(path, "/") == 0 ? "" : path);
  }
  fclose(f);
  return quota;
}

#elif defined(__FreeBSD__)
static int affinity_count(void) {
  cpuset_t set;
  CPU_ZERO(&set);
  if (cpuset_getaffinity(CPU_LEVEL_WHICH, CPU_WHICH_PID, -1, sizeof set, &set) != 0)
    return 0;
  return CPU_COUNT(&set);
}
static double cgroup_quota(void) { return 0; }
#else
static int affinity_count(void) { return 0; } /* macOS: no affinity masks */
static double cgroup_quota(void) { return 0; }
#endif

int mproc__os_cpu_count_usable(void) {
  int n = affinity_count();
  if (n <= 0)
    n = mproc__os_cpu_count();
  double q = cgroup_quota();
  int qn = (int)q; /* ceil without libm: a quota of 1.5 CPUs allows 2 busy processes */
  if (qn < q)
    qn++;
  if (q > 0 && qn < n)
    n = qn;
  return n > 0 ? n : 1;
}

int mproc__os_getenv(const char *name, char *buf, size_t cap) {
  const char *v = getenv(name);
  if (v == NULL)
    return MPROC_ENOENT;
  size_t n = strlen(v);
  if (n >= cap)
    return MPROC_ERANGE;
  memcpy(buf, v, n + 1);
  return 0;
}

int mproc__os_unsetenv(const char *name) {
  return unsetenv(name) == 0 ? 0 : mproc__os_last_error();
}

/* The current resident set from /proc where there is one; elsewhere getrusage only knows the
 * peak (KiB on Linux and the BSDs, bytes on macOS), which is what a growing worker reaches
 * anyway, since memory a leaking task took is rarely given back. */
uint64_t mproc__os_rss_bytes(void) {
  FILE *f = fopen("/proc/self/statm", "re");
  if (f != NULL) {
    unsigned long long size = 0, resident = 0;
    int n = fscanf(f, "%llu %llu", &size, &resident);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    if (n == 2 && page > 0)
      return (uint64_t)resident * (uint64_t)page;
  }
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) != 0 || ru.ru_maxrss <= 0)
    return 0;
#if defined(__APPLE__)
  return (uint64_t)ru.ru_maxrss;
#else
  return (uint64_t)ru.ru_maxrss * 1024u;
#endif
}
