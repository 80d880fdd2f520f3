"""S3-compatible object stores from the usual AWS settings (shared by lake writer and catalog).

``AWS_ENDPOINT_URL_S3`` (or ``AWS_ENDPOINT_URL``) points at any S3-compatible store;
credentials come from the AWS SDK's default chain (``AWS_ACCESS_KEY_ID`` etc.), never logged.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import pyarrow.fs as pafs

from ticklake.errors import StorageError, missing_bucket


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


def check_bucket(root: str) -> None:
    """Raise :class:`StorageError` if the bucket of the lake ``root`` (``s3://bucket/prefix``)
    does not exist. Any other answer (the store down, a refused key) is left to the lake
    writer, which retries while the spool keeps every frame."""
    bucket = root.removeprefix("s3://").split("/", 1)[0]
    try:
        info = s3_from_environment().get_file_info(bucket)
    except OSError:
        return
    if info.type == pafs.FileType.NotFound:
        raise missing_bucket(root, bucket)


if __name__ == "__main__":  # ``python -m ticklake.objectstore s3://...``: the recorder's check
    import sys

    try:
        check_bucket(sys.argv[1])
    except StorageError as exc:
        print(exc)
        sys.exit(2)
