/* SPDX-License-Identifier: MIT */
/* Shared by mpi_boot.c (MPI start, the worker ranks, the end) and mpi_pool.c (rank 0's pool
 * thread). Messages travel on a private duplicate of MPI_COMM_WORLD:
 *   TAG_CTRL, rank 0 -> worker: 'P' u32 slot, u32 gen, blob initializer ref, encoded initargs
 *                               (a pool starts: serve it), then the pool's own 'T' batches and
 *                               'Q' (pool.h); 'X': the program ends.
 *   TAG_REC, worker -> rank 0:  the pool's records (pool.h: 'H', 'I', 'R'); 'x': ends. */
#ifndef MPROC_MPI_INTERNAL_H
#define MPROC_MPI_INTERNAL_H

#include <mpi.h>

#include "../pool.h"

enum { TAG_CTRL = 1, TAG_REC = 2 };
enum { MSG_POOL = 'P', MSG_EXIT = 'X', MSG_EXIT_ACK = 'x' };

extern MPI_Comm mproc__mpi_comm;
extern int mproc__mpi_rank, mproc__mpi_size; /* 0 and 1 when MPI is not running */
/* This node's cores left over by its worker ranks (rank 0: for its local processes). */
extern int mproc__mpi_spare_cores;

/* Receives one message from src (or MPI_ANY_SOURCE) with tag into b, sleeping a little
 * between looks once nothing comes for a while (idle ranks do not burn a core). */
int mproc__mpi_recv(int src, int tag, mp_buf *b, int *from);
/* The same without waiting: 1 with a message in b, 0 with none, a negative code on error. */
int mproc__mpi_try_recv(int src, int tag, mp_buf *b, int *from);
/* Looks at MPI this many times in a row before the first pause (mproc__mpi_backoff). */
enum { MPI_SPIN_STEPS = 2000 };
/* One backoff step: spins first, then sleeps up to 1 ms. *step counts the calls since the
 * last message. */
void mproc__mpi_idle(unsigned *step);
/* The same step without sleeping: 0 (look again now) or how long to sleep, in ns. */
int64_t mproc__mpi_backoff(unsigned *step);

void mproc__mpi_pool_thread(void *arg);
/* The MPI pool alive now (rank 0), NULL if none; set and cleared under mproc__os_global_lock. */
extern mproc_pool_t *mproc__mpi_active;
/* Sends that had not completed when their pool ended: kept until MPI ends. */
void mproc__mpi_orphan(MPI_Request req, mp_buf *data);

#endif
