"""Getting things over HTTP: the pooled client, package indexes, the wheel cache.

Used by resolving and by building layers alike, so it sits below both.
"""
