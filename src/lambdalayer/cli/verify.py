"""The ``verify`` command: an artefact against its provenance, by its signature and a rebuild."""

from __future__ import annotations

import argparse
from pathlib import Path

from lambdalayer.builder.provenance import SUFFIX, VerifyRequest, verify
from lambdalayer.cli.common import EXIT_OK, print_json, stderr
from lambdalayer.errors import ProvenanceError
from lambdalayer.fsutil import not_a_file

DESCRIPTION = (
    "Checks that ARTEFACT is what its provenance (build --provenance) describes: its sha256,"
    " the DSSE signature when there is one (with --public-key), and a rebuild from the"
    " recorded lock with the recorded options — which must give the same bytes."
)
EPILOG = f"""\
examples:
  lambdalayer build -r requirements.txt -o layer.zip --provenance
  lambdalayer verify layer.zip --provenance layer.zip{SUFFIX}
  lambdalayer verify layer.zip --provenance layer.zip{SUFFIX} --public-key key.pub.pem
  lambdalayer verify function.zip --provenance function.zip{SUFFIX} --source src
"""


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``verify``'s arguments."""
    parser.add_argument("artefact", type=Path, help="the zip")
    parser.add_argument(
        "--provenance",
        type=Path,
        metavar="FILE",
        help=f"its provenance (default: ARTEFACT{SUFFIX})",
    )
    parser.add_argument(
        "--public-key",
        type=Path,
        metavar="PEM",
        help="the ed25519 key the provenance is signed with",
    )
    parser.add_argument("--source", type=Path, metavar="DIR", help="a function's source tree")
    parser.add_argument("--cache-dir", type=Path, metavar="DIR", help="lambdalayer's cache")


def execute(args: argparse.Namespace) -> int:
    """Run ``verify``."""
    if (why := not_a_file(args.artefact)) is not None:
        raise ProvenanceError(why[0], hint=why[1])
    provenance = args.provenance or args.artefact.with_name(args.artefact.name + SUFFIX)
    request = VerifyRequest(args.artefact, provenance, args.public_key, args.source, args.cache_dir)
    result = verify(request)
    if result.signed and not result.signature_checked:
        stderr("note: the provenance is signed; give --public-key to check the signature")
    signature = (
        "signature checked"
        if result.signature_checked
        else ("signed, signature NOT checked" if result.signed else "unsigned")
    )
    if result.rebuilt_sha256 != result.sha256:
        raise ProvenanceError(
            f"a rebuild from the recorded lock gave other bytes: {result.rebuilt_sha256},"
            f" not {result.sha256}",
            hint="the bytes depend on the CPython X.Y.Z that compiled the bytecode (recorded"
            " in the provenance's internalParameters) and on lambdalayer's version",
        )
    if args.json:
        print_json(
            {
                "ok": result.ok,
                "subject": result.subject,
                "sha256": result.sha256,
                "signed": result.signed,
                "signature_checked": result.signature_checked,
                "rebuilt_sha256": result.rebuilt_sha256,
            }
        )
        return EXIT_OK
    print(f"subject: {result.subject} sha256 {result.sha256} ({signature})")
    print(f"rebuilt from the recorded lock: sha256 {result.rebuilt_sha256} (the same bytes)")
    print(
        "verify ok" if result.ok else "verify: the rebuild matches; the signature was not checked"
    )
    return EXIT_OK
