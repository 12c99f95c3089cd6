/* SPDX-License-Identifier: MIT */
/* Python's array.array as a value: the typecodes, and the two pickled forms a peer sends,
 * array._array_reconstructor(array.array, typecode, machine format code, bytes) (pickle's own)
 * and array.array(typecode, bytes) (multiprocessing.managers registers it with the
 * ForkingPickler, so manager peers send this one, in the sender's machine layout: read and
 * written here as a 64-bit little-endian machine's). Items are ints, or floats for 'f' and
 * 'd'. */
#include <string.h>

#include "args.h"
#include "alloc.h"
#include "manager_server.h"
#include "pyarray.h"

/* Item size and machine format code (little-endian) per typecode, as Python writes them on a
 * 64-bit unix. */
static const struct tc_info {
  char tc;
  unsigned char size, code;
} tcs[] = {{'b', 1, 1}, {'B', 1, 0},  {'h', 2, 4},  {'H', 2, 2},  {'i', 4, 8},  {'I', 4, 6},
           {'l', 8, 12}, {'L', 8, 10}, {'q', 8, 12}, {'Q', 8, 10}, {'f', 4, 14}, {'d', 8, 16}};

static const struct tc_info *tc_find(char tc) {
  for (size_t i = 0; i < sizeof tcs / sizeof tcs[0]; i++)
    if (tcs[i].tc == tc)
      return &tcs[i];
  return NULL;
}

int mproc__pyarray_typecode_ok(char tc) { return tc != '\0' && tc_find(tc) != NULL; }

/* --- writing ------------------------------------------------------------------------------- */

static int put_item(unsigned char *p, const struct tc_info *t, const mp_val *v) {
  uint64_t bits;
  double d;
  if (t->tc == 'f' || t->tc == 'd') {
    if (v->type == MPROC_ARG_DOUBLE)
      memcpy(&d, v->p, 8);
    else if (v->type == MPROC_ARG_INT)
      d = (double)(int64_t)mproc__load_uint(v->p, 8);
    else
      return MPROC_ETYPE;
    float f = (float)d;
    uint32_t u;
    memcpy(&u, &f, 4);
    if (t->tc == 'f')
      bits = u;
    else
      memcpy(&bits, &d, 8);
  } else if (v->type == MPROC_ARG_INT) {
    bits = mproc__load_uint(v->p, 8);
  } else {
    return MPROC_ETYPE;
  }
  for (unsigned k = 0; k < t->size; k++)
    p[k] = (unsigned char)(bits >> (8 * k));
  return 0;
}

int mproc__pyarray_add(mproc_args_t *out, char tc, const mp_val *items, size_t n) {
  const struct tc_info *t = tc_find(tc);
  if (t == NULL)
    return MPROC_EINVAL;
  unsigned char *b = mproc__malloc(n * t->size + 1);
  if (b == NULL)
    return MPROC_ENOMEM;
  int rc = 0;
  for (size_t k = 0; rc == 0 && k < n; k++)
    rc = put_item(b + k * t->size, t, &items[k]);
  char code[2] = {tc, 0};
  mproc_args_t *args = NULL;
  if (rc == 0 && (rc = mproc_args_new(&args)) == 0 && (rc = mproc_args_add_str(args, code)) == 0 &&
      (rc = mproc_args_add_bytes(args, b, n * t->size)) == 0)
    rc = mproc__mgr_pyobject(out, "array", "array", MP_PY_REDUCE, args, NULL, 0);
  mproc_args_free(args);
  mproc__free(b);
  return rc;
}

/* --- reading ------------------------------------------------------------------------------- */

/* Machine format codes 0..17: size, signed, float, big-endian. */
static int mformat(int64_t code, unsigned *size, int *sgn, int *flt, int *be) {
  static const unsigned char sizes[] = {1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 8, 8, 8, 8, 4, 4, 8, 8};
  if (code < 0 || code > 17)
    return MPROC_ETYPE;
  *size = sizes[code];
  *flt = code >= 14;
  *sgn = code == 1 || (code >= 2 && code <= 13 && (code / 2) % 2 == 0);
  *be = code >= 2 && code % 2 == 1;
  return 0;
}

static int add_item(mproc_args_t *out, const unsigned char *p, unsigned size, int sgn, int flt,
                    int be) {
  uint64_t bits = 0;
  for (unsigned k = 0; k < size; k++)
    bits |= (uint64_t)p[be ? size - 1 - k : k] << (8 * k);
  if (flt && size == 4) {
    uint32_t u = (uint32_t)bits;
    float f;
    memcpy(&f, &u, 4);
    return mproc_args_add_double(out, (double)f);
  }
  if (flt) {
    double d;
    memcpy(&d, &bits, 8);
    return mproc_args_add_double(out, d);
  }
  if (sgn && size < 8 && (bits >> (8 * size - 1)) & 1)
    bits |= ~(uint64_t)0 << (8 * size);
  if (!sgn && size == 8 && bits > INT64_MAX)
    return MPROC_ERANGE;
  return mproc_args_add_int(out, (int64_t)bits);
}

/* typecode, machine format code and bytes of either form, from the object's fields o. */
static int parts(const mproc_args_t *o, const char **tc, int64_t *fmt, const void **bytes,
                 size_t *nb, mproc_args_t **args) {
  const char *mod, *name;
  if (mproc_args_get_str(o, 0, &mod) != 0 || mproc_args_get_str(o, 1, &name) != 0 ||
      strcmp(mod, "array") != 0 || mproc_args_get_tuple(o, 3, args) != 0)
    return MPROC_ETYPE;
  if (strcmp(name, "_array_reconstructor") == 0)
    return mproc_args_get_str(*args, 1, tc) == 0 && mproc_args_get_int(*args, 2, fmt) == 0 &&
                   mproc_args_get_bytes(*args, 3, bytes, nb) == 0
               ? 0
               : MPROC_ETYPE;
  if (strcmp(name, "array") != 0 || mproc_args_get_str(*args, 0, tc) != 0 ||
      mproc_args_get_bytes(*args, 1, bytes, nb) != 0 || !mproc__pyarray_typecode_ok((*tc)[0]))
    return MPROC_ETYPE;
  *fmt = tc_find((*tc)[0])->code;
  return 0;
}

int mproc__pyarray_items(const mproc_args_t *a, size_t i, char *tc, mproc_args_t **items) {
  mproc_args_t *o = NULL, *args = NULL, *out = NULL;
  const char *code = "";
  const void *bytes = NULL;
  size_t nb = 0;
  int64_t fmt = -1;
  unsigned size = 1;
  int sgn, flt, be;
  int rc = mproc_args_get_pyobject(a, i, &o);
  if (rc == 0)
    rc = parts(o, &code, &fmt, &bytes, &nb, &args);
  if (rc == 0 && (mformat(fmt, &size, &sgn, &flt, &be) != 0 || nb % size != 0 ||
                  strlen(code) != 1))
    rc = MPROC_ETYPE;
  if (rc == 0)
    rc = mproc_args_new(&out);
  for (size_t k = 0; rc == 0 && k < nb / size; k++)
    rc = add_item(out, (const unsigned char *)bytes + k * size, size, sgn, flt, be);
  if (rc == 0) {
    *tc = code[0];
    *items = out;
    out = NULL;
  }
  mproc_args_free(out);
  mproc_args_free(args);
  mproc_args_free(o);
  return rc == MPROC_EPROTO ? MPROC_ETYPE : rc;
}

/* --- public -------------------------------------------------------------------------------- */

int mproc_args_add_pyarray(mproc_args_t *args, char typecode, const mproc_args_t *items) {
  if (args == NULL || !mproc__pyarray_typecode_ok(typecode))
    return MPROC_EINVAL;
  size_t n = mproc_args_count(items);
  mp_val *v = mproc__calloc(n ? n : 1, sizeof *v);
  if (v == NULL)
    return MPROC_ENOMEM;
  int rc = 0;
  for (size_t k = 0; rc == 0 && k < n; k++)
    rc = mproc__args_item(items, k, &v[k].type, &v[k].p, &v[k].n);
  if (rc == 0)
    rc = mproc__pyarray_add(args, typecode, v, n);
  mproc__free(v);
  return rc;
}

int mproc_args_get_pyarray(const mproc_args_t *args, size_t i, char *typecode,
                           mproc_args_t **items) {
  if (args == NULL || typecode == NULL || items == NULL)
    return MPROC_EINVAL;
  return mproc__pyarray_items(args, i, typecode, items);
}
