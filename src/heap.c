/* SPDX-License-Identifier: MIT */
/*
 * The shared heap: small blocks of anonymous shared memory for objects that several processes
 * use (locks, semaphores, later values and arrays), carved out of a few large segments so that
 * ten thousand objects cost a handful of mappings and fds, not ten thousand (Python's
 * multiprocessing.heap idea).
 *
 * Sections: segment table (every segment this process has mapped, own or adopted) ->
 * allocation (own segments only: size classes with free lists, big blocks get a segment of
 * their own) -> crossing into children (a block travels as segment id + size + offset + the
 * segment's handle; the child maps the segment once and shares the mapping between objects).
 *
 * Trust: the allocator keeps no bookkeeping in shared memory. Free blocks are listed in
 * private memory of the owning process (a stack of offsets per segment and size class), never
 * linked through the blocks themselves: a child that writes to a block after the parent freed
 * it (a bug, but a child's bug) then corrupts only data, never the parent's allocator. The
 * segment header is only read by processes adopting the segment, which check it.
 *
 * Lifetime: a block belongs to the process that allocated it, as in Python: only it returns
 * the block for reuse. Other processes hold references to the segment, unmapping it when their
 * last object in it is freed. The kernel frees a segment when no process maps or holds it, so
 * nothing outlives the last holder, SIGKILL included.
 */
#include <stdlib.h>
#include <string.h>

#include "heap.h"
#include "alloc.h"

#define SEG_MAGIC 0x3170616568636f72ULL /* "rocheap1" */
#define SEG_DEFAULT (1u << 20)
#define ALIGN 64            /* cache line: two objects never share one */
#define CLASS_MIN_SHIFT 6   /* 64 bytes */
#define NCLASS 11           /* 64 B .. 64 KiB; larger blocks get their own segment */
#define CLASS_MAX ((size_t)ALIGN << (NCLASS - 1))

/* The first bytes of every segment, so an adopting process can check what it mapped. */
typedef struct seg_header {
  uint64_t magic;
  uint64_t id;
} seg_header;

/* Free blocks of one size class, as offsets (a small-block segment is SEG_DEFAULT bytes). */
typedef struct free_stack {
  uint32_t *off;
  size_t n, cap;
} free_stack;

struct mp_seg {
  uint64_t id;
  os_handle h;          /* kept open to pass the segment on to children */
  unsigned char *base;
  size_t size;
  size_t refs;          /* live blocks (own) or adopted objects (others) in this process */
  int own;              /* allocated here: blocks are carved from it */
  int inherited;        /* mapped before a fork: never unmapped (fork child globals) */
  size_t bump;          /* own: first never-used offset */
  free_stack free_[NCLASS]; /* own: freed blocks, in private memory (see "Trust") */
  mp_seg *next;
};

static mp_seg *g_segs;

/* --- segment table ----------------------------------------------------------------------- */

static mp_seg *find_seg(uint64_t id) {
  for (mp_seg *s = g_segs; s; s = s->next)
    if (s->id == id)
      return s;
  return NULL;
}

static void unlink_seg(mp_seg *seg) {
  for (mp_seg **pp = &g_segs; *pp; pp = &(*pp)->next)
    if (*pp == seg) {
      *pp = seg->next;
      return;
    }
}

static void free_stacks(mp_seg *seg) {
  for (int c = 0; c < NCLASS; c++) {
    mproc__free(seg->free_[c].off);
    seg->free_[c] = (free_stack){NULL, 0, 0};
  }
}

static void drop_seg(mp_seg *seg) {
  unlink_seg(seg);
  free_stacks(seg);
  mproc__os_shm_unmap(seg->base, seg->size);
  mproc__os_close(seg->h);
  mproc__free(seg);
}

/* Maps h as a segment (not yet in the table); h is the segment's from now on. */
static int map_seg(os_handle h, size_t size, uint64_t id, int own, mp_seg **out) {
  mp_seg *seg = mproc__calloc(1, sizeof *seg);
  if (seg == NULL)
    return MPROC_ENOMEM;
  void *base;
  int rc = mproc__os_shm_map(h, size, &base);
  if (rc != 0) {
    mproc__free(seg);
    return rc;
  }
  seg->id = id;
  seg->h = h;
  seg->base = base;
  seg->size = size;
  seg->own = own;
  seg->bump = ALIGN; /* the header's line */
  *out = seg;
  return 0;
}

static void insert_seg(mp_seg *seg) {
  seg->next = g_segs;
  g_segs = seg;
}

/* A new zero-filled segment of our own, not yet in the table. Needs no lock: creating and
 * reserving a big one takes a while, and other allocations should not wait for it. */
static int new_seg(size_t size, mp_seg **out) {
  uint64_t id = 0;
  int rc = mproc__os_random(&id, sizeof id);
  os_handle h = OS_INVALID;
  if (rc == 0)
    rc = mproc__os_shm_create(size, &h);
  if (rc == 0 && (rc = map_seg(h, size, id, 1, out)) != 0)
    mproc__os_close(h);
  if (rc == 0) {
    seg_header *hd = (seg_header *)(*out)->base;
    hd->id = id;
    hd->magic = SEG_MAGIC;
  }
  return rc;
}

/* --- allocation -------------------------------------------------------------------------- */

static int size_class(size_t size) {
  int c = 0;
  while (((size_t)ALIGN << c) < size)
    c++;
  return c;
}

/* Lock held: remembers a freed block. Without memory for the entry the block is leaked, which
 * costs its bytes and nothing else. */
static void push_free(mp_seg *seg, int c, size_t off) {
  free_stack *st = &seg->free_[c];
  if (st->n == st->cap) {
    size_t cap = st->cap ? 2 * st->cap : 16;
    uint32_t *v = mproc__realloc(st->off, cap * sizeof *v);
    if (v == NULL)
      return;
    st->off = v;
    st->cap = cap;
  }
  st->off[st->n++] = (uint32_t)off;
}

/* A block of class c from an own segment with room, or 0. Blocks never used before are still
 * zero (fresh segments are); reused ones are cleared here. */
static size_t carve(mp_seg *seg, int c) {
  size_t bsize = (size_t)ALIGN << c;
  free_stack *st = &seg->free_[c];
  if (st->n > 0) {
    size_t off = st->off[--st->n];
    memset(seg->base + off, 0, bsize);
    return off;
  }
  if (seg->size - seg->bump < bsize)
    return 0;
  size_t off = seg->bump;
  seg->bump += bsize;
  return off;
}

/* With the global lock held; a new segment is made outside it. */
static int alloc_small(size_t size, mp_block *out) {
  int c = size_class(size);
  for (int attempt = 0; attempt < 2; attempt++) {
    for (mp_seg *s = g_segs; s; s = s->next) {
      size_t off = s->own ? carve(s, c) : 0;
      if (off != 0) {
        *out = (mp_block){s, off, s->base + off, (size_t)ALIGN << c};
        return 0;
      }
    }
    if (attempt == 1)
      break;
    mp_seg *seg;
    mproc__os_global_unlock();
    int rc = new_seg(SEG_DEFAULT, &seg);
    mproc__os_global_lock();
    if (rc != 0)
      return rc;
    insert_seg(seg); /* another thread may have made one too: both are used */
  }
  return MPROC_ENOMEM;
}

/* A block too big for the size classes: a segment of its own. */
static int alloc_big(size_t size, mp_block *out) {
  size_t total = ALIGN + ((size + ALIGN - 1) & ~(size_t)(ALIGN - 1));
  if (total < size)
    return MPROC_ENOMEM;
  mp_seg *seg;
  int rc = new_seg(total, &seg);
  if (rc == 0) {
    seg->bump = total;
    *out = (mp_block){seg, ALIGN, seg->base + ALIGN, total - ALIGN};
  }
  return rc;
}

int mproc__heap_alloc(size_t size, mp_block *out) {
  mproc__clear_error_message();
  if (out == NULL || size == 0)
    return MPROC_EINVAL;
  memset(out, 0, sizeof *out);
  int rc = size <= CLASS_MAX ? 0 : alloc_big(size, out);
  mproc__os_global_lock();
  if (size <= CLASS_MAX)
    rc = alloc_small(size, out);
  else if (rc == 0)
    insert_seg(out->seg);
  if (rc == 0)
    out->seg->refs++;
  mproc__os_global_unlock();
  if (rc == MPROC_ENOSPC)
    mproc__shm_nospace_message(0, "a shared object's segment",
                               size <= CLASS_MAX ? SEG_DEFAULT : size);
  return rc;
}

void mproc__heap_free(mp_block *b) {
  if (b == NULL || b->seg == NULL)
    return;
  mproc__os_global_lock();
  mp_seg *seg = b->seg;
  int dedicated = seg->own && b->size > CLASS_MAX;
  if (seg->own && !dedicated)
    push_free(seg, size_class(b->size), b->off);
  /* Own small-block segments stay for reuse; adopted ones and big blocks go with their last
   * user (the memory itself lives on in every other process that maps it). */
  if (--seg->refs == 0 && (!seg->own || dedicated) && !seg->inherited)
    drop_seg(seg);
  mproc__os_global_unlock();
  memset(b, 0, sizeof *b);
}

/* --- crossing into children ------------------------------------------------------------------ */

void mproc__block_encode(const mp_block *b, mp_buf *out) {
  mproc__put_u64(out, b->seg->id);
  mproc__put_u64(out, b->seg->size);
  mproc__put_u64(out, b->off);
  mproc__put_u64(out, b->size);
  mproc__put_u64(out, (uint64_t)(int64_t)b->seg->h);
}

os_handle mproc__block_read_handle(mp_rd *r) {
  for (int i = 0; i < 4; i++)
    mproc__get_u64(r);
  return (os_handle)(int64_t)mproc__get_u64(r);
}

/* A segment that arrived as h: the one already mapped with that id (a fork child's, or one an
 * earlier argument brought), else h mapped now and kept. */
static int adopt_seg(uint64_t id, size_t size, os_handle h, mp_hmap *hm, mp_seg **out) {
  mp_seg *seg = find_seg(id);
  if (seg != NULL) {
    if (h == seg->h) /* the very handle the table holds (inherited by fork): not to close */
      mproc__hmap_claim(hm, h);
    *out = seg;
    return 0;
  }
  if (h == OS_INVALID)
    return MPROC_EPROTO;
  int rc = map_seg(h, size, id, 0, &seg);
  if (rc != 0)
    return rc;
  insert_seg(seg);
  const seg_header *hd = (const seg_header *)seg->base;
  if (hd->magic != SEG_MAGIC || hd->id != id) {
    seg->h = OS_INVALID; /* left for the decoder to close */
    drop_seg(seg);
    return MPROC_EPROTO;
  }
  mproc__hmap_claim(hm, h);
  *out = seg;
  return 0;
}

int mproc__block_decode(mp_rd *r, mp_hmap *hm, mp_block *out) {
  memset(out, 0, sizeof *out);
  uint64_t id = mproc__get_u64(r), size = mproc__get_u64(r), off = mproc__get_u64(r);
  uint64_t bsize = mproc__get_u64(r);
  os_handle h = (os_handle)(int64_t)mproc__get_u64(r);
  if (r->err)
    return r->err;
  if (size < ALIGN || off < ALIGN || off > size || bsize > size - off)
    return MPROC_EPROTO;
  h = mproc__hmap_get(hm, h);
  mproc__os_global_lock();
  mp_seg *seg;
  int rc = adopt_seg(id, (size_t)size, h, hm, &seg);
  if (rc == 0) {
    seg->refs++;
    *out = (mp_block){seg, (size_t)off, seg->base + off, (size_t)bsize};
  }
  mproc__os_global_unlock();
  return rc;
}

void mproc__heap_after_fork_child(void) {
  /* Everything mapped now is the parent's: its blocks are not ours to hand out or return,
   * and objects inherited as globals keep working, so nothing is unmapped. */
  for (mp_seg *s = g_segs; s; s = s->next) {
    s->own = 0;
    s->inherited = 1;
    free_stacks(s);
  }
}

size_t mproc__heap_segments(void) {
  size_t n = 0;
  mproc__os_global_lock();
  for (mp_seg *s = g_segs; s; s = s->next)
    n++;
  mproc__os_global_unlock();
  return n;
}
