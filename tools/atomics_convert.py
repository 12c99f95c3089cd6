#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Rewrite GCC __atomic_* builtins and thread-local keywords to src/atomics.h.

MSVC has neither the __atomic builtins nor (in C) _Thread_local, so code under src/ and
tests/ uses the MPROC__ATOMIC_* macros and MPROC__THREAD_LOCAL of src/atomics.h instead:

    __atomic_load_n(p, __ATOMIC_ACQUIRE)   ->  MPROC__ATOMIC_LOAD(p, MPROC__ATOMIC_ACQUIRE)
    _Thread_local / __thread               ->  MPROC__THREAD_LOCAL

and every file it changes (or that already uses the macros) gets #include "atomics.h" by a
relative path. Comments and string literals are left alone. Running it again changes
nothing, so it can be re-run after merging branches that added new builtins:

    tools/atomics_convert.py            # src/ and tests/ of this checkout
    tools/atomics_convert.py --check    # exit 1 if a file would change (CI, pre-merge)
    tools/atomics_convert.py FILE...    # only these files

Builtins the shim has no macro for (the generic non-_n forms, test_and_set, ...) are reported
and make the exit status 2; rewrite those calls by hand.
"""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIM = os.path.join(ROOT, "src", "atomics.h")
DIRS = ("src", "tests")
EXTS = (".c", ".h")
MAX_COLS = 100
BREAK_AFTER = (", ", " != ", " == ", " || ", " && ")

OPS = {
    "load_n": "LOAD", "store_n": "STORE", "exchange_n": "EXCHANGE",
    "compare_exchange_n": "COMPARE_EXCHANGE",
    "fetch_add": "FETCH_ADD", "fetch_sub": "FETCH_SUB",
    "fetch_or": "FETCH_OR", "fetch_and": "FETCH_AND",
    "add_fetch": "ADD_FETCH", "sub_fetch": "SUB_FETCH",
    "or_fetch": "OR_FETCH", "and_fetch": "AND_FETCH",
    "thread_fence": "THREAD_FENCE",
}
ORDERS = ("RELAXED", "CONSUME", "ACQUIRE", "RELEASE", "ACQ_REL", "SEQ_CST")

OP_RE = re.compile(r"\b__atomic_([a-z_]+)\b")
ORDER_RE = re.compile(r"\b__ATOMIC_(" + "|".join(ORDERS) + r")\b")
TLS_RE = re.compile(r"\b(?:_Thread_local|__thread)\b")
USES_RE = re.compile(r"\bMPROC__(?:ATOMIC_[A-Z_]+|THREAD_LOCAL)\b")
INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"]+)[>"]', re.M)

# Code, comments and literals: only the first group is rewritten.
TOKEN_RE = re.compile(r"""
    (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')
""", re.S | re.X)


def rewrite_code(code, unknown):
    def op(m):
        name = OPS.get(m.group(1))
        if name is None:
            unknown.append("__atomic_" + m.group(1))
            return m.group(0)
        return "MPROC__ATOMIC_" + name
    code = OP_RE.sub(op, code)
    code = ORDER_RE.sub(lambda m: "MPROC__ATOMIC_" + m.group(1), code)
    return TLS_RE.sub("MPROC__THREAD_LOCAL", code)


def rewrite(text, unknown):
    out, pos = [], 0
    for m in TOKEN_RE.finditer(text):
        out.append(rewrite_code(text[pos:m.start()], unknown))
        out.append(m.group(0))
        pos = m.end()
    out.append(rewrite_code(text[pos:], unknown))
    return "".join(out)


def wrap(line):
    """Split a line longer than MAX_COLS after a comma or a comparison, as shallow in the
    parentheses as possible, continuing under the innermost open one (the project's
    clang-format style); a macro line keeps its backslashes in the last column."""
    if len(line) <= MAX_COLS:
        return [line]
    macro = line.rstrip().endswith("\\") or line.lstrip().startswith("#")
    body = line.rstrip()
    body = body[:-1].rstrip() if body.endswith("\\") else body
    limit = MAX_COLS - 2 if macro else MAX_COLS
    parts = split(body, limit)
    if not macro:
        return parts
    ends = line.rstrip().endswith("\\")
    return [p + " " * max(1, MAX_COLS - 1 - len(p)) + "\\" if k < len(parts) - 1 or ends else p
            for k, p in enumerate(parts)]


def split(body, limit):
    if len(body) <= limit:
        return [body]
    stack, best = [], None
    indent = len(body) - len(body.lstrip())
    for i, ch in enumerate(body[:limit]):
        if ch == "(":
            stack.append(i)
        elif ch == ")" and stack:
            stack.pop()
        else:
            op = next((o for o in BREAK_AFTER if body.startswith(o, i)), None)
            if op is None or i + len(op) > limit:
                continue
            under = stack[-1] + 1 if stack else indent + 4
            cut = (len(stack), -(i + len(op)), under)
            best = cut if best is None or cut < best else best
    if best is None:
        return [body]
    end = -best[1]
    head, rest = body[:end].rstrip(), body[end:].lstrip()
    return [head] + split(" " * best[2] + rest, limit)


def rewrite_lines(old_text, new_text):
    """Wrap the lines the rewrite made too long; lines it did not touch stay as they were."""
    before = set(old_text.split("\n"))
    out = []
    for line in new_text.split("\n"):
        out += [line] if line in before else wrap(line)
    return "\n".join(out)


def code_only(text):
    return TOKEN_RE.sub(" ", text)


COND_RE = re.compile(r"^[ \t]*#[ \t]*(if|ifdef|ifndef|endif)\b")


def add_include(text, path, header=SHIM):
    """#include header once, after the last #include of the file's first block of them that
    is at the first one's #if depth (not inside an #ifdef _WIN32 of that block)."""
    rel = os.path.relpath(header, os.path.dirname(os.path.abspath(path))).replace(os.sep, "/")
    name = os.path.basename(header)
    if any(os.path.basename(m.group(2)) == name for m in INCLUDE_RE.finditer(text)):
        return text
    line = '#include "%s"\n' % rel
    depth, base, last, pos = 0, None, None, 0
    for raw in text.splitlines(keepends=True):
        start, pos = pos, pos + len(raw)
        cond = COND_RE.match(raw)
        if cond:
            depth += -1 if cond.group(1) == "endif" else 1
        elif INCLUDE_RE.match(raw):
            base = depth if base is None else base
            if depth == base:
                last = pos
        elif base is not None and raw.strip() and not raw.lstrip().startswith("#"):
            break  # the first code after the includes
        if base is not None and depth < base:
            break
    if last is None:
        return line + text
    return text[:last] + line + text[last:]


def convert(path, check):
    with open(path, encoding="utf-8") as f:
        old = f.read()
    unknown = []
    new = rewrite_lines(old, rewrite(old, unknown))
    if USES_RE.search(code_only(new)):
        new = add_include(new, path)
    for u in sorted(set(unknown)):
        print("%s: %s has no macro in src/atomics.h; rewrite it by hand" % (path, u),
              file=sys.stderr)
    if new != old:
        print(("would change " if check else "converted ") + os.path.relpath(path, ROOT))
        if not check:
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(new)
    return new != old, bool(unknown)


def files(args):
    if args:
        return [os.path.abspath(a) for a in args]
    found = []
    for d in DIRS:
        for base, _, names in os.walk(os.path.join(ROOT, d)):
            found += [os.path.join(base, n) for n in sorted(names) if n.endswith(EXTS)]
    return sorted(p for p in found if os.path.abspath(p) != SHIM)


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    changed = bad = False
    for path in files(args):
        c, u = convert(path, check)
        changed |= c
        bad |= u
    if bad:
        return 2
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
