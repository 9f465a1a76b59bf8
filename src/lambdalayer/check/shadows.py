"""The runtime's own packages that a layer brings its own copy of (see
:mod:`lambdalayer.environment.runtimepkgs` for what the runtime has)."""

from __future__ import annotations

from lambdalayer.check.findings import Finding, Kind, Severity
from lambdalayer.check.view import LayerView
from lambdalayer.errors import option
from lambdalayer.runtimepackages import runtime_packages
from lambdalayer.targets import Target

# The runtime's packages a layer should not replace lightly (the rest are their dependencies).
_SDK = frozenset({"boto3", "botocore", "s3transfer", "awslambdaric"})


def runtime_shadows(layer: LayerView, target: Target) -> list[Finding]:
    """The runtime's packages that ``layer`` brings its own copy of: Lambda takes the layer's.

    Another version of the SDK itself (boto3, botocore, s3transfer) or of awslambdaric is a
    warning: the function gets the layer's, and the runtime's pieces that stay must match
    it. Another version of one of their dependencies (urllib3 with requests, six) is a note:
    the runtime's boto3 then runs with it. The same version is said once, as a note on what
    the layer need not carry.
    """
    packages = runtime_packages(target)
    if packages is None:
        return []
    found = []
    for name, version in sorted(layer.distributions.items()):
        runtime_version = packages.pins.get(name)
        if runtime_version is None:
            continue
        if version != runtime_version:
            found.append(
                Finding(
                    Severity.WARNING if name in _SDK else Severity.INFO,
                    Kind.SHADOW,
                    f"{name} {version} here shadows the runtime's own {name} {runtime_version}:"
                    " it is on sys.path before /var/runtime, so the function gets this one",
                    None,
                    name,
                    f"keep it if the function needs {name} {version}; otherwise leave it out"
                    f" ({option('Beneath.runtime_provided', True)}) and use the runtime's",
                )
            )
    same = [
        name for name, version in layer.distributions.items() if packages.pins.get(name) == version
    ]
    if same:
        found.append(
            Finding(
                Severity.INFO,
                Kind.SHADOW,
                f"the runtime has these at the same versions already: {', '.join(sorted(same))}",
                None,
                None,
            )
        )
    return found
