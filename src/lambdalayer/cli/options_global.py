"""The options every command takes, before or after its name: ``-v``, ``-q``, ``--json``, and
the network's (``--proxy``, ``--native-tls``, ``--allow-auth-host``).

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
        help="say less: no progress or information on stderr (warning: and notice: lines,"
        " errors, their hints and the result stay); -qq: no warnings or notices either (errors"
        " and their hints always stay)",
    )
    group.add_argument(
        "--json",
        dest=f"{prefix}json",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="print the result (or the error) as one JSON object on stdout, nothing else",
    )
    network = parser.add_argument_group("network options (see SECURITY.md)")
    network.add_argument(
        "--proxy",
        dest=f"{prefix}proxy",
        metavar="URL",
        default=None if top else argparse.SUPPRESS,
        help="send every request through this http(s) proxy (default: $HTTPS_PROXY,"
        " $HTTP_PROXY, $ALL_PROXY; $NO_PROXY hosts go direct); uv gets it too",
    )
    network.add_argument(
        "--native-tls",
        dest=f"{prefix}native_tls",
        action="store_true",
        default=False if top else argparse.SUPPRESS,
        help="uv trusts the system's certificate store too, as lambdalayer does"
        " ($UV_NATIVE_TLS, $UV_SYSTEM_CERTS); SSL_CERT_FILE, SSL_CERT_DIR and"
        " REQUESTS_CA_BUNDLE name other certificates",
    )
    network.add_argument(
        "--allow-auth-host",
        dest=f"{prefix}allow_auth_host",
        action="append",
        metavar="HOST[:PORT]",
        default=[] if top else argparse.SUPPRESS,
        help="a registry's token service on another host that may receive your registry"
        " credentials (repeatable; also $LAMBDALAYER_ALLOW_AUTH_HOST, and allow-auth-host in"
        " [tool.lambdalayer])",
    )


# Global options that take a value: the word after them is not the command's name.
VALUE_OPTIONS = frozenset({"--proxy", "--allow-auth-host"})
