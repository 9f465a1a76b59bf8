"""Which credentials go to which registry: the command line's, ECR's, the Docker configuration's."""

from __future__ import annotations

import functools

from lambdalayer.aws.images import ecr_credentials, is_ecr
from lambdalayer.container.request import RegistryAuth
from lambdalayer.oci.credentials import Credentials, docker_credentials


def credentials_for(auth: RegistryAuth, push_host: str | None) -> Credentials:
    """A lookup of credentials by registry host (each asked once a run).

    The registry pushed to gets ``--registry-auth`` when given; an ECR host (or the pushed
    one with ``--registry-auth ecr``) a token from ECR; any other the Docker configuration's.
    """

    @functools.cache
    def lookup(host: str) -> tuple[str, str] | None:
        if host == push_host and auth.password is not None:
            return auth.password
        if is_ecr(host) or (host == push_host and auth.ecr):
            return ecr_credentials(host, auth.aws)
        return docker_credentials(host)

    return lookup
