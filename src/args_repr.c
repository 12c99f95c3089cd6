/* SPDX-License-Identifier: MIT */
/* repr() of typed values as Python prints them: lists of typed values, Value and Array
 * contents, floats in the shortest form that reads back exactly. Output follows snprintf's
 * contract (write what fits, return the whole length), so a caller can size a buffer first. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "args.h"
#include "alloc.h"

typedef struct out {
  char *buf;
  size_t cap, len; /* len counts everything, also what did not fit */
  int in_proxy;    /* inside a RebuildProxy: its kwds' 'authkey' is never printed */
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
  out o = {buf, cap, 0, 0};
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

/* Big ints in decimal as Python prints them, up to Python's 4300-digit limit for int to str;
 * beyond it (where Python's repr raises ValueError) as a hexadecimal literal, which Python
 * reads back exactly. Bytes of the magnitude are those of -v for a negative v. */
#define BIG_DEC_BYTES 1800
#define BIG_DEC_DIGITS 4300

static unsigned char mag_byte(const unsigned char *p, size_t i, int neg, size_t first_nz) {
  if (!neg)
    return p[i];
  if (i < first_nz)
    return 0;
  return (unsigned char)(i == first_nz ? (unsigned char)~p[i] + 1 : (unsigned char)~p[i]);
}

static void repr_bigint_hex(out *o, const unsigned char *p, size_t n, int neg, size_t nz) {
  char tmp[4];
  int lead = 1;
  puts_(o, neg ? "-0x" : "0x");
  for (size_t i = n; i-- > 0;) {
    unsigned char b = mag_byte(p, i, neg, nz);
    if (lead && b == 0)
      continue;
    snprintf(tmp, sizeof tmp, lead ? "%x" : "%02x", b);
    lead = 0;
    puts_(o, tmp);
  }
}

/* Repeated division by 10^9 of the magnitude (at most BIG_DEC_BYTES bytes, on the stack). */
static void repr_bigint(out *o, const unsigned char *p, size_t n) {
  int neg = (p[n - 1] & 0x80) != 0;
  size_t nz = 0;
  while (nz < n && p[nz] == 0)
    nz++;
  if (n > BIG_DEC_BYTES)
    return repr_bigint_hex(o, p, n, neg, nz);
  unsigned char mag[BIG_DEC_BYTES];
  uint32_t limbs[BIG_DEC_DIGITS / 9 + 2];
  size_t len = n, nl = 0;
  for (size_t i = 0; i < n; i++)
    mag[i] = mag_byte(p, i, neg, nz);
  while (len > 0 && nl < sizeof limbs / sizeof limbs[0]) {
    uint64_t rem = 0;
    for (size_t i = len; i-- > 0;) {
      rem = (rem << 8) | mag[i];
      mag[i] = (unsigned char)(rem / 1000000000u);
      rem %= 1000000000u;
    }
    limbs[nl++] = (uint32_t)rem;
    while (len > 0 && mag[len - 1] == 0)
      len--;
  }
  char tmp[16];
  snprintf(tmp, sizeof tmp, "%u", (unsigned)limbs[nl - 1]);
  if (len > 0 || (nl - 1) * 9 + strlen(tmp) > BIG_DEC_DIGITS)
    return repr_bigint_hex(o, p, n, neg, nz);
  puts_(o, neg ? "-" : "");
  puts_(o, tmp);
  for (size_t k = nl - 1; k-- > 0;) {
    snprintf(tmp, sizeof tmp, "%09u", (unsigned)limbs[k]);
    puts_(o, tmp);
  }
}

static void repr_val(out *o, const mp_val *v);
static void repr_pyobject(out *o, const mp_val *v);

/* (a, b), (a,), [a, b], {k: v, k: v} */
static void repr_container(out *o, const mp_val *v) {
  mp_rd r;
  uint32_t count;
  const char *open = v->type == MPROC_ARG_TUPLE ? "(" : v->type == MPROC_ARG_LIST ? "[" : "{";
  const char *close = v->type == MPROC_ARG_TUPLE ? ")" : v->type == MPROC_ARG_LIST ? "]" : "}";
  puts_(o, open);
  if (mproc__value_open(&r, v->p, v->n, &count) != 0)
    count = 0;
  int hidden = 0;
  for (uint32_t i = 0; i < count; i++) {
    mp_val it;
    if (mproc__value_next(&r, &it) != 0)
      break;
    if (i > 0)
      puts_(o, v->type == MPROC_ARG_DICT && i % 2 == 1 ? ": " : ", ");
    if (v->type == MPROC_ARG_DICT && i % 2 == 1 && o->in_proxy && hidden)
      puts_(o, "<hidden>");
    else
      repr_val(o, &it);
    hidden = v->type == MPROC_ARG_DICT && i % 2 == 0 && it.type == MPROC_ARG_STR &&
             it.n == sizeof "authkey" && memcmp(it.p, "authkey", it.n) == 0;
  }
  if (v->type == MPROC_ARG_TUPLE && count == 1)
    puts_(o, ",");
  puts_(o, close);
}

/* The five fields of an MPROC_ARG_PYOBJECT; 0 if malformed. */
static int py_fields(const mp_val *v, mp_val *f) {
  mp_rd r;
  uint32_t count;
  if (mproc__value_open(&r, v->p, v->n, &count) != 0 || count != 5)
    return 0;
  for (int i = 0; i < 5; i++)
    if (mproc__value_next(&r, &f[i]) != 0)
      return 0;
  return 1;
}

static int field_is(const mp_val *f, const char *s) {
  return f->type == MPROC_ARG_STR && f->n == strlen(s) + 1 && memcmp(f->p, s, f->n) == 0;
}

/* The items of a tuple or list payload, separated by ", ", with a prefix before each. */
static void repr_items(out *o, const mp_val *seq, const char *const *prefix) {
  mp_rd r;
  uint32_t count;
  if (mproc__value_open(&r, seq->p, seq->n, &count) != 0)
    return;
  for (uint32_t i = 0; i < count; i++) {
    mp_val it;
    if (mproc__value_next(&r, &it) != 0)
      return;
    puts_(o, i ? ", " : "");
    if (prefix && prefix[i])
      puts_(o, prefix[i]);
    repr_val(o, &it);
  }
}

/* managers.Namespace as Namespace(a=1) (public names, in the order they were set) and
 * managers.Value as Value('i', 3): a state dict's pairs. */
static void repr_attrs(out *o, const mp_val *f) {
  int value = field_is(&f[1], "Value");
  mp_rd r;
  uint32_t n;
  puts_(o, value ? "Value(" : "Namespace(");
  if (f[4].type == MPROC_ARG_DICT && mproc__value_open(&r, f[4].p, f[4].n, &n) == 0) {
    int first = 1;
    for (uint32_t i = 0; i + 1 < n; i += 2) {
      mp_val k, v;
      if (mproc__value_next(&r, &k) != 0 || mproc__value_next(&r, &v) != 0)
        break;
      if (!value && (k.type != MPROC_ARG_STR || k.p[0] == '_'))
        continue;
      puts_(o, first ? "" : ", ");
      first = 0;
      if (!value)
        puts_(o, (const char *)k.p), puts_(o, "=");
      repr_val(o, &v);
    }
  }
  puts_(o, ")");
}

/* Sets as {1, 2} / set() / frozenset({1}); Token(typeid=..., address=..., id=...); the rest
 * as Python prints exceptions: Name(args). A bare global as <class 'module.name'>. */
static void repr_pyobject(out *o, const mp_val *v) {
  mp_val f[5], list;
  if (!py_fields(v, f))
    return puts_(o, "<object>");
  const char *mod = (const char *)f[0].p, *name = (const char *)f[1].p;
  if (f[3].type != MPROC_ARG_TUPLE) {
    puts_(o, "<class '"), puts_(o, mod), puts_(o, "."), puts_(o, name);
    return puts_(o, "'>");
  }
  int set = field_is(&f[0], "builtins") && (field_is(&f[1], "set") || field_is(&f[1], "frozenset"));
  mp_rd r;
  uint32_t n;
  if (set && mproc__value_open(&r, f[3].p, f[3].n, &n) == 0 && n == 1 &&
      mproc__value_next(&r, &list) == 0 && list.type == MPROC_ARG_LIST) {
    int frozen = name[0] == 'f', empty = list.n <= 4;
    puts_(o, frozen ? "frozenset(" : empty ? "set(" : "");
    puts_(o, empty ? "" : "{");
    repr_items(o, &list, NULL);
    puts_(o, empty ? "" : "}");
    return puts_(o, frozen || empty ? ")" : "");
  }
  if (field_is(&f[0], "multiprocessing.managers") &&
      (field_is(&f[1], "Namespace") || field_is(&f[1], "Value")))
    return repr_attrs(o, f);
  static const char *const token[] = {"typeid=", "address=", "id="};
  int is_token = field_is(&f[1], "Token") && f[4].type == MPROC_ARG_TUPLE;
  int proxy = field_is(&f[0], "multiprocessing.managers") && field_is(&f[1], "RebuildProxy");
  puts_(o, name);
  puts_(o, "(");
  o->in_proxy += proxy;
  repr_items(o, is_token ? &f[4] : &f[3], is_token ? token : NULL);
  o->in_proxy -= proxy;
  puts_(o, ")");
}

static void repr_val(out *o, const mp_val *v) {
  char tmp[32];
  uint64_t bits = 0;
  double dv;
  if (v->n == 8)
    bits = mproc__load_uint(v->p, 8);
  switch (v->type) {
  case MPROC_ARG_INT:
    snprintf(tmp, sizeof tmp, "%lld", (long long)(int64_t)bits);
    return puts_(o, tmp);
  case MPROC_ARG_DOUBLE:
    memcpy(&dv, &bits, sizeof dv);
    return repr_double(o, dv);
  case MPROC_ARG_BYTES:
    return repr_bytes(o, v->p, v->n);
  case MPROC_ARG_STR:
    return repr_str(o, v->p, v->n - 1);
  case MPROC_ARG_NONE:
    return puts_(o, "None");
  case MPROC_ARG_BOOL:
    return puts_(o, v->p[0] ? "True" : "False");
  case MPROC_ARG_BIGINT:
    return repr_bigint(o, v->p, v->n);
  case MPROC_ARG_TUPLE:
  case MPROC_ARG_LIST:
  case MPROC_ARG_DICT:
    return repr_container(o, v);
  case MPROC_ARG_PYOBJECT:
    return repr_pyobject(o, v);
  default:
    snprintf(tmp, sizeof tmp, "<%s>", mproc_arg_type_name(v->type));
    return puts_(o, tmp);
  }
}

static void repr_item(out *o, const mproc_args_t *a, size_t i) {
  static const unsigned char empty[1];
  mp_val v;
  if (mproc__args_item(a, i, &v.type, &v.p, &v.n) != 0)
    return;
  if (v.n == 0)
    v.p = empty; /* an empty payload may have no buffer behind it */
  repr_val(o, &v);
}

int mproc_args_repr(const mproc_args_t *a, char *buf, size_t cap) {
  if (a == NULL || (buf == NULL && cap > 0))
    return MPROC_EINVAL;
  out o = {buf, cap, 0, 0};
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
  out o = {buf, cap, 0, 0};
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
  out o = {buf, cap, 0, 0};
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
  out o = {buf, cap, 0, 0};
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
