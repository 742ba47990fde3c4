import uuid

import pytest

from chroma_frame.storage.fs import Storage
from tests.storage.s3_server import moto_s3


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server for the whole session (started on first use, stopped at the end)."""
    with moto_s3() as endpoint:
        yield endpoint


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path):
    """(storage, url, settings): a fresh storage, a folder under ``tmp_path`` or a unique prefix in the
    session's bucket, and what ``Storage.for_path`` needs to open it again."""
    if request.param == "local":
        url = str(tmp_path / "db")
        return Storage.for_path(url), url, {}
    endpoint = request.getfixturevalue("s3_endpoint")
    url = endpoint.url(uuid.uuid4().hex)
    return Storage.for_path(url, **endpoint.settings), url, endpoint.settings
