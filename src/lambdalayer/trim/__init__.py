"""Trim by trace, the files' half: the manifest and its deterministic application.

:mod:`.manifest` is ``lambdalayer.trim.toml``; :mod:`.units` says what each file is to a
trim; :mod:`.apply` decides what stays and adds the finder (:mod:`._finder`) that names a
trimmed module's manifest line. Placed files in, placed files out: ``build --trim``,
``image build --trim`` and ``lambdalayer trim`` (:mod:`lambdalayer.trace`) all use it.
"""
