"""Everything a release does short of uploading: build, check, install, run.

    python scripts/check_release.py [--tag v0.2.0] [--outdir dist]

1. ``python -m build`` makes the sdist and the wheel from this checkout (an isolated
   build environment with the build requirements pyproject.toml pins);
2. ``twine check --strict`` checks their metadata (PEP 639's License-Expression included);
3. with ``--tag``, the tag must be ``v`` + the version the wheel carries;
4. the wheel is installed into a fresh virtual environment and ``lambdalayer --version``
   must print that version.

The release workflow (.github/workflows/release.yml) runs it before publishing, and the
test suite runs it too (tests/test_release.py). Exit status 0 only when every step passed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(command: list[str], cwd: Path = REPO) -> str:
    """Run ``command``; its stdout, or exit with its output when it fails."""
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return done.stdout


def wheel_version(wheel: Path) -> str:
    """The ``Version:`` of the wheel's METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        for line in archive.read(name).decode("utf-8").splitlines():
            if line.startswith("Version: "):
                return line.removeprefix("Version: ").strip()
    sys.exit(f"failed: {wheel.name} has no Version in its METADATA")


def main() -> int:
    """Build, check and smoke-test the release artefacts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", help="the git tag being released (vX.Y.Z)")
    parser.add_argument("--outdir", type=Path, default=REPO / "dist")
    args = parser.parse_args()
    outdir = args.outdir.resolve()
    run([sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(outdir), str(REPO)])
    wheels = sorted(outdir.glob("lambdalayer-*.whl"))
    sdists = sorted(outdir.glob("lambdalayer-*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        sys.exit(f"failed: expected one wheel and one sdist in {outdir}, found {wheels + sdists}")
    run([sys.executable, "-m", "twine", "check", "--strict", str(wheels[0]), str(sdists[0])])
    version = wheel_version(wheels[0])
    if args.tag is not None and args.tag != f"v{version}":
        sys.exit(f"failed: the tag {args.tag} is not v{version}, the version the wheel carries")
    with tempfile.TemporaryDirectory() as scratch:
        venv = Path(scratch) / "venv"
        run([sys.executable, "-m", "venv", str(venv)])
        run([str(venv / "bin" / "pip"), "install", "--quiet", str(wheels[0])])
        printed = run([str(venv / "bin" / "lambdalayer"), "--version"]).strip()
    if printed != f"lambdalayer {version}":
        sys.exit(f"failed: the installed wheel says {printed!r}, not 'lambdalayer {version}'")
    print(f"ok: {wheels[0].name} and {sdists[0].name} ({version}) built, checked and installed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
