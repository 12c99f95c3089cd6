/* SPDX-License-Identifier: MIT */
/* Messages between rank 0 and the worker ranks.
 *
 * Each process receives its messages (rank 0: records from any rank on TAG_REC; a worker rank:
 * control and batches from rank 0 on TAG_CTRL) through one receive posted ahead into a buffer
 * of INBOX_BYTES, so that a message lands where it is looked for: a probe finds a message only
 * after MPI has filed it away as unexpected, which makes a round trip about half again as
 * long. A message longer than the buffer travels as a header on the same tag ('B', u64
 * length), which keeps its place among the others, then its body on tag + TAG_BODY from the
 * same sender, which the receiver takes at once. */
#include <string.h>

#include "mpi_internal.h"
#include "../alloc.h"

#define INBOX_BYTES ((size_t)64 << 10)
enum { TAG_BODY = 16, MSG_BIG = 'B', HEADER_BYTES = 9 };

typedef struct inbox {
  MPI_Comm comm; /* the communicator the receive is posted on (MPI_COMM_NULL: none) */
  MPI_Request req;
  unsigned char *buf;
} inbox;

static inbox g_in = {MPI_COMM_NULL, MPI_REQUEST_NULL, NULL};

/* A matched probe: the message found is the one received, whichever thread looks too. */
int mproc__mpi_try_recv(int src, int tag, mp_buf *b, int *from) {
  MPI_Message msg;
  MPI_Status st;
  int flag = 0, n = 0;
  if (MPI_Improbe(src, tag, mproc__mpi_comm, &flag, &msg, &st) != MPI_SUCCESS)
    return MPROC_EPEERGONE;
  if (!flag)
    return 0;
  MPI_Get_count(&st, MPI_BYTE, &n);
  b->len = 0;
  if (mproc__buf_reserve(b, n > 0 ? (size_t)n : 1) != 0) {
    MPI_Mrecv(NULL, 0, MPI_BYTE, &msg, MPI_STATUS_IGNORE); /* dropped (truncated) */
    return MPROC_ENOMEM;
  }
  if (MPI_Mrecv(b->data, n, MPI_BYTE, &msg, MPI_STATUS_IGNORE) != MPI_SUCCESS)
    return MPROC_EPEERGONE;
  b->len = (size_t)n;
  if (from)
    *from = st.MPI_SOURCE;
  return 1;
}

static int my_tag(void) { return mproc__mpi_rank == 0 ? TAG_REC : TAG_CTRL; }

static int inbox_post(void) {
  if (g_in.buf == NULL && (g_in.buf = mproc__malloc(INBOX_BYTES)) == NULL)
    return MPROC_ENOMEM;
  int src = mproc__mpi_rank == 0 ? MPI_ANY_SOURCE : 0;
  if (MPI_Irecv(g_in.buf, (int)INBOX_BYTES, MPI_BYTE, src, my_tag(), mproc__mpi_comm,
                &g_in.req) != MPI_SUCCESS)
    return MPROC_EPEERGONE;
  g_in.comm = mproc__mpi_comm;
  return 0;
}

void mproc__mpi_inbox_close(void) {
  if (g_in.req != MPI_REQUEST_NULL) {
    MPI_Cancel(&g_in.req);
    MPI_Wait(&g_in.req, MPI_STATUS_IGNORE);
  }
  g_in.comm = MPI_COMM_NULL;
  mproc__free(g_in.buf);
  g_in.buf = NULL;
}

/* A header came from src: its body follows on the body tag, sent right after it. */
static int take_body(int src, const unsigned char *head, mp_buf *b) {
  uint64_t n = 0;
  for (int k = 0; k < 8; k++)
    n |= (uint64_t)head[1 + k] << (8 * k);
  unsigned step = 0;
  int rc;
  while ((rc = mproc__mpi_try_recv(src, my_tag() + TAG_BODY, b, NULL)) == 0)
    mproc__mpi_idle(&step);
  return rc < 0 ? rc : b->len == n ? 1 : MPROC_EPROTO;
}

int mproc__mpi_take(mp_buf *b, int *from) {
  if (g_in.comm != mproc__mpi_comm) {
    if (g_in.comm != MPI_COMM_NULL)
      mproc__mpi_inbox_close(); /* mproc_mpi_spawn replaced the communicator */
    int rc = inbox_post();
    if (rc != 0)
      return rc;
  }
  int done = 0, n = 0;
  MPI_Status st;
  if (MPI_Test(&g_in.req, &done, &st) != MPI_SUCCESS)
    return MPROC_EPEERGONE;
  if (!done)
    return 0;
  MPI_Get_count(&st, MPI_BYTE, &n);
  int src = st.MPI_SOURCE, big = n == HEADER_BYTES && g_in.buf[0] == MSG_BIG;
  unsigned char head[HEADER_BYTES];
  b->len = 0;
  int rc = big ? 0 : mproc__buf_reserve(b, n > 0 ? (size_t)n : 1);
  if (big) {
    memcpy(head, g_in.buf, HEADER_BYTES);
  } else if (rc == 0) {
    memcpy(b->data, g_in.buf, (size_t)n);
    b->len = (size_t)n;
  }
  int prc = inbox_post(); /* the next message finds its receive waiting */
  if (from)
    *from = src;
  if (rc == 0 && big)
    rc = take_body(src, head, b);
  return rc < 0 ? rc : prc < 0 ? prc : 1;
}

int mproc__mpi_recv(mp_buf *b, int *from) {
  unsigned step = 0;
  for (;;) {
    int rc = mproc__mpi_take(b, from);
    if (rc != 0)
      return rc < 0 ? rc : 0;
    mproc__mpi_idle(&step);
  }
}

int mproc__mpi_post(int dest, int tag, const void *data, size_t len, MPI_Request *req) {
  int rc = MPI_SUCCESS;
  if (len > INBOX_BYTES) {
    unsigned char head[HEADER_BYTES] = {MSG_BIG};
    for (int k = 0; k < 8; k++)
      head[1 + k] = (unsigned char)((uint64_t)len >> (8 * k));
    rc = MPI_Send(head, HEADER_BYTES, MPI_BYTE, dest, tag, mproc__mpi_comm);
    tag += TAG_BODY;
  }
  if (rc == MPI_SUCCESS && req != NULL)
    rc = MPI_Isend((void *)data, (int)len, MPI_BYTE, dest, tag, mproc__mpi_comm, req);
  else if (rc == MPI_SUCCESS)
    rc = MPI_Send((void *)data, (int)len, MPI_BYTE, dest, tag, mproc__mpi_comm);
  return rc == MPI_SUCCESS ? 0 : MPROC_EPEERGONE;
}
