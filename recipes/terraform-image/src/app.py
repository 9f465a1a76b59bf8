"""The function's code: lambdalayer puts it at /var/task and makes app.handler the image's CMD."""

import requests


def handler(event, context):
    """Answer with the version of requests the image carries."""
    return {"statusCode": 200, "body": f"requests {requests.__version__}"}
