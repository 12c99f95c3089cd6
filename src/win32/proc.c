/* SPDX-License-Identifier: MIT */
/*
 * Processes on Windows: spawn only (no fork), by re-executing this program.
 *
 * The spawn sequence, one function each: application name + command line (GetCommandLineW
 * unchanged, so the child sees the parent's exact quoting) -> environment block (ours + the
 * bootstrap token) -> handle list -> attribute list (PROC_THREAD_ATTRIBUTE_HANDLE_LIST) ->
 * CreateProcessW(CREATE_SUSPENDED) -> job object for daemons -> ResumeThread.
 *
 * Inheritance (ANCHORS §7.8, §8.1): every handle is born non-inheritable. The requested
 * handles are made inheritable only around our CreateProcessW and HANDLE_LIST limits that call
 * to exactly them, so concurrent mproc spawns cannot leak into each other's children
 * (libuv#1490). Their values stay the same, which is what the core wrote into the bootstrap
 * environment variable. The window left for a foreign CreateProcess(bInheritHandles = TRUE)
 * is described in docs/windows.md. stdio goes the other way: private inheritable duplicates
 * with STARTF_USESTDHANDLES, since a listed-handles child receives nothing else.
 *
 * Exit status: TerminateProcess codes 0x1000F / 0x10009 read back as -15 / -9 (Python's
 * -SIGTERM / -SIGKILL); anything else, NTSTATUS crash codes included, as (int)code.
 */
#include <windows.h>

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "internal.h"
#include "w32.h"
#include "../alloc.h"

#define EXIT_TERMINATED 0x1000F /* mproc__os_proc_signal(hard = 0) */
#define EXIT_KILLED 0x10009     /* mproc__os_proc_signal(hard = 1) */

/* --- job object for daemon children ------------------------------------------------------ */

/* One per parent, created on first use, never inheritable. KILL_ON_JOB_CLOSE: the last handle
 * is ours, so when this process dies however it dies, the kernel kills every daemon child.
 * No breakaway flags: their own children stay in the job too. */
static HANDLE daemon_job;
static INIT_ONCE job_once = INIT_ONCE_STATIC_INIT;
/* Set when a job refused us (we already run in a job that forbids nesting or breakaway): daemon
 * children then outlive a killed parent, as on platforms without PDEATHSIG. */
static volatile LONG job_downgraded;

static BOOL CALLBACK create_job(PINIT_ONCE once, PVOID param, PVOID *ctx) {
  JOBOBJECT_EXTENDED_LIMIT_INFORMATION info = {0};
  HANDLE job = CreateJobObjectW(NULL, NULL);
  if (!job)
    return FALSE; /* not marked done: the next daemon spawn tries again */
  info.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
  if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation, &info, sizeof info)) {
    DWORD e = GetLastError();
    CloseHandle(job);
    SetLastError(e);
    return FALSE;
  }
  daemon_job = job;
  return TRUE;
}

/* Never fatal for ERROR_ACCESS_DENIED: the guarantee is downgraded instead (oven-sh/bun#36839
 * is what aborting here does to a host). */
static int assign_job(HANDLE proc) {
  if (!InitOnceExecuteOnce(&job_once, create_job, NULL, NULL))
    return mproc__os_last_error();
  if (AssignProcessToJobObject(daemon_job, proc))
    return 0;
  if (GetLastError() != ERROR_ACCESS_DENIED)
    return mproc__os_last_error();
  InterlockedExchange(&job_downgraded, 1);
  return 0;
}

/* --- the spawn context ------------------------------------------------------------------- */

typedef struct spawn_ctx {
  wchar_t *app, *cmd, *env;
  HANDLE *list;       /* HANDLE_LIST: lent handles, then the stdio copies */
  size_t nlist;
  DWORD *lent_flags;  /* list[i] for i < nlent: handle flags to restore after CreateProcessW */
  size_t nlent;
  HANDLE stdio[3];    /* our inheritable duplicates of stdin/stdout/stderr, closed after */
  LPPROC_THREAD_ATTRIBUTE_LIST attrs;
  STARTUPINFOEXW si;
} spawn_ctx;

/* GetModuleFileNameW truncates without failing; grow until the path fits. */
static int module_path(wchar_t **out) {
  for (DWORD cap = MAX_PATH; cap <= 32768; cap *= 2) {
    wchar_t *p = mproc__malloc(cap * sizeof *p);
    if (!p)
      return MPROC_ENOMEM;
    DWORD len = GetModuleFileNameW(NULL, p, cap);
    if (len > 0 && len < cap) {
      *out = p;
      return 0;
    }
    mproc__free(p);
    if (len == 0)
      return mproc__os_last_error();
  }
  return MPROC_ERANGE;
}

/* The program to start: req->exe (UTF-8) when set, else this one. */
static int program_path(const os_spawn_req *req, wchar_t **out) {
  if (req->exe == NULL)
    return module_path(out);
  int err = 0;
  *out = mproc__w32_to_utf16(req->exe, &err);
  return *out ? 0 : err ? err : MPROC_EINVAL;
}

/* CreateProcessW may write into its command line, so it gets a private copy. */
static int command_line(wchar_t **out) {
  const wchar_t *cl = GetCommandLineW();
  size_t len = wcslen(cl) + 1;
  *out = mproc__malloc(len * sizeof **out);
  if (!*out)
    return MPROC_ENOMEM;
  memcpy(*out, cl, len * sizeof **out);
  return 0;
}

/* --- environment block ------------------------------------------------------------------- */

static size_t name_len(const wchar_t *entry) {
  /* Start at 1: hidden per-drive entries look like "=C:=C:\dir". */
  const wchar_t *eq = entry[0] ? wcschr(entry + 1, L'=') : NULL;
  return eq ? (size_t)(eq - entry) : wcslen(entry);
}

/* Case-insensitive, as Windows treats variable names; ordinal, as the block's order is. */
static int name_cmp(const wchar_t *a, const wchar_t *b) {
  int r = CompareStringOrdinal(a, (int)name_len(a), b, (int)name_len(b), TRUE);
  return r == 0 ? 0 : r - CSTR_EQUAL;
}

static wchar_t *put_entry(wchar_t *dst, const wchar_t *entry) {
  size_t len = wcslen(entry) + 1;
  memcpy(dst, entry, len * sizeof *dst);
  return dst + len;
}

/* Copies cur into dst with add inserted at its sorted place and any old entry of that name
 * dropped. Windows tolerates unsorted blocks, but keeping the order avoids surprising
 * programs that binary-search it; "=X:" entries stay first. */
static void merge_env(wchar_t *dst, const wchar_t *cur, const wchar_t *add) {
  int added = 0;
  for (const wchar_t *e = cur; *e; e += wcslen(e) + 1) {
    int c = name_cmp(e, add);
    if (!added && e[0] != L'=' && c > 0) {
      dst = put_entry(dst, add);
      added = 1;
    }
    if (c != 0)
      dst = put_entry(dst, e);
  }
  if (!added)
    dst = put_entry(dst, add);
  *dst = L'\0';
}

static int env_block(const char *assign, wchar_t **out) {
  int rc;
  *out = NULL;
  if (!assign)
    return 0; /* NULL environment: the child gets ours unchanged */
  wchar_t *add = mproc__w32_to_utf16(assign, &rc);
  if (!add)
    return rc;
  wchar_t *cur = GetEnvironmentStringsW();
  if (!cur) {
    rc = mproc__os_last_error();
    goto fail;
  }
  size_t len = 0;
  while (cur[len] || cur[len + 1])
    len++;
  *out = mproc__malloc((len + wcslen(add) + 3) * sizeof **out);
  if (*out)
    merge_env(*out, cur, add);
  rc = *out ? 0 : MPROC_ENOMEM;
  FreeEnvironmentStringsW(cur);
fail:
  mproc__free(add);
  return rc;
}

/* --- handle list ------------------------------------------------------------------------- */

/* Makes each requested handle inheritable for the duration of CreateProcessW, remembering its
 * flags. Duplicates are dropped: CreateProcessW rejects a list that names a handle twice. */
static int lend_handles(spawn_ctx *c, const os_spawn_req *req) {
  for (size_t i = 0; i < req->n_inherit; i++) {
    HANDLE h = (HANDLE)req->inherit[i];
    size_t j = 0;
    while (j < c->nlent && c->list[j] != h)
      j++;
    if (req->inherit[i] == OS_INVALID || j < c->nlent)
      continue;
    DWORD flags;
    if (!GetHandleInformation(h, &flags))
      return mproc__os_last_error();
    if (!(flags & HANDLE_FLAG_INHERIT) &&
        !SetHandleInformation(h, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT))
      return mproc__os_last_error();
    c->lent_flags[c->nlent] = flags;
    c->list[c->nlent++] = h;
    c->nlist = c->nlent;
  }
  return 0;
}

static void return_handles(spawn_ctx *c) {
  for (size_t i = 0; i < c->nlent; i++)
    if (!(c->lent_flags[i] & HANDLE_FLAG_INHERIT))
      SetHandleInformation(c->list[i], HANDLE_FLAG_INHERIT, 0);
  c->nlent = 0;
}

/* The child's stdio: inheritable duplicates of ours. Without them a listed-handles child
 * writes to handle values it never received (output silently lost when ours are pipes). A
 * handle that cannot be duplicated (none, a GUI host) leaves that stream NULL in the child. */
static void lend_stdio(spawn_ctx *c) {
  static const DWORD which[3] = {STD_INPUT_HANDLE, STD_OUTPUT_HANDLE, STD_ERROR_HANDLE};
  HANDLE self = GetCurrentProcess();
  for (int i = 0; i < 3; i++) {
    HANDLE h = GetStdHandle(which[i]), copy = NULL;
    if (h && h != INVALID_HANDLE_VALUE &&
        DuplicateHandle(self, h, self, &copy, 0, TRUE, DUPLICATE_SAME_ACCESS))
      c->list[c->nlist++] = copy;
    c->stdio[i] = copy;
  }
  c->si.StartupInfo.dwFlags |= STARTF_USESTDHANDLES;
  c->si.StartupInfo.hStdInput = c->stdio[0];
  c->si.StartupInfo.hStdOutput = c->stdio[1];
  c->si.StartupInfo.hStdError = c->stdio[2];
}

static int make_attrs(spawn_ctx *c) {
  SIZE_T size = 0;
  if (c->nlist == 0)
    return 0;
  InitializeProcThreadAttributeList(NULL, 1, 0, &size); /* fails by design: asks the size */
  LPPROC_THREAD_ATTRIBUTE_LIST attrs = mproc__malloc(size);
  if (!attrs)
    return MPROC_ENOMEM;
  if (!InitializeProcThreadAttributeList(attrs, 1, 0, &size)) {
    mproc__free(attrs);
    return mproc__os_last_error();
  }
  c->attrs = attrs;
  if (!UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, c->list,
                                 c->nlist * sizeof(HANDLE), NULL, NULL))
    return mproc__os_last_error();
  c->si.lpAttributeList = attrs;
  return 0;
}

static int prepare(spawn_ctx *c, const os_spawn_req *req) {
  int rc;
  c->si.StartupInfo.cb = sizeof c->si;
  c->list = mproc__malloc((req->n_inherit + 3) * sizeof *c->list);
  c->lent_flags = mproc__malloc((req->n_inherit + 1) * sizeof *c->lent_flags);
  if (!c->list || !c->lent_flags)
    return MPROC_ENOMEM;
  if ((rc = program_path(req, &c->app)) != 0 || (rc = command_line(&c->cmd)) != 0 ||
      (rc = env_block(req->env_assign, &c->env)) != 0 || (rc = lend_handles(c, req)) != 0)
    return rc;
  lend_stdio(c);
  return make_attrs(c);
}

/* Undoes everything prepare() did; safe on a partly prepared context. */
static void release_ctx(spawn_ctx *c) {
  return_handles(c);
  for (int i = 0; i < 3; i++)
    if (c->stdio[i])
      CloseHandle(c->stdio[i]);
  if (c->attrs) {
    DeleteProcThreadAttributeList(c->attrs);
    mproc__free(c->attrs);
  }
  mproc__free(c->list);
  mproc__free(c->lent_flags);
  mproc__free(c->app);
  mproc__free(c->cmd);
  mproc__free(c->env);
}

/* --- spawn ------------------------------------------------------------------------------- */

/* Suspended: a daemon child must be in the job before it can start grandchildren.
 * Wine reports a child that died while its loader was starting (seen under heavy load, about
 * once in 5,000 spawns) as ERROR_INTERNAL_ERROR; no process is left behind, so retry. */
static int create(spawn_ctx *c, PROCESS_INFORMATION *pi) {
  DWORD flags = CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT | EXTENDED_STARTUPINFO_PRESENT;
  for (int attempt = 0;; attempt++) {
    if (CreateProcessW(c->app, c->cmd, NULL, NULL, c->nlist > 0, flags, c->env, NULL,
                       &c->si.StartupInfo, pi))
      return 0;
    if (GetLastError() != ERROR_INTERNAL_ERROR || attempt == 2)
      return mproc__os_last_error();
    Sleep(10);
  }
}

/* Serialises lend -> CreateProcessW -> restore: two threads lending the same handle would
 * otherwise switch its inheritance off under each other's CreateProcessW. */
static SRWLOCK spawn_lock = SRWLOCK_INIT;

int mproc__os_proc_spawn(const os_spawn_req *req, os_proc *out) {
  spawn_ctx c;
  PROCESS_INFORMATION pi = {0};
  memset(&c, 0, sizeof c);
  AcquireSRWLockExclusive(&spawn_lock);
  int rc = prepare(&c, req);
  if (rc == 0)
    rc = create(&c, &pi);
  release_ctx(&c); /* the child holds its own copies now; ours go back to non-inheritable */
  ReleaseSRWLockExclusive(&spawn_lock);
  if (rc)
    return rc;
  if (req->die_with_parent && (rc = assign_job(pi.hProcess)) != 0)
    goto fail;
  if (ResumeThread(pi.hThread) == (DWORD)-1) {
    rc = mproc__os_last_error();
    goto fail;
  }
  CloseHandle(pi.hThread);
  out->pid = (int64_t)pi.dwProcessId;
  out->handle = (os_handle)pi.hProcess;
  out->is_child = 1;
  out->reaped = 0;
  out->status = 0;
  return 0;
fail:
  /* Never leave a suspended child behind. */
  TerminateProcess(pi.hProcess, EXIT_KILLED);
  CloseHandle(pi.hThread);
  CloseHandle(pi.hProcess);
  return rc;
}

int mproc__os_proc_fork(int die_with_parent, os_proc *out, void (*in_child)(void *), void *arg) {
  (void)die_with_parent, (void)out, (void)in_child, (void)arg;
  return MPROC_ENOTSUP;
}

int mproc__os_can_fork(void) { return 0; }

void mproc__os_proc_attach(os_proc *out, int64_t pid, os_handle handle) {
  out->pid = pid;
  out->handle = handle;
  out->is_child = 0;
  out->reaped = 0;
  out->status = 0;
}

/* --- wait, signal, release --------------------------------------------------------------- */

static int map_exit_code(DWORD code) {
  if (code == EXIT_TERMINATED)
    return -15;
  if (code == EXIT_KILLED)
    return -9;
  return (int)code; /* NTSTATUS crashes (0xC0000005) come out negative, as in Python */
}

int64_t mproc__os_exited_child(void) { return -1; }

int mproc__os_proc_wait(os_proc *p, int64_t deadline) {
  DWORD code;
  if (p->reaped)
    return 0;
  if (p->handle == OS_INVALID) {
    p->reaped = 1; /* nothing to wait on: the status is lost, not invented */
    p->status = MPROC_EXIT_UNKNOWN;
    return 0;
  }
  for (;;) {
    DWORD w = WaitForSingleObject((HANDLE)p->handle, mproc__w32_wait_ms(deadline));
    if (w == WAIT_OBJECT_0)
      break;
    if (w != WAIT_TIMEOUT)
      return mproc__os_last_error();
    /* mproc__w32_wait_ms caps one wait at ~24 days; only the real deadline ends the loop. */
    if (deadline != OS_NO_DEADLINE && mproc__os_now_ns() >= deadline)
      return MPROC_ETIMEDOUT;
  }
  p->status = GetExitCodeProcess((HANDLE)p->handle, &code) ? map_exit_code(code)
                                                          : MPROC_EXIT_UNKNOWN;
  p->reaped = 1;
  return 0;
}

int mproc__os_proc_signal(os_proc *p, int hard) {
  if (p->reaped || p->handle == OS_INVALID)
    return 0;
  if (TerminateProcess((HANDLE)p->handle, hard ? EXIT_KILLED : EXIT_TERMINATED))
    return 0;
  DWORD e = GetLastError();
  /* ERROR_ACCESS_DENIED once the process has exited: it is gone, which is what was asked. */
  if (e == ERROR_ACCESS_DENIED && WaitForSingleObject((HANDLE)p->handle, 0) == WAIT_OBJECT_0)
    return 0;
  return mproc__os_error((int)e);
}

void mproc__os_proc_release(os_proc *p) {
  if (p->handle != OS_INVALID)
    CloseHandle((HANDLE)p->handle);
  p->handle = OS_INVALID;
}
