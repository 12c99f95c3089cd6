/* SPDX-License-Identifier: MIT */
/*
 * bench_manager: mproc's Manager (a C client and a C server started with
 * mproc_manager_start) beside a raw socketpair round trip, and a Python client against the
 * C server; bench/py/manager_bench.py measures Python's SyncManager the same way.
 *
 * Figures (us, lower is better):
 *   manager.call_rtt           one proxy call, d['k'] = i (mproc_dict_setf); raw: an 8-byte
 *                              round trip over a socketpair to a forked echo child;
 *   manager.create             one m.dict() and its release (mproc_manager_dict +
 *                              mproc_proxy_free);
 *   manager.dict_100_updates   per item of 100 dict updates sent as one d.update() call
 *                              (Python's side: 100 one-at-a-time d[k] = v);
 *   manager.pyclient_call_rtt  d['k'] = i from a Python client (bench/py/manager_bench.py
 *                              --client) against this C server (POSIX, python3 on PATH).
 *
 * Usage: bench_manager [--quick] [--json-only] [--reps R] [--method M]
 */
#define BENCH_NAME "bench_manager"
#include "bench_util.h"

#ifndef _WIN32
#include <sys/socket.h>
#endif

#define MAX_REPS 64

typedef struct config {
  int quick, json_only, reps, calls, creates;
} config;

typedef struct row {
  const char *name;
  double mproc[MAX_REPS], raw[MAX_REPS];
  int have_mproc, have_raw;
} row;

static void emit(const row *r, const config *cfg) {
  printf("{\"bench\":\"%s\",\"unit\":\"us\",\"better\":\"lower\",\"mproc\":", r->name);
  if (r->have_mproc) printf("%.3f", median(r->mproc, cfg->reps));
  else printf("null");
  printf(",\"python\":null,\"raw\":");
  if (r->have_raw) printf("%.3f", median(r->raw, cfg->reps));
  else printf("null");
  printf(",\"apr\":null}\n");
  fflush(stdout);
  const double *v[2] = {r->have_mproc ? r->mproc : NULL, r->have_raw ? r->raw : NULL};
  for (int i = 0; i < 2 && !cfg->json_only; i++)
    if (v[i] != NULL)
      fprintf(stderr, "  %-26s %-5s median %9.3f us  (min %.3f, max %.3f; %d reps)\n", r->name,
              i ? "raw" : "mproc", median(v[i], cfg->reps), min_of(v[i], cfg->reps),
              max_of(v[i], cfg->reps), cfg->reps);
}

/* --- mproc ------------------------------------------------------------------------------------ */

static double time_calls(mproc_proxy_t *d, int n) {
  double t0 = now_us();
  for (int i = 0; i < n; i++)
    if (mproc_dict_setf(d, "si", "k", i) != 0) return -1;
  return (now_us() - t0) / n;
}

static double time_creates(mproc_manager_t *m, int n) {
  double t0 = now_us();
  for (int i = 0; i < n; i++) {
    mproc_proxy_t *p;
    if (mproc_manager_dict(m, &p) != 0) return -1;
    mproc_proxy_free(p);
  }
  return (now_us() - t0) / n;
}

static double time_update(mproc_proxy_t *d, const mproc_args_t *kv) {
  double t0 = now_us();
  if (mproc_dict_update(d, kv) != 0) return -1;
  return (now_us() - t0) / 100;
}

static int mproc_rows(row *rtt, row *create, row *upd, const config *cfg, mproc_manager_t *m) {
  mproc_proxy_t *d;
  mproc_args_t *kv;
  int err = mproc_manager_dict(m, &d);
  if (err) return report_mproc("mproc_manager_dict", err);
  if ((err = mproc_args_new(&kv)) != 0) return report_mproc("mproc_args_new", err);
  for (int i = 0; i < 100 && err == 0; i++) err = mproc_args_add(kv, "ii", i, i);
  time_calls(d, cfg->calls / 10);
  for (int r = 0; r < cfg->reps && err == 0; r++) {
    rtt->mproc[r] = time_calls(d, cfg->calls);
    create->mproc[r] = time_creates(m, cfg->creates);
    upd->mproc[r] = time_update(d, kv);
    if (rtt->mproc[r] < 0 || create->mproc[r] < 0 || upd->mproc[r] < 0) err = -1;
  }
  mproc_args_free(kv);
  mproc_proxy_free(d);
  if (err) return report_mproc("a manager call", err < 0 ? MPROC_EINTERNAL : err);
  rtt->have_mproc = create->have_mproc = upd->have_mproc = 1;
  return 0;
}

/* --- raw socketpair round trip and the Python client (POSIX) -------------------------------- */
#ifndef _WIN32
static int raw_rtt(row *r, const config *cfg) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) return -1;
  fflush(NULL);
  pid_t pid = fork();
  if (pid == 0) {
    char b[8];
    close(sv[0]);
    while (read_exact(sv[1], b, 8) == 0 && write_all(sv[1], b, 8) == 0) {}
    _exit(0);
  }
  close(sv[1]);
  int rc = pid < 0 ? -1 : 0;
  char b[8] = "01234567";
  for (int rep = -1; rc == 0 && rep < cfg->reps; rep++) {
    double t0 = now_us();
    for (int i = 0; rc == 0 && i < cfg->calls; i++)
      if (write_all(sv[0], b, 8) != 0 || read_exact(sv[0], b, 8) != 0) rc = -1;
    if (rep >= 0) r->raw[rep] = (now_us() - t0) / cfg->calls;
  }
  close(sv[0]);
  if (pid > 0 && wait_child(pid) != 0) rc = -1;
  r->have_raw = rc == 0;
  return rc;
}

/* The Python client's median for one rep of its own (it runs reps itself): the figure is its
 * "client" value, repeated so the median is that value. */
static int pyclient(row *r, const config *cfg, mproc_manager_t *m) {
  const char *addr = mproc_manager_address(m);
  const void *key;
  size_t keylen;
  if (addr == NULL || mproc_manager_authkey(m, &key, &keylen) != 0) return -1;
  char hex[256] = "", cmd[1024];
  for (size_t i = 0; i < keylen && 2 * i + 2 < sizeof hex; i++)
    snprintf(hex + 2 * i, 3, "%02x", ((const unsigned char *)key)[i]);
  addr += strncmp(addr, "unix:", 5) == 0 ? 5 : strncmp(addr, "tcp:", 4) == 0 ? 4 : 0;
  snprintf(cmd, sizeof cmd, "python3 '%s/manager_bench.py' --client '%s' %s%s",
           MPROC_BENCH_PY_DIR, addr, hex, cfg->quick ? " --quick" : "");
  FILE *f = popen(cmd, "r");
  if (f == NULL) return -1;
  char line[256];
  double v = -1;
  while (fgets(line, sizeof line, f) != NULL) {
    const char *p = strstr(line, "\"client\":");
    if (p != NULL) v = strtod(p + 9, NULL);
  }
  int st = pclose(f);
  if (st != 0 || v <= 0) {
    fprintf(stderr, BENCH_NAME ": the Python client failed (%s)\n", cmd);
    return -1;
  }
  for (int i = 0; i < cfg->reps; i++) r->mproc[i] = v;
  r->have_mproc = 1;
  return 0;
}
#endif

/* --- main ------------------------------------------------------------------------------------- */

static int parse_args(int argc, char **argv, config *cfg) {
  int reps = 0;
  memset(cfg, 0, sizeof *cfg);
  for (int i = 1; i < argc; i++) {
    int common = common_arg(argc, argv, &i, &cfg->quick, &cfg->json_only, &reps);
    if (common <= 0)
      return -1;
  }
  cfg->reps = reps > 0 ? reps : cfg->quick ? 5 : 9;
  cfg->calls = cfg->quick ? 1000 : 4000;
  cfg->creates = cfg->quick ? 50 : 200;
  return cfg->reps <= MAX_REPS ? 0 : -1;
}

int main(int argc, char **argv) {
  static row rtt, create, upd, py;
  rtt.name = "manager.call_rtt", create.name = "manager.create";
  upd.name = "manager.dict_100_updates", py.name = "manager.pyclient_call_rtt";
  config cfg;
  int err = mproc_main(argc, argv);
  if (err) return report_mproc("mproc_main", err), 1;
  if (parse_args(argc, argv, &cfg)) {
    fprintf(stderr, "usage: bench_manager [--quick] [--json-only] [--reps R] [--method M]\n");
    return 2;
  }
  mproc_manager_t *m;
  if ((err = mproc_manager_start(&m, NULL)) != 0) return report_mproc("mproc_manager_start", err), 1;
  if (mproc_rows(&rtt, &create, &upd, &cfg, m) != 0) any_failed = 1;
#ifndef _WIN32
  if (raw_rtt(&rtt, &cfg) != 0) any_failed = 1;
  if (pyclient(&py, &cfg, m) != 0) any_failed = 1;
#endif
  mproc_manager_free(m);
  emit(&rtt, &cfg);
  emit(&create, &cfg);
  emit(&upd, &cfg);
  emit(&py, &cfg);
  return any_failed;
}
