"""A real S3 endpoint for tests: moto's server on 127.0.0.1 (a free port), with one bucket.

:func:`moto_s3` starts it and yields an :class:`S3Endpoint`; ``endpoint.storage(prefix)`` is a
:class:`~chroma_frame.storage.fs.Storage` on ``s3://<bucket>/<prefix>``, configured explicitly
(the process environment is left alone).
"""

from __future__ import annotations

import logging
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from chroma_frame.storage.fs import Storage

ACCESS_KEY, SECRET_KEY, REGION = "testing", "testing", "us-east-1"


@dataclass(frozen=True)
class S3Endpoint:
    endpoint_url: str
    bucket: str

    @property
    def settings(self) -> dict[str, str]:
        """Keyword arguments of ``Storage.for_path`` that reach this endpoint."""
        return {"endpoint_url": self.endpoint_url, "access_key_id": ACCESS_KEY, "secret_access_key": SECRET_KEY,
                "region": REGION}

    def url(self, prefix: str) -> str:
        return f"s3://{self.bucket}/{prefix}"

    def storage(self, prefix: str | None = None) -> Storage:
        """A storage under ``prefix`` (a fresh unique one when None)."""
        return Storage.for_path(self.url(prefix or uuid.uuid4().hex), **self.settings)


@contextmanager
def moto_s3(bucket: str = "chroma-frame-test") -> Iterator[S3Endpoint]:
    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = S3Endpoint(f"http://{host}:{port}", bucket)
        boto3.client("s3", endpoint_url=endpoint.endpoint_url, aws_access_key_id=ACCESS_KEY,
                     aws_secret_access_key=SECRET_KEY, region_name=REGION).create_bucket(Bucket=bucket)
        yield endpoint
    finally:
        server.stop()
