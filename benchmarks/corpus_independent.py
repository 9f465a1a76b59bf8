"""Import every module of each layer the corpus passed, independently: a fresh process and an
empty result cache per module (issue #32's test of a pass).

    python benchmarks/corpus_independent.py benchmarks/corpus-longtail-verdicts.json \\
        --cache-dir /tmp/corpus-cache --out independent.json

For each verdict ``passed`` (or ``passed, optional modules fail``; ``ok`` in older files)
the layer is built again from the shared cache with ``--no-check``, then ``lambdalayer check LAYER --import MODULE`` runs once
per top-level module, each with a new cache directory (so no import result, check report
or root is reused). A module that fails alone but passed in the corpus (and was not among
its optional failures) is a false pass. It prints each one and the counts per target.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from lambdalayer.check.modules import top_level_modules

TIMEOUT_SECONDS = 600


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lambdalayer", *command],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
        env={**os.environ, "NO_COLOR": "1"},
    )


def modules_of(layer: Path) -> list[str]:
    """The layer's top-level modules, as the check would import them."""
    with zipfile.ZipFile(layer) as archive:
        names = archive.namelist()
    prefixes = sorted(
        {m.group(0) for n in names if (m := re.match(r"python/lib/python[\d.]+/site-packages/", n))}
    )
    return top_level_modules(names, [*prefixes, "python/"])


def independent(verdict: dict[str, object], cache: Path, work: Path) -> list[dict[str, object]]:
    """Each module of one passed build, imported alone."""
    package, target = str(verdict["package"]), str(verdict["target"])
    runtime, arch = target.rsplit("-", 1)
    layer = work / f"{re.sub(r'[^A-Za-z0-9]', '_', package)}-{target}.zip"
    where = ["--runtime", runtime, "--arch", arch]
    built = _run(
        ["build", package, *where, "--cache-dir", str(cache), "-o", str(layer), "--no-check"]
    )
    if built.returncode != 0:
        return [
            {"package": package, "target": target, "module": None, "error": built.stderr[-300:]}
        ]
    optional = str(verdict.get("detail") or "")
    results = []
    for module in modules_of(layer):
        with tempfile.TemporaryDirectory(prefix="independent-", dir=work) as fresh:
            started = time.perf_counter()
            done = _run(
                ["check", str(layer), *where, "--import", module, "--cache-dir", fresh, "--json"]
            )
            ok, error = _outcome(done)
        results.append(
            {
                "package": package,
                "target": target,
                "module": module,
                "ok": ok,
                "error": error,
                "optional_in_corpus": module in optional,
                "seconds": round(time.perf_counter() - started, 1),
            }
        )
    layer.unlink(missing_ok=True)
    return results


def _outcome(done: subprocess.CompletedProcess[str]) -> tuple[bool | None, str | None]:
    """Whether the module imported alone: True, False, or None when its import did not run
    (the check said "not verified", e.g. no aarch64 CPython here): an import that never ran
    is not a pass."""
    try:
        report = json.loads(done.stdout)
        imports = report["imports"]
        if not imports:
            why = "; ".join(str(item.get("why")) for item in report.get("unverified") or () if item)
            return None, f"not verified: {why or 'no import ran'}"
        ok = all(item["ok"] for item in imports)
        return ok, next((item["error"] for item in imports if not item["ok"]), None)
    except (ValueError, KeyError, TypeError, AttributeError):
        return False, (done.stderr.strip().splitlines() or ["no output"])[-1]


def _merge(out: Path, results: list[dict[str, object]]) -> list[dict[str, object]]:
    """Add one build's results to ``out`` (replacing any earlier ones of that build), under a
    lock so that runs of different targets can share the file; returns the merged list."""
    with out.with_name(out.name + ".lock").open("w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data = json.loads(out.read_text("utf-8")) if out.exists() else {"modules": []}
        keys = {(r["package"], r["target"]) for r in results}
        kept = [m for m in data["modules"] if (m["package"], m["target"]) not in keys]
        data["modules"] = [*kept, *results]
        out.write_text(json.dumps(data, indent=1) + "\n")
    modules: list[dict[str, object]] = data["modules"]
    return modules


def main() -> int:
    """Re-import every passed build's modules one by one; print false passes and counts."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("verdicts", type=Path, nargs="+")
    parser.add_argument(
        "--cache-dir", type=Path, required=True, help="the corpus run's cache (wheels)"
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--targets", help="comma-separated: only these targets' passes")
    parser.add_argument("--limit", type=int, default=0, help="only the first N passes")
    parser.add_argument(
        "--start", type=int, default=1, help="begin at the Nth project of the verdicts' order"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep --out's results, skip the builds it has, merge new ones into it",
    )
    parser.add_argument("--run", help="a label stored with each new result (when, at which commit)")
    args = parser.parse_args()
    targets = set(args.targets.split(",")) if args.targets else None
    verdicts = [
        v for path in args.verdicts for v in json.loads(path.read_text("utf-8"))["verdicts"]
    ]
    projects = list(dict.fromkeys(str(v["package"]) for v in verdicts))
    done: set[tuple[object, object]] = set()
    if args.resume and args.out.exists():
        done = {(m["package"], m["target"]) for m in json.loads(args.out.read_text())["modules"]}
    passed = [
        verdict
        for verdict in verdicts
        if str(verdict["verdict"]).startswith(("ok", "passed"))
        and (targets is None or verdict["target"] in targets)
        and projects.index(str(verdict["package"])) + 1 >= args.start
        and (verdict["package"], verdict["target"]) not in done
    ][: args.limit or None]
    found: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="independent-") as scratch:
        for number, verdict in enumerate(passed, start=1):
            results = independent(verdict, args.cache_dir, Path(scratch))
            if args.run:
                results = [{**r, "run": args.run} for r in results]
            found += results
            false = [
                r for r in found if r["module"] and r["ok"] is False and not r["optional_in_corpus"]
            ]
            print(
                f"[{number}/{len(passed)}] project {projects.index(str(verdict['package'])) + 1} "
                f"{verdict['target']:<18} {verdict['package']:<28} false passes so far: {len(false)}",
                flush=True,
            )
            if args.resume:
                _merge(args.out, results)
            else:
                args.out.write_text(json.dumps({"modules": found}, indent=1) + "\n")
    for item in found:
        if item["module"] and item["ok"] is False and not item["optional_in_corpus"]:
            print(
                f"FALSE PASS {item['target']} {item['package']} {item['module']}: {item['error']}"
            )
    for target in sorted({str(item["target"]) for item in found}):
        mine = [item for item in found if item["target"] == target and item["module"]]
        bad = [item for item in mine if item["ok"] is False and not item["optional_in_corpus"]]
        unverified = [item for item in mine if item["ok"] is None]
        print(
            f"{target}: {len(mine) - len(unverified)} modules imported alone, {len(bad)} false"
            f" passes, {len(unverified)} not verified (their import did not run)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
