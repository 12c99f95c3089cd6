/* SPDX-License-Identifier: MIT */
/* Shared by mpi_boot.c (MPI start, the worker ranks, the end) and mpi_pool.c (rank 0's pool
 * thread). Messages travel on a private duplicate of MPI_COMM_WORLD:
 *   TAG_CTRL, rank 0 -> worker: 'P' u32 slot, u32 gen, blob initializer ref, encoded initargs
 *                               (a pool starts: serve it), then the pool's own 'T' batches and
 *                               'Q' (pool.h); 'X': the program ends.
 *   TAG_REC, worker -> rank 0:  the pool's records (pool.h: 'H', 'I', 'R'); 'x': ends.
 * A message too long for the receiver's posted buffer comes as 'B' u64 length on its tag, then
 * whole on tag + 16 (mpi_msg.c). */
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

/* mpi_msg.c. This process's next message (rank 0: a record from any rank; a worker rank: the
 * next message from rank 0) into b: 1 with one, 0 with none yet, a negative code on error. */
int mproc__mpi_take(mp_buf *b, int *from);
/* The same, waiting for it: sleeps a little between looks once nothing comes for a while (idle
 * ranks do not burn a core). 0 or a negative code. */
int mproc__mpi_recv(mp_buf *b, int *from);
/* Sends len bytes to dest with tag (TAG_CTRL or TAG_REC): started into *req, or whole when req
 * is NULL. A long message sends a header first, always whole. */
int mproc__mpi_post(int dest, int tag, const void *data, size_t len, MPI_Request *req);
/* Cancels this process's receive posted ahead (before MPI ends). */
void mproc__mpi_inbox_close(void);
/* One message from src with tag, by a matched probe: 1, 0 (none) or a negative code. */
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
