from tests.server.conftest import server, server_factory  # noqa: F401  (real servers for test_http.py)
