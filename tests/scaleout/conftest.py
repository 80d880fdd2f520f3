"""Fixtures of the scale-out tests: a Tansu broker per test (memory or S3 storage)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from ..seaweed import ACCESS_KEY, SECRET_KEY, SeaweedFS
from .tansu import Tansu


@pytest.fixture
def tansu(tmp_path: Path) -> Iterator[Tansu]:
    broker = Tansu(tmp_path / "tansu")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def s3_tansu(tmp_path: Path, seaweed: SeaweedFS) -> Iterator[Tansu]:
    """Tansu keeping its log in a SeaweedFS bucket: a restart on the same port loses nothing."""
    bucket = f"tansu-{uuid.uuid4().hex[:12]}"
    assert seaweed.ports is not None
    admin = pafs.S3FileSystem(
        endpoint_override=f"127.0.0.1:{seaweed.ports['s3']}", scheme="http",
        access_key=ACCESS_KEY, secret_key=SECRET_KEY, region="us-east-1",
        allow_bucket_creation=True,
    )
    admin.create_dir(bucket)
    broker = Tansu(tmp_path / "tansu", storage=f"s3://{bucket}/", env={
        "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT": seaweed.endpoint,
        "AWS_ALLOW_HTTP": "true",
    })
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
