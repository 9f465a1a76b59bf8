"""What Lambda's execution environment shows of its CPUs (``data/lambda_cpus.toml``, with sources).

The sandbox mounts :attr:`LambdaCpus.cpuinfo` at ``/proc/cpuinfo`` for code of that CPU,
never this machine's (under qemu-user an aarch64 program would read an x86_64 one), and
mounts nothing at ``/sys``: Lambda has no sysfs view of its CPUs.

>>> lambda_cpus("aarch64").count
2
"""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass
from importlib import resources


@dataclass(frozen=True)
class LambdaCpus:
    """Lambda's CPUs for one architecture: how many it shows, and its ``/proc/cpuinfo``."""

    machine: str
    count: int
    cpuinfo: str


@functools.cache
def lambda_cpus(machine: str) -> LambdaCpus:
    """Lambda's CPUs for ``machine`` (``x86_64``, ``aarch64``); a ``KeyError`` for another."""
    text = resources.files("lambdalayer").joinpath("data/lambda_cpus.toml").read_text("utf-8")
    entry = tomllib.loads(text)[machine]
    count = int(entry["count"])
    cpuinfo = "".join(entry["processor"].replace("{n}", str(number)) for number in range(count))
    return LambdaCpus(machine, count, cpuinfo)
