import uuid

import pytest

from chroma_frame.storage.fs import Storage


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path):
    """(storage, url, settings): a fresh storage, a folder under ``tmp_path`` or a unique prefix in the
    session's bucket, and what ``Storage.for_path`` needs to open it again."""
    if request.param == "local":
        url = str(tmp_path / "db")
        return Storage.for_path(url), url, {}
    endpoint = request.getfixturevalue("s3_endpoint")
    url = endpoint.url(uuid.uuid4().hex)
    settings = {**endpoint.settings, "cache_dir": request.getfixturevalue("s3_cache_dir")}
    return Storage.for_path(url, **settings), url, settings
