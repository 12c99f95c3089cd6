/* SPDX-License-Identifier: MIT */
/* A host application that embeds mproc and never calls mproc_main (a program whose main() the
 * library does not own): it names mproc-helper with mproc_set_executable, loads a module that
 * holds the targets, and starts them with the method given. Children must run in the helper,
 * never in this program (which would run its main again and print "host main ran" twice).
 *
 * Usage: host_nomain <helper file name> <module file name> <spawn|forkserver>
 * (both files are looked up beside this program). Exit 0 when every check held. */
#include <stdio.h>
#include <string.h>

#include <mproc.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <dlfcn.h>
#endif

typedef mproc_target_fn (*get_fn)(void);

#define CHECK(call)                                                                          \
  do {                                                                                       \
    int rc_ = (call);                                                                        \
    if (rc_ != 0) {                                                                          \
      fprintf(stderr, "host_nomain:%d: %s: %s\n", __LINE__, #call, mproc_errname(rc_));      \
      return 1;                                                                              \
    }                                                                                        \
  } while (0)

/* dir + name, dir being this program's directory. */
static int beside_me(const char *argv0, const char *name, char *buf, size_t cap) {
#ifdef _WIN32
  (void)argv0;
  DWORD n = GetModuleFileNameA(NULL, buf, (DWORD)cap);
  char *slash = n > 0 && n < cap ? strrchr(buf, '\\') : NULL;
#else
  snprintf(buf, cap, "%s", argv0);
  char *slash = strrchr(buf, '/');
#endif
  if (slash == NULL || (size_t)(slash + 1 - buf) + strlen(name) + 1 > cap)
    return MPROC_EINVAL;
  strcpy(slash + 1, name);
  return 0;
}

static get_fn symbol(const char *module, const char *name) {
  void *sym = NULL;
#ifdef _WIN32
  HMODULE m = LoadLibraryA(module);
  if (m)
    sym = (void *)GetProcAddress(m, name);
#else
  void *m = dlopen(module, RTLD_NOW);
  if (m)
    sym = dlsym(m, name);
#endif
  get_fn f = NULL;
  memcpy(&f, &sym, sizeof f);
  return f;
}

/* Starts target(args), joins it, returns its exit code (or -1000 after saying why). */
static int run(mproc_target_fn target, const mproc_args_t *args) {
  mproc_process_t *p;
  int code = -1000, rc = mproc_process_new(&p, target, args);
  if (rc == 0 && (rc = mproc_process_start(p)) == 0 &&
      (rc = mproc_process_join(p, 60000)) == 0)
    rc = mproc_process_exitcode(p, &code);
  if (rc != 0)
    fprintf(stderr, "host_nomain: child: %s (%s)\n", mproc_errname(rc),
            mproc_process_error(p) ? mproc_process_error(p) : mproc_last_error_message());
  mproc_process_free(p);
  return code;
}

int main(int argc, char **argv) {
  printf("host main ran\n"); /* once: a child that re-ran this program would print it again */
  fflush(stdout);
  char helper[4096], module[4096];
  mproc_start_method m;
  if (argc != 4)
    return 2;
  CHECK(beside_me(argv[0], argv[1], helper, sizeof helper));
  CHECK(beside_me(argv[0], argv[2], module, sizeof module));
  CHECK(mproc_start_method_parse(argv[3], &m));
  /* without an executable, a host without mproc_main cannot spawn: said clearly */
  mproc_process_t *p;
  get_fn get = symbol(module, "plugin_get_target");
  if (get == NULL)
    return fprintf(stderr, "host_nomain: cannot load %s\n", module), 1;
  CHECK(mproc_process_new(&p, get(), NULL));
  CHECK(mproc_process_set_start_method(p, m));
  if (mproc_process_start(p) != MPROC_ENOMAIN)
    return fprintf(stderr, "host_nomain: started without mproc_main or an executable\n"), 1;
  mproc_process_free(p);

  CHECK(mproc_set_executable(helper));
  CHECK(mproc_set_start_method(m));
  int code = run(get(), NULL);
  if (code != 42)
    return fprintf(stderr, "host_nomain: plugin target exited %d, not 42\n", code), 1;
  code = run(get(), NULL); /* a second child: the forkserver's server is reused */
  if (code != 42)
    return fprintf(stderr, "host_nomain: second child exited %d, not 42\n", code), 1;
  printf("children ran in the helper (%s)\n", mproc_start_method_name(m));
  return 0;
}
