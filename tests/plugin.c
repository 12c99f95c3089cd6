/* SPDX-License-Identifier: MIT */
/* A module loaded at run time by test_process: its function must be a valid target in every
 * start method (the child loads the module by path when it does not have it). */
#include <mproc.h>

#if defined(_WIN32)
#define PLUGIN_API __declspec(dllexport)
#else
#define PLUGIN_API __attribute__((visibility("default")))
#endif

static int plugin_target(const mproc_args_t *args) {
  (void)args;
  return 42;
}

PLUGIN_API mproc_target_fn plugin_get_target(void) { return plugin_target; }
