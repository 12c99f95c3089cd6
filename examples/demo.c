/*
 * demo — the reason to use processes: a CPU-bound job over a few hundred thousand records,
 * done serially, then split across every usable CPU.
 *
 * The job is the one a tutorial describes: "hundreds of thousands of records need a
 * scientific computation; process 1 takes records 1..10000, process 2 the next 10000, ...".
 * Here a record is a 32-bit number and the computation is a primality test by trial division.
 * Records are generated from their index, so a child needs only its slice bounds (real data
 * would be read from a file, or passed in shared memory once that API lands).
 *
 * Python equivalent:
 *     def count_slice(lo, hi, expected):
 *         n = sum(is_prime(record(i)) for i in range(lo, hi))
 *         print(f"slice {k}: records {lo}..{hi - 1}, count={n}")
 *
 *     if __name__ == '__main__':
 *         serial = [sum(is_prime(record(i)) for i in slice) for slice in slices]
 *         ps = [Process(target=count_slice, args=(lo, hi, expected)) for ...]
 *         for p in ps: p.start()
 *         for p in ps: p.join()
 *
 * Each child checks its count against the serial run and fails (exit code 1 with a message)
 * on a mismatch. Until pipes and queues exist, children report by printing.
 *
 * Usage: demo [--method fork|spawn|forkserver] [--procs N] [--records N]
 */
#include "example_util.h"

#include <stdlib.h>

#define DEFAULT_RECORDS 500000
#define MAX_PROCS 256

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

static int64_t count_primes(int64_t lo, int64_t hi) {
  int64_t count = 0;
  for (int64_t i = lo; i < hi; i++)
    count += is_prime(record((uint32_t)i));
  return count;
}

/* The child's target: args are (slice index, lo, hi, expected count). */
static int count_slice(const mproc_args_t *args) {
  int k;
  int64_t lo, hi, expected;
  int rc = mproc_args_parse(args, "illl", &k, &lo, &hi, &expected);
  if (rc != 0)
    return mproc_fail(2, "count_slice: bad arguments: %s", mproc_strerror(rc));
  int64_t count = count_primes(lo, hi);
  printf("slice %d: records %lld..%lld, count=%lld\n", k, (long long)lo, (long long)(hi - 1),
         (long long)count);
  fflush(stdout);
  if (count != expected)
    return mproc_fail(1, "slice %d: counted %lld, the serial run counted %lld", k,
                      (long long)count, (long long)expected);
  return 0;
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
  int64_t nrec = arg_long(argc, argv, "--records", DEFAULT_RECORDS);
  int nproc = (int)arg_long(argc, argv, "--procs", mproc_cpu_count_usable());
  if (nrec < 1 || nproc < 1 || nproc > MAX_PROCS) {
    fprintf(stderr, "usage: %s [--method M] [--procs 1..%d] [--records N>0]\n", argv[0],
            MAX_PROCS);
    return 2;
  }

  static int64_t lo[MAX_PROCS], hi[MAX_PROCS], expected[MAX_PROCS];
  for (int k = 0; k < nproc; k++) {
    lo[k] = nrec * k / nproc;
    hi[k] = nrec * (k + 1) / nproc;
  }
  printf("counting primes among %lld records: serially, then in %d processes (%s)\n",
         (long long)nrec, nproc, mproc_start_method_name(mproc_get_start_method()));
  fflush(stdout);

  /* 1. Serial: one slice after the other, in this process. */
  double t0 = example_now();
  int64_t total = 0;
  for (int k = 0; k < nproc; k++) {
    expected[k] = count_primes(lo[k], hi[k]);
    total += expected[k];
  }
  double serial = example_now() - t0;
  printf("serial:   %lld primes in %.2f s\n", (long long)total, serial);
  fflush(stdout); /* before starting children: a fork child must not inherit pending output */

  /* 2. Parallel: one process per slice. */
  static mproc_process_t *ps[MAX_PROCS];
  t0 = example_now();
  for (int k = 0; k < nproc; k++) {
    mproc_args_t *args;
    int rc = mproc_args_build(&args, "illl", k, lo[k], hi[k], expected[k]);
    if (rc != 0)
      return example_die("mproc_args_build", rc);
    rc = mproc_process_new(&ps[k], count_slice, args);
    mproc_args_free(args);
    if (rc != 0)
      return example_die("mproc_process_new", rc);
    rc = mproc_process_start(ps[k]);
    if (rc != 0)
      return example_die("mproc_process_start", rc);
  }
  int failed = 0;
  for (int k = 0; k < nproc; k++) {
    int code = -1;
    int rc = mproc_process_join(ps[k], MPROC_FOREVER);
    if (rc == 0)
      rc = mproc_process_exitcode(ps[k], &code);
    if (rc != 0)
      return example_die("join", rc);
    if (code != 0) {
      const char *msg = mproc_process_error(ps[k]);
      fprintf(stderr, "slice %d failed with exit code %d: %s\n", k, code,
              msg ? msg : "(no message)");
      failed++;
    }
    mproc_process_close(ps[k]);
  }
  double parallel = example_now() - t0;
  if (failed)
    return 1;
  printf("parallel: %lld primes in %.2f s (%d processes)\n", (long long)total, parallel, nproc);
  printf("speed-up: %.2fx on %d usable CPUs\n", serial / parallel, mproc_cpu_count_usable());
  return 0;
}
