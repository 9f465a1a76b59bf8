"""The options every command takes, before or after its name: ``-v``, ``-q``, ``--json``.

Apart from :mod:`lambdalayer.cli.options` (which imports the library's types) so that
``lambdalayer --help`` imports nothing but argparse.
"""

from __future__ import annotations

import argparse


def add_global_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """Options every command takes, before or after its name.

    argparse gives a sub-command's defaults the last word, so the sub-command's copies
    count into their own names (``sub_verbose``…) and :func:`_merged` adds them up.
    """
    prefix = "" if top else "sub_"
    default: object = 0 if top else argparse.SUPPRESS
    group = parser.add_argument_group("global options")
    group.add_argument(
        "-v",
        "--verbose",
        dest=f"{prefix}verbose",
        action="count",
        default=default,
        help="say more (-vv: tracebacks on errors)",
    )
    group.add_argument(
        "-q",
        "--quiet",
        dest=f"{prefix}quiet",
        action="count",
        default=default,
        help="say less: no progress (-qq: errors only)",
    )
    group.add_argument(
        "--json",
        dest=f"{prefix}json",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="print the result (or the error) as one JSON object on stdout, nothing else",
    )
