/* SPDX-License-Identifier: MIT */
/* mproc::mpi — the Pool on MPI ranks. Optional: built when CMake finds MPI; link mproc::mpi.
 *
 *   mpiexec -n N ./app args
 *
 * Every rank runs the program. mproc_main(argc, argv), first thing in main, starts MPI; in
 * ranks 1..N-1 it never returns: they serve the tasks of rank 0's MPI pools until rank 0
 * exits. Rank 0 runs main. mproc_mpi_pool_new gives an ordinary mproc_pool_t: every
 * mproc_pool_* and mproc_result_* call works on it. Started without an MPI launcher (or with
 * one rank) it gives a local pool instead, so the same program runs on one machine unchanged,
 * unless mproc_mpi_spawn started ranks first.
 * docs/mpi.md has the details and the failure model. */
#ifndef MPROC_MPI_H
#define MPROC_MPI_H

#include <mproc.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A pool whose workers are the MPI ranks 1..N-1 and, by default (opts->processes 0), one local
 * process of rank 0 for each core of rank 0's node that no worker rank holds: every core of
 * every node works. opts->processes = k gives k workers, ranks first, then local processes
 * (N - 1: the ranks alone). Options mean what they mean for mproc_pool_new, except
 * start_method (ranks are started by mpiexec; it applies to the local processes) and
 * maxtasksperchild (a rank cannot be replaced; ignored). One MPI pool at a time (MPROC_ESTATE
 * while another is alive). Without MPI ranks: mproc_pool_new(out, opts). */
int mproc_mpi_pool_new(mproc_pool_t **out, const mproc_pool_options *opts);

/* Started without an MPI launcher (or by `mpiexec -n 1`): starts nranks copies of this
 * program as MPI ranks 1..nranks (MPI_Comm_spawn, same binary and arguments) for the MPI pools
 * that follow. Call it from main, after mproc_main; the ranks serve pools from mproc_main and
 * exit with the program. MPROC_ESTATE with ranks already there or an MPI pool alive;
 * MPROC_ENOTSUP where the MPI cannot spawn (docs/mpi.md). */
int mproc_mpi_spawn(int nranks);

/* This process's rank and the number of ranks (0 and 1 when not started by an MPI launcher). */
void mproc_mpi_world(int *rank, int *size);

/* 1 if pool is an MPI pool (0 for a local one). */
int mproc_mpi_pool_is_mpi(const mproc_pool_t *pool);

#ifdef __cplusplus
}
#endif
#endif /* MPROC_MPI_H */
