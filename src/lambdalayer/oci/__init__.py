"""Container images without Docker: the OCI distribution API (pull and push), image layouts,
and reproducible layer tarballs.

- :mod:`.reference`: ``host/repository:tag@digest`` parsed as Docker does;
- :mod:`.client`: one repository on one registry — manifests, blobs (HEAD, GET verified by
  digest, cross-repository mount, upload), with bearer-token and basic authentication;
- :mod:`.credentials`: a registry's credentials from the Docker configuration (and its
  credential helpers);
- :mod:`.blobs`: the cache's content-addressed blob store;
- :mod:`.tarlayer`: a layer tarball whose bytes depend only on its files;
- :mod:`.layout`: the OCI image layout (directory or tar archive), read and written.
"""
