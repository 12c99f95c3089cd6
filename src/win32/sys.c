/* SPDX-License-Identifier: MIT */
/*
 * Process identity, CPU counts, the environment and the core's global lock on Windows.
 *
 * The environment is read and written through the Win32 API (GetEnvironmentVariableW), not the
 * C runtime's getenv: the CRT keeps its own copy that CreateProcessW never sees, and
 * proc.c builds a child's block from GetEnvironmentStringsW.
 */
#include <windows.h>

#include <stdlib.h>
#include <tlhelp32.h>
/* after windows.h; with _WIN32_WINNT >= 0x0601 this is kernel32's K32GetProcessMemoryInfo */
#include <psapi.h>

#include "internal.h"
#include "w32.h"
#include "../alloc.h"

int64_t mproc__os_getpid(void) { return (int64_t)GetCurrentProcessId(); }

/* The creator's pid as the process list records it (Python's os.getppid() reads the same
 * field). Windows does not re-parent: after the creator exits the pid stays, and may since
 * have been reused; 0 when the list cannot be read. */
int64_t mproc__os_getppid(void) {
  HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0);
  if (snap == INVALID_HANDLE_VALUE)
    return 0;
  DWORD self = GetCurrentProcessId(), parent = 0;
  PROCESSENTRY32W pe = {.dwSize = sizeof pe};
  for (BOOL ok = Process32FirstW(snap, &pe); ok; ok = Process32NextW(snap, &pe))
    if (pe.th32ProcessID == self) {
      parent = pe.th32ParentProcessID;
      break;
    }
  CloseHandle(snap);
  return (int64_t)parent;
}

int mproc__os_thread_count(void) {
  HANDLE snap = CreateToolhelp32Snapshot(TH32CS_SNAPTHREAD, 0);
  if (snap == INVALID_HANDLE_VALUE)
    return 0;
  DWORD self = GetCurrentProcessId();
  THREADENTRY32 te = {.dwSize = sizeof te};
  int count = 0;
  for (BOOL ok = Thread32First(snap, &te); ok; ok = Thread32Next(snap, &te))
    if (te.th32OwnerProcessID == self)
      count++;
  CloseHandle(snap);
  return count;
}

int mproc__os_cpu_count(void) {
  DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
  return n ? (int)n : 1;
}

#ifndef JOB_OBJECT_CPU_RATE_CONTROL_MIN_MAX_RATE
#define JOB_OBJECT_CPU_RATE_CONTROL_MIN_MAX_RATE 0x10 /* Windows 10; older mingw headers lack it */
#endif

/* A job with a hard CPU rate cap (containers, CI sandboxes) allows rate/10000 of the machine:
 * report that many CPUs, as Python's os.process_cpu_count() cannot. */
static int job_cpu_cap(int cpus) {
  JOBOBJECT_CPU_RATE_CONTROL_INFORMATION info;
  if (!QueryInformationJobObject(NULL, JobObjectCpuRateControlInformation, &info, sizeof info,
                                 NULL))
    return cpus;
  DWORD flags = info.ControlFlags;
  if (!(flags & JOB_OBJECT_CPU_RATE_CONTROL_ENABLE) ||
      !(flags & JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP) ||
      (flags & (JOB_OBJECT_CPU_RATE_CONTROL_WEIGHT_BASED |
                JOB_OBJECT_CPU_RATE_CONTROL_MIN_MAX_RATE)))
    return cpus;
  int64_t capped = ((int64_t)info.CpuRate * mproc__os_cpu_count() + 9999) / 10000;
  return capped < cpus ? (int)capped : cpus;
}

int mproc__os_cpu_count_usable(void) {
  DWORD_PTR proc_mask, sys_mask;
  int n = 0;
  /* Only the current processor group is visible here; a process spans one group by default. */
  if (GetProcessAffinityMask(GetCurrentProcess(), &proc_mask, &sys_mask))
    for (; proc_mask; proc_mask &= proc_mask - 1)
      n++;
  if (n == 0)
    n = mproc__os_cpu_count();
  n = job_cpu_cap(n);
  return n < 1 ? 1 : n;
}

wchar_t *mproc__w32_to_utf16(const char *s, int *err) {
  int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
  wchar_t *w = n > 0 ? mproc__malloc((size_t)n * sizeof *w) : NULL;
  if (n <= 0) {
    *err = mproc__os_last_error();
    return NULL;
  }
  if (!w) {
    *err = MPROC_ENOMEM;
    return NULL;
  }
  MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n);
  *err = 0;
  return w;
}

int mproc__w32_to_utf8(const wchar_t *w, char *buf, size_t cap) {
  int need = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
  if (need <= 0)
    return mproc__os_last_error();
  if ((size_t)need > cap)
    return MPROC_ERANGE;
  WideCharToMultiByte(CP_UTF8, 0, w, -1, buf, need, NULL, NULL);
  return 0;
}

/* Reads name into a malloc'd UTF-16 value; the size can change between the two calls when
 * another thread sets the variable, hence the loop. */
static int getenv_w(const wchar_t *wname, wchar_t **out) {
  DWORD cap = 256;
  for (;;) {
    wchar_t *v = mproc__malloc(cap * sizeof *v);
    if (!v)
      return MPROC_ENOMEM;
    SetLastError(ERROR_SUCCESS);
    DWORD n = GetEnvironmentVariableW(wname, v, cap);
    if (n == 0 && GetLastError() == ERROR_ENVVAR_NOT_FOUND) {
      mproc__free(v);
      return MPROC_ENOENT;
    }
    if (n < cap) {
      *out = v; /* n == 0 with no error: set but empty */
      v[n] = L'\0';
      return 0;
    }
    mproc__free(v);
    cap = n;
  }
}

int mproc__os_getenv(const char *name, char *buf, size_t cap) {
  int rc;
  wchar_t *wname = mproc__w32_to_utf16(name, &rc), *value = NULL;
  if (!wname)
    return rc;
  rc = getenv_w(wname, &value);
  if (rc == 0)
    rc = mproc__w32_to_utf8(value, buf, cap);
  mproc__free(value);
  mproc__free(wname);
  return rc;
}

int mproc__os_unsetenv(const char *name) {
  int rc;
  wchar_t *wname = mproc__w32_to_utf16(name, &rc);
  if (!wname)
    return rc;
  if (!SetEnvironmentVariableW(wname, NULL) && GetLastError() != ERROR_ENVVAR_NOT_FOUND)
    rc = mproc__os_last_error();
  mproc__free(wname);
  return rc;
}

static SRWLOCK global_lock = SRWLOCK_INIT;

void mproc__os_global_lock(void) { AcquireSRWLockExclusive(&global_lock); }

void mproc__os_global_unlock(void) { ReleaseSRWLockExclusive(&global_lock); }

/* Nothing process-wide to set up: SetErrorMode belongs to the host (ANCHORS §8.13), and the
 * job object for daemon children is created on first use in proc.c. */
int mproc__os_init(void) { return 0; }

void mproc__os_exit_now(int code) { _exit(code); }

uint64_t mproc__os_rss_bytes(void) {
  PROCESS_MEMORY_COUNTERS pmc;
  if (!GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc))
    return 0;
  return (uint64_t)pmc.WorkingSetSize;
}
