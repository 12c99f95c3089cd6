/* SPDX-License-Identifier: MIT */
/*
 * The shared overflow of unbounded queues: items that do not fit the ring when put (the ring
 * is full, or the item is bigger than half of it) go into shared segments the queue owns, so
 * that an item is in the queue once put returns, also for a producer that is killed or exits
 * right after (Python keeps them in the producer, where they die with it, and its exit waits
 * for a reader).
 *
 * Segments are named (the queue's random id and a 16-bit sequence number), because a consumer
 * must map a segment made after it started by a producer that may be gone: an anonymous segment
 * lives only while some process holds it. A segment holds a batch of records of up to about
 * 1 MiB, or one record of a bigger item. Records never change once published.
 *
 * Crash safety, as in the ring: one 64-bit word per side, stored once per item. `tail` (put
 * lock) = items published << 32 | the segment being filled << 16 | its next free position;
 * `head` (get lock) = items taken << 32 | the segment being read << 16 | its next position.
 * A producer writes the record (payload first, header last), then stores tail. Killed before
 * that, it leaves bytes nobody reads: the next producer writes its own record over them, or,
 * when it starts a new segment, an end marker. A consumer copies the item out, then stores
 * head; killed before that, it leaves the item for the next consumer. A segment left behind by
 * a dead process (made but not published, or read to the end but not unlinked) is unlinked by
 * the next holder of the lock the dead one held (EOWNERDEAD), and what remains by the queue's
 * creator when it frees the queue.
 *
 * Recycling: a fresh segment per batch (create, reserve, map, a page fault per page on both
 * sides, unmap, unlink) cost more than the copies. A consumer that finishes a segment of up to
 * RECYCLE_MAX links it to a free name among the SPARE after tail's segment (link never
 * replaces), then unlinks the old name; a producer starting a segment whose name exists with the
 * right size fills it as it is. Each step is one atomic name operation, so a killed process
 * leaves a segment in use, waiting under a future name, or gone: the repairs above cover the
 * rest (the old name after a link; tail's next name, taken and not published). Each handle side
 * keeps OVF_CACHE mappings matched by inode, so the memory is not mapped or faulted again.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue.h"
#include "atomics.h"

#define LD(p) MPROC__ATOMIC_LOAD((p), MPROC__ATOMIC_SEQ_CST)
#define ST(p, v) MPROC__ATOMIC_STORE((p), (v), MPROC__ATOMIC_SEQ_CST)

#define POS_FULL 0xffffu            /* no room left in the segment (or it is a single item) */
#define UNIT 16                     /* positions count 16-byte units */
#define BATCH ((size_t)POS_FULL * UNIT) /* data bytes of a batch segment, just under 1 MiB */
#define SEG_HDR 64
#define REC_HDR 16
#define SEG_MAGIC 0x3171667670716d6dULL /* "mmqpvfq1" */
#define TAG_ITEM 0x5au              /* record tag: item number << 8 | TAG_ITEM */
#define TAG_END 0xe5u               /* no more records in this segment */
#define SEQ_LIMIT 65000u            /* segments alive at once (16-bit sequence numbers) */

typedef struct seg_hdr {
  uint64_t magic;
  uint64_t qid;
  uint64_t seq;
  uint64_t data_size;
} seg_hdr;

typedef struct ovf_rec {
  uint64_t len;
  uint64_t tag;
} ovf_rec;

static uint32_t w_cnt(uint64_t w) { return (uint32_t)(w >> 32); }
static uint16_t w_seq(uint64_t w) { return (uint16_t)(w >> 16); }
static uint16_t w_pos(uint64_t w) { return (uint16_t)w; }
static uint64_t w_make(uint32_t cnt, uint16_t seq, uint16_t pos) {
  return (uint64_t)cnt << 32 | (uint64_t)seq << 16 | pos;
}
static size_t rec_len(size_t n) { return REC_HDR + ((n + UNIT - 1) & ~(size_t)(UNIT - 1)); }
static uint64_t tag_of(uint32_t cnt) { return (uint64_t)cnt << 8 | TAG_ITEM; }

void mproc__ovf_init(ovf_shared *o) {
  uint64_t id = 0;
  if (mproc__os_random(&id, sizeof id) != 0)
    id = (uint64_t)mproc__os_now_ns() ^ (uint64_t)mproc__os_getpid() << 32;
  o->qid = id;
  o->tail = w_make(0, 0, POS_FULL); /* the first item starts segment 1 */
  o->head = w_make(0, 1, 0);
}

uint32_t mproc__ovf_pending(const ovf_shared *o) {
  return w_cnt(LD(&o->tail)) - w_cnt(LD(&o->head));
}
uint32_t mproc__ovf_published(const ovf_shared *o) { return w_cnt(LD(&o->tail)); }

static void seg_name(const ovf_shared *o, uint16_t seq, char *buf, size_t cap) {
  snprintf(buf, cap, "mpq-%016llx-%04x", (unsigned long long)o->qid, (unsigned)seq);
}

static void unmap(ovf_map *m) {
  if (m->base != NULL)
    mproc__os_shm_unmap(m->base, m->size);
  memset(m, 0, sizeof *m);
}

static void unlink_seg(const ovf_shared *o, uint16_t seq) {
  char name[64];
  seg_name(o, seq, name, sizeof name);
  mproc__os_shm_unlink_named(name); /* ENOENT: already gone */
}

/* Sequence numbers come round again after 65,536 segments, each of which took at least one
 * item: a mapping made fewer items ago than that is of the segment the number names now. */
#define CACHE_ITEMS 32768u

/* Segments finished by consumers wait for producers under the names of the next segments
 * (tail's + 1 .. + SPARE): at most this many, per queue. */
#define SPARE 4u

/* Segments of one big item are recycled too, up to this size, so that a run of same-sized
 * items of a few MiB reuses memory as batches do; bigger ones are removed when read, so that
 * spares never hold more than SPARE x 4 MiB per queue. */
#define RECYCLE_MAX (((size_t)4 << 20) + REC_HDR) /* an item of 4 MiB */

static int recyclable(size_t size) {
  return size >= SEG_HDR + BATCH && size <= SEG_HDR + RECYCLE_MAX;
}
static int keepable(const ovf_map *m) { return m->has_id && recyclable(m->size); }

/* The slot already mapping the memory h refers to, or a free one (another evicted). */
static ovf_map *slot_for(ovf_side *s, int has_id, uint64_t id, size_t size, int *hit) {
  *hit = 0;
  for (unsigned i = 0; has_id && i < OVF_CACHE; i++) {
    ovf_map *m = &s->slot[i];
    if (m->base != NULL && m->has_id && m->id == id && m->size == size) {
      *hit = 1;
      return m;
    }
  }
  for (unsigned i = 0; i < OVF_CACHE; i++)
    if (s->slot[i].base == NULL)
      return &s->slot[i];
  ovf_map *m = &s->slot[s->clock++ % OVF_CACHE];
  unmap(m);
  return m;
}

/* Maps the segment h (size bytes) into a slot of s, reusing a mapping of the same memory:
 * a recycled segment comes back under another name, and mapping it again would cost a
 * system call and a page fault per page. Consumes h. */
static int map_handle(ovf_side *s, os_handle h, size_t size, ovf_map **out) {
  uint64_t id = 0;
  /* Only memory of this user with mode 0600 is kept (an unknown id cannot be matched). */
  int has_id = mproc__os_shm_ident(h, &id) == 0;
  int hit;
  ovf_map *m = slot_for(s, has_id, id, size, &hit);
  int rc = 0;
  if (!hit) {
    void *base = NULL;
    rc = mproc__os_shm_map(h, size, &base);
    if (rc == 0)
      *m = (ovf_map){0, 0, base, size, id, has_id};
  }
  mproc__os_close(h);
  *out = m;
  return rc;
}

/* Makes s->cur map segment seq (kept between calls: a batch is read or filled item by item);
 * cnt is the side's item count now. */
static int map_seg(mproc_queue_t *q, ovf_side *s, uint16_t seq, uint32_t cnt) {
  ovf_map *c = s->cur;
  if (c != NULL && c->seq == seq && cnt - c->cnt < CACHE_ITEMS)
    return 0;
  s->cur = NULL;
  char name[64];
  seg_name(q->ovf, seq, name, sizeof name);
  os_handle h;
  size_t size;
  int rc = mproc__os_shm_open_named(name, &h, &size);
  if (rc != 0)
    return rc;
  if (size < SEG_HDR) {
    mproc__os_close(h);
    return MPROC_EPROTO;
  }
  ovf_map *m;
  rc = map_handle(s, h, size, &m);
  if (rc != 0)
    return rc;
  const seg_hdr *sh = (const seg_hdr *)(void *)m->base;
  if (sh->magic != SEG_MAGIC || sh->qid != q->ovf->qid || sh->seq != seq ||
      sh->data_size > size - SEG_HDR) {
    unmap(m);
    return MPROC_EPROTO;
  }
  m->seq = seq;
  m->cnt = cnt;
  s->cur = m;
  return 0;
}

/* Done with s->cur: a recyclable segment stays mapped for when its memory comes back;
 * anything else (a bigger item's segment, memory no longer named) is unmapped now, so that
 * it is freed. */
static void leave(ovf_side *s, int keep) {
  if (s->cur != NULL && !(keep && keepable(s->cur)))
    unmap(s->cur);
  s->cur = NULL;
}

static unsigned char *data_of(const ovf_map *m) { return m->base + SEG_HDR; }
static size_t data_size(const ovf_map *m) { return ((const seg_hdr *)(void *)m->base)->data_size; }

/* A segment of size bytes a consumer finished, waiting under the name seq: reused as it is
 * (a batch's old records lie beyond what the new ones cover, and readers stop at the end
 * marker; a big item's record covers it all). 1 if so; 0 if there is none (a segment of that
 * name that does not fit is removed). */
static int reuse_seg(mproc_queue_t *q, const char *name, size_t want, ovf_map **out) {
  ovf_side *s = &q->ovf_wr;
  os_handle h;
  size_t size;
  if (mproc__os_shm_open_named(name, &h, &size) != 0)
    return 0;
  uint64_t id;
  if (size != want || mproc__os_shm_ident(h, &id) != 0) {
    mproc__os_close(
        h); /* left by a producer killed while making it (or not ours: then create fails) */
    mproc__os_shm_unlink_named(name);
    return 0;
  }
  return map_handle(s, h, size, out) == 0;
}

/* A new segment seq with data_bytes of room, made s->cur of the producers' side: a recycled
 * batch if one waits under that name, else a fresh one. A segment of that name left by a
 * producer killed before publishing it is replaced. */
static int new_seg(mproc_queue_t *q, uint16_t seq, uint32_t cnt, size_t data_bytes) {
  ovf_side *s = &q->ovf_wr;
  leave(s, 1);
  char name[64];
  seg_name(q->ovf, seq, name, sizeof name);
  ovf_map *m = NULL;
  size_t size = SEG_HDR + data_bytes;
  if (!recyclable(size) || !reuse_seg(q, name, size, &m)) {
    os_handle h;
    int rc = mproc__os_shm_create_named(name, size, &h);
    if (rc == MPROC_EEXIST) {
      mproc__os_shm_unlink_named(name);
      rc = mproc__os_shm_create_named(name, size, &h);
    }
    if (rc != 0)
      return rc;
    rc = map_handle(s, h, size, &m);
    if (rc != 0) {
      mproc__os_shm_unlink_named(name);
      return rc;
    }
  }
  *(seg_hdr *)(void *)m->base = (seg_hdr){SEG_MAGIC, q->ovf->qid, seq, data_bytes};
  m->seq = seq;
  m->cnt = cnt;
  s->cur = m;
  return 0;
}

/* Consumers are done with segment seq (head has moved past it): a segment up to RECYCLE_MAX
 * is renamed to the first free name after tail's segment, where a producer will fill it again;
 * otherwise (no free name among SPARE, a bigger one, no links) it is removed. Killed between the
 * link and the unlink, the old name is removed by mproc__ovf_repair_get; the new one is reused
 * or removed by a producer, or by the creator. */
static void finish_seg(mproc_queue_t *q, uint16_t seq) {
  ovf_side *s = &q->ovf_rd;
  int kept = 0;
  if (s->cur != NULL && keepable(s->cur)) {
    char from[64], to[64];
    seg_name(q->ovf, seq, from, sizeof from);
    uint16_t t = w_seq(LD(&q->ovf->tail));
    for (unsigned j = 1; j <= SPARE && !kept; j++) {
      seg_name(q->ovf, (uint16_t)(t + j), to, sizeof to);
      int rc = mproc__os_shm_link_named(from, to);
      if (rc == 0)
        kept = 1;
      else if (rc != MPROC_EEXIST)
        break;
    }
  }
  leave(s, kept);
  unlink_seg(q->ovf, seq);
}

static void write_rec(unsigned char *p, const void *data, size_t n, uint32_t cnt) {
  if (n)
    memcpy(p + REC_HDR, data, n);
  *(ovf_rec *)(void *)p = (ovf_rec){n, tag_of(cnt)}; /* the header last */
}

int mproc__ovf_append(mproc_queue_t *q, const void *data, size_t n) {
  ovf_shared *o = q->ovf;
  uint64_t t = o->tail;
  uint32_t cnt = w_cnt(t);
  uint16_t seq = w_seq(t), pos = w_pos(t);
  size_t rlen = rec_len(n);
  int single = rlen > BATCH;
  if (!single && pos != POS_FULL && (size_t)pos * UNIT + rlen <= BATCH) {
    int rc = map_seg(q, &q->ovf_wr, seq, cnt);
    if (rc != 0)
      return rc;
    write_rec(data_of(q->ovf_wr.cur) + (size_t)pos * UNIT, data, n, cnt);
    ST(&o->tail, w_make(cnt + 1, seq, (uint16_t)(pos + rlen / UNIT)));
    return 0;
  }
  uint16_t next = (uint16_t)(seq + 1);
  if ((uint16_t)(next - w_seq(LD(&o->head))) >= SEQ_LIMIT)
    return MPROC_ENOSPC;
  /* Readers go on to the next segment at the first position without a record of the item
   * they want; a dead producer's unpublished record may lie exactly there, so it is covered
   * with an end marker first (without one, no new segment). */
  if (pos != POS_FULL && (size_t)pos * UNIT + REC_HDR <= BATCH) {
    int rc = map_seg(q, &q->ovf_wr, seq, cnt);
    if (rc != 0)
      return rc;
    *(ovf_rec *)(void *)(data_of(q->ovf_wr.cur) + (size_t)pos * UNIT) = (ovf_rec){0, TAG_END};
  }
  int rc = new_seg(q, next, cnt, single ? rlen : BATCH);
  if (rc != 0)
    return rc;
  write_rec(data_of(q->ovf_wr.cur), data, n, cnt);
  ST(&o->tail, w_make(cnt + 1, next, single ? POS_FULL : (uint16_t)(rlen / UNIT)));
  if (single) /* a mapping kept of a segment too big to recycle would keep its memory */
    leave(&q->ovf_wr, 1);
  return 0;
}

/* The record of item cnt at pos of the mapped segment, or NULL (the item is in the next). */
static const ovf_rec *rec_at(const ovf_map *m, uint16_t pos, uint32_t cnt) {
  size_t off = (size_t)pos * UNIT, size = data_size(m);
  if (pos == POS_FULL || off + REC_HDR > size)
    return NULL;
  const ovf_rec *r = (const ovf_rec *)(const void *)(data_of(m) + off);
  if (r->tag != tag_of(cnt) || r->len > size - off - REC_HDR)
    return NULL;
  return r;
}

int mproc__ovf_take(mproc_queue_t *q, mp_buf *b) {
  ovf_shared *o = q->ovf;
  for (;;) {
    uint64_t h = o->head, t = LD(&o->tail);
    if (w_cnt(h) == w_cnt(t))
      return MPROC_EEMPTY;
    uint16_t seq = w_seq(h), pos = w_pos(h);
    int rc = map_seg(q, &q->ovf_rd, seq, w_cnt(h));
    if (rc != 0)
      return rc;
    const ovf_rec *r = rec_at(q->ovf_rd.cur, pos, w_cnt(h));
    if (r == NULL) {
      if (seq == w_seq(t))
        return MPROC_EPROTO; /* published items are in segments up to tail's */
      ST(&o->head, w_make(w_cnt(h), (uint16_t)(seq + 1), 0));
      finish_seg(q, seq);
      continue;
    }
    if (mproc__buf_fit(b, r->len) != 0)
      return MPROC_ENOMEM; /* the item stays in the queue */
    memcpy(b->data, r + 1, r->len);
    b->len = r->len;
    size_t end = (size_t)pos + rec_len(r->len) / UNIT;
    if (end < POS_FULL) {
      ST(&o->head, w_make(w_cnt(h) + 1, seq, (uint16_t)end));
      return 0;
    }
    /* A segment of one big item, or a full batch: nobody appends to it again, so it goes now
     * (head may run one segment ahead of tail: the next item starts that segment). */
    ST(&o->head, w_make(w_cnt(h) + 1, (uint16_t)(seq + 1), 0));
    finish_seg(q, seq);
    return 0;
  }
}

void mproc__ovf_repair_put(mproc_queue_t *q) {
  /* A producer killed while starting a segment: made, maybe half written, never published. */
  unlink_seg(q->ovf, (uint16_t)(w_seq(q->ovf->tail) + 1));
}

void mproc__ovf_repair_get(mproc_queue_t *q) {
  /* A consumer killed between moving head past a segment and unlinking it. */
  uint64_t h = q->ovf->head;
  if (w_pos(h) == 0)
    unlink_seg(q->ovf, (uint16_t)(w_seq(h) - 1));
}

void mproc__ovf_release(mproc_queue_t *q, int owner) {
  for (unsigned i = 0; i < OVF_CACHE; i++) {
    unmap(&q->ovf_wr.slot[i]);
    unmap(&q->ovf_rd.slot[i]);
  }
  q->ovf_wr.cur = q->ovf_rd.cur = NULL;
  if (!owner || q->ovf == NULL || q->ovf_owner_pid != mproc__os_getpid())
    return; /* (a fork child's copy of its parent's handle is not the creator's) */
  /* The queue ends with its creator's handle (its ring goes back to the creator's heap):
   * segments still named go with it, including one a dead producer made and never published. */
  uint16_t first = (uint16_t)(w_seq(LD(&q->ovf->head)) - 1);
  uint16_t last = (uint16_t)(w_seq(LD(&q->ovf->tail)) + 1 + SPARE); /* and the spares */
  for (uint16_t s = first;; s++) {
    unlink_seg(q->ovf, s);
    if (s == last)
      break;
  }
}
