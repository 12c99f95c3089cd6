/* SPDX-License-Identifier: MIT */
/* The pickle decoder: a data-only stack machine. Values are built as a tree of nodes (strings
 * and bytes point into the input), then written out as one data value. A memo reference is a
 * reference to a node, not a copy; a node referenced or consumed is frozen, so a later change
 * of it (the only way to make a cycle) is refused. Globals are kept as two strings; REDUCE,
 * NEWOBJ and BUILD only record what they would do, for the whitelist (pickle_shape.c) to
 * accept or refuse. Every count and length is checked against the bytes present before
 * anything is allocated for it. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "pickle.h"
#include "pickle_int.h"
#include "alloc.h"

#define NO_NODE UINT32_MAX

typedef struct pnode {
  uint8_t type; /* MPROC_ARG_*, or N_SET / N_FROZENSET */
  uint8_t frozen;
  uint8_t kind;  /* MPROC_ARG_PYOBJECT: MP_PY_GLOBAL / MP_PY_REDUCE / MP_PY_NEWOBJ */
  uint8_t depth; /* container levels its encoded form has */
  const unsigned char *p; /* STR, BYTES, BIGINT: the bytes */
  size_t n;
  unsigned char w[8]; /* INT, DOUBLE: little-endian; BOOL: w[0] */
  uint32_t *kids;     /* containers: items; PYOBJECT: module, name, args, state */
  uint32_t nk, ck;
} pnode;

typedef struct pdec {
  const unsigned char *in;
  size_t n, pos, at; /* at: offset of the opcode being run */
  pnode *nodes;
  uint32_t nn, cn;
  uint32_t *stack;
  size_t ns, cs;
  size_t *marks;
  size_t nm, cm;
  uint32_t *memo; /* index -> node, NO_NODE for a hole */
  size_t nmemo, next_memo, max_memo, max_value;
  int flags;
} pdec;

static int fail(pdec *d, int rc, const char *fmt, ...) {
  char msg[160];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  mproc__set_error_message("pickle: %s (offset %zu)", msg, d->at);
  return rc;
}

static const unsigned char *need(pdec *d, size_t k) {
  if (k > d->n - d->pos)
    return NULL;
  const unsigned char *p = d->in + d->pos;
  d->pos += k;
  return p;
}

static uint64_t le(const unsigned char *p, int k) {
  uint64_t v = 0;
  for (int i = 0; i < k; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

/* --- nodes, stack, marks ------------------------------------------------------------------- */

static int grow(void **p, size_t *cap, size_t need_n, size_t size) {
  if (need_n <= *cap)
    return 0;
  size_t c = *cap ? *cap * 2 : 16;
  while (c < need_n)
    c *= 2;
  void *q = mproc__realloc(*p, c * size);
  if (q == NULL)
    return MPROC_ENOMEM;
  *p = q;
  *cap = c;
  return 0;
}

static int new_node(pdec *d, uint8_t type, uint32_t *id) {
  size_t cap = d->cn;
  if (d->nn >= UINT32_MAX - 1)
    return fail(d, MPROC_EMSGSIZE, "too many values");
  if (grow((void **)&d->nodes, &cap, (size_t)d->nn + 1, sizeof *d->nodes) != 0)
    return MPROC_ENOMEM;
  d->cn = (uint32_t)cap;
  *id = d->nn++;
  memset(&d->nodes[*id], 0, sizeof d->nodes[*id]);
  d->nodes[*id].type = type;
  /* levels of containers in the written form: a set is builtins.set(([items],)) */
  if (type == N_SET || type == N_FROZENSET)
    d->nodes[*id].depth = 3;
  else if (type == MPROC_ARG_TUPLE || type == MPROC_ARG_LIST || type == MPROC_ARG_DICT ||
           type == MPROC_ARG_PYOBJECT)
    d->nodes[*id].depth = 1;
  return 0;
}

static int push(pdec *d, uint32_t id) {
  if (grow((void **)&d->stack, &d->cs, d->ns + 1, sizeof *d->stack) != 0)
    return MPROC_ENOMEM;
  d->stack[d->ns++] = id;
  return 0;
}

static size_t floor_(const pdec *d) { return d->nm ? d->marks[d->nm - 1] : 0; }

static int pop(pdec *d, uint32_t *id) {
  if (d->ns <= floor_(d))
    return fail(d, MPROC_EPROTO, "stack underflow");
  *id = d->stack[--d->ns];
  return 0;
}

static int top(pdec *d, uint32_t *id) {
  if (d->ns <= floor_(d))
    return fail(d, MPROC_EPROTO, "stack underflow");
  *id = d->stack[d->ns - 1];
  return 0;
}

/* The items above the last mark: [*first, d->ns); the mark is dropped. */
static int pop_mark(pdec *d, size_t *first) {
  if (d->nm == 0)
    return fail(d, MPROC_EPROTO, "no MARK on the stack");
  *first = d->marks[--d->nm];
  return 0;
}

static int push_new(pdec *d, uint8_t type, pnode **out) {
  uint32_t id = 0;
  int rc = new_node(d, type, &id);
  if (rc == 0)
    rc = push(d, id);
  if (rc == 0 && out != NULL)
    *out = &d->nodes[id];
  return rc;
}

/* child becomes part of parent: frozen from now on, and parent's depth accounts for it. */
static int link(pdec *d, uint32_t parent, uint32_t child) {
  pnode *p = &d->nodes[parent], *c = &d->nodes[child];
  c->frozen = 1;
  int extra = p->type == N_SET || p->type == N_FROZENSET ? 3 : 1;
  if (c->depth + extra > p->depth)
    p->depth = (uint8_t)(c->depth + extra > 255 ? 255 : c->depth + extra);
  if (p->depth > MPROC_ARGS_MAX_DEPTH)
    return fail(d, MPROC_EPROTO, "values nest deeper than %d", MPROC_ARGS_MAX_DEPTH);
  return 0;
}

/* Makes child an item of parent (which must still be open). */
static int adopt(pdec *d, uint32_t parent, uint32_t child) {
  pnode *p = &d->nodes[parent];
  if (p->frozen)
    return fail(d, MPROC_EPROTO, "a container changed after it was referenced (a cycle)");
  size_t cap = p->ck;
  if (grow((void **)&p->kids, &cap, (size_t)p->nk + 1, sizeof *p->kids) != 0)
    return MPROC_ENOMEM;
  p->ck = (uint32_t)cap;
  p->kids[p->nk++] = child;
  return link(d, parent, child);
}

/* Moves the stack items [first, ns) into parent. */
static int adopt_range(pdec *d, uint32_t parent, size_t first) {
  for (size_t i = first; i < d->ns; i++) {
    int rc = adopt(d, parent, d->stack[i]);
    if (rc != 0)
      return rc;
  }
  d->ns = first;
  return 0;
}

/* --- scalars --------------------------------------------------------------------------------- */

static int push_int(pdec *d, int64_t v) {
  pnode *x;
  int rc = push_new(d, MPROC_ARG_INT, &x);
  for (int i = 0; rc == 0 && i < 8; i++)
    x->w[i] = (unsigned char)((uint64_t)v >> (8 * i));
  return rc;
}

/* LONG1 / LONG4: little-endian two's complement, any length (0 bytes is 0). */
static int push_long(pdec *d, int lenbytes) {
  const unsigned char *h = need(d, (size_t)lenbytes), *p;
  uint64_t n = h ? le(h, lenbytes) : 0;
  if (h == NULL || n > d->n - d->pos || (p = need(d, (size_t)n)) == NULL)
    return fail(d, MPROC_EPROTO, "truncated LONG");
  size_t k = n ? mproc__bigint_trim(p, (size_t)n) : 0;
  if (k <= 8) {
    uint64_t v = (k && (p[k - 1] & 0x80)) ? ~(uint64_t)0 : 0;
    for (size_t i = 0; i < k; i++)
      v = (v & ~((uint64_t)0xff << (8 * i))) | (uint64_t)p[i] << (8 * i);
    return push_int(d, (int64_t)v);
  }
  if (k > d->max_value)
    return fail(d, MPROC_EMSGSIZE, "integer of %zu bytes", k);
  pnode *x;
  int rc = push_new(d, MPROC_ARG_BIGINT, &x);
  if (rc == 0)
    x->p = p, x->n = k;
  return rc;
}

static int push_float(pdec *d) {
  const unsigned char *p = need(d, 8);
  if (p == NULL)
    return fail(d, MPROC_EPROTO, "truncated BINFLOAT");
  pnode *x;
  int rc = push_new(d, MPROC_ARG_DOUBLE, &x);
  for (int i = 0; rc == 0 && i < 8; i++)
    x->w[i] = p[7 - i]; /* big-endian on the wire */
  return rc;
}

/* A string or bytes of a length given in lenbytes little-endian bytes. */
static int push_blob(pdec *d, uint8_t type, int lenbytes) {
  const unsigned char *h = need(d, (size_t)lenbytes), *p;
  uint64_t n = h ? le(h, lenbytes) : 0;
  if (h == NULL || n > d->n - d->pos || (p = need(d, (size_t)n)) == NULL)
    return fail(d, MPROC_EPROTO, "truncated string or bytes");
  if (type == MPROC_ARG_STR && !mproc__pickle_utf8_ok(p, (size_t)n))
    return fail(d, MPROC_EPROTO, "string is not UTF-8");
  pnode *x;
  int rc = push_new(d, type, &x);
  if (rc == 0)
    x->p = p, x->n = (size_t)n;
  return rc;
}

static int new_str(pdec *d, const char *s, uint32_t *id) {
  int rc = new_node(d, MPROC_ARG_STR, id);
  if (rc == 0) {
    d->nodes[*id].p = (const unsigned char *)s;
    d->nodes[*id].n = strlen(s);
    d->nodes[*id].frozen = 1;
  }
  return rc;
}

/* A PYOBJECT node: kids are module, name, args (NO_NODE for a bare global), state (NO_NODE
 * until BUILD). */
static int new_object(pdec *d, uint8_t kind, uint32_t mod, uint32_t name, uint32_t args,
                      uint32_t *id) {
  int rc = new_node(d, MPROC_ARG_PYOBJECT, id);
  pnode *o = rc ? NULL : &d->nodes[*id];
  if (rc == 0 && (o->kids = mproc__malloc(4 * sizeof *o->kids)) == NULL)
    rc = MPROC_ENOMEM;
  if (rc != 0)
    return rc;
  o->kind = kind;
  o->ck = o->nk = 4;
  o->kids[0] = mod, o->kids[1] = name, o->kids[2] = args, o->kids[3] = NO_NODE;
  for (int i = 0; rc == 0 && i < 3; i++)
    rc = o->kids[i] == NO_NODE ? 0 : link(d, *id, o->kids[i]);
  return rc;
}

static int push_bytearray(pdec *d) {
  int rc = push_blob(d, MPROC_ARG_BYTES, 8);
  uint32_t b = 0, t = 0, mod = 0, name = 0, obj = 0;
  if (rc == 0)
    rc = pop(d, &b);
  if (rc == 0 && (rc = new_node(d, MPROC_ARG_TUPLE, &t)) == 0)
    rc = adopt(d, t, b);
  if (rc == 0 && (rc = new_str(d, "builtins", &mod)) == 0 &&
      (rc = new_str(d, "bytearray", &name)) == 0)
    rc = new_object(d, MP_PY_REDUCE, mod, name, t, &obj);
  return rc ? rc : push(d, obj);
}

/* --- containers ------------------------------------------------------------------------------ */

static int make_tuple(pdec *d, size_t first) {
  uint32_t id;
  int rc = new_node(d, MPROC_ARG_TUPLE, &id);
  if (rc == 0)
    rc = adopt_range(d, id, first);
  return rc ? rc : push(d, id);
}

static int tuple_n(pdec *d, size_t k) {
  if (d->ns < floor_(d) + k)
    return fail(d, MPROC_EPROTO, "stack underflow");
  return make_tuple(d, d->ns - k);
}

/* APPEND(S), SETITEM(S), ADDITEMS: the items above first go into the node below them. */
static int extend(pdec *d, size_t first, uint8_t want, const char *op) {
  if (first == 0 || first - 1 < floor_(d))
    return fail(d, MPROC_EPROTO, "%s without a target", op);
  uint32_t target = d->stack[first - 1];
  uint8_t t = d->nodes[target].type;
  if (t != want)
    return fail(d, MPROC_EPROTO, "%s on a %s", op, mproc_arg_type_name(t));
  if (want == MPROC_ARG_DICT && (d->ns - first) % 2 != 0)
    return fail(d, MPROC_EPROTO, "%s with an odd number of items", op);
  return adopt_range(d, target, first);
}

static int extend_mark(pdec *d, uint8_t want, const char *op) {
  size_t first = 0;
  int rc = pop_mark(d, &first);
  return rc ? rc : extend(d, first, want, op);
}

static int frozenset_(pdec *d) {
  size_t first = 0;
  uint32_t id;
  int rc = pop_mark(d, &first);
  if (rc == 0 && (rc = new_node(d, N_FROZENSET, &id)) == 0)
    rc = adopt_range(d, id, first);
  return rc ? rc : push(d, id);
}

/* --- memo ---------------------------------------------------------------------------------- */

static int memo_put(pdec *d, uint64_t idx) {
  uint32_t id = 0;
  int rc = top(d, &id);
  if (rc != 0)
    return rc;
  if (idx >= d->max_memo || idx >= d->n)
    return fail(d, MPROC_EMSGSIZE, "memo index %llu past the limit", (unsigned long long)idx);
  size_t cap = d->nmemo;
  if (idx >= d->nmemo) {
    if (grow((void **)&d->memo, &cap, (size_t)idx + 1, sizeof *d->memo) != 0)
      return MPROC_ENOMEM;
    for (size_t i = d->nmemo; i < cap; i++)
      d->memo[i] = NO_NODE;
    d->nmemo = cap;
  }
  d->memo[idx] = id;
  if (idx >= d->next_memo)
    d->next_memo = (size_t)idx + 1;
  return 0;
}

static int memo_get(pdec *d, uint64_t idx) {
  if (idx >= d->nmemo || d->memo[idx] == NO_NODE)
    return fail(d, MPROC_EPROTO, "memo index %llu was never set", (unsigned long long)idx);
  d->nodes[d->memo[idx]].frozen = 1;
  return push(d, d->memo[idx]);
}

static int memo_op(pdec *d, int put, int lenbytes) {
  const unsigned char *p = lenbytes ? need(d, (size_t)lenbytes) : NULL;
  if (lenbytes && p == NULL)
    return fail(d, MPROC_EPROTO, "truncated memo index");
  uint64_t idx = lenbytes ? le(p, lenbytes) : d->next_memo;
  return put ? memo_put(d, idx) : memo_get(d, idx);
}

/* --- globals and the object shapes ------------------------------------------------------------ */

static int is_name(const pnode *n, const char *s) {
  return n->n == strlen(s) && memcmp(n->p, s, n->n) == 0;
}

static int text_line(pdec *d, uint32_t *id) {
  const unsigned char *start = d->in + d->pos;
  const unsigned char *nl = memchr(start, '\n', d->n - d->pos);
  if (nl == NULL || nl - start > 256)
    return fail(d, MPROC_EPROTO, "bad GLOBAL");
  d->pos += (size_t)(nl - start) + 1;
  if (!mproc__pickle_utf8_ok(start, (size_t)(nl - start)))
    return fail(d, MPROC_EPROTO, "bad GLOBAL");
  int rc = new_node(d, MPROC_ARG_STR, id);
  if (rc == 0)
    d->nodes[*id].p = start, d->nodes[*id].n = (size_t)(nl - start);
  return rc;
}

static int global(pdec *d, int stack_form) {
  uint32_t mod, name, id;
  int rc = stack_form ? pop(d, &name) : text_line(d, &mod);
  if (rc == 0)
    rc = stack_form ? pop(d, &mod) : text_line(d, &name);
  if (rc == 0 && (d->nodes[mod].type != MPROC_ARG_STR || d->nodes[name].type != MPROC_ARG_STR))
    return fail(d, MPROC_EPROTO, "STACK_GLOBAL wants two strings");
  /* protocols 2 and lower name built-ins by their Python 2 modules (fix_imports) */
  if (rc == 0 && !stack_form &&
      (is_name(&d->nodes[mod], "__builtin__") || is_name(&d->nodes[mod], "exceptions"))) {
    d->nodes[mod].p = (const unsigned char *)"builtins";
    d->nodes[mod].n = 8;
  }
  if (rc == 0)
    rc = new_object(d, MP_PY_GLOBAL, mod, name, NO_NODE, &id);
  return rc ? rc : push(d, id);
}


/* REDUCE(builtins.list, (list,)) is the list; set and frozenset become set nodes. */
static int reduce_builtin_seq(pdec *d, uint32_t args, uint8_t set_type, int *done) {
  pnode *a = &d->nodes[args];
  *done = 0;
  if (a->nk != 1 || d->nodes[a->kids[0]].type != MPROC_ARG_LIST)
    return 0;
  *done = 1;
  uint32_t list = a->kids[0], id;
  if (set_type == 0)
    return push(d, list);
  int rc = new_node(d, set_type, &id);
  for (uint32_t i = 0; rc == 0 && i < d->nodes[list].nk; i++)
    rc = adopt(d, id, d->nodes[list].kids[i]);
  return rc ? rc : push(d, id);
}

static int reduce(pdec *d, uint8_t kind) {
  uint32_t args = 0, fn = 0, id = 0;
  int rc = pop(d, &args);
  if (rc == 0)
    rc = pop(d, &fn);
  if (rc != 0)
    return rc;
  pnode *f = &d->nodes[fn];
  if (f->type != MPROC_ARG_PYOBJECT || f->kind != MP_PY_GLOBAL ||
      d->nodes[args].type != MPROC_ARG_TUPLE)
    return fail(d, MPROC_EPROTO, "%s wants a global and a tuple", kind == MP_PY_REDUCE ?
                                                                      "REDUCE" : "NEWOBJ");
  uint32_t mod_id = f->kids[0], name_id = f->kids[1];
  const pnode *mod = &d->nodes[mod_id], *name = &d->nodes[name_id];
  if (!mproc__pickle_callable_ok(mod->p, mod->n, name->p, name->n, kind, d->flags))
    return fail(d, MPROC_EPROTO, "global '%.*s.%.*s' is not allowed", (int)mod->n, mod->p,
                (int)name->n, name->p);
  if (kind == MP_PY_REDUCE && is_name(mod, "builtins")) {
    int done;
    uint8_t st = is_name(name, "set") ? N_SET : is_name(name, "frozenset") ? N_FROZENSET : 0;
    if ((st || is_name(name, "list")) && ((rc = reduce_builtin_seq(d, args, st, &done)) != 0 ||
                                          done))
      return rc;
  }
  rc = new_object(d, kind, mod_id, name_id, args, &id);
  return rc ? rc : push(d, id);
}

static int build(pdec *d) {
  uint32_t state = 0, obj = 0;
  int rc = pop(d, &state);
  if (rc == 0)
    rc = top(d, &obj);
  if (rc != 0)
    return rc;
  pnode *o = &d->nodes[obj];
  if (o->type != MPROC_ARG_PYOBJECT || o->kind == MP_PY_GLOBAL || o->kids[3] != NO_NODE ||
      o->frozen)
    return fail(d, MPROC_EPROTO, "BUILD on a value that takes no state");
  o->kids[3] = state;
  return link(d, obj, state);
}

/* --- the opcode loop ----------------------------------------------------------------------- */

static int frame_or_proto(pdec *d, int op) {
  const unsigned char *p = need(d, op == OP_PROTO ? 1 : 8);
  if (p == NULL)
    return fail(d, MPROC_EPROTO, "truncated %s", op == OP_PROTO ? "PROTO" : "FRAME");
  if (op == OP_PROTO)
    return d->at == 0 && p[0] >= 2 && p[0] <= 5
               ? 0 : fail(d, MPROC_EPROTO, "protocol %d (2 to 5 are read)", p[0]);
  return le(p, 8) <= d->n - d->pos ? 0 : fail(d, MPROC_EPROTO, "FRAME longer than the data");
}

static int small_int(pdec *d, int k, int sign) {
  const unsigned char *p = need(d, (size_t)k);
  if (p == NULL)
    return fail(d, MPROC_EPROTO, "truncated integer");
  uint64_t v = le(p, k);
  return push_int(d, sign ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v);
}

static int mark_ops(pdec *d, int op) {
  size_t first = 0;
  uint32_t id;
  switch (op) {
  case OP_MARK:
    if (grow((void **)&d->marks, &d->cm, d->nm + 1, sizeof *d->marks) != 0)
      return MPROC_ENOMEM;
    d->marks[d->nm++] = d->ns;
    return 0;
  case OP_POP:
    if (d->nm > 0 && d->marks[d->nm - 1] == d->ns)
      return d->nm--, 0;
    return pop(d, &id);
  case OP_POP_MARK:
    return pop_mark(d, &first) ? MPROC_EPROTO : (d->ns = first, 0);
  case OP_TUPLE:
    return pop_mark(d, &first) ? MPROC_EPROTO : make_tuple(d, first);
  case OP_APPENDS:
    return extend_mark(d, MPROC_ARG_LIST, "APPENDS");
  case OP_SETITEMS:
    return extend_mark(d, MPROC_ARG_DICT, "SETITEMS");
  case OP_ADDITEMS:
    return extend_mark(d, N_SET, "ADDITEMS");
  default:
    return frozenset_(d);
  }
}

#define NOT_DATA 1 /* data_ops: the opcode is not one of its own */

static int data_ops(pdec *d, int op) {
  switch (op) {
  case OP_NONE: return push_new(d, MPROC_ARG_NONE, NULL);
  case OP_NEWTRUE: case OP_NEWFALSE: {
    pnode *x;
    int rc = push_new(d, MPROC_ARG_BOOL, &x);
    if (rc == 0)
      x->w[0] = op == OP_NEWTRUE;
    return rc;
  }
  case OP_BININT: return small_int(d, 4, 1);
  case OP_BININT1: return small_int(d, 1, 0);
  case OP_BININT2: return small_int(d, 2, 0);
  case OP_LONG1: return push_long(d, 1);
  case OP_LONG4: return push_long(d, 4);
  case OP_BINFLOAT: return push_float(d);
  case OP_SHORT_BINUNICODE: return push_blob(d, MPROC_ARG_STR, 1);
  case OP_BINUNICODE: return push_blob(d, MPROC_ARG_STR, 4);
  case OP_BINUNICODE8: return push_blob(d, MPROC_ARG_STR, 8);
  case OP_SHORT_BINBYTES: return push_blob(d, MPROC_ARG_BYTES, 1);
  case OP_BINBYTES: return push_blob(d, MPROC_ARG_BYTES, 4);
  case OP_BINBYTES8: return push_blob(d, MPROC_ARG_BYTES, 8);
  case OP_BYTEARRAY8: return push_bytearray(d);
  case OP_EMPTY_TUPLE: return push_new(d, MPROC_ARG_TUPLE, NULL);
  case OP_EMPTY_LIST: return push_new(d, MPROC_ARG_LIST, NULL);
  case OP_EMPTY_DICT: return push_new(d, MPROC_ARG_DICT, NULL);
  case OP_EMPTY_SET: return push_new(d, N_SET, NULL);
  case OP_TUPLE1: return tuple_n(d, 1);
  case OP_TUPLE2: return tuple_n(d, 2);
  case OP_TUPLE3: return tuple_n(d, 3);
  case OP_APPEND:
    return d->ns < 1 ? MPROC_EPROTO : extend(d, d->ns - 1, MPROC_ARG_LIST, "APPEND");
  case OP_SETITEM:
    return d->ns < 2 ? MPROC_EPROTO : extend(d, d->ns - 2, MPROC_ARG_DICT, "SETITEM");
  default: return NOT_DATA;
  }
}

static int step(pdec *d, int op) {
  int rc = data_ops(d, op);
  if (rc != NOT_DATA)
    return rc;
  switch (op) {
  case OP_PROTO: case OP_FRAME: return frame_or_proto(d, op);
  case OP_MARK: case OP_POP: case OP_POP_MARK: case OP_TUPLE: case OP_APPENDS:
  case OP_SETITEMS: case OP_ADDITEMS: case OP_FROZENSET: return mark_ops(d, op);
  case OP_MEMOIZE: return memo_op(d, 1, 0);
  case OP_BINPUT: return memo_op(d, 1, 1);
  case OP_LONG_BINPUT: return memo_op(d, 1, 4);
  case OP_BINGET: return memo_op(d, 0, 1);
  case OP_LONG_BINGET: return memo_op(d, 0, 4);
  case OP_STACK_GLOBAL: return global(d, 1);
  case OP_GLOBAL: return global(d, 0);
  case OP_REDUCE: return reduce(d, MP_PY_REDUCE);
  case OP_NEWOBJ: return reduce(d, MP_PY_NEWOBJ);
  case OP_BUILD: return build(d);
  default:
    return fail(d, MPROC_EPROTO, "opcode 0x%02x is not accepted", op);
  }
}

/* --- writing the tree out ------------------------------------------------------------------ */

static int emit(pdec *d, uint32_t id, mp_buf *b);

static int emit_kids(pdec *d, const pnode *x, mp_buf *b) {
  mproc__put_u32(b, x->nk);
  for (uint32_t i = 0; i < x->nk; i++) {
    int rc = emit(d, x->kids[i], b);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static void put_item_str(mp_buf *b, const char *s) {
  mproc__put_u8(b, MPROC_ARG_STR);
  mproc__put_blob(b, s, strlen(s) + 1);
}

static void put_item_int(mp_buf *b, int64_t v) {
  mproc__put_u8(b, MPROC_ARG_INT);
  mproc__put_u64(b, 8);
  mproc__put_u64(b, (uint64_t)v);
}

/* PYOBJECT (module, name, kind, args, state), or a set as builtins.set(([items],)). */
static int emit_object(pdec *d, const pnode *x, mp_buf *b) {
  if (x->type == N_SET || x->type == N_FROZENSET) {
    mproc__put_u32(b, 5);
    put_item_str(b, "builtins");
    put_item_str(b, x->type == N_SET ? "set" : "frozenset");
    put_item_int(b, MP_PY_REDUCE);
    mproc__put_u8(b, MPROC_ARG_TUPLE);
    mproc__put_u64(b, 0); /* lengths patched below */
    size_t tuple_len_at = b->len - 8, tuple_start = b->len;
    mproc__put_u32(b, 1);
    mproc__put_u8(b, MPROC_ARG_LIST);
    mproc__put_u64(b, 0);
    size_t list_len_at = b->len - 8, list_start = b->len;
    int rc = emit_kids(d, x, b);
    if (rc == 0 && (rc = mproc__value_merge_region(b, list_start, 1)) == MPROC_ETYPE)
      rc = fail(d, MPROC_EPROTO, "unhashable set item");
    if (rc != 0)
      return rc;
    mproc__pickle_patch_u64(b, list_len_at, b->len - list_start);
    mproc__pickle_patch_u64(b, tuple_len_at, b->len - tuple_start);
    mproc__put_u8(b, MPROC_ARG_NONE);
    mproc__put_u64(b, 0);
    return 0;
  }
  mproc__put_u32(b, 5);
  int rc = emit(d, x->kids[0], b);
  if (rc == 0)
    rc = emit(d, x->kids[1], b);
  put_item_int(b, x->kind);
  for (int i = 2; rc == 0 && i < 4; i++) {
    if (x->kids[i] != NO_NODE) {
      rc = emit(d, x->kids[i], b);
    } else {
      mproc__put_u8(b, MPROC_ARG_NONE);
      mproc__put_u64(b, 0);
    }
  }
  return rc;
}

static int emit_payload(pdec *d, const pnode *x, mp_buf *b) {
  switch (x->type) {
  case MPROC_ARG_INT: case MPROC_ARG_DOUBLE: mproc__put(b, x->w, 8); return 0;
  case MPROC_ARG_BOOL: mproc__put(b, x->w, 1); return 0;
  case MPROC_ARG_NONE: return 0;
  case MPROC_ARG_STR: mproc__put(b, x->p, x->n); mproc__put_u8(b, 0); return 0;
  case MPROC_ARG_BYTES: case MPROC_ARG_BIGINT: mproc__put(b, x->p, x->n); return 0;
  case MPROC_ARG_TUPLE: case MPROC_ARG_LIST: return emit_kids(d, x, b);
  case MPROC_ARG_DICT: {
    size_t start = b->len;
    int rc = emit_kids(d, x, b);
    if (rc == 0 && (rc = mproc__value_merge_region(b, start, 2)) == MPROC_ETYPE)
      rc = fail(d, MPROC_EPROTO, "unhashable dict key");
    return rc;
  }
  default:
    return emit_object(d, x, b);
  }
}

static int emit(pdec *d, uint32_t id, mp_buf *b) {
  const pnode *x = &d->nodes[id];
  uint8_t type = x->type == N_SET || x->type == N_FROZENSET ? MPROC_ARG_PYOBJECT : x->type;
  mproc__put_u8(b, type);
  mproc__put_u64(b, 0);
  size_t len_at = b->len - 8, start = b->len;
  int rc = emit_payload(d, x, b);
  if (rc == 0 && b->err)
    rc = b->err;
  if (rc == 0 && b->len > d->max_value)
    rc = fail(d, MPROC_EMSGSIZE, "the value is larger than %zu bytes", d->max_value);
  if (rc == 0)
    mproc__pickle_patch_u64(b, len_at, b->len - start);
  return rc;
}

static void pdec_free(pdec *d) {
  for (uint32_t i = 0; i < d->nn; i++)
    mproc__free(d->nodes[i].kids);
  mproc__free(d->nodes);
  mproc__free(d->stack);
  mproc__free(d->marks);
  mproc__free(d->memo);
}

static int run(pdec *d) {
  while (d->pos < d->n) {
    d->at = d->pos;
    int op = d->in[d->pos++];
    if (op == OP_STOP) {
      if (d->pos != d->n)
        return fail(d, MPROC_EPROTO, "data after STOP");
      if (d->nm != 0 || d->ns != 1)
        return fail(d, MPROC_EPROTO, "STOP with %zu values and %zu marks", d->ns, d->nm);
      return 0;
    }
    int rc = step(d, op);
    if (rc != 0)
      return rc == MPROC_EPROTO && mproc_last_error_message()[0] == '\0'
                 ? fail(d, rc, "stack underflow") : rc;
  }
  d->at = d->n;
  return fail(d, MPROC_EPROTO, "no STOP");
}

int mproc__pickle_decode(const void *p, size_t n, const mp_pickle_limits *lim,
                         mproc_args_t *out) {
  if (p == NULL || out == NULL)
    return MPROC_EINVAL;
  pdec d = {0};
  d.in = p;
  d.n = n;
  d.max_value = lim && lim->max_value ? lim->max_value : MPROC_ARGS_MAX_BYTES;
  d.max_memo = lim && lim->max_memo ? lim->max_memo : (size_t)1 << 20;
  d.flags = lim ? lim->flags : 0;
  mproc__clear_error_message();
  int rc = run(&d);
  mp_buf b;
  mproc__buf_init(&b);
  if (rc == 0)
    rc = emit(&d, d.stack[0], &b);
  mp_rd r;
  mp_val v;
  mproc__rd_init(&r, b.data, b.len);
  if (rc == 0 && (rc = mproc__value_next(&r, &v)) == 0 &&
      (rc = mproc__pickle_check_tree(&v, d.flags)) == 0)
    rc = mproc__args_add_raw(out, v.type, v.p, v.n);
  mproc__buf_free(&b);
  pdec_free(&d);
  return rc;
}
