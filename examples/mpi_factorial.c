/* SPDX-License-Identifier: MIT */
/*
 * mpi_factorial — pool_factorial's CPU-bound pool, across MPI ranks: the same program, with
 * mproc_mpi_pool_new where pool_factorial has mproc_pool_new.
 *
 *     mpiexec -n 6 ./mpi_factorial          rank 0 runs main; ranks 1..5 compute, and so
 *                                           do local processes of rank 0 on cores of its
 *                                           node no rank holds
 *     ./mpi_factorial                       no MPI launcher: a local pool of 5 processes
 *
 * Each task returns the number of decimal digits of n! (log10 1 + ... + log10 n), checked
 * against Stirling's formula; then the primes below 2,000,000 are counted in 64 slices by
 * trial division (imap_unordered: slices are reported as they finish, from whichever rank).
 * Every rank must run this same binary: ranks find the task functions the way spawned local
 * workers do, by their place in the program.
 */
#include <math.h>
#include <stdio.h>

#include <mproc.h>
#include <mproc_mpi.h>

#define COUNT 5
#define PRIME_LIMIT 2000000
#define SLICES 64

static int factorial(const mproc_args_t *args, mproc_args_t *result) {
  int64_t n;
  int rc = mproc_args_get_int(args, 0, &n);
  if (rc != 0 || n < 0)
    return mproc_fail(2, "factorial: bad argument");
  double log10_fact = 0.0;
  for (int64_t k = 2; k <= n; k++)
    log10_fact += log10((double)k);
  return mproc_args_add_int(result, (int64_t)floor(log10_fact) + 1);
}

/* The primes in [lo, hi), by trial division. */
static int count_primes(const mproc_args_t *args, mproc_args_t *result) {
  int64_t lo, hi, n = 0;
  int rc = mproc_args_parse(args, "ll", &lo, &hi);
  if (rc != 0)
    return rc;
  for (int64_t x = lo < 2 ? 2 : lo; x < hi; x++) {
    int prime = 1;
    for (int64_t d = 2; d * d <= x && prime; d++)
      prime = x % d != 0;
    n += prime;
  }
  return mproc_args_add_int(result, n);
}

static int die(const char *what, int rc) {
  fprintf(stderr, "%s: %s\n", what, mproc_strerror(rc));
  return 1;
}

int main(int argc, char **argv) {
  mproc_main(argc, argv); /* MPI ranks other than 0 become the pool's workers here */
  int rank, size;
  mproc_mpi_world(&rank, &size);

  mproc_pool_options opts = {.processes = size > 1 ? 0 : 5}; /* 0: every core of every rank */
  mproc_pool_t *pool;
  int rc = mproc_mpi_pool_new(&pool, &opts);
  if (rc != 0)
    return die("mproc_mpi_pool_new", rc);
  int n = mproc_pool_processes(pool), ranks = mproc_mpi_pool_is_mpi(pool) ? size - 1 : 0;
  if (ranks > 0)
    printf("%d worker(s) on MPI ranks, %d local process(es) on rank 0's node\n", ranks,
           n - ranks);
  else
    printf("%d worker(s) on local processes\n", n);

  static const int64_t numbers[COUNT] = {100000, 200000, 300000, 400000, 500000};
  mproc_args_t *items, *results = NULL;
  rc = mproc_args_build(&items, "lllll", numbers[0], numbers[1], numbers[2], numbers[3],
                        numbers[4]);
  if (rc == 0)
    rc = mproc_pool_map(pool, factorial, items, NULL, &results);
  mproc_args_free(items);
  if (rc != 0)
    return die("mproc_pool_map", rc);
  int wrong = 0;
  for (size_t i = 0; i < COUNT; i++) {
    int64_t digits = 0;
    int64_t expected = (int64_t)floor(lgamma((double)numbers[i] + 1.0) / log(10.0)) + 1;
    if (mproc_args_get_int(results, i, &digits) != 0 || digits != expected)
      wrong = 1;
    printf("Factorial of %lld is calculated.\n", (long long)numbers[i]);
  }
  mproc_args_free(results);

  mproc_args_t *slices[SLICES];
  for (int i = 0; i < SLICES; i++)
    mproc_args_build(&slices[i], "ll", (int64_t)PRIME_LIMIT / SLICES * i,
                     (int64_t)PRIME_LIMIT / SLICES * (i + 1));
  rc = mproc_pool_starmap(pool, count_primes, (const mproc_args_t *const *)slices, SLICES,
                          NULL, &results);
  for (int i = 0; i < SLICES; i++)
    mproc_args_free(slices[i]);
  if (rc != 0)
    return die("mproc_pool_starmap", rc);
  int64_t primes = 0;
  for (int i = 0; i < SLICES; i++) {
    int64_t n = 0;
    mproc_args_get_int(results, (size_t)i, &n);
    primes += n;
  }
  mproc_args_free(results);
  printf("%lld primes below %d\n", (long long)primes, PRIME_LIMIT);
  wrong |= primes != 148933;

  mproc_pool_close(pool);
  mproc_pool_join(pool, MPROC_FOREVER);
  mproc_pool_free(pool);
  return wrong;
}
