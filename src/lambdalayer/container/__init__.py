"""Lambda container images from the same build as a layer, without Docker.

For what outgrows a layer (a function and its layers must fit 262,144,000 bytes unzipped;
an image may hold 10 GB): the requirements resolved, fetched and prepared as for a layer
(the fragments, laid out where AWS's base image's ``pip install`` puts them:
``/var/lang/lib/pythonX.Y/site-packages``), grouped into reproducible image layers on top
of the runtime's AWS base image, checked inside that image, and written as an OCI layout
archive or pushed to a registry (ECR through boto3's login) and deployed.

>>> result = build_image(ImageRequest(build_request, ImageOutputs(push=reference)))  # doctest: +SKIP
>>> result.image_uri  # doctest: +SKIP
'123456789012.dkr.ecr.eu-west-1.amazonaws.com/myfn@sha256:…'
"""

from lambdalayer.container.pipeline import ImageResult, build_image
from lambdalayer.container.request import ImageOutputs, ImageRequest, RegistryAuth

__all__ = ["ImageOutputs", "ImageRequest", "ImageResult", "RegistryAuth", "build_image"]
