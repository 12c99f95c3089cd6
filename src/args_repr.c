/* SPDX-License-Identifier: MIT */
/* repr() of typed values as Python prints them: lists of typed values, Value and Array
 * contents, floats in the shortest form that reads back exactly. Output follows snprintf's
 * contract (write what fits, return the whole length), so a caller can size a buffer first. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "alloc.h"

typedef struct out {
  char *buf;
  size_t cap, len; /* len counts everything, also what did not fit */
} out;

static void put(out *o, const char *s, size_t n) {
  if (o->len < o->cap) {
    size_t room = o->cap - o->len;
    memcpy(o->buf + o->len, s, n < room ? n : room);
  }
  o->len += n;
}

static void puts_(out *o, const char *s) { put(o, s, strlen(s)); }

static int finish(out *o) {
  if (o->cap > 0)
    o->buf[o->len < o->cap ? o->len : o->cap - 1] = '\0';
  return o->len > INT_MAX ? MPROC_EMSGSIZE : (int)o->len;
}

/* --- floats ----------------------------------------------------------------------------------- */

/* The shortest decimal digits that read back as v (v finite, > 0): digits in d (no dot),
 * decimal exponent of the first digit in *exp. */
static void shortest_digits(double v, char *d, int *exp) {
  char tmp[40];
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(tmp, sizeof tmp, "%.*e", prec - 1, v);
    if (strtod(tmp, NULL) == v)
      break;
  }
  /* tmp is "D[.DDD]e[+-]XX" (the dot follows the locale; only digits are taken) */
  char *e = strchr(tmp, 'e');
  *exp = atoi(e + 1);
  size_t n = 0;
  for (const char *p = tmp; p < e; p++)
    if (*p >= '0' && *p <= '9')
      d[n++] = *p;
  while (n > 1 && d[n - 1] == '0')
    n--;
  d[n] = '\0';
}

/* repr(float): fixed notation for exponents -4 .. 15, else d.ddde+XX (Python's float_repr). */
static void repr_double(out *o, double v) {
  if (isnan(v))
    return puts_(o, "nan");
  if (signbit(v))
    put(o, "-", 1), v = -v;
  if (isinf(v))
    return puts_(o, "inf");
  if (v == 0)
    return puts_(o, "0.0");
  char d[24], tmp[16];
  int e;
  shortest_digits(v, d, &e);
  size_t n = strlen(d);
  if (e < -4 || e >= 16) {
    put(o, d, 1);
    if (n > 1)
      put(o, ".", 1), put(o, d + 1, n - 1);
    snprintf(tmp, sizeof tmp, "e%c%02d", e < 0 ? '-' : '+', e < 0 ? -e : e);
    return puts_(o, tmp);
  }
  if (e < 0) {
    put(o, "0.", 2);
    for (int i = 0; i < -e - 1; i++)
      put(o, "0", 1);
    return put(o, d, n);
  }
  size_t whole = (size_t)e + 1;
  put(o, d, n < whole ? n : whole);
  for (size_t i = n; i < whole; i++)
    put(o, "0", 1);
  put(o, ".", 1);
  if (n > whole)
    put(o, d + whole, n - whole);
  else
    put(o, "0", 1);
}

int mproc_repr_double(double v, char *buf, size_t cap) {
  if (buf == NULL && cap > 0)
    return MPROC_EINVAL;
  out o = {buf, cap, 0};
  repr_double(&o, v);
  return finish(&o);
}

/* --- bytes and strings -------------------------------------------------------------------- */

/* Python picks ' unless the text holds ' and no ". */
static char quote_for(const unsigned char *p, size_t n) {
  int single = memchr(p, '\'', n) != NULL, dbl = memchr(p, '"', n) != NULL;
  return single && !dbl ? '"' : '\'';
}

/* Escapes common to bytes and str; 0 if c needs none of them. */
static int put_escape(out *o, unsigned c, char q) {
  char tmp[8];
  if (c == '\\' || c == (unsigned char)q) {
    tmp[0] = '\\', tmp[1] = (char)c;
    put(o, tmp, 2);
  } else if (c == '\n' || c == '\r' || c == '\t') {
    put(o, c == '\n' ? "\\n" : c == '\r' ? "\\r" : "\\t", 2);
  } else if (c < 0x20 || c == 0x7f) {
    snprintf(tmp, sizeof tmp, "\\x%02x", c);
    puts_(o, tmp);
  } else {
    return 0;
  }
  return 1;
}

static void repr_bytes(out *o, const unsigned char *p, size_t n) {
  char q = quote_for(p, n), tmp[8];
  put(o, "b", 1);
  put(o, &q, 1);
  for (size_t i = 0; i < n; i++) {
    if (put_escape(o, p[i], q))
      continue;
    if (p[i] >= 0x80) {
      snprintf(tmp, sizeof tmp, "\\x%02x", p[i]);
      puts_(o, tmp);
    } else {
      put(o, (const char *)&p[i], 1);
    }
  }
  put(o, &q, 1);
}

/* One UTF-8 sequence at p (n bytes left): its code point and length, or 0 if malformed. */
static size_t utf8_decode(const unsigned char *p, size_t n, unsigned *cp) {
  size_t len = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 0;
  if (len == 0 || p[0] >= 0xf8 || len > n)
    return 0;
  unsigned v = p[0] & (0x7f >> len);
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80)
      return 0;
    v = (v << 6) | (p[i] & 0x3f);
  }
  static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < min[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
    return 0;
  *cp = v;
  return len;
}

/* Code points Python's repr escapes although they are not ASCII controls: C1 controls, the
 * no-break and soft-hyphen of Latin-1, the invisible spaces, format characters and separators
 * of General Punctuation, and private use. (Python also escapes unassigned code points, which
 * would need the Unicode tables.) */
static int non_printable(unsigned cp) {
  return (cp >= 0x80 && cp <= 0xa0) || cp == 0xad || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f) ||
         (cp >= 0x205f && cp <= 0x206f) || cp == 0x3000 || cp == 0xfeff ||
         (cp >= 0xe000 && cp <= 0xf8ff) || cp == 0xfffe || cp == 0xffff;
}

static void put_codepoint_escape(out *o, unsigned cp) {
  char tmp[16];
  if (cp <= 0xff)
    snprintf(tmp, sizeof tmp, "\\x%02x", cp);
  else if (cp <= 0xffff)
    snprintf(tmp, sizeof tmp, "\\u%04x", cp);
  else
    snprintf(tmp, sizeof tmp, "\\U%08x", cp);
  puts_(o, tmp);
}

static void repr_str(out *o, const unsigned char *p, size_t n) {
  char q = quote_for(p, n);
  put(o, &q, 1);
  for (size_t i = 0; i < n;) {
    unsigned cp;
    size_t len;
    if (p[i] < 0x80) {
      if (!put_escape(o, p[i], q))
        put(o, (const char *)&p[i], 1);
      i++;
    } else if ((len = utf8_decode(p + i, n - i, &cp)) == 0) {
      put_codepoint_escape(o, p[i++]); /* not UTF-8: the byte, as \xNN */
    } else {
      if (non_printable(cp))
        put_codepoint_escape(o, cp);
      else
        put(o, (const char *)p + i, len);
      i += len;
    }
  }
  put(o, &q, 1);
}

/* --- argument lists ------------------------------------------------------------------------- */

static void repr_item(out *o, const mproc_args_t *a, size_t i) {
  int t = mproc_args_type(a, i);
  char tmp[32];
  int64_t iv;
  double dv;
  const void *p;
  size_t n;
  switch (t) {
  case MPROC_ARG_INT:
    mproc_args_get_int(a, i, &iv);
    snprintf(tmp, sizeof tmp, "%lld", (long long)iv);
    return puts_(o, tmp);
  case MPROC_ARG_DOUBLE:
    mproc_args_get_double(a, i, &dv);
    return repr_double(o, dv);
  case MPROC_ARG_BYTES:
    mproc_args_get_bytes(a, i, &p, &n);
    return repr_bytes(o, p, n);
  case MPROC_ARG_STR:
    mproc_args_get_str(a, i, (const char **)&p);
    return repr_str(o, p, strlen(p));
  case MPROC_ARG_NONE:
    return puts_(o, "None");
  default:
    snprintf(tmp, sizeof tmp, "<%s>", mproc_arg_type_name(t));
    return puts_(o, tmp);
  }
}

int mproc_args_repr(const mproc_args_t *a, char *buf, size_t cap) {
  if (a == NULL || (buf == NULL && cap > 0))
    return MPROC_EINVAL;
  out o = {buf, cap, 0};
  put(&o, "[", 1);
  for (size_t i = 0; i < mproc_args_count(a); i++) {
    if (i > 0)
      put(&o, ", ", 2);
    repr_item(&o, a, i);
  }
  put(&o, "]", 1);
  return finish(&o);
}

int mproc_args_repr_item(const mproc_args_t *a, size_t i, char *buf, size_t cap) {
  if (a == NULL || (buf == NULL && cap > 0))
    return MPROC_EINVAL;
  if (i >= mproc_args_count(a))
    return MPROC_ERANGE;
  out o = {buf, cap, 0};
  repr_item(&o, a, i);
  return finish(&o);
}

/* --- Value and Array contents ------------------------------------------------------------- */

static void repr_elem(out *o, char tc, const unsigned char *p, size_t size) {
  char tmp[32];
  if (tc == 'f' || tc == 'd') {
    float f;
    double d;
    if (tc == 'f')
      memcpy(&f, p, sizeof f), d = f;
    else
      memcpy(&d, p, sizeof d);
    return repr_double(o, d);
  }
  if (tc == 'c')
    return repr_bytes(o, p, 1);
  uint64_t u = mproc__load_uint(p, size);
  if (tc == '?')
    return puts_(o, u ? "True" : "False");
  if (strchr("bhilq", tc) != NULL && size < 8 && (u >> (8 * size - 1)))
    u |= ~(uint64_t)0 << (8 * size); /* sign-extend */
  if (strchr("bhilq", tc) != NULL)
    snprintf(tmp, sizeof tmp, "%lld", (long long)(int64_t)u);
  else
    snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)u);
  puts_(o, tmp);
}

static int repr_elems(out *o, char tc, const unsigned char *p, size_t size, size_t n, int list) {
  if (tc == 0) {
    char tmp[48];
    snprintf(tmp, sizeof tmp, "<record of %zu bytes>", size);
    for (size_t i = 0; i < n; i++)
      puts_(o, i ? ", " : ""), puts_(o, tmp);
    return 0;
  }
  if (list && tc == 'c') {
    repr_bytes(o, p, n);
    return 0;
  }
  if (list)
    put(o, "[", 1);
  for (size_t i = 0; i < n; i++) {
    if (i > 0)
      put(o, ", ", 2);
    repr_elem(o, tc, p + i * size, size);
  }
  if (list)
    put(o, "]", 1);
  return 0;
}

int mproc_value_repr(const mproc_value_t *v, char *buf, size_t cap) {
  if (v == NULL || (buf == NULL && cap > 0))
    return MPROC_EINVAL;
  size_t size = mproc_value_size(v);
  unsigned char *copy = mproc__malloc(size ? size : 1);
  if (copy == NULL)
    return MPROC_ENOMEM;
  int rc = mproc_value_get(v, copy);
  out o = {buf, cap, 0};
  if (rc == 0 || rc == MPROC_EOWNERDEAD)
    repr_elems(&o, mproc_value_typecode(v), copy, size, 1, 0);
  mproc__free(copy);
  return rc == 0 || rc == MPROC_EOWNERDEAD ? finish(&o) : rc;
}

int mproc_array_repr(const mproc_array_t *a, char *buf, size_t cap) {
  if (a == NULL || (buf == NULL && cap > 0))
    return MPROC_EINVAL;
  size_t size = mproc_array_elem_size(a), n = mproc_array_length(a);
  unsigned char *copy = mproc__malloc(n * size > 0 ? n * size : 1);
  if (copy == NULL)
    return MPROC_ENOMEM;
  int rc = mproc_array_get_slice(a, 0, n, copy);
  out o = {buf, cap, 0};
  if (rc == 0 || rc == MPROC_EOWNERDEAD)
    repr_elems(&o, mproc_array_typecode(a), copy, size, n, 1);
  mproc__free(copy);
  return rc == 0 || rc == MPROC_EOWNERDEAD ? finish(&o) : rc;
}

/* --- print() ---------------------------------------------------------------------------------- */

typedef int (*repr_fn)(const void *obj, char *buf, size_t cap);

static int print_repr(repr_fn fn, const void *obj) {
  char small[256];
  int n = fn(obj, small, sizeof small);
  if (n < 0)
    return n;
  char *text = small;
  if ((size_t)n >= sizeof small) {
    if ((text = mproc__malloc((size_t)n + 1)) == NULL)
      return MPROC_ENOMEM;
    n = fn(obj, text, (size_t)n + 1);
  }
  int rc = n < 0 ? n : printf("%s\n", text) < 0 || fflush(stdout) != 0 ? MPROC_EOS : 0;
  if (text != small)
    mproc__free(text);
  return rc;
}

static int args_repr_fn(const void *o, char *b, size_t c) { return mproc_args_repr(o, b, c); }
static int value_repr_fn(const void *o, char *b, size_t c) { return mproc_value_repr(o, b, c); }
static int array_repr_fn(const void *o, char *b, size_t c) { return mproc_array_repr(o, b, c); }

int mproc_args_print(const mproc_args_t *a) { return print_repr(args_repr_fn, a); }
int mproc_value_print(const mproc_value_t *v) { return print_repr(value_repr_fn, v); }
int mproc_array_print(const mproc_array_t *a) { return print_repr(array_repr_fn, a); }
