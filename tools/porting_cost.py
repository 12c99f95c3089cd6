#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Porting cost of the examples: lines of C per line of the Python each one mirrors.

Every examples/<name>.c holds its Python original in the header comment: the first block of
lines indented by four spaces after " * ", right after a line that mentions "Python". Both sides
are counted the same way: lines that hold code, i.e. not blank and not only a comment
(Python: '#' lines; C: lines inside /* */ or starting with //, the header comment included).
The C side counts the example file itself; the shared helpers of examples/example_util.h (the
counterpart of what Python takes from its standard library: sleep, a clock, randint, the
--method option, joining with a check) are reported on a line of their own.

Usage: tools/porting_cost.py [examples-dir]   (prints a table and the total ratio)
"""
import os
import re
import sys


def python_block(text):
    """The indented code block that follows the first line mentioning "Python" (the mention
    may wrap over several comment lines) in the header comment."""
    lines = text.split("\n")
    header = lines[: next((i for i, l in enumerate(lines) if l.strip() == "*/"), len(lines))]
    for start in (i for i, l in enumerate(header) if "Python" in l):
        i = start + 1
        while i < len(header) and header[i].strip() not in ("*", "") and \
                not header[i].startswith(" *     "):
            i += 1  # the mention wraps over several lines
        if i < len(header) and header[i].startswith(" *     "):
            break
    else:
        return []
    block = []
    for line in header[i:]:
        body = line[2:] if line.startswith(" *") else None
        if body is None or (body.strip() and not body.startswith("    ")):
            break
        block.append(body[4:])
    return block


def python_code_lines(block):
    return sum(1 for b in block if b.strip() and not b.strip().startswith("#"))


def c_code_lines(text, braces=True):
    """Code lines; braces=False leaves out lines that hold only braces (and ; or ,), which
    Python's indentation does not need."""
    count = 0
    in_comment = False
    for line in text.split("\n"):
        s = line.strip()
        code = False
        while s:
            if in_comment:
                end = s.find("*/")
                if end < 0:
                    s = ""
                    break
                s = s[end + 2:].strip()
                in_comment = False
            elif s.startswith("/*"):
                in_comment = True
                s = s[2:]
            elif s.startswith("//"):
                s = ""
            else:
                code = True
                start = s.find("/*")
                if start < 0:
                    break
                s = s[start:]
        if code and not braces and line.strip().strip("{}();,") == "":
            code = False
        count += code
    return count


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..",
                                                             "examples")
    rows = []
    for name in sorted(os.listdir(root)):
        if not name.endswith(".c"):
            continue
        text = open(os.path.join(root, name), encoding="utf-8").read()
        py = python_code_lines(python_block(text))
        if py == 0:
            continue  # no Python original (e.g. the MPI variant)
        rows.append((name, py, c_code_lines(text), c_code_lines(text, braces=False)))
    tp = sum(r[1] for r in rows)
    tc = sum(r[2] for r in rows)
    tb = sum(r[3] for r in rows)
    print(f"{'program':32} {'py':>5} {'C':>5} {'C/py':>5}")
    for name, py, c, _ in rows:
        print(f"{name:32} {py:5} {c:5} {c / py:5.2f}")
    print(f"{'total (' + str(len(rows)) + ' programs)':32} {tp:5} {tc:5} {tc / tp:5.2f}")
    print(f"{'total without brace-only lines':32} {tp:5} {tb:5} {tb / tp:5.2f}")
    util = os.path.join(root, "example_util.h")
    if os.path.exists(util):
        print(f"{'example_util.h (shared helpers)':32} {'':5} "
              f"{c_code_lines(open(util, encoding='utf-8').read()):5}")


if __name__ == "__main__":
    main()
