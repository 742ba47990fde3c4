"""An empty password or token refuses to start the server: it would let anyone in (issue 11, 9)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chroma_frame.server import ServerConfig
from chroma_frame.server.auth import BasicAuthenticator, TokenAuthenticator, build_authenticator

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("credentials, who", [("bob:", "bob"), ("bob:secret,alice:", "alice"), ("bob:   ", "bob")])
def test_empty_password_is_refused(credentials, who):
    config = ServerConfig.from_env({"CHROMA_SERVER_AUTHN_PROVIDER": "basic",
                                    "CHROMA_SERVER_AUTHN_CREDENTIALS": credentials})
    with pytest.raises(ValueError, match=f"empty password for user '{who}'"):
        build_authenticator(config)


def test_entry_without_password_is_refused():
    config = ServerConfig(auth_provider="basic", auth_credentials="bob")
    with pytest.raises(ValueError, match="expected user:password"):
        build_authenticator(config)


def test_credentials_files_are_checked_too(tmp_path):
    users = tmp_path / "htpasswd"
    users.write_text("alice:secret\nbob:\n")
    with pytest.raises(ValueError, match=f"empty password for user 'bob' in the credentials file {users}"):
        build_authenticator(ServerConfig(auth_provider="basic", auth_credentials_file=str(users)))
    tokens = tmp_path / "tokens.yaml"
    tokens.write_text('users:\n  - id: bob\n    tokens: ["", "t0k3n"]\n')
    with pytest.raises(ValueError, match="empty token"):
        build_authenticator(ServerConfig(auth_provider="token", auth_credentials_file=str(tokens)))
    tokens.write_text("users:\n  - id: bob\n    tokens: [null]\n")
    with pytest.raises(ValueError, match="empty token"):
        build_authenticator(ServerConfig(auth_provider="token", auth_credentials_file=str(tokens)))


def test_valid_credentials_still_work(tmp_path):
    basic = build_authenticator(ServerConfig(auth_provider="basic", auth_credentials="bob:secret, alice:pw"))
    assert isinstance(basic, BasicAuthenticator) and basic.users == {"bob": "secret", "alice": "pw"}
    token = build_authenticator(ServerConfig(auth_provider="token", auth_credentials="t0k3n"))
    assert isinstance(token, TokenAuthenticator) and token.tokens == {"t0k3n": ""}


def test_server_process_refuses_to_start(tmp_path):
    """``chroma-frame run`` exits with status 1 and a one-line reason; it never listens."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CHROMA_SERVER_AUTHN_PROVIDER": "basic",
           "CHROMA_SERVER_AUTHN_CREDENTIALS": "bob:"}
    proc = subprocess.run([sys.executable, "-m", "chroma_frame", "run", "--path", str(tmp_path / "data"),
                           "--port", "9"], cwd=str(ROOT), env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "empty password for user 'bob'" in proc.stderr
