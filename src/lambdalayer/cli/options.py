"""The options several commands share, and how each group becomes the library's typed flags.

Each ``add_*`` function adds one group to a command's parser; each ``*_flags`` function
reads that group back from the parsed arguments. A command uses the pairs it needs and
never another command's namespace.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from lambdalayer.aws.client import AwsSettings
from lambdalayer.builder.plan import BeneathFlags, InputFlags, SourceFlags
from lambdalayer.errors import InputError
from lambdalayer.layer.slim import rules as slim_rules
from lambdalayer.recipe import SlimOptions
from lambdalayer.recipe import choices as bytecode_choices
from lambdalayer.targets import ARCH_ALIASES, Layout, default_runtime


def split(values: list[str]) -> tuple[str, ...]:
    """Repeatable, comma-separated values as one tuple: ``--arch x86_64,arm64 --arch arm64``."""
    return tuple(item.strip() for value in values for item in value.split(",") if item.strip())


def given_options(
    args: argparse.Namespace,
    configure: Callable[[argparse.ArgumentParser], None],
    which: Callable[[str], bool],
) -> dict[str, str]:
    """The options of the parser ``configure`` sets up whose ``dest`` ``which`` picks and that
    the command line gave (a value other than the default): each ``dest`` → its longest name."""
    parser = argparse.ArgumentParser(add_help=False)
    configure(parser)
    given = {}
    for action in parser._actions:
        if action.dest == argparse.SUPPRESS or not which(action.dest):
            continue
        value = getattr(args, action.dest, action.default)
        if value != action.default and not (value in ([], None) and action.default in ([], None)):
            names = action.option_strings or [str(action.metavar or action.dest)]
            given[action.dest] = max(names, key=len)
    return given


def unread_options(
    args: argparse.Namespace,
    configure: Callable[[argparse.ArgumentParser], None],
    reads: Collection[str],
) -> list[str]:
    """The options given that ``reads`` (the ``dest`` names one way of running a command
    reads) does not name: the flags it would otherwise silently ignore."""
    return list(given_options(args, configure, lambda dest: dest not in reads).values())


def refuse_unread(
    args: argparse.Namespace,
    configure: Callable[[argparse.ArgumentParser], None],
    needs: Mapping[str, tuple[str, str]],
) -> None:
    """One :class:`InputError` for the first option given without the one it works with
    (``needs``: its ``dest`` → that option's ``dest`` and flag, e.g. ``"fail_on": ("audit",
    "--audit")``): read only with it, it would otherwise be silently ignored."""
    unread = given_options(
        args, configure, lambda dest: dest in needs and not getattr(args, needs[dest][0], None)
    )
    for dest, flag in unread.items():
        mode = needs[dest][1]
        raise InputError(
            f"{flag} is read only with {mode}: without it, it would be ignored",
            hint=f"add {mode}, or drop {flag}",
        )


def refuse_given(
    args: argparse.Namespace,
    configure: Callable[[argparse.ArgumentParser], None],
    dests: Collection[str],
    mode: str,
) -> None:
    """One :class:`InputError` for the first option of ``dests`` given although ``mode`` (the
    way the command runs now, e.g. ``--no-imports``) reads none of them."""
    for flag in given_options(args, configure, lambda dest: dest in dests).values():
        raise InputError(
            f"{flag} does not mix with {mode}: nothing would read it", hint=f"drop {flag}"
        )


def add_requirement_inputs(parser: argparse.ArgumentParser) -> None:
    """Packages, ``-r`` files, extras, groups and the project directory."""
    parser.add_argument(
        "packages", nargs="*", metavar="PACKAGE", help="requirements, e.g. requests==2.31.0"
    )
    parser.add_argument(
        "-r",
        "--requirements",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="requirements file, pyproject.toml, uv.lock, poetry.lock or pylock*.toml (repeatable)",
    )
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME",
        help="an optional-dependency extra (repeatable)",
    )
    parser.add_argument(
        "--group",
        action="append",
        default=[],
        metavar="NAME",
        help="a PEP 735 dependency group (repeatable)",
    )
    parser.add_argument(
        "--project", type=Path, metavar="DIR", help="the project (default: the current directory)"
    )


def input_flags(args: argparse.Namespace) -> InputFlags:
    """The requirement inputs given (plus ``--from-lock``/``--function`` where the command has them)."""
    return InputFlags(
        packages=tuple(args.packages),
        requirements=tuple(args.requirements),
        extras=tuple(args.extra),
        groups=tuple(args.group),
        project=args.project,
        from_lock=getattr(args, "from_lock", None),
        function=getattr(args, "function", None),
        handler=getattr(args, "handler", None),
    )


def add_targets(parser: argparse.ArgumentParser) -> None:
    """``--runtime`` and ``--arch`` (every combination), or ``--target`` pairs."""
    parser.add_argument(
        "--runtime",
        action="append",
        default=[],
        metavar="NAME",
        help="Lambda runtime(s), e.g. python3.12, 3.12 or py312; repeatable or comma-separated"
        f" (default: {default_runtime().name}, the newest; 'lambdalayer targets' lists them)",
    )
    parser.add_argument(
        "--arch",
        action="append",
        default=[],
        metavar="ARCH",
        help=f"CPU(s): {ARCH_ALIASES}; repeatable or comma-separated (default: x86_64)",
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="RUNTIME-CPU",
        help="a (runtime, CPU) pair, e.g. python3.12-arm64; repeatable or comma-separated: only"
        " these pairs, not every runtime with every CPU (instead of --runtime/--arch)",
    )


def add_sources(parser: argparse.ArgumentParser) -> None:
    """Indexes, the cache, what is beneath the layer, and source builds."""
    parser.add_argument(
        "--index-url", metavar="URL", help="the package index (default: PyPI, or $UV_DEFAULT_INDEX)"
    )
    parser.add_argument(
        "--extra-index-url",
        action="append",
        default=[],
        metavar="URL",
        help="another index (repeatable)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help="lambdalayer's cache (default: $LAMBDALAYER_CACHE_DIR, else ~/.cache/lambdalayer)",
    )
    parser.add_argument(
        "--on-top-of",
        metavar="SPEC",
        help="build on top of what another layer provides: aws-sdk-pandas[==VERSION] (AWS's managed"
        " layer), layer:PATH.zip or layer:arn:...; its packages are kept at its versions and left"
        " out",
    )
    parser.add_argument(
        "--exclude-runtime-provided",
        action="store_true",
        help="leave out boto3, botocore and what they need: the runtime's copies are used"
        " (they may change under you)",
    )
    parser.add_argument(
        "--no-build",
        action="store_true",
        help="never build source-only packages (by default a pure-Python sdist is built into a"
        " wheel; native ones are refused)",
    )


def source_flags(args: argparse.Namespace) -> SourceFlags:
    """Where packages come from, as typed flags."""
    beneath = BeneathFlags(args.on_top_of, args.exclude_runtime_provided, aws_settings(args))
    return SourceFlags(
        index_url=args.index_url,
        extra_index_urls=tuple(args.extra_index_url),
        allow_build=not args.no_build,
        cache_dir=args.cache_dir,
        beneath=beneath,
    )


def add_aws(parser: argparse.ArgumentParser, *, regions: bool = False) -> None:
    """``--region``/``--profile``/``--endpoint-url`` (and ``--regions``)."""
    group = parser.add_argument_group("AWS")
    group.add_argument("--region", help="AWS region (default: AWS_REGION or the profile's)")
    if regions:
        group.add_argument("--regions", metavar="R1,R2", help="publish in several regions at once")
    group.add_argument("--profile", help="AWS profile of the shared config files")
    group.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="an AWS-compatible endpoint (e.g. a local moto server)",
    )


def aws_settings(args: argparse.Namespace) -> AwsSettings:
    """How to reach AWS (the ``add_aws`` group; defaults where a command has none of it)."""
    return AwsSettings(
        profile=getattr(args, "profile", None),
        region=getattr(args, "region", None),
        endpoint_url=getattr(args, "endpoint_url", None),
    )


def regions_of(args: argparse.Namespace) -> list[str]:
    """``--regions a,b`` as a list (empty: the one ``--region``)."""
    return list(split([args.regions or ""]))


def add_publish_settings(parser: argparse.ArgumentParser) -> None:
    """How a layer version is published (``publish``, and ``build --publish``)."""
    parser.add_argument(
        "--description", default="", help="version description (the content hash is appended)"
    )
    parser.add_argument(
        "--license",
        dest="license_info",
        metavar="TEXT",
        help="LicenseInfo (SPDX id or URL, 512 chars)",
    )
    parser.add_argument(
        "--s3-bucket",
        metavar="BUCKET",
        help="upload through this bucket (needed over 50 MB zipped)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="publish even when the newest version has the same content",
    )
    parser.add_argument(
        "--public", action="store_true", help="let every AWS account use the new version"
    )
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        metavar="ID",
        help="let this account use it (repeatable)",
    )
    parser.add_argument("--org", metavar="o-ID", help="let this AWS organization use it")
    parser.add_argument(
        "--signing-profile",
        metavar="NAME",
        help="sign the zip with this AWS Signer profile (AWSLambda-SHA384-ECDSA) before"
        " publishing; Signer reads and writes it in --s3-bucket (versioning on)",
    )


def add_recipe(parser: argparse.ArgumentParser, *, layout: bool = True) -> None:
    """How wheels become files: layout, bytecode, slimming, the check."""
    if layout:
        parser.add_argument(
            "--layout",
            choices=[Layout.SITE_PACKAGES.value, Layout.PYTHON.value],
            help="where packages go: python/lib/pythonX.Y/site-packages/ (default) or python/",
        )
    parser.add_argument(
        "--bytecode",
        choices=bytecode_choices(),
        help="unchecked-hash (default; 'auto' is its old name): .pyc compiled by a CPython of the"
        " runtime's version beside each .py, so cold starts skip compiling; that CPython is"
        " --python, else found here (PATH, pyenv, uv), else installed with 'uv python install',"
        " and the build stops with a hint when none can be had; none: sources only; only: .pyc"
        " instead of .py (smaller, but tracebacks show no source lines)",
    )
    parser.add_argument(
        "--python",
        type=Path,
        metavar="PATH",
        help="a CPython of the runtime's version (bytecode, import check)",
    )
    parser.add_argument("--no-slim", action="store_true", help="keep everything the wheels contain")
    rules = ", ".join(rule.name for rule in slim_rules())
    parser.add_argument(
        "--skip-rule",
        action="append",
        default=[],
        metavar="RULE",
        help=f"turn one slimming rule off (repeatable): {rules}",
    )
    parser.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="GLOB",
        help="never drop or strip these paths (relative to the package directory)",
    )
    parser.add_argument(
        "--strip-program",
        metavar="PROGRAM",
        help="strip shared objects with this program (e.g. llvm-strip) instead of lambdalayer's own"
        " section stripper; the layer's bytes then depend on that program's version",
    )
    parser.add_argument(
        "--drop",
        action="append",
        default=[],
        metavar="GLOB",
        help="also leave these paths out (e.g. '**/*.md')",
    )
    parser.add_argument(
        "--no-check", action="store_true", help="do not run 'lambdalayer check' on what is built"
    )


STRICT_HELP = (
    "exit non-zero when a part of the check is not verified (the imports did not run), not"
    " only when one failed; for CI (the configuration's strict = true does the same)"
)


def add_strict(parser: argparse.ArgumentParser, help_text: str = STRICT_HELP) -> None:
    """``--strict``: what is not verified fails, for CI (configuration: strict = true)."""
    parser.add_argument("--strict", action="store_true", help=help_text)


def slim_options(args: argparse.Namespace) -> SlimOptions:
    """The slimming flags of :func:`add_recipe` as options."""
    return SlimOptions(
        not args.no_slim,
        frozenset(args.skip_rule),
        tuple(args.keep),
        tuple(args.drop),
        args.strip_program,
    )
