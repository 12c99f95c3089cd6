#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Route the library's heap allocations through src/alloc.h (mproc_set_allocator).

    malloc(n) -> mproc__malloc(n)     calloc, realloc, free, strdup likewise

in every .c/.h under src/ except src/alloc.c (which calls the C library), and #include
"alloc.h" by a relative path where it is now used. Comments, string literals, members
(x->free(...)) and longer names (os_free(...)) are left alone. Idempotent: re-run it after a
merge brings new calls.

    tools/alloc_convert.py            # convert src/
    tools/alloc_convert.py --check    # exit 1 if something is left to convert
"""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from atomics_convert import ROOT, TOKEN_RE, add_include, code_only  # noqa: E402

HEADER = os.path.join(ROOT, "src", "alloc.h")
SKIP = {os.path.join(ROOT, "src", "alloc.c"), HEADER}
CALL_RE = re.compile(r"(?<![\w.>$])(malloc|calloc|realloc|free|strdup)(?=\s*\()")
USES_RE = re.compile(r"\bmproc__(?:malloc|calloc|realloc|free|strdup)\s*\(")


def rewrite(text):
    out, pos = [], 0
    for m in TOKEN_RE.finditer(text):
        out.append(CALL_RE.sub(r"mproc__\1", text[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(CALL_RE.sub(r"mproc__\1", text[pos:]))
    return "".join(out)


def convert(path, check):
    with open(path, encoding="utf-8") as f:
        old = f.read()
    new = rewrite(old)
    if USES_RE.search(code_only(new)):
        new = add_include(new, path, HEADER)
    if new != old:
        print(("would change " if check else "converted ") + os.path.relpath(path, ROOT))
        if not check:
            with open(path, "w", encoding="utf-8", newline="") as f:
                f.write(new)
    return new != old


def main(argv):
    check = "--check" in argv
    paths = [os.path.abspath(a) for a in argv if a != "--check"]
    if not paths:
        for base, _, names in os.walk(os.path.join(ROOT, "src")):
            paths += [os.path.join(base, n) for n in sorted(names) if n.endswith((".c", ".h"))]
    changed = False
    for path in sorted(paths):
        if path not in SKIP:
            changed |= convert(path, check)
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
