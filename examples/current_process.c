/* SPDX-License-Identifier: MIT */
/*
 * current_process — who am I: names, pids, the parent's pid, running children, CPU counts.
 *
 * Python (the tutorial's get_process, with current_process()/parent_process() added):
 *     from multiprocessing import Process, current_process, parent_process, active_children
 *     import os
 *
 *     def get_process(info):
 *         print(info)
 *         print('Process name:', current_process().name)
 *         print('Process ID:', os.getpid())
 *         print('Parent process ID:', parent_process().pid if parent_process() else None)
 *
 *     def func(name):
 *         get_process('In func:')
 *         print("Hello,", name)
 *
 *     if __name__ == "__main__":
 *         print('cpu_count:', os.cpu_count(), 'usable:', len(os.sched_getaffinity(0)))
 *         get_process('In main:')
 *         p = Process(target=func, args=('marsloo',))
 *         p.start()
 *         print('active children:', [c.name for c in active_children()])
 *         p.join()
 *         print('exit code:', p.exitcode)
 *
 * mproc_parent_pid() is parent_process().pid: the process that started this one, 0 (None) in
 * the main process. The child checks it against the pid the parent passed in.
 *
 * Usage: current_process [--method fork|spawn|forkserver]
 */
#include "example_util.h"

static void get_process(const char *info) {
  printf("%s\n", info);
  printf("Process name: %s\n", mproc_current_process_name());
  printf("Process ID: %lld\n", (long long)mproc_current_pid());
  int64_t ppid = mproc_parent_pid();
  if (ppid != 0)
    printf("Parent process ID: %lld\n", (long long)ppid);
  else
    printf("Parent process ID: None\n");
  fflush(stdout);
}

static int func(const mproc_args_t *args) {
  const char *name;
  int64_t expected_parent;
  int rc = mproc_args_parse(args, "sl", &name, &expected_parent);
  if (rc != 0)
    return mproc_fail(2, "func: bad arguments: %s", mproc_strerror(rc));
  get_process("In func:");
  printf("Hello, %s\n", name);
  fflush(stdout);
  if (mproc_parent_pid() != expected_parent)
    return mproc_fail(1, "parent pid is %lld, expected %lld", (long long)mproc_parent_pid(),
                      (long long)expected_parent);
  example_sleep_ms(300); /* still running while the parent lists its children */
  return 0;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;

  printf("cpu_count: %d usable: %d\n", mproc_cpu_count(), mproc_cpu_count_usable());
  printf("start method: %s\n", mproc_start_method_name(mproc_get_start_method()));
  get_process("In main:"); /* flushes stdout: a fork child must not inherit pending output */

  mproc_args_t *args;
  int rc = mproc_args_build(&args, "sl", "marsloo", mproc_current_pid());
  if (rc != 0)
    return example_die("mproc_args_build", rc);
  mproc_process_t *p;
  rc = mproc_process_new(&p, func, args);
  mproc_args_free(args);
  if (rc != 0)
    return example_die("mproc_process_new", rc);
  rc = mproc_process_start(p);
  if (rc != 0)
    return example_die("mproc_process_start", rc);
  printf("started %s, pid %lld\n", mproc_process_name(p), (long long)mproc_process_pid(p));

  mproc_process_t *children[8];
  size_t count = 0;
  rc = mproc_active_children(children, 8, &count);
  if (rc != 0)
    return example_die("mproc_active_children", rc);
  printf("active children:");
  for (size_t i = 0; i < count && i < 8; i++)
    printf(" %s", mproc_process_name(children[i]));
  printf(" (%lu)\n", (unsigned long)count);
  fflush(stdout);

  rc = mproc_process_join(p, MPROC_FOREVER);
  if (rc != 0)
    return example_die("mproc_process_join", rc);
  int code = -1;
  rc = mproc_process_exitcode(p, &code);
  if (rc != 0)
    return example_die("mproc_process_exitcode", rc);
  printf("exit code: %d\n", code);
  if (code != 0 && mproc_process_error(p) != NULL)
    printf("error: %s\n", mproc_process_error(p));
  rc = mproc_active_children(NULL, 0, &count);
  if (rc != 0)
    return example_die("mproc_active_children", rc);
  printf("active children after join: %lu\n", (unsigned long)count);
  mproc_process_close(p);
  return code == 0 ? 0 : 1;
}
