"""S3-compatible object stores from the usual AWS settings (shared by lake writer and catalog).

``AWS_ENDPOINT_URL_S3`` (or ``AWS_ENDPOINT_URL``) points at any S3-compatible store;
credentials come from the AWS SDK's default chain (``AWS_ACCESS_KEY_ID`` etc.), never logged.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pyarrow.fs as pafs


def s3_from_environment() -> pafs.S3FileSystem:
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    options: dict[str, object] = {
        "region": os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or "us-east-1",
    }
    if endpoint:
        parts = urlsplit(endpoint)
        options["endpoint_override"] = parts.netloc or parts.path
        options["scheme"] = parts.scheme or "https"
    return pafs.S3FileSystem(**options)
