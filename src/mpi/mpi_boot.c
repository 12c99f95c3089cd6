/* SPDX-License-Identifier: MIT */
/* MPI start, the worker ranks, and the end of the job.
 *
 * mproc_main calls mpi_main_hook (registered by this file's constructor: linking mproc::mpi and
 * calling mproc_mpi_pool_new pulls it in). Under an MPI launcher every rank initialises MPI
 * there; ranks other than 0 then serve pools until rank 0 says the program ends, and exit
 * without returning into main — the re-entry that spawn uses, so tasks are found by the same
 * target references as in local workers. Rank 0 returns into main and ends MPI at exit. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mpi_internal.h"
#include "mproc_mpi.h"
#include "../alloc.h"

#define SLEEP_MIN_NS 20000
#define SLEEP_MAX_NS 1000000
#define EXIT_GRACE_S 60       /* rank 0 waits this long at exit for ranks busy with a lost task */

MPI_Comm mproc__mpi_comm = MPI_COMM_NULL;
int mproc__mpi_rank = 0, mproc__mpi_size = 1;
int mproc__mpi_spare_cores;
mproc_pool_t *mproc__mpi_active;

typedef struct orphan {
  struct orphan *next;
  MPI_Request req;
  mp_buf data;
} orphan;
static orphan *g_orphans;

void mproc_mpi_world(int *rank, int *size) {
  if (rank)
    *rank = mproc__mpi_rank;
  if (size)
    *size = mproc__mpi_size;
}

int64_t mproc__mpi_backoff(unsigned *step) {
  unsigned s = (*step)++;
  if (s < MPI_SPIN_STEPS)
    return 0;
  int64_t ns = SLEEP_MIN_NS;
  for (unsigned k = MPI_SPIN_STEPS; k < s && ns < SLEEP_MAX_NS; k += 64)
    ns *= 2;
  return ns < SLEEP_MAX_NS ? ns : SLEEP_MAX_NS;
}

void mproc__mpi_idle(unsigned *step) {
  int64_t ns = mproc__mpi_backoff(step);
  if (ns > 0) {
    struct timespec ts = {0, (long)ns};
    nanosleep(&ts, NULL);
  }
}

void mproc__mpi_orphan(MPI_Request req, mp_buf *data) {
  orphan *o = mproc__malloc(sizeof *o);
  if (o == NULL)
    return; /* the buffer leaks with the request: better than freeing memory MPI may read */
  o->req = req;
  o->data = *data;
  mproc__buf_init(data);
  mproc__os_global_lock();
  o->next = g_orphans;
  g_orphans = o;
  mproc__os_global_unlock();
}

/* --- worker ranks ----------------------------------------------------------------------------- */

typedef struct rank_io {
  mp_buf rec;
  int exiting; /* 'X' came while a pool was being served */
} rank_io;

static int io_get(void *ctx, mp_buf *into) {
  rank_io *io = ctx;
  if (mproc__mpi_recv(into, NULL) != 0) {
    io->exiting = 1;
    return 1;
  }
  if (into->len > 0 && into->data[0] == MSG_EXIT) {
    io->exiting = 1;
    return 1;
  }
  return 0;
}

static void io_put(void *ctx, const void *data, size_t len) {
  (void)ctx;
  mproc__mpi_post(0, TAG_REC, data, len, NULL);
}

/* 'P': serve that pool until its 'Q' (or the end of the program). */
static void serve_pool(rank_io *io, const mp_buf *m) {
  mp_rd r;
  mproc__rd_init(&r, m->data + 1, m->len - 1);
  uint32_t slot = mproc__get_u32(&r), gen = mproc__get_u32(&r);
  size_t ref_len = 0;
  const void *ref = mproc__get_blob(&r, &ref_len);
  mproc_args_t *initargs = NULL;
  if (r.err || mproc__args_decode(&r, &initargs, MP_ARGS_PLAIN, NULL, 0) != 0)
    return;
  mp_worker_io wio = {io_get, io_put, io};
  mproc__pool_worker_serve(&wio, slot, gen, 0, ref_len ? ref : NULL, ref_len, initargs);
  mproc_args_free(initargs);
}

static void serve_ranks(void) {
  rank_io io;
  memset(&io, 0, sizeof io);
  mp_buf m;
  mproc__buf_init(&m);
  while (!io.exiting) {
    if (mproc__mpi_recv(&m, NULL) != 0 || m.len == 0)
      break;
    if (m.data[0] == MSG_EXIT)
      break;
    if (m.data[0] == MSG_POOL)
      serve_pool(&io, &m);
    /* anything else is left over from a pool that was terminated: skip it */
  }
  mproc__buf_free(&m);
  mproc__mpi_inbox_close();
  unsigned char ack = MSG_EXIT_ACK;
  MPI_Send(&ack, 1, MPI_BYTE, 0, TAG_REC, mproc__mpi_comm);
  MPI_Comm_free(&mproc__mpi_comm);
  MPI_Finalize();
  exit(0);
}

/* --- rank 0 at exit --------------------------------------------------------------------------- */

static void end_job(void) {
  mproc_pool_t *p;
  mproc__os_global_lock();
  p = mproc__mpi_active;
  mproc__os_global_unlock();
  if (p != NULL)
    mproc_pool_terminate(p); /* its thread stops using MPI before terminate returns */
  unsigned char x = MSG_EXIT;
  for (int r = 1; r < mproc__mpi_size; r++)
    MPI_Send(&x, 1, MPI_BYTE, r, TAG_CTRL, mproc__mpi_comm);
  /* Wait for every rank's goodbye; records of ended pools that arrive meanwhile are dropped.
   * A rank still running a task its pool gave up on (timeout) says goodbye when it is done. */
  int left = mproc__mpi_size - 1;
  time_t give_up = time(NULL) + EXIT_GRACE_S;
  mp_buf m;
  mproc__buf_init(&m);
  unsigned step = 0;
  while (left > 0) {
    if (mproc__mpi_take(&m, NULL) == 1) {
      step = 0;
      left -= m.len == 1 && m.data[0] == MSG_EXIT_ACK;
      continue;
    }
    if (time(NULL) > give_up) {
      fprintf(stderr, "mproc: %d MPI rank(s) still busy %d s after the end of the program "
                      "(a task that never returns?): aborting the job\n", left, EXIT_GRACE_S);
      MPI_Abort(MPI_COMM_WORLD, 1);
    }
    mproc__mpi_idle(&step);
  }
  mproc__buf_free(&m);
  mproc__mpi_inbox_close();
  for (orphan *o = g_orphans, *n; o; o = n) {
    n = o->next;
    int done = 0;
    MPI_Test(&o->req, &done, MPI_STATUS_IGNORE);
    if (done)
      mproc__buf_free(&o->data); /* else its receiver ended: leave it to MPI_Finalize */
    mproc__free(o);
  }
  g_orphans = NULL;
  if (mproc__mpi_comm != MPI_COMM_NULL)
    MPI_Comm_free(&mproc__mpi_comm);
  MPI_Finalize();
}

/* --- start ------------------------------------------------------------------------------------ */

/* An MPI launcher's mark in the environment (Open MPI, PMIx, MPICH/Hydra and Slurm's PMI). */
static int launched_by_mpi(void) {
  static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE",
                                     "PMI_RANK", "MPI_LOCALNRANKS"};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
    if (getenv(vars[i]) != NULL)
      return 1;
  return 0;
}

enum { MASK_WORDS = CPU_SETSIZE / 64 };

/* Every rank of c together: the cores the ranks on this node may run on (the union of their
 * CPU affinity masks: what the launcher gave the job here) less one for each rank but one.
 * The one left is the core rank 0 holds while it mostly waits: its local processes use it. */
static int node_spare_cores(MPI_Comm c) {
  MPI_Comm node;
  if (MPI_Comm_split_type(c, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) != MPI_SUCCESS)
    return 0;
  int nranks = 1, cores = 0;
  MPI_Comm_size(node, &nranks);
  uint64_t mine[MASK_WORDS] = {0}, all[MASK_WORDS] = {0};
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
      if (CPU_ISSET(cpu, &set))
        mine[cpu / 64] |= (uint64_t)1 << (cpu % 64);
  if (MPI_Allreduce(mine, all, MASK_WORDS, MPI_UINT64_T, MPI_BOR, node) == MPI_SUCCESS)
    for (int k = 0; k < MASK_WORDS; k++)
      cores += __builtin_popcountll(all[k]);
  MPI_Comm_free(&node);
  if (cores == 0)
    cores = mproc_cpu_count_usable();
  return cores > nranks - 1 ? cores - (nranks - 1) : 0;
}

/* MPI is up in this process: the pool's communicator, where we are in it, and errors as codes
 * (a failing rank should not abort the job from inside mproc). Collective over c. */
static void set_comm(MPI_Comm c) {
  mproc__mpi_comm = c;
  MPI_Comm_rank(c, &mproc__mpi_rank);
  MPI_Comm_size(c, &mproc__mpi_size);
  MPI_Comm_set_errhandler(c, MPI_ERRORS_RETURN);
  mproc__mpi_spare_cores = node_spare_cores(c);
}

static int g_ending; /* end_job is registered */

/* Rank 0 pauses pools and ends MPI at exit; registered once, whoever started MPI. */
static void register_end(void) {
  if (!g_ending) {
    g_ending = 1;
    atexit(end_job);
  }
}

/* This process's rank as the launcher says, -1 when it does not. */
static int launcher_rank(void) {
  static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
    const char *v = getenv(vars[i]);
    if (v != NULL && *v != 0)
      return atoi(v);
  }
  return -1;
}

static int init_mpi(int *argc, char ***argv) {
  int provided = 0;
  /* mproc looks at MPI in short loops and sleeps between them once nothing comes. Open MPI on
   * an oversubscribed node also yields the core inside every look that finds nothing, which
   * hands it to whatever else runs there for a whole time slice: a round trip then costs
   * milliseconds. Unless the user chose otherwise, our looks do not yield. */
  setenv("OMPI_MCA_mpi_yield_when_idle", "0", 0);
  /* Rank 0 calls MPI from its pool thread (or a caller that moves the pool) while main may
   * call it too: ask for MULTIPLE; the pool itself needs only SERIALIZED (one thread at a
   * time). A worker rank has one thread that calls MPI: SERIALIZED, which spares every look
   * at MPI the locks MULTIPLE takes (Open MPI). */
  int want = launcher_rank() > 0 ? MPI_THREAD_SERIALIZED : MPI_THREAD_MULTIPLE;
  if (MPI_Init_thread(argc, argv, want, &provided) != MPI_SUCCESS)
    return MPROC_ENOTSUP;
  if (provided < MPI_THREAD_SERIALIZED) {
    fprintf(stderr, "mproc: this MPI gives no threaded mode (MPI_THREAD_SERIALIZED): MPI pools "
                    "are off, pools are local\n");
    MPI_Finalize();
    return MPROC_ENOTSUP;
  }
  return 0;
}

static int mpi_main_hook(int argc, char **argv) {
  int inited = 0;
  MPI_Initialized(&inited);
  if (inited || !launched_by_mpi() || init_mpi(&argc, &argv) != 0)
    return 0;
  MPI_Comm parent, c;
  MPI_Comm_get_parent(&parent);
  if (parent != MPI_COMM_NULL) {
    /* Started by mproc_mpi_spawn: the spawning process is rank 0 of the merged group. */
    MPI_Intercomm_merge(parent, 1, &c);
    MPI_Comm_free(&parent);
  } else {
    MPI_Comm_dup(MPI_COMM_WORLD, &c);
  }
  set_comm(c);
  if (mproc__mpi_rank != 0)
    serve_ranks(); /* never returns */
  register_end();
  return 0;
}

/* The running program, for the ranks to start: the same binary, so tasks resolve alike. */
static int self_path(char *buf, size_t cap) {
  ssize_t n = readlink("/proc/self/exe", buf, cap - 1);
  if (n > 0) {
    buf[n] = 0;
    return 0;
  }
  char *const *argv = mproc__main_argv();
  if (argv == NULL || argv[0] == NULL || strlen(argv[0]) >= cap)
    return MPROC_ENOTSUP;
  strcpy(buf, argv[0]);
  return 0;
}

int mproc_mpi_spawn(int nranks) {
  if (nranks < 1)
    return MPROC_EINVAL;
  mproc__os_global_lock();
  int busy = mproc__mpi_active != NULL;
  mproc__os_global_unlock();
  if (busy || mproc__mpi_size > 1 || mproc__mpi_rank != 0)
    return MPROC_ESTATE;
  char exe[4096];
  int rc = self_path(exe, sizeof exe);
  if (rc != 0)
    return rc;
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited && (rc = init_mpi(NULL, NULL)) != 0)
    return rc;
  register_end(); /* before spawning: whatever happens next, the end is orderly */
  MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
  char *const *argv = mproc__main_argv();
  MPI_Comm inter, merged;
  int *errs = mproc__calloc((size_t)nranks, sizeof *errs);
  if (errs == NULL)
    return MPROC_ENOMEM;
  rc = MPI_Comm_spawn(exe, argv && argv[0] ? (char **)argv + 1 : MPI_ARGV_NULL, nranks,
                      MPI_INFO_NULL, 0, MPI_COMM_SELF, &inter, errs);
  mproc__free(errs);
  if (rc != MPI_SUCCESS)
    return MPROC_ENOTSUP;
  if (MPI_Intercomm_merge(inter, 0, &merged) != MPI_SUCCESS)
    return MPROC_ENOTSUP;
  MPI_Comm_free(&inter);
  if (mproc__mpi_comm != MPI_COMM_NULL)
    MPI_Comm_free(&mproc__mpi_comm); /* mpiexec -n 1: the world of one is replaced */
  set_comm(merged);
  return 0;
}

__attribute__((constructor)) static void mpi_register(void) { mproc__main_hook = mpi_main_hook; }
