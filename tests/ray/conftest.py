import pytest

ray = pytest.importorskip("ray")


@pytest.fixture(scope="session")
def ray_cluster():
    """A real local Ray cluster (2 CPUs) for the session: started on first use, shut down after."""
    import ray.data

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": _root()}})
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.print_on_execution_start = False
    yield ray
    ray.shutdown()


def _root() -> str:
    import os

    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def location(backend_kind, request, tmp_path):
    """(path, settings) of a fresh storage root: a local folder, or a prefix on the test S3 server."""
    import hashlib

    if backend_kind == "local":
        return str(tmp_path / "db"), {}
    endpoint = request.getfixturevalue("s3_endpoint")
    settings = {"s3_endpoint_url": endpoint.endpoint_url, "s3_access_key_id": "testing",
                "s3_secret_access_key": "testing", "s3_cache_dir": request.getfixturevalue("s3_cache_dir")}
    return endpoint.url(hashlib.sha256(str(tmp_path).encode()).hexdigest()[:24]), settings
