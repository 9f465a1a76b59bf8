"""Build the most-used run-time libraries one by one as layers and say how each went.

    python benchmarks/corpus.py                       # all of benchmarks/corpus.txt, four targets
    python benchmarks/corpus.py --targets python3.12-x86_64 --limit 50 --out verdicts.json

Every package of ``benchmarks/corpus.txt`` (the most-downloaded projects of the package
index that are run-time libraries: build tools, linters, test plugins and stubs left out;
the file says how it was made) is built alone, for each target, with the real public
index and one shared cache, by ``lambdalayer build PKG --runtime R --arch A --json``. The
import check runs where the tool can run it: in the root synthesized from the runtime's
library set, for the other CPU from this machine's builds of that CPU's libraries and a
CPython of that CPU found here (uv's installs: ``UV_PYTHON_INSTALL_DIR``), under qemu-user.
Where no such CPython is here (nor can uv install one), the verdict is "not verified".
Each build is classified by its check's verdict:

- ``passed``: built, and every part of the check passed, every top-level module imported;
- ``passed, optional modules fail``: built and passed; some modules fail for want of an
  optional dependency (warnings, each naming the extra that brings it);
- ``not verified``: built, nothing failed, but a part did not run or could not be judged
  here (no CPython for the CPU; an import failed for a library of this machine standing in
  for Lambda's): the report says why — never counted with the passed ones;
- ``refused: <reason>``: a clean refusal (exit 1, one ``error:`` line), by its kind;
- ``crash``: anything else (a traceback, another exit code, a time-out).

It prints a table and the counts, and writes every verdict (with the error line) to
``--out`` (JSON). Not a timed test: a benchmark of correctness on packages we did not pick.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = ("python3.12-x86_64", "python3.11-x86_64", "python3.12-arm64", "python3.11-arm64")
TIMEOUT_SECONDS = 600
_REASONS = (
    ("no wheel of", "no wheel for the target"),
    ("published only as source with C code", "native source-only"),
    ("published only as source", "source-only"),
    ("fails", "check failed"),
    ("cannot resolve", "resolution failed"),
    ("was not found on the index", "not on the index"),
    ("over Lambda's", "over the size quota"),
)


def corpus(path: Path) -> list[str]:
    """The package names of the corpus file (comments and blank lines left out)."""
    return [
        line.split("#", 1)[0].strip()
        for line in path.read_text("utf-8").splitlines()
        if line.split("#", 1)[0].strip()
    ]


def _reason(error: str) -> str:
    return next((reason for clue, reason in _REASONS if clue in error), "other")


def _check_kinds(document: dict[str, object]) -> str:
    check = document.get("check")
    if not isinstance(check, dict):
        return ""
    kinds = sorted(
        {item["kind"] for item in check.get("findings", []) if item["severity"] == "error"}
    )
    return ",".join(kinds)


def build_one(package: str, target: str, cache: Path, work: Path) -> dict[str, object]:
    """Build ``package`` for ``target``; returns its verdict."""
    runtime, arch = target.rsplit("-", 1)
    out = work / f"{re.sub(r'[^A-Za-z0-9]', '_', package)}-{target}.zip"
    command = [
        sys.executable,
        "-m",
        "lambdalayer",
        "build",
        package,
        "--runtime",
        runtime,
        "--arch",
        arch,
        "--cache-dir",
        str(cache),
        "-o",
        str(out),
        "--json",
    ]
    started = time.perf_counter()
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
            env={**os.environ, "NO_COLOR": "1"},
        )
    except subprocess.TimeoutExpired:
        return {"package": package, "target": target, "verdict": "crash", "detail": "timed out"}
    seconds = round(time.perf_counter() - started, 1)
    out.unlink(missing_ok=True)
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    try:
        document = json.loads(completed.stdout)
    except ValueError:
        document = {}
    verdict: dict[str, object] = {"package": package, "target": target, "seconds": seconds}
    if "Traceback" in completed.stderr or completed.returncode not in (0, 1) or not document:
        tail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        return {**verdict, "verdict": "crash", "detail": tail[:300]}
    if completed.returncode == 0:
        return _passed(verdict, document)
    error = str(document.get("error") or (errors[0] if errors else ""))
    reason = _reason(error)
    if reason == "check failed":
        reason = f"check failed ({_check_kinds(document)})"
        error = _first_error(document) or error  # what failed, not "the layer fails 1 check"
    return {**verdict, "verdict": f"refused: {reason}", "detail": error[:300]}


def _passed(verdict: dict[str, object], document: dict[str, object]) -> dict[str, object]:
    """The verdict of a build that exited 0, by its check's verdict: passed (optional modules
    failing, perhaps), or not verified (never counted as passed)."""
    check = document.get("check") or {}
    assert isinstance(check, dict)
    imports = check.get("imports") or []
    if check.get("verdict") != "passed" or not imports:
        parts = [f"{item['part']}: {item['why']}" for item in check.get("unverified") or []]
        detail = "; ".join(parts) or str(check.get("imports_skipped") or "")
        return {**verdict, "verdict": "not verified", "detail": detail[:300]}
    if all(item["ok"] for item in imports):
        return {**verdict, "verdict": "passed"}
    failed = [item["module"] for item in imports if not item["ok"]]
    return {  # passed: the modules that failed are optional parts (warnings)
        **verdict,
        "verdict": "passed, optional modules fail",
        "detail": f"{len(failed)} of {len(imports)}: {', '.join(failed)[:200]}",
    }


def _first_error(document: dict[str, object]) -> str:
    check = document.get("check")
    if not isinstance(check, dict):
        return ""
    return next(
        (str(item["message"]) for item in check.get("findings", []) if item["severity"] == "error"),
        "",
    )


def main() -> int:
    """Run the corpus and print the table and the counts."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, default=HERE / "corpus.txt")
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated")
    parser.add_argument("--limit", type=int, default=0, help="only the first N packages")
    parser.add_argument("--start", type=int, default=1, help="begin at the Nth package")
    parser.add_argument("--cache-dir", type=Path, help="a shared cache (default: a new one)")
    parser.add_argument("--out", type=Path, default=HERE / "corpus-verdicts.json")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep --out's verdicts and build only the (package, target) pairs it lacks",
    )
    args = parser.parse_args()
    packages = corpus(args.corpus)[args.start - 1 :][: args.limit or None]
    targets = [item.strip() for item in args.targets.split(",") if item.strip()]
    document: dict[str, object] = {"verdicts": []}
    if args.resume and args.out.exists():
        document = json.loads(args.out.read_text("utf-8"))
    verdicts = document["verdicts"]
    assert isinstance(verdicts, list)
    done = {(v["package"], v["target"]) for v in verdicts}
    with tempfile.TemporaryDirectory(prefix="corpus-") as scratch:
        cache = args.cache_dir or Path(scratch) / "cache"
        # Project by project, every target of one before the next: a run stopped for time
        # leaves whole projects, each on every target.
        for number, package in enumerate(packages, start=args.start):
            for target in targets:
                if (package, target) in done:
                    continue
                verdict = build_one(package, target, cache, Path(scratch))
                verdicts.append(verdict)
                print(
                    f"[{number}] {target:<18} {package:<32} {verdict['verdict']}"
                    f"  {verdict.get('detail', '')}"[:240],
                    flush=True,
                )
                args.out.write_text(json.dumps(document, indent=1) + "\n")
    print()
    for target in targets:
        counts = Counter(str(v["verdict"]) for v in verdicts if v["target"] == target)
        print(f"{target}: " + ", ".join(f"{name} {count}" for name, count in counts.most_common()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
