/* SPDX-License-Identifier: MIT */
/* Atomics and thread-local storage for every compiler mproc supports.
 *
 * The core keeps lock words, counters and ring indices in plain integers inside shared memory,
 * so it needs atomics on ordinary (non-_Atomic) objects: exactly what GCC and Clang's
 * __atomic builtins (the ones <stdatomic.h> is built on) provide. MSVC has no such builtins in
 * C; there the same operations are made of Interlocked intrinsics from <intrin.h> (a compiler
 * header, not a platform one: see docs/internals.md). MPROC_FORCE_INTERLOCKED selects that
 * branch on mingw-w64 too, so the code MSVC compiles runs under the Wine suite.
 *
 *   MPROC__ATOMIC_LOAD(p, mo)            *p
 *   MPROC__ATOMIC_STORE(p, v, mo)        *p = v
 *   MPROC__ATOMIC_EXCHANGE(p, v, mo)     old *p, *p = v
 *   MPROC__ATOMIC_COMPARE_EXCHANGE(p, e, d, weak, mo_ok, mo_fail)
 *                                        1 and *p = d if *p == *e, else 0 and *e = *p
 *   MPROC__ATOMIC_FETCH_ADD / _SUB / _OR / _AND(p, v, mo)   old value
 *   MPROC__ATOMIC_ADD_FETCH / _SUB / _OR / _AND(p, v, mo)   new value
 *   MPROC__ATOMIC_THREAD_FENCE(mo)
 *   MPROC__ATOMIC_RELAXED, _CONSUME, _ACQUIRE, _RELEASE, _ACQ_REL, _SEQ_CST
 *   MPROC__THREAD_LOCAL                  storage class for per-thread variables
 *
 * p points to an integer of 1, 2, 4 or 8 bytes, or to a pointer. tools/atomics_convert.py
 * rewrites __atomic_* builtins to these names. */
#ifndef MPROC_ATOMICS_H
#define MPROC_ATOMICS_H

#include <stdint.h>

#if defined(_MSC_VER)
#define MPROC__THREAD_LOCAL __declspec(thread)
#else
#define MPROC__THREAD_LOCAL _Thread_local
#endif

#if !defined(MPROC_FORCE_INTERLOCKED) && (defined(__GNUC__) || defined(__clang__))

#define MPROC__ATOMIC_RELAXED __ATOMIC_RELAXED
#define MPROC__ATOMIC_CONSUME __ATOMIC_CONSUME
#define MPROC__ATOMIC_ACQUIRE __ATOMIC_ACQUIRE
#define MPROC__ATOMIC_RELEASE __ATOMIC_RELEASE
#define MPROC__ATOMIC_ACQ_REL __ATOMIC_ACQ_REL
#define MPROC__ATOMIC_SEQ_CST __ATOMIC_SEQ_CST

#define MPROC__ATOMIC_LOAD(p, mo) __atomic_load_n((p), (mo))
#define MPROC__ATOMIC_STORE(p, v, mo) __atomic_store_n((p), (v), (mo))
#define MPROC__ATOMIC_EXCHANGE(p, v, mo) __atomic_exchange_n((p), (v), (mo))
#define MPROC__ATOMIC_COMPARE_EXCHANGE(p, e, d, weak, ok, fail)                             \
  __atomic_compare_exchange_n((p), (e), (d), (weak), (ok), (fail))
#define MPROC__ATOMIC_FETCH_ADD(p, v, mo) __atomic_fetch_add((p), (v), (mo))
#define MPROC__ATOMIC_FETCH_SUB(p, v, mo) __atomic_fetch_sub((p), (v), (mo))
#define MPROC__ATOMIC_FETCH_OR(p, v, mo) __atomic_fetch_or((p), (v), (mo))
#define MPROC__ATOMIC_FETCH_AND(p, v, mo) __atomic_fetch_and((p), (v), (mo))
#define MPROC__ATOMIC_ADD_FETCH(p, v, mo) __atomic_add_fetch((p), (v), (mo))
#define MPROC__ATOMIC_SUB_FETCH(p, v, mo) __atomic_sub_fetch((p), (v), (mo))
#define MPROC__ATOMIC_OR_FETCH(p, v, mo) __atomic_or_fetch((p), (v), (mo))
#define MPROC__ATOMIC_AND_FETCH(p, v, mo) __atomic_and_fetch((p), (v), (mo))
#define MPROC__ATOMIC_THREAD_FENCE(mo) __atomic_thread_fence(mo)

#elif defined(_WIN32)
/* The Interlocked branch. Every Interlocked intrinsic is a full barrier, so read-modify-write
 * operations ignore the order they are given; plain loads and stores add the barrier their
 * order needs. x86 keeps loads and stores in order (TSO): there an acquire load or a release
 * store only has to stop the compiler, and a seq_cst store is an exchange. Elsewhere (ARM64)
 * a full fence is used; correct, if stronger than needed. */
#include <intrin.h>
#include <string.h>

#define MPROC__ATOMIC_RELAXED 0
#define MPROC__ATOMIC_CONSUME 1
#define MPROC__ATOMIC_ACQUIRE 2
#define MPROC__ATOMIC_RELEASE 3
#define MPROC__ATOMIC_ACQ_REL 4
#define MPROC__ATOMIC_SEQ_CST 5

#if defined(_M_IX86) || defined(_M_X64) || defined(__i386__) || defined(__x86_64__)
#define MPROC__IA_TSO 1
#else
#define MPROC__IA_TSO 0
#endif
#if defined(_WIN64)
#define MPROC__IA_64 1 /* 8-byte loads, stores and Interlocked*64 are native */
#else
#define MPROC__IA_64 0
#endif

enum { MPROC__IA_XCHG, MPROC__IA_ADD, MPROC__IA_OR, MPROC__IA_AND };

static inline void mproc__ia_fence(void) {
  volatile long x = 0;
  _InterlockedOr(&x, 0);
}

/* What a plain load (after it) or store (before it) needs for order mo. */
static inline void mproc__ia_order(int mo) {
  if (mo == MPROC__ATOMIC_RELAXED)
    return;
#if MPROC__IA_TSO
  _ReadWriteBarrier();
#else
  mproc__ia_fence();
#endif
}

static inline uint64_t mproc__ia_apply(int op, uint64_t old, uint64_t v) {
  switch (op) {
  case MPROC__IA_XCHG:
    return v;
  case MPROC__IA_ADD:
    return old + v;
  case MPROC__IA_OR:
    return old | v;
  default:
    return old & v;
  }
}

static inline uint64_t mproc__ia_load(const volatile void *p, size_t n, int mo) {
  uint64_t v;
  if (n == 1)
    v = *(const volatile uint8_t *)p;
  else if (n == 2)
    v = *(const volatile uint16_t *)p;
  else if (n == 4)
    v = *(const volatile uint32_t *)p;
  else
#if MPROC__IA_64
    v = *(const volatile uint64_t *)p;
#else /* a 32-bit target reads 8 bytes in one go only this way */
    v = (uint64_t)_InterlockedCompareExchange64((volatile long long *)p, 0, 0);
#endif
  mproc__ia_order(mo);
  return v;
}

/* 1- and 2-byte objects: compare-exchange on the aligned 32-bit word around them (Windows is
 * little-endian); the neighbouring bytes are written back as they were, atomically. Returns
 * the old value of the object, or (cas) its value when it differed from *e. */
static inline uint64_t mproc__ia_small(volatile void *p, size_t n, int op, uint64_t v,
                                       const uint64_t *e, int *ok) {
  uintptr_t a = (uintptr_t)p;
  volatile long *w = (volatile long *)(a & ~(uintptr_t)3);
  unsigned shift = (unsigned)(a & 3) * 8;
  uint32_t mask = (n == 1 ? 0xffu : 0xffffu) << shift;
  long old = *w;
  for (;;) {
    uint32_t cur = ((uint32_t)old & mask) >> shift;
    if (e != NULL && cur != (uint32_t)(*e & (mask >> shift)))
      return cur;
    uint32_t nv = (uint32_t)mproc__ia_apply(op, cur, v);
    long want = (long)(((uint32_t)old & ~mask) | ((nv << shift) & mask));
    long seen = _InterlockedCompareExchange(w, want, old);
    if (seen == old) {
      if (ok != NULL)
        *ok = 1;
      return cur;
    }
    old = seen;
  }
}

static inline uint64_t mproc__ia_rmw64(volatile void *p, int op, uint64_t v) {
  volatile long long *q = (volatile long long *)p;
#if MPROC__IA_64
  switch (op) {
  case MPROC__IA_XCHG:
    return (uint64_t)_InterlockedExchange64(q, (long long)v);
  case MPROC__IA_ADD:
    return (uint64_t)_InterlockedExchangeAdd64(q, (long long)v);
  case MPROC__IA_OR:
    return (uint64_t)_InterlockedOr64(q, (long long)v);
  default:
    return (uint64_t)_InterlockedAnd64(q, (long long)v);
  }
#else
  long long old = *q, seen;
  while ((seen = _InterlockedCompareExchange64(q, (long long)mproc__ia_apply(op, old, v), old)) !=
         old)
    old = seen;
  return (uint64_t)old;
#endif
}

/* Returns the old value. */
static inline uint64_t mproc__ia_rmw(volatile void *p, size_t n, int op, uint64_t v) {
  volatile long *q = (volatile long *)p;
  long x = (long)(uint32_t)v;
  if (n == 8)
    return mproc__ia_rmw64(p, op, v);
  if (n != 4)
    return mproc__ia_small(p, n, op, v, NULL, NULL);
  switch (op) {
  case MPROC__IA_XCHG:
    return (uint32_t)_InterlockedExchange(q, x);
  case MPROC__IA_ADD:
    return (uint32_t)_InterlockedExchangeAdd(q, x);
  case MPROC__IA_OR:
    return (uint32_t)_InterlockedOr(q, x);
  default:
    return (uint32_t)_InterlockedAnd(q, x);
  }
}

static inline uint64_t mproc__ia_rmw_new(volatile void *p, size_t n, int op, uint64_t v) {
  return mproc__ia_apply(op, mproc__ia_rmw(p, n, op, v), v);
}

static inline void mproc__ia_store(volatile void *p, size_t n, uint64_t v, int mo) {
  if (mo == MPROC__ATOMIC_SEQ_CST || (n == 8 && !MPROC__IA_64)) {
    (void)mproc__ia_rmw(p, n, MPROC__IA_XCHG, v);
    return;
  }
  mproc__ia_order(mo);
  if (n == 1)
    *(volatile uint8_t *)p = (uint8_t)v;
  else if (n == 2)
    *(volatile uint16_t *)p = (uint16_t)v;
  else if (n == 4)
    *(volatile uint32_t *)p = (uint32_t)v;
  else
    *(volatile uint64_t *)p = v;
}

/* e points to an object of n bytes (the caller's expected value). */
static inline int mproc__ia_cas(volatile void *p, size_t n, void *e, uint64_t d) {
  uint64_t want = 0, seen;
  int ok = 0;
  memcpy(&want, e, n); /* little-endian: the low n bytes */
  if (n == 8) {
    seen = (uint64_t)_InterlockedCompareExchange64((volatile long long *)p, (long long)d,
                                                   (long long)want);
    ok = seen == want;
  } else if (n == 4) {
    seen = (uint32_t)_InterlockedCompareExchange((volatile long *)p, (long)(uint32_t)d,
                                                 (long)(uint32_t)want);
    ok = seen == want;
  } else {
    seen = mproc__ia_small(p, n, MPROC__IA_XCHG, d, &want, &ok);
  }
  if (!ok)
    memcpy(e, &seen, n);
  return ok;
}

/* The typed face: results come back as the type of *p, operands go in as 64 bits. A pointer
 * (the default association) travels through uintptr_t. */
#define MPROC__IA_CONV(T, name)                                                              \
  static inline T mproc__ia_to_##name(uint64_t x) { return (T)x; }
MPROC__IA_CONV(_Bool, bool)
MPROC__IA_CONV(char, char)
MPROC__IA_CONV(signed char, schar)
MPROC__IA_CONV(unsigned char, uchar)
MPROC__IA_CONV(short, short)
MPROC__IA_CONV(unsigned short, ushort)
MPROC__IA_CONV(int, int)
MPROC__IA_CONV(unsigned, uint)
MPROC__IA_CONV(long, long)
MPROC__IA_CONV(unsigned long, ulong)
MPROC__IA_CONV(long long, llong)
MPROC__IA_CONV(unsigned long long, ullong)
static inline void *mproc__ia_to_ptr(uint64_t x) { return (void *)(uintptr_t)x; }
static inline uint64_t mproc__ia_from_int(uint64_t v) { return v; }
static inline uint64_t mproc__ia_from_ptr(const volatile void *v) { return (uintptr_t)v; }

#define MPROC__IA_AS(lv)                                                                     \
  _Generic((lv), _Bool: mproc__ia_to_bool, char: mproc__ia_to_char,                         \
           signed char: mproc__ia_to_schar, unsigned char: mproc__ia_to_uchar,              \
           short: mproc__ia_to_short, unsigned short: mproc__ia_to_ushort,                  \
           int: mproc__ia_to_int, unsigned: mproc__ia_to_uint, long: mproc__ia_to_long,     \
           unsigned long: mproc__ia_to_ulong, long long: mproc__ia_to_llong,                \
           unsigned long long: mproc__ia_to_ullong, default: mproc__ia_to_ptr)
#define MPROC__IA_BITS(lv)                                                                   \
  _Generic((lv), _Bool: mproc__ia_from_int, char: mproc__ia_from_int,                       \
           signed char: mproc__ia_from_int, unsigned char: mproc__ia_from_int,              \
           short: mproc__ia_from_int, unsigned short: mproc__ia_from_int,                   \
           int: mproc__ia_from_int, unsigned: mproc__ia_from_int, long: mproc__ia_from_int, \
           unsigned long: mproc__ia_from_int, long long: mproc__ia_from_int,                \
           unsigned long long: mproc__ia_from_int, default: mproc__ia_from_ptr)

#define MPROC__IA_RMW(p, op, v)                                                              \
  mproc__ia_rmw((p), sizeof(*(p)), (op), MPROC__IA_BITS(*(p))(v))
#define MPROC__IA_RMW_NEW(p, op, v)                                                          \
  mproc__ia_rmw_new((p), sizeof(*(p)), (op), MPROC__IA_BITS(*(p))(v))

#define MPROC__ATOMIC_LOAD(p, mo) MPROC__IA_AS(*(p))(mproc__ia_load((p), sizeof(*(p)), (mo)))
#define MPROC__ATOMIC_STORE(p, v, mo)                                                        \
  mproc__ia_store((p), sizeof(*(p)), MPROC__IA_BITS(*(p))(v), (mo))
#define MPROC__ATOMIC_EXCHANGE(p, v, mo) MPROC__IA_AS(*(p))(MPROC__IA_RMW(p, MPROC__IA_XCHG, v))
#define MPROC__ATOMIC_COMPARE_EXCHANGE(p, e, d, weak, ok, fail)                             \
  mproc__ia_cas((p), sizeof(*(p)), (e), MPROC__IA_BITS(*(p))(d))
#define MPROC__ATOMIC_FETCH_ADD(p, v, mo) MPROC__IA_AS(*(p))(MPROC__IA_RMW(p, MPROC__IA_ADD, v))
#define MPROC__ATOMIC_FETCH_SUB(p, v, mo)                                                    \
  MPROC__IA_AS(*(p))(mproc__ia_rmw((p), sizeof(*(p)), MPROC__IA_ADD,                        \
                                   0 - MPROC__IA_BITS(*(p))(v)))
#define MPROC__ATOMIC_FETCH_OR(p, v, mo) MPROC__IA_AS(*(p))(MPROC__IA_RMW(p, MPROC__IA_OR, v))
#define MPROC__ATOMIC_FETCH_AND(p, v, mo) MPROC__IA_AS(*(p))(MPROC__IA_RMW(p, MPROC__IA_AND, v))
#define MPROC__ATOMIC_ADD_FETCH(p, v, mo)                                                    \
  MPROC__IA_AS(*(p))(MPROC__IA_RMW_NEW(p, MPROC__IA_ADD, v))
#define MPROC__ATOMIC_SUB_FETCH(p, v, mo)                                                    \
  MPROC__IA_AS(*(p))(mproc__ia_rmw_new((p), sizeof(*(p)), MPROC__IA_ADD,                    \
                                       0 - MPROC__IA_BITS(*(p))(v)))
#define MPROC__ATOMIC_OR_FETCH(p, v, mo) MPROC__IA_AS(*(p))(MPROC__IA_RMW_NEW(p, MPROC__IA_OR, v))
#define MPROC__ATOMIC_AND_FETCH(p, v, mo)                                                    \
  MPROC__IA_AS(*(p))(MPROC__IA_RMW_NEW(p, MPROC__IA_AND, v))
#define MPROC__ATOMIC_THREAD_FENCE(mo) mproc__ia_fence()
#else
#error "mproc: no atomics for this compiler (needs GCC/Clang __atomic builtins or MSVC)"
#endif

#endif
