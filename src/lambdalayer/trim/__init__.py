"""Trim by trace: the smallest artefact that still answers the function's own events.

:mod:`.trace` runs the handler under ``invoke`` with a system-call trace; :mod:`.manifest`
is ``lambdalayer.trim.toml``; :mod:`.apply` decides what stays (deterministically) and adds
the finder that names a trimmed module's manifest line; :mod:`.verify` compares answers;
:mod:`.run` puts them together for ``lambdalayer trim``.
"""
