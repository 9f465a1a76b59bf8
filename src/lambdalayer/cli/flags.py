"""The command line's names for the library's settings: the one table that maps them.

Library messages name a setting as :func:`lambdalayer.errors.option` writes it
(```BuildRequest.check=False```); everything the command line shows — ``error:`` and
``hint:`` lines, progress, reports, JSON — passes through :func:`in_flags`, which puts the
flag a user types in its place (``--no-check``). A setting with a value keeps it
(```Target.runtime=python3.12``` → ``--runtime python3.12``).
"""

from __future__ import annotations

import re

# setting (with "=value" when one value has a flag of its own) → the flag
FLAGS = {
    "BuildRequest.check=False": "--no-check",
    "ImageRequest.check=False": "--no-check",
    "Target.runtime": "--runtime",
    "Target.arch": "--arch",
    "ImageOutputs.push": "--push",
    "ImageOutputs.archive": "-o",
    "ImageOutputs.deploy": "--deploy",
    "ImageRequest.base": "--base",
    "Beneath.on_top_of": "--on-top-of",
    "Beneath.runtime_provided=True": "--exclude-runtime-provided",
    "CheckRequest.with_zips": "--with",
    "CheckRequest.function=True": "--function",
    "CheckRequest.handler": "--handler",
    "CheckRequest.imports=None": "--no-imports",
    "ImportOptions.image": "--image",
    "ImportOptions.python": "--python",
    "ImportOptions.sandbox": "--sandbox",
    "SlimOptions.drop": "--drop",
    "SlimOptions.keep": "--keep",
    "TrimRequest.keep": "--keep",
    "TrimRequest.ignore_json_paths": "--ignore-json-path",
    "BuildRecipe.python": "--python",
    "BuildRecipe.bytecode": "--bytecode",
    "IndexConfig.index_url": "--index-url",
    "Resolve.allow_build=False": "--no-build",
    "FunctionConfig.memory_mb": "--memory",
    "FunctionConfig.timeout": "--timeout",
    "FunctionConfig.ephemeral_mb": "--ephemeral-storage",
    "FleetOutputs.changed": "--changed-since",
    "FunctionConfig.log_format": "--log-format",
    "ShipsRequest.provenance=True": "--provenance",
}
_SETTING = re.compile(r"`([A-Z][A-Za-z]+\.[a-z_]+)(?:=([^`\n]*))?`")


def in_flags(text: str) -> str:
    """``text`` with every setting the table knows said as its flag."""

    def flag(match: re.Match[str]) -> str:
        setting, value = match.group(1), match.group(2)
        whole = f"{setting}={value}" if value is not None else setting
        if whole in FLAGS:
            return FLAGS[whole]
        if setting in FLAGS:
            return FLAGS[setting] + (f" {value}" if value else "")
        return match.group(0)

    return _SETTING.sub(flag, text)
