"""The child program of the bytecode stage: runs in the *target's* CPython, never imported.

Passed to ``python -I -S -B -c`` as source text; it must stay valid on every runtime's
Python (3.10+) and use the standard library only. Its argument is a JSON file of
``[source, pyc, display name]`` triples; each is compiled to an ``unchecked-hash`` pyc. A
file that does not compile (Python 2 leftovers, templates) is skipped — it would not
import on Lambda either, and its source stays in the layer. Prints how many compiled.
"""

import json
import py_compile
import sys


def main() -> None:
    """Compile every triple of the job file."""
    with open(sys.argv[1], encoding="utf-8") as jobs:  # noqa: PTH123 - kept to plain builtins
        triples = json.load(jobs)
    compiled = 0
    for source, target, display in triples:
        try:
            py_compile.compile(
                source,
                cfile=target,
                dfile=display,
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
            compiled += 1
        except (py_compile.PyCompileError, SyntaxError, ValueError, UnicodeDecodeError):
            pass
    print(compiled)


if __name__ == "__main__":
    main()
