"""What ships: SBOMs, licences, known vulnerabilities and provenance of an artefact.

Each module takes simple typed facts — the lock's wheels (sha256, URL), the
distributions' ``METADATA``, the files placed in the artefact with their sha256 — so it
works on a layer just built, on any zip read back, and on an image:

- :mod:`.inventory`: what an artefact holds (and what the function also loads beside it);
- :mod:`.licences`: declared licences as SPDX expressions; the deny policy;
- :mod:`.sbom`: CycloneDX 1.6 and SPDX 2.3 JSON, byte-reproducible;
"""
