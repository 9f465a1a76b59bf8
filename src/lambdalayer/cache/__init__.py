"""lambdalayer's cache and its one owner: buckets, entries, keys, holding and pruning.

- :mod:`~lambdalayer.cache.buckets`: every kind of entry and where it lives (one enum);
- :mod:`~lambdalayer.cache.keys`: keys derived from the frozen request a result depends on;
- :mod:`~lambdalayer.cache.store`: :class:`Cache`, what a command opens once and hands down;
- :mod:`~lambdalayer.cache.prune`: what the cache holds, and removing entries safely.

Part of the core: it imports nothing of the pipeline's packages.
"""

from lambdalayer.cache.buckets import Bucket
from lambdalayer.cache.keys import NOT_KEYED, key_of
from lambdalayer.cache.store import CACHE_ENV, Cache, cache_root, default_root

__all__ = ["CACHE_ENV", "NOT_KEYED", "Bucket", "Cache", "cache_root", "default_root", "key_of"]
