"""Building layers: a request per build (:mod:`.request`), made from flags and configuration
(:mod:`.plan`), run through the stages (:mod:`.pipeline`), several at once (:mod:`.matrix`).

>>> result = build(BuildRequest(get_target("python3.12"), Resolve(wanted), ZipOutput(out)))  # doctest: +SKIP
"""

from lambdalayer.builder.pipeline import build
from lambdalayer.builder.request import BuildRecipe, BuildRequest, FunctionCode
from lambdalayer.builder.result import BuildResult

__all__ = ["BuildRecipe", "BuildRequest", "BuildResult", "FunctionCode", "build"]
