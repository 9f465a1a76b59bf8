"""Write src/lambdalayer/data/stdlib_modules.toml: each CPython's standard-library module names.

A layer's import that fails for want of a module of the runtime's own standard library
(``distutils`` on python3.11) is no fault of the layer: the CPython standing in for Lambda's
lacks it (Debian ships distutils apart, in python3-distutils). The names are what each
CPython says itself, ``sys.stdlib_module_names`` (3.10 and later), asked of real
interpreters given on the command line:

    python scripts/stdlib_modules.py $(pyenv root)/versions/3.1[0-3]*/bin/python3.1?
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src" / "lambdalayer" / "data" / "stdlib_modules.toml"
_ASK = (
    "import json, sys; print(json.dumps([sys.version.split()[0], sorted(sys.stdlib_module_names)]))"
)


def main() -> int:
    """Ask each interpreter, write the table."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pythons", nargs="+", type=Path)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    lines = [
        "# Each CPython's standard-library module names (sys.stdlib_module_names), asked of real",
        "# interpreters by scripts/stdlib_modules.py; do not edit by hand.",
    ]
    for python in args.pythons:
        answer = subprocess.run([str(python), "-c", _ASK], capture_output=True, check=True)
        version, names = json.loads(answer.stdout)
        minor = ".".join(version.split(".")[:2])
        lines += ["", f'["{minor}"]', f'from = "CPython {version}"', "modules = ["]
        lines += [f"    {json.dumps(name)}," for name in names]
        lines.append("]")
    args.out.write_text("\n".join(lines) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
