/* SPDX-License-Identifier: MIT */
/*
 * bench_mpi: the Pool on MPI ranks (mproc::mpi) against a raw MPI ping-pong, the local Pool and
 * mpi4py.futures (bench/py/mpi_bench.py).
 *
 * Started as bench/run starts every bench (no MPI launcher), it runs itself twice under
 * mpiexec: `mpiexec -n 2 bench_mpi --pingpong` (raw MPI_Send/MPI_Recv between ranks 0 and 1),
 * then `mpiexec -n 3 bench_mpi --inner --raw-rtt US`: rank 0 measures, ranks 1 and 2 are the
 * MPI pool's two workers (--ranks R changes the 3).
 *
 * Figures (median of the reps):
 *   mpi.map_trivial        ms per mproc_pool_map of x*x over the ints 0..199,999 (automatic
 *                          chunksize) on the MPI pool; python: mpi4py.futures
 *                          MPIPoolExecutor.map of the same (its default chunksize, 1);
 *   mpi.map_trivial_chunked  the same figure, against MPIPoolExecutor.map with chunksize
 *                          25,000 (what mproc's automatic chunksize is with 2 workers);
 *   mpi.map_trivial_local  the same map on a local mproc Pool of 2 processes;
 *   mpi.apply_rtt          us per mproc_pool_apply(noop) round trip through the MPI pool;
 *                          raw: one MPI_Send + MPI_Recv of 8 bytes each way between two ranks;
 *   mpi.cpu_speedup        serial time / MPI pool time of counting the primes below N by trial
 *                          division in 8 tasks (starmap, chunksize 1) on 2 ranks. Ideal: 2.
 *
 * Usage: bench_mpi [--quick] [--json-only] [--ranks R]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>
#include <mproc.h>
#include <mproc_mpi.h>

#define MAP_N 200000
#define TASKS 8
#define PING_TAG 77
#define RTT_REPS 31

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int has_arg(int argc, char **argv, const char *a) {
  for (int i = 1; i < argc; i++)
    if (strcmp(argv[i], a) == 0)
      return i;
  return 0;
}

/* --- raw MPI ping-pong (its own mpiexec run: no mproc at all) ------------------------------ */

static int pingpong(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, n = has_arg(argc, argv, "--quick") ? 20000 : 100000;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  int64_t msg = 0;
  double reps[5];
  for (int r = 0; r < 5; r++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
      if (rank == 0) {
        MPI_Send(&msg, 8, MPI_BYTE, 1, 0, MPI_COMM_WORLD);
        MPI_Recv(&msg, 8, MPI_BYTE, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      } else if (rank == 1) {
        MPI_Recv(&msg, 8, MPI_BYTE, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Send(&msg, 8, MPI_BYTE, 0, 0, MPI_COMM_WORLD);
      }
    }
    reps[r] = (now_s() - t0) / n * 1e6;
  }
  if (rank == 0)
    printf("%.3f\n", median(reps, 5));
  MPI_Finalize();
  return 0;
}

/* --- tasks ----------------------------------------------------------------------------------- */

static int square(const mproc_args_t *args, mproc_args_t *result) {
  int64_t x;
  int rc = mproc_args_get_int(args, 0, &x);
  return rc ? rc : mproc_args_add_int(result, x * x);
}

static int noop(const mproc_args_t *args, mproc_args_t *result) {
  (void)args;
  (void)result;
  return 0;
}

/* Primes below n among 3 + 2k, 3 + 2k + 2 * tasks, ... (task 0 also counts 2). */
static int64_t count_part(int64_t k, int64_t tasks, int64_t n) {
  int64_t c = k == 0 && n > 2;
  for (int64_t x = 3 + 2 * k; x < n; x += 2 * tasks) {
    int prime = 1;
    for (int64_t d = 3; d * d <= x && prime; d += 2)
      prime = x % d != 0;
    c += prime;
  }
  return c;
}

static int count_task(const mproc_args_t *args, mproc_args_t *result) {
  int64_t k, tasks, n;
  int rc = mproc_args_parse(args, "lll", &k, &tasks, &n);
  return rc ? rc : mproc_args_add_int(result, count_part(k, tasks, n));
}

/* --- the measurements (rank 0 of the inner run) --------------------------------------------- */

static void emit(const char *name, const char *unit, const char *better, double mproc,
                 double raw, int ranks, int json_only) {
  printf("{\"bench\":\"%s\",\"unit\":\"%s\",\"better\":\"%s\",\"mproc\":%.4g,\"python\":null,"
         "\"raw\":",
         name, unit, better, mproc);
  if (raw > 0)
    printf("%.4g", raw);
  else
    printf("null");
  printf(",\"apr\":null,\"ranks\":%d}\n", ranks);
  fflush(stdout);
  if (json_only)
    return;
  fprintf(stderr, "  %-22s mproc %10.3f %s", name, mproc, unit);
  if (raw > 0)
    fprintf(stderr, "   raw %.3f %s (x%.1f)", raw, unit, mproc / raw);
  fprintf(stderr, "\n");
}

static double time_map(mproc_pool_t *pool, int reps) {
  double t[16];
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
    mproc_args_t *items, *res = NULL;
    mproc_args_new(&items);
    for (int64_t i = 0; i < MAP_N; i++)
      mproc_args_add_int(items, i);
    int rc = mproc_pool_map(pool, square, items, NULL, &res);
    t[r] = (now_s() - t0) * 1e3;
    int64_t last = 0;
    if (rc != 0 || mproc_args_get_int(res, MAP_N - 1, &last) != 0 ||
        last != (int64_t)(MAP_N - 1) * (MAP_N - 1)) {
      fprintf(stderr, "bench_mpi: map failed (%s)\n", mproc_errname(rc));
      exit(1);
    }
    mproc_args_free(items);
    mproc_args_free(res);
  }
  return median(t, reps);
}

static double rtt_rep(mproc_pool_t *pool, const mproc_args_t *none, int n) {
  double t0 = now_s();
  for (int i = 0; i < n; i++) {
    mproc_args_t *v = NULL;
    if (mproc_pool_apply(pool, noop, none, NULL, &v) != 0)
      exit(1);
    mproc_args_free(v);
  }
  return (now_s() - t0) / n * 1e6;
}

/* A task on a worker rank: says which rank it is, then answers n 8-byte pings from rank 0 on
 * MPI_COMM_WORLD (the pool's own traffic is on a communicator of its own). */
static int echo_task(const mproc_args_t *args, mproc_args_t *result) {
  int64_t n, msg = 0;
  mproc_args_get_int(args, 0, &n);
  int me;
  MPI_Comm_rank(MPI_COMM_WORLD, &me);
  msg = me;
  MPI_Send(&msg, 8, MPI_BYTE, 0, PING_TAG, MPI_COMM_WORLD);
  for (int64_t i = 0; i < n; i++) {
    MPI_Recv(&msg, 8, MPI_BYTE, 0, PING_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    MPI_Send(&msg, 8, MPI_BYTE, 0, PING_TAG, MPI_COMM_WORLD);
  }
  return mproc_args_add_int(result, me);
}

/* The raw ping-pong in this very run: rank 0's main thread against a worker rank running
 * echo_task, both in the MPI mode the pool runs in. */
static double pingpong_rep(mproc_pool_t *pool, int n) {
  mproc_args_t *a;
  mproc_args_build(&a, "l", (int64_t)n);
  mproc_result_t *r;
  if (mproc_pool_apply_async(pool, echo_task, a, NULL, &r) != 0)
    exit(1);
  mproc_args_free(a);
  int64_t msg;
  MPI_Status st;
  MPI_Recv(&msg, 8, MPI_BYTE, MPI_ANY_SOURCE, PING_TAG, MPI_COMM_WORLD, &st);
  double t0 = now_s();
  for (int i = 0; i < n; i++) {
    MPI_Send(&msg, 8, MPI_BYTE, st.MPI_SOURCE, PING_TAG, MPI_COMM_WORLD);
    MPI_Recv(&msg, 8, MPI_BYTE, st.MPI_SOURCE, PING_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
  }
  double us = (now_s() - t0) / n * 1e6;
  if (mproc_result_get(r, MPROC_FOREVER, NULL) != 0)
    exit(1);
  mproc_result_free(r);
  return us;
}

/* Pool round trips and raw ping-pongs in turns, so that both see the same load; *raw gets the
 * ping-pong's median, the return value is the pool's. */
static double time_rtt(mproc_pool_t *pool, int n, int reps, double *raw, double *ratio) {
  double t[RTT_REPS], pp[RTT_REPS], q[RTT_REPS];
  mproc_args_t *none;
  mproc_args_new(&none);
  rtt_rep(pool, none, n / 10 + 1);
  pingpong_rep(pool, n / 10 + 1);
  for (int r = 0; r < reps && r < RTT_REPS; r++) {
    pp[r] = pingpong_rep(pool, n);
    t[r] = rtt_rep(pool, none, n);
    q[r] = t[r] / pp[r];
  }
  mproc_args_free(none);
  *raw = median(pp, reps);
  *ratio = median(q, reps);
  return median(t, reps);
}

/* Serial and pool runs in turns (each pair sees about the same load); the median of the
 * pairs' ratios, and in *best the ratio of the fastest serial to the fastest pool run (the
 * least disturbed of each). */
static double cpu_speedup(mproc_pool_t *pool, int64_t n, int reps, double *best) {
  double s[16], ts_min = 1e9, tp_min = 1e9;
  mproc_args_t *lists[TASKS];
  for (int k = 0; k < TASKS; k++)
    mproc_args_build(&lists[k], "lll", (int64_t)k, (int64_t)TASKS, n);
  mproc_task_options one = {0};
  one.chunksize = 1;
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
    int64_t serial = 0;
    for (int k = 0; k < TASKS; k++)
      serial += count_part(k, TASKS, n);
    double ts = now_s() - t0;
    mproc_args_t *res = NULL;
    t0 = now_s();
    if (mproc_pool_starmap(pool, count_task, (const mproc_args_t *const *)lists, TASKS, &one,
                           &res) != 0)
      exit(1);
    double tp = now_s() - t0;
    int64_t par = 0;
    for (int k = 0; k < TASKS; k++) {
      int64_t c = 0;
      mproc_args_get_int(res, (size_t)k, &c);
      par += c;
    }
    mproc_args_free(res);
    if (par != serial) {
      fprintf(stderr, "bench_mpi: %lld primes in the pool, %lld serially\n", (long long)par,
              (long long)serial);
      exit(1);
    }
    s[r] = ts / tp;
    ts_min = ts < ts_min ? ts : ts_min;
    tp_min = tp < tp_min ? tp : tp_min;
  }
  for (int k = 0; k < TASKS; k++)
    mproc_args_free(lists[k]);
  *best = ts_min / tp_min;
  return median(s, reps);
}

static int inner(int argc, char **argv) {
  int quick = has_arg(argc, argv, "--quick") != 0, json = has_arg(argc, argv, "--json-only");
  int at = has_arg(argc, argv, "--raw-rtt");
  double raw_rtt = at && at + 1 < argc ? atof(argv[at + 1]) : 0;
  int rank, size;
  mproc_mpi_world(&rank, &size);
  mproc_pool_t *pool, *local;
  double load[3] = {0, 0, 0};
  getloadavg(load, 3);
  if (!json)
    fprintf(stderr, "  load average at start: %.2f %.2f %.2f (%d cores)\n", load[0], load[1],
            load[2], mproc_cpu_count());
  /* The ranks alone (no local processes of rank 0): the figures are about MPI ranks. */
  mproc_pool_options ranks_only = {0};
  ranks_only.processes = size - 1;
  int rc = mproc_mpi_pool_new(&pool, &ranks_only);
  if (rc != 0 || !mproc_mpi_pool_is_mpi(pool)) {
    fprintf(stderr, "bench_mpi: no MPI pool (%s)\n", mproc_errname(rc));
    return 1;
  }
  int reps = quick ? 3 : 7;
  time_map(pool, 1); /* warm-up: every rank has the function, the buffers have grown */
  double map_ms = time_map(pool, reps);
  emit("mpi.map_trivial", "ms", "lower", map_ms, 0, size - 1, json);
  /* mproc's automatic chunksize is already ceil(n / 4P): the same figure faces mpi4py's map
   * with that chunksize */
  emit("mpi.map_trivial_chunked", "ms", "lower", map_ms, 0, size - 1, json);
  double pp = 0, ratio = 0;
  double rtt = time_rtt(pool, quick ? 1000 : 2000, quick ? 9 : 21, &pp, &ratio);
  emit("mpi.apply_rtt", "us", "lower", rtt, pp, size - 1, json);
  if (!json)
    fprintf(stderr, "  %-22s median of per-turn ratios x%.2f; a separate MPI_Init ping-pong run: "
                    "%.3f us (x%.2f)\n", "", ratio, raw_rtt, raw_rtt > 0 ? rtt / raw_rtt : 0);
  double best = 0;
  emit("mpi.cpu_speedup", "x", "higher",
       cpu_speedup(pool, quick ? 1500000 : 3000000, quick ? 5 : 9, &best), 0, size - 1, json);
  getloadavg(load, 3);
  if (!json)
    fprintf(stderr, "  %-22s fastest serial / fastest pool run: x%.2f; load average now "
                    "%.2f\n", "", best, load[0]);
  mproc_pool_close(pool);
  mproc_pool_join(pool, MPROC_FOREVER);
  mproc_pool_free(pool);
  mproc_pool_options lo = {0};
  lo.processes = size - 1;
  if ((rc = mproc_pool_new(&local, &lo)) != 0)
    return 1;
  time_map(local, 1);
  emit("mpi.map_trivial_local", "ms", "lower", time_map(local, reps), 0, size - 1, json);
  mproc_pool_free(local);
  return 0;
}

/* --- the outer run: starts the two mpiexec runs ------------------------------------------- */

static void mpi_env(void) {
  setenv("OMPI_ALLOW_RUN_AS_ROOT", "1", 0);
  setenv("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1", 0);
  setenv("OMPI_MCA_rmaps_base_oversubscribe", "1", 0);
  setenv("OMPI_MCA_btl_vader_single_copy_mechanism", "none", 0);
}

static int outer(int argc, char **argv) {
  mpi_env();
  int quick = has_arg(argc, argv, "--quick") != 0;
  int at = has_arg(argc, argv, "--ranks");
  const char *ranks = at && at + 1 < argc ? argv[at + 1] : "3";
  char exe[4096];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0)
    return 1;
  exe[len] = 0;
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "'%s' -n 2 '%s' --pingpong%s", MPROC_MPIEXEC, exe,
           quick ? " --quick" : "");
  FILE *f = popen(cmd, "r");
  double raw = 0;
  if (f == NULL || fscanf(f, "%lf", &raw) != 1)
    raw = 0;
  if (f)
    pclose(f);
  char rawbuf[32];
  snprintf(rawbuf, sizeof rawbuf, "%.3f", raw);
  char *args[16];
  int n = 0;
  args[n++] = (char *)MPROC_MPIEXEC;
  args[n++] = "-n";
  args[n++] = (char *)ranks;
  args[n++] = exe;
  args[n++] = "--inner";
  args[n++] = "--raw-rtt";
  args[n++] = rawbuf;
  if (quick)
    args[n++] = "--quick";
  if (has_arg(argc, argv, "--json-only"))
    args[n++] = "--json-only";
  args[n] = NULL;
  fflush(stdout);
  execv(MPROC_MPIEXEC, args);
  perror("bench_mpi: mpiexec");
  return 1;
}

int main(int argc, char **argv) {
  if (has_arg(argc, argv, "--pingpong"))
    return pingpong(argc, argv);
  mproc_main(argc, argv); /* ranks other than 0 of the inner run serve the pool from here */
  if (has_arg(argc, argv, "--inner"))
    return inner(argc, argv);
  return outer(argc, argv);
}
