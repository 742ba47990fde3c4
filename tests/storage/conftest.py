import pytest

from tests.storage.s3_server import moto_s3


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server for the whole session (started on first use, stopped at the end)."""
    with moto_s3() as endpoint:
        yield endpoint
