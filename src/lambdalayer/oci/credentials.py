"""A registry's credentials from the Docker configuration, as ``docker login`` left them.

``$DOCKER_CONFIG/config.json`` (default ``~/.docker/config.json``): ``credHelpers`` for
the host, else ``credsStore``, runs ``docker-credential-<helper> get`` with the host on
its standard input (the protocol of docker/docker-credential-helpers: a JSON answer with
``Username`` and ``Secret``); else ``auths`` (``auth``: base64 ``user:password``, or
``username`` and ``password``). Keys of ``auths`` may carry a scheme and a path
(``https://index.docker.io/v1/``); they match by host. Nothing is cached on disk and
nothing is printed.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

Credentials = Callable[[str], "tuple[str, str] | None"]  # registry host → (user, secret)
HELPER_SECONDS = 30
_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")


def no_credentials(_host: str) -> tuple[str, str] | None:
    """Anonymous: no credentials for any registry."""
    return None


def _host_of(key: str) -> str:
    return urlsplit(key if "://" in key else f"//{key}").netloc


def _config(environ: Mapping[str, str]) -> dict[str, object]:
    directory = Path(environ.get("DOCKER_CONFIG") or Path.home() / ".docker")
    try:
        document = json.loads((directory / "config.json").read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def _from_helper(helper: str, host: str) -> tuple[str, str] | None:
    try:
        done = subprocess.run(
            [f"docker-credential-{helper}", "get"],
            input=host,
            capture_output=True,
            text=True,
            timeout=HELPER_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    try:
        answer = json.loads(done.stdout)
        return str(answer["Username"]), str(answer["Secret"])
    except (ValueError, KeyError, TypeError):
        return None


def _from_entry(entry: object) -> tuple[str, str] | None:
    if not isinstance(entry, dict):
        return None
    if isinstance(entry.get("auth"), str) and entry["auth"]:
        try:
            user, _, secret = base64.b64decode(entry["auth"]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user, secret
    if isinstance(entry.get("username"), str) and isinstance(entry.get("password"), str):
        return entry["username"], entry["password"]
    return None


def docker_credentials(
    host: str, environ: Mapping[str, str] = os.environ
) -> tuple[str, str] | None:
    """The credentials the Docker configuration holds for the registry ``host``, if any."""
    config = _config(environ)
    names = {host, *(_HUB_KEYS if host in _HUB_KEYS else ())}
    helpers = config.get("credHelpers")
    if isinstance(helpers, dict):
        for name in names:
            if isinstance(helpers.get(name), str):
                return _from_helper(helpers[name], host)
    auths = config.get("auths")
    if isinstance(auths, dict):
        for key, entry in auths.items():
            if _host_of(str(key)) in names or key in names:
                found = _from_entry(entry)
                if found is not None:
                    return found
    store = config.get("credsStore")
    if isinstance(store, str) and store:
        return _from_helper(store, host)
    return None
