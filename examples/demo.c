/* SPDX-License-Identifier: MIT */
/*
 * demo — the reason to use processes: a CPU-bound job over a few hundred thousand records,
 * done serially, then by a Pool with one worker per usable CPU.
 *
 * The job is the one a tutorial describes: "hundreds of thousands of records need a
 * scientific computation". Here a record is a 32-bit number and the computation is a
 * primality test by trial division. Records are generated from their index, so a task needs
 * only the index (real data would be read from a file, or passed in shared memory).
 *
 * Python equivalent:
 *     def is_prime_record(i):
 *         return is_prime(record(i))
 *
 *     if __name__ == '__main__':
 *         serial = [is_prime_record(i) for i in range(n)]
 *         with Pool(procs) as pool:
 *             parallel = list(tqdm(pool.imap(is_prime_record, range(n), chunksize), total=n))
 *         assert parallel == serial
 *         print(f"speed-up: {serial_time / parallel_time:.2f}x")
 *
 * map splits the records into chunks (Python's rule: four per worker); the progress bar on
 * stderr counts records as they are done, and the per-record cost of the pool stays small. The program
 * checks every record's result against the serial run. The pool's time counts from its
 * creation to map's return, so it includes starting the workers (mproc_pool_new returns while
 * they are still starting; under spawn each one runs the program anew).
 *
 * Usage: demo [--method fork|spawn|forkserver] [--procs N] [--records N]
 */
#include "example_util.h"

#include <stdlib.h>

#define DEFAULT_RECORDS 500000
#define MAX_RECORDS 100000000

/* Record i: a well-mixed odd number in [2^30, 2^31) (splitmix-style hash of i). */
static uint32_t record(uint32_t i) {
  uint64_t z = (uint64_t)i * 0x9E3779B97F4A7C15ull + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (uint32_t)(z >> 33) | 0x40000001u;
}

/* Trial division by 6k ± 1: deliberately plain, CPU-bound work. */
static int is_prime(uint32_t n) {
  if (n < 4)
    return n >= 2;
  if (n % 2 == 0 || n % 3 == 0)
    return 0;
  for (uint32_t d = 5; d <= n / d; d += 6)
    if (n % d == 0 || n % (d + 2) == 0)
      return 0;
  return 1;
}

/* The pool's task: item i (a record index) gives 1 if record i is prime, else 0. */
static int is_prime_record(const mproc_args_t *args, mproc_args_t *result) {
  int64_t i;
  int rc = mproc_args_get_int(args, 0, &i);
  if (rc != 0)
    return mproc_fail(2, "is_prime_record: bad arguments: %s", mproc_strerror(rc));
  return mproc_args_add_int(result, is_prime(record((uint32_t)i)));
}

static long arg_long(int argc, char **argv, const char *flag, long def) {
  for (int i = 1; i + 1 < argc; i++)
    if (strcmp(argv[i], flag) == 0)
      return strtol(argv[i + 1], NULL, 10);
  return def;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv);
  if (example_apply_method(argc, argv) != 0)
    return 2;
  long nrec = arg_long(argc, argv, "--records", DEFAULT_RECORDS);
  long nproc = arg_long(argc, argv, "--procs", mproc_cpu_count_usable());
  if (nrec < 1 || nrec > MAX_RECORDS || nproc < 1 || nproc > 1024) {
    fprintf(stderr, "usage: %s [--method M] [--procs 1..1024] [--records 1..%d]\n", argv[0],
            MAX_RECORDS);
    return 2;
  }
  printf("counting primes among %ld records: serially, then with a pool of %ld processes (%s)\n",
         nrec, nproc, mproc_start_method_name(mproc_get_start_method()));
  fflush(stdout); /* before the workers start: a fork child must not inherit pending output */

  /* 1. Serial: every record in this process. */
  unsigned char *serial = malloc((size_t)nrec);
  if (serial == NULL)
    return example_die("malloc", MPROC_ENOMEM);
  double t0 = example_now();
  long total = 0;
  for (long i = 0; i < nrec; i++) {
    serial[i] = (unsigned char)is_prime(record((uint32_t)i));
    total += serial[i];
  }
  double serial_time = example_now() - t0;
  printf("serial:   %ld primes in %.2f s\n", total, serial_time);
  fflush(stdout);

  /* 2. Parallel: pool.map(is_prime_record, range(n)). */
  mproc_args_t *items, *results = NULL;
  int rc = example_range(&items, 0, nrec);
  if (rc != 0)
    return example_die("example_range", rc);
  t0 = example_now();
  mproc_pool_options opts = {.processes = (int)nproc};
  mproc_pool_t *pool;
  rc = mproc_pool_new(&pool, &opts); /* with Pool(procs) as pool: */
  if (rc != 0)
    return example_die("mproc_pool_new", rc);
  /* A progress bar while it runs (tqdm's figures: done/total, items/s), from the pool's
   * thread at most every 100 ms. Chunks of about 1/64 of each worker's share keep it moving
   * without costing measurable time. */
  mproc_task_options topts = MPROC_TASK_OPTIONS_INIT;
  topts.chunksize = (size_t)(nrec / (nproc * 64)) + 1;
  topts.progress = example_progress;
  topts.progress_interval_ms = 100;
  topts.ctx = (void *)"primes";
  rc = mproc_pool_map(pool, is_prime_record, items, &topts, &results);
  double parallel_time = example_now() - t0;
  mproc_pool_free(pool);
  mproc_args_free(items);
  if (rc != 0) {
    mproc_args_free(results);
    return example_die("mproc_pool_map", rc);
  }

  /* assert parallel == serial */
  long ptotal = 0, mismatches = 0;
  for (long i = 0; i < nrec; i++) {
    int64_t v = -1;
    mproc_args_get_int(results, (size_t)i, &v);
    ptotal += v == 1;
    if (v != serial[i] && mismatches++ == 0)
      fprintf(stderr, "record %ld: the pool says %lld, the serial run %d\n", i, (long long)v,
              serial[i]);
  }
  mproc_args_free(results);
  free(serial);
  if (mismatches) {
    fprintf(stderr, "%ld of %ld records differ from the serial run\n", mismatches, nrec);
    return 1;
  }
  printf("pool:     %ld primes in %.2f s (%ld workers, their start included)\n", ptotal,
         parallel_time, nproc);
  printf("speed-up: %.2fx on %d usable CPUs\n", serial_time / parallel_time,
         mproc_cpu_count_usable());
  return 0;
}
