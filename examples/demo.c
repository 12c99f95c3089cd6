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
 * Python (the whole program; tqdm draws the progress bar):
 *     import argparse, os, time
 *     import multiprocessing as mp
 *     from tqdm import tqdm
 *
 *     def record(i):
 *         z = (i * 0x9E3779B97F4A7C15 + 0x632BE59BD9B4E019) % 2**64
 *         z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
 *         z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) % 2**64
 *         z ^= z >> 31
 *         return (z >> 33) | 0x40000001
 *
 *     def is_prime(n):
 *         if n < 4:
 *             return n >= 2
 *         if n % 2 == 0 or n % 3 == 0:
 *             return False
 *         d = 5
 *         while d <= n // d:
 *             if n % d == 0 or n % (d + 2) == 0:
 *                 return False
 *             d += 6
 *         return True
 *
 *     def is_prime_record(i):
 *         return is_prime(record(i))
 *
 *     if __name__ == '__main__':
 *         ap = argparse.ArgumentParser()
 *         ap.add_argument('--method')
 *         ap.add_argument('--procs', type=int, default=len(os.sched_getaffinity(0)))
 *         ap.add_argument('--records', type=int, default=500000)
 *         a = ap.parse_args()
 *         if a.method:
 *             mp.set_start_method(a.method)
 *         print(f"counting primes among {a.records} records: serially, then with a pool of "
 *               f"{a.procs} processes ({mp.get_start_method()})", flush=True)
 *         t0 = time.perf_counter()
 *         serial = [is_prime_record(i) for i in range(a.records)]
 *         serial_time = time.perf_counter() - t0
 *         print(f"serial:   {sum(serial)} primes in {serial_time:.2f} s", flush=True)
 *         t0 = time.perf_counter()
 *         with mp.Pool(a.procs) as pool:
 *             chunksize = max(1, a.records // (4 * a.procs))
 *             parallel = list(tqdm(pool.imap(is_prime_record, range(a.records), chunksize),
 *                                  total=a.records, desc="primes"))
 *         parallel_time = time.perf_counter() - t0
 *         assert parallel == serial
 *         print(f"pool:     {sum(parallel)} primes in {parallel_time:.2f} s "
 *               f"({a.procs} workers, their start included)")
 *         print(f"speed-up: {serial_time / parallel_time:.2f}x on "
 *               f"{len(os.sched_getaffinity(0))} usable CPUs")
 *
 * map splits the records into chunks by Python's rule (four per worker); the progress bar on
 * stderr counts records as they are done. The program checks every record's result against
 * the serial run. The pool's time counts from its creation to map's return, so it includes
 * starting the workers (mproc_pool_new returns while they are still starting; under spawn each
 * one runs the program anew).
 *
 * Usage: demo [--method fork|spawn|forkserver] [--procs N] [--records N]
 */
#include "example_util.h"

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
MPROC_TASK(is_prime_record, "l", int64_t, i) {
  return mproc_args_add_int(result, is_prime(record((uint32_t)i)));
}

int main(int argc, char **argv) {
  example_init(argc, argv);
  long nrec = example_arg_long(argc, argv, "--records", DEFAULT_RECORDS);
  long nproc = example_arg_long(argc, argv, "--procs", mproc_cpu_count_usable());
  if (nrec < 1 || nrec > MAX_RECORDS || nproc < 1 || nproc > 1024)
    return fprintf(stderr, "usage: demo [--method M] [--procs 1..1024] [--records 1..%d]\n",
                   MAX_RECORDS), 2;
  printf("counting primes among %ld records: serially, then with a pool of %ld processes (%s)\n",
         nrec, nproc, mproc_start_method_name(mproc_get_start_method()));
  fflush(stdout); /* flush=True */

  double t0 = example_now();
  unsigned char *serial = malloc((size_t)nrec); /* serial = [is_prime_record(i) for ...] */
  long total = 0;
  for (long i = 0; serial && i < nrec; i++)
    total += serial[i] = (unsigned char)is_prime(record((uint32_t)i));
  double serial_time = example_now() - t0;
  printf("serial:   %ld primes in %.2f s\n", total, serial_time);
  fflush(stdout);

  t0 = example_now();
  mproc_pool_options opts = {.processes = (int)nproc};
  mproc_task_options topts = {.size = sizeof topts, .progress = example_progress, .ctx = "primes"};
  mproc_args_t *items, *parallel;
  mproc_pool_t *pool;
  MPROC_CHECK(mproc_args_range(&items, 0, nrec, 1));
  MPROC_CHECK(mproc_pool_new(&pool, &opts)); /* with mp.Pool(a.procs) as pool: */
  MPROC_CHECK(mproc_pool_map(pool, is_prime_record, items, &topts, &parallel));
  double parallel_time = example_now() - t0;
  mproc_pool_free(pool);

  long ptotal = 0, mismatches = serial == NULL; /* assert parallel == serial */
  for (long i = 0; serial && i < nrec; i++) {
    int64_t v = -1;
    MPROC_CHECK(mproc_args_get_int(parallel, (size_t)i, &v));
    ptotal += v;
    mismatches += v != serial[i];
  }
  mproc_args_free(items);
  mproc_args_free(parallel);
  free(serial);
  if (mismatches)
    return fprintf(stderr, "%ld of %ld records differ from the serial run\n", mismatches, nrec), 1;
  printf("pool:     %ld primes in %.2f s (%ld workers, their start included)\n", ptotal,
         parallel_time, nproc);
  printf("speed-up: %.2fx on %d usable CPUs\n", serial_time / parallel_time,
         mproc_cpu_count_usable());
}
