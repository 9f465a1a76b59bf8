"""The ``plan`` command: a repository's functions, the layers they share, each one's total.

Reads the deploy files (SAM, CloudFormation/cdk.out, serverless.yml) and
``[tool.lambdalayer.functions]`` (:mod:`lambdalayer.inputs.fleet`), resolves every function
for its target and chooses the shared layers (:mod:`lambdalayer.builder.fleet`); prints
the plan, or ``--json``, or with ``--matrix`` a GitHub Actions matrix (one job per target,
nothing resolved).
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from lambdalayer.builder.deployout import Planned
from lambdalayer.builder.fleet import (
    FleetPlan,
    FleetSettings,
    TargetPlan,
    fleet_settings,
    plan_fleet,
)
from lambdalayer.builder.fleetbuild import (
    FleetBuilt,
    FleetOutputs,
    build_fleet,
    changed_paths,
    planned_artefacts,
    ships_of_fleet,
)
from lambdalayer.builder.sharing import Placed
from lambdalayer.builder.ships import ShipsRequest, check_sbom_directory, ships_json
from lambdalayer.check.sizes import human_bytes
from lambdalayer.cli.common import EXIT_ERROR, EXIT_OK, print_json, stderr, warn
from lambdalayer.cli.options import add_aws, aws_settings, refuse_unread, unread_options
from lambdalayer.cli.text import print_shipped
from lambdalayer.errors import InputError
from lambdalayer.inputs.config import load_config
from lambdalayer.inputs.fleet import Fleet, only_target, read_fleet
from lambdalayer.limits import MAX_LAYERS, UNZIPPED_LIMIT
from lambdalayer.recipe import BytecodeMode
from lambdalayer.recipe import choices as bytecode_choices
from lambdalayer.supply.review import enforce_each
from lambdalayer.targets import parse_target
from lambdalayer.wording import agreeing, counted

if TYPE_CHECKING:
    from lambdalayer.builder.fleetcache import SharedCache

DESCRIPTION = "Plan the layers a repository's functions share: fewest bytes, within the quotas."
EPILOG = """\
examples:
  lambdalayer plan                         # template.yaml / serverless.yml / cdk.out here
  lambdalayer plan --deploy-file infra/template.yaml --json
  lambdalayer plan --matrix                # {"include": [{"target": ...}, ...]} for CI

Functions of one target that need the same distribution (at one version) share a layer
holding exactly what they all need; each keeps the rest in its own package. Every
function stays within 5 layers (counting those it names already) and 262,144,000 bytes
unzipped; sizes are estimated from the wheels. 'lambdalayer build --all' builds the plan.
"""


def add_fleet_inputs(parser: argparse.ArgumentParser) -> None:
    """Where the functions are: the project and its deploy files, and the package sources."""
    parser.add_argument(
        "--project",
        type=Path,
        metavar="DIR",
        help="the repository (default: the current directory)",
    )
    parser.add_argument(
        "--deploy-file",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="a SAM/CloudFormation template or serverless.yml (repeatable; default: those found)",
    )
    parser.add_argument("--index-url", metavar="URL", help="the package index (default: PyPI)")
    parser.add_argument(
        "--extra-index-url", action="append", default=[], metavar="URL", help="another index"
    )
    parser.add_argument("--cache-dir", type=Path, metavar="DIR", help="lambdalayer's cache")
    parser.add_argument("--no-build", action="store_true", help="never build source-only packages")


def add_fleet_build(parser: argparse._ActionsContainer, *, recipe: bool) -> None:
    """Where ``build --all`` (``plan --build``) writes, and what it rebuilds."""
    if recipe:  # ``build`` has these options already
        parser.add_argument("--output-dir", type=Path, metavar="DIR", help="default: dist")
        parser.add_argument("--bytecode", choices=bytecode_choices(), help="see 'build --help'")
        parser.add_argument("--python", type=Path, metavar="PATH", help="see 'build --help'")
        parser.add_argument("--no-check", action="store_true", help="do not check what is built")
    parser.add_argument(
        "--cache-url",
        metavar="URL",
        help="a cache the CI fleet shares: s3://bucket/prefix or file:///mount; wheels (by"
        " sha256) always, resolutions, fragments and checks only under LAMBDALAYER_CACHE_KEY",
    )
    parser.add_argument(
        "--changed-since",
        metavar="REF",
        help="rebuild only what the changes since this git revision affect (and what is missing)",
    )


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """``plan``'s arguments."""
    add_fleet_inputs(parser)
    parser.add_argument(
        "--matrix",
        action="store_true",
        help="print a GitHub Actions matrix, one job per target (nothing is resolved)",
    )
    parser.add_argument("--build", action="store_true", help="then build it all (as 'build --all')")
    parser.add_argument(
        "--only-target",
        metavar="RUNTIME-CPU",
        help="plan (and build) the functions of this target only: one job of --matrix",
    )
    add_fleet_build(parser, recipe=True)
    add_aws(parser)


# An option → the option it works with (given without it, it would be ignored).
AWS_NEEDS = dict.fromkeys(("region", "profile", "endpoint_url"), ("cache_url", "--cache-url"))
_NEEDS = {
    **dict.fromkeys(
        ("output_dir", "bytecode", "python", "no_check", "changed_since"), ("build", "--build")
    ),
    **AWS_NEEDS,
}


def fleet_of(args: argparse.Namespace) -> Fleet:
    """The functions the arguments point at (of one target with ``--only-target``)."""
    project = args.project or Path.cwd()
    fleet = read_fleet(project, tuple(args.deploy_file))
    if getattr(args, "only_target", None):
        return only_target(fleet, parse_target(args.only_target))
    return fleet


def _settings(args: argparse.Namespace) -> FleetSettings:
    return fleet_settings(
        args.project or Path.cwd(),
        args.index_url,
        tuple(args.extra_index_url),
        args.cache_dir,
        allow_build=not args.no_build,
    )


def planned(args: argparse.Namespace, fleet: Fleet, shared: SharedCache | None = None) -> FleetPlan:
    """The plan of ``fleet`` with the arguments' sources (wheels read through ``shared``)."""
    settings = _settings(args)
    if shared is not None:
        settings = replace(settings, prefetch=shared.pull_wheels)
    return plan_fleet(fleet, settings, stderr)


@contextlib.contextmanager
def shared_of(args: argparse.Namespace) -> Iterator[SharedCache | None]:
    """The fleet's shared cache (``--cache-url``), or ``None``; what it did said at the end."""
    if not args.cache_url:
        yield None
        return
    from lambdalayer.builder.fleetcache import shared_cache  # noqa: PLC0415 - boto3, when asked

    with shared_cache(args.cache_url, aws_settings(args), _settings(args).cache_dir) as shared:
        yield shared
        for note in shared.report.notes:
            stderr(f"note: {note}")
        for refused in shared.report.refused:
            warn(f"warning: shared cache: {refused}")
        keyed = sum(1 for refused in shared.report.refused if "under another key" in refused)
        if keyed:
            warn(
                f"hint: {counted(keyed, 'entry', 'entries')} of the shared cache"
                f" {agreeing(keyed, 'was', 'were')} damaged or made under another key, and"
                f" {agreeing(keyed, 'is', 'are')} made again here: give LAMBDALAYER_CACHE_KEY (or"
                " LAMBDALAYER_CACHE_KEY_FILE) the key the team's other jobs write with"
            )
        report = shared.report
        stderr(
            f"shared cache {shared.store.where}: {counted(report.pulled, 'entry', 'entries')} read,"
            f" {report.pushed} written back ({report.present} there already)"
        )


def execute(args: argparse.Namespace) -> int:
    """Run ``plan``."""
    if args.matrix:  # nothing is resolved: only where the functions are is read
        given = unread_options(
            args, configure_parser, {"matrix", "project", "deploy_file", "only_target"}
        )
        if given:
            raise InputError(
                f"--matrix lists each target's functions without resolving; {given[0]} does not"
                " mix with it",
                hint="drop it (each job of the matrix plans or builds its target)",
            )
    refuse_unread(args, configure_parser, _NEEDS)
    fleet = fleet_of(args)
    if args.matrix:  # as GitHub reads it: no schema key (it would become a matrix dimension)
        print(json.dumps(matrix(fleet), separators=(",", ":")))
        return EXIT_OK
    if args.build:
        return plan_and_build(args, fleet)
    with shared_of(args) as shared:
        plan = planned(args, fleet, shared)
        if shared is not None:
            shared.write_back(plan)
    if args.json:
        print_json({"ok": not plan.over_quota, **plan_json(plan)})
    else:
        print_plan(plan)
    return EXIT_ERROR if plan.over_quota else EXIT_OK


def matrix(fleet: Fleet) -> dict[str, object]:
    """A GitHub Actions ``strategy.matrix``: one job per target, naming its functions."""
    return {
        "include": [
            {
                "target": target.name,
                "runtime": target.runtime.name,
                "arch": target.arch,
                "functions": ",".join(f.name for f in fleet.functions if f.target == target),
            }
            for target in fleet.targets()
        ]
    }


def _package(package: Placed) -> dict[str, object]:
    return {
        "name": package.name,
        "version": package.version,
        "unzipped_bytes": package.unzipped,
        "zipped_bytes": package.zipped,
    }


def _target_json(plan: TargetPlan) -> dict[str, object]:
    share = plan.share
    return {
        "target": plan.target.to_json(),
        "resolved_apart": plan.apart,
        "layers": [
            {
                "name": layer.name,
                "functions": list(layer.functions),
                "packages": [_package(package) for package in layer.packages],
                "unzipped_bytes": layer.unzipped,
                "zipped_bytes": layer.zipped,
            }
            for layer in share.layers
        ],
        "functions": [
            {
                "name": function.function,
                "layers": list(function.layers),
                "existing_layers": function.existing_layers,
                "own": [_package(package) for package in function.own],
                "unzipped_bytes": function.unzipped,
                "quota_bytes": UNZIPPED_LIMIT,
                "over_quota": function.over_quota,
                "notes": list(function.notes),
            }
            for function in share.functions
        ],
        "conflicts": [
            {"name": conflict.name, "versions": dict(conflict.versions)}
            for conflict in share.conflicts
        ],
        "upload_bytes": {"one_zip_per_function": share.fat_zipped, "planned": share.planned_zipped},
    }


def plan_json(plan: FleetPlan) -> dict[str, object]:
    """The plan as JSON (sizes estimated from the wheels)."""
    return {
        "targets": [_target_json(target) for target in plan.targets],
        "skipped": [{"function": name, "reason": reason} for name, reason in plan.fleet.skipped],
        "files": [str(path) for path in plan.fleet.files],
        "over_quota": plan.over_quota,
        "sizes": "estimated from the wheels (unzipped: their members; zipped: the wheel files)",
    }


def _upload_text(planned: int, fat: int) -> str:
    """What the plan uploads, beside one zip per function only when that differs."""
    if planned >= fat:  # one function, or nothing shared: no saving to claim
        return f"{human_bytes(planned)} (estimated from the wheels)"
    return (
        f"{human_bytes(planned)} instead of {human_bytes(fat)} with one zip per function"
        f" (saves {human_bytes(fat - planned)}; estimated from the wheels)"
    )


def print_plan(plan: FleetPlan) -> None:
    """The plan, one block per target."""
    for target in plan.targets:
        share = target.share
        print(
            f"{target.target.name}: {counted(len(share.functions), 'function')},"
            f" {counted(len(share.layers), 'shared layer')}"
        )
        if target.apart:
            print(f"  resolved apart (together they conflict): {target.apart}")
        for layer in share.layers:
            held = ", ".join(f"{p.name} {p.version}" for p in layer.packages)
            print(f"  layer {layer.name} ({human_bytes(layer.unzipped)} unzipped): {held}")
            print(f"    used by: {', '.join(layer.functions)}")
        for function in share.functions:
            mark = "  OVER QUOTA" if function.over_quota else ""
            layers = len(function.layers) + function.existing_layers
            own = ", ".join(f"{p.name} {p.version}" for p in function.own) or "nothing"
            print(
                f"  function {function.function}: {human_bytes(function.unzipped)} of"
                f" {human_bytes(UNZIPPED_LIMIT)}, {layers} of {MAX_LAYERS} layers; own: {own}{mark}"
            )
            for note in function.notes:
                print(f"    note: {note}")
        print(f"  to upload: {_upload_text(share.planned_zipped, share.fat_zipped)}")
    for name, reason in plan.fleet.skipped:
        print(f"not planned: {name}: {reason}")
    for name in plan.over_quota:
        print(
            f"over quota: {name} needs more than {UNZIPPED_LIMIT:,} bytes unzipped whatever the layers"
        )


def plan_and_build(
    args: argparse.Namespace, fleet: Fleet, ships: ShipsRequest | None = None
) -> int:
    """Plan ``fleet`` and build it all (``build --all``, ``plan --build``), through the
    shared cache when there is one; with ``ships``, what ships of each zip."""
    with shared_of(args) as shared:
        plan = planned(args, fleet, shared)
        if shared is not None:
            shared.planned(plan)
        code = build_plan(args, plan, shared, ships)
        if shared is not None:
            shared.write_back(plan)
    return code


def build_plan(
    args: argparse.Namespace,
    plan: FleetPlan,
    shared: SharedCache | None = None,
    ships: ShipsRequest | None = None,
) -> int:
    """Build every artefact of ``plan`` (``build --all``, ``plan --build``) and say what was
    made; with ``ships`` (``build --all --sbom DIR/--audit/--provenance``), each zip's SBOM
    in DIR named as the zip (every path checked before anything is built), its provenance
    beside it and its audit, and one error naming each zip whose audit fails."""
    project = args.project or Path.cwd()
    changed = changed_paths(project, args.changed_since) if args.changed_since else None
    settings = fleet_settings(
        project, args.index_url, tuple(args.extra_index_url), args.cache_dir, not args.no_build
    )
    outputs = FleetOutputs(
        args.output_dir or project / "dist",
        settings.index,
        settings.cache_dir,
        BytecodeMode.parse(args.bytecode) if args.bytecode else BytecodeMode.UNCHECKED_HASH,
        args.python,
        check=not args.no_check,
        strict=_strict(args, project),
        changed=changed,
        rebuild=ships is not None and ships.provenance,
        reuse=shared.pull_artefacts if shared is not None else None,
    )
    if ships is not None and ships.sbom is not None:
        artefacts = planned_artefacts(plan, outputs.directory)
        zips = [artefact.zip_path for artefact in artefacts]
        outputs_ = [("--output-dir", path) for path in zips]
        outputs_ += [("--output-dir", artefact.lock_path) for artefact in artefacts]
        check_sbom_directory(ships.sbom, ships.sbom_format, zips, outputs_)
    built = build_fleet(plan, outputs, stderr)
    shipped = {}
    if ships is not None:
        shipped = ships_of_fleet(built, ships, settings.index.urls[0], settings.cache_dir)
        for ships_of_zip in shipped.values():
            print_shipped(ships_of_zip, review=not args.json)
    reviews = {path.name: one.review for path, one in shipped.items() if one.review is not None}
    failing = [name for name, review in reviews.items() if review.failures()]
    rows = [
        {**_built_row(built, artefact), **ships_json(shipped.get(artefact.zip_path))}
        if ships is not None
        else _built_row(built, artefact)
        for artefact in built.artefacts
    ]
    if args.json:
        print_json(
            {
                "ok": built.ok and not failing,
                "artefacts": rows,
                **plan_json(plan),
                "deploy_files": [str(path) for path in built.deploy_files],
            }
        )
    else:
        for row in rows:
            detail = row.get("error") or row.get("zip")
            print(f"{row['status']:>9}  {row['kind']} {row['name']} {row['target']}: {detail}")
        for path in built.deploy_files:
            print(f"deploy file: {path}")
        enforce_each(reviews)  # one error naming each zip whose audit fails
    return EXIT_OK if built.ok and not failing and not plan.over_quota else EXIT_ERROR


def _strict(args: argparse.Namespace, project: Path) -> bool:
    """``--strict`` (``build --all``), or the configuration's ``strict = true``."""
    if getattr(args, "strict", False):
        return True
    config = load_config(project)
    return bool(config and config.strict)


def _built_row(built: FleetBuilt, artefact: Planned) -> dict[str, object]:
    row: dict[str, object] = {
        "kind": artefact.kind,
        "name": artefact.name,
        "target": artefact.target.name,
        "zip": str(artefact.zip_path),
        "lock": str(artefact.lock_path),
        "layers": list(artefact.layers),
    }
    outcome = built.outcomes.get(artefact.zip_path)
    if artefact.zip_path in built.blocked:
        return {**row, "status": "blocked", "error": built.blocked[artefact.zip_path]}
    if artefact.zip_path in built.cached:  # built before from the same inputs, elsewhere
        return {
            **row,
            "status": "cached",
            "sha256": built.cached[artefact.zip_path],
            "zipped_bytes": artefact.zip_path.stat().st_size,
        }
    if outcome is None:
        return {**row, "status": "unchanged"}
    if outcome.error is not None:
        return {**row, "status": "failed", "error": outcome.error.message}
    result = outcome.result
    assert result is not None  # noqa: S101 - an outcome has its result or its error
    return {
        **row,
        "status": "built",
        "sha256": result.layer.sha256,
        "zipped_bytes": result.layer.stats.zipped_bytes,
        "unzipped_bytes": result.layer.stats.unzipped_bytes,
    }
