"""Lines of the project's Python (client/, service/, worker/; no tests) at commits, by part: the
feasible sets and the methods beside ZO-AdaMM, the black-box attacks, and the rest (the service,
the SDK and the MNIST workers).  Each part's lines in all, and its code alone (no blank lines,
comments or docstrings).  Read from git, so any commit counts without a checkout.

    python benchmarks/line_count.py 75b160c HEAD --json benchmarks/results/line_count.json
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import subprocess
import tokenize
from pathlib import Path

ROOTS = ("client", "service", "worker")
FEASIBLE_SETS_AND_METHODS = (
    "client/zoadamm/constraints.py", "client/zoadamm/_constraint_checks.py", "client/zoadamm/projection.py",
    "client/zoadamm/_ball_kernel.py", "client/zoadamm/_ball_write.py", "client/zoadamm/_ball_start.py",
    "client/zoadamm/_ball_steps.py", "client/zoadamm/_ball_load.py", "client/zoadamm/projection_threads.py",
    "client/zoadamm/methods.py", "client/zoadamm/sdk/bounds.py",
)
PARTS = ("feasible sets and methods", "black-box attacks", "the rest")


def part_of(path: str) -> str:
    if path in FEASIBLE_SETS_AND_METHODS:
        return PARTS[0]
    if path.startswith("worker/zoadamm_worker/attack/"):
        return PARTS[1]
    return PARTS[2]


def code_lines(source: str) -> int:
    """Lines that hold code: not blank, not only a comment, not inside a docstring."""
    docstrings: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr) \
                and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
            docstrings.update(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                              tokenize.DEDENT, tokenize.ENDMARKER):
            lines.update(range(token.start[0], token.end[0] + 1))
    return len(lines - docstrings)


def count(commit: str) -> dict:
    files = subprocess.run(["git", "ls-tree", "-r", "--name-only", commit, *ROOTS], capture_output=True, text=True,
                           check=True).stdout.split()
    parts = {part: {"files": 0, "lines": 0, "code": 0} for part in PARTS}
    for path in (f for f in files if f.endswith(".py")):
        source = subprocess.run(["git", "show", f"{commit}:{path}"], capture_output=True, text=True, check=True).stdout
        part = parts[part_of(path)]
        part["files"] += 1
        part["lines"] += len(source.splitlines())
        part["code"] += code_lines(source)
    sha = subprocess.run(["git", "rev-parse", "--short", commit], capture_output=True, text=True, check=True)
    return {"commit": sha.stdout.strip(), "parts": parts,
            "total": {key: sum(p[key] for p in parts.values()) for key in ("files", "lines", "code")}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("commits", nargs="+")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    counts = [count(c) for c in args.commits]
    for c in counts:
        print(c["commit"], c["total"], {name: p["lines"] for name, p in c["parts"].items()})
    if args.json:
        args.json.write_text(json.dumps({"command": "python benchmarks/line_count.py " + " ".join(args.commits),
                                         "counts": counts}, indent=1) + "\n")


if __name__ == "__main__":
    main()
