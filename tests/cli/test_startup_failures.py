"""Every start-up failure is one line on stderr that names the setting and
the cause, and a non-zero exit: never a traceback. The CLI runs as a real
process (``python -m keyturn``), as an operator would run it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from keyturn.service.masterkey import new_master_key
from tests.conftest import FAST_ARGON2_ENV, free_port, require_backends
from tests.stores.backends import MYSQL_URL, POSTGRES_URL, REDIS_URL, with_database

pytestmark = pytest.mark.slow  # each case runs the keyturn command

ROOT = Path(__file__).resolve().parents[2]
# A bound on a hang, not a timing: start-up on a loaded machine is slow.
HANG_LIMIT = 240


def keyturn(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KEYTURN_") and k != "PYTHONPATH"}
    clean |= {"PYTHONPATH": str(ROOT), **FAST_ARGON2_ENV, **env}
    return subprocess.run(
        [sys.executable, "-m", "keyturn", *args], env=clean, cwd=cwd, capture_output=True, text=True,
        timeout=HANG_LIMIT, stdin=subprocess.DEVNULL,
    )


def assert_one_line(proc: subprocess.CompletedProcess[str], status: int, *needles: str) -> str:
    """Exit ``status``, stderr a few lines without a traceback, saying ``needles``."""
    assert proc.returncode == status, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert 1 <= len(lines) <= 6, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr
    return proc.stderr


def _listening(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port), timeout=2).close()
    except OSError:
        return False
    return True


def server(url: str) -> str:
    """``url`` when its server answers; else skip (fail when backends are required)."""
    if not _listening(url) and not require_backends():
        pytest.skip(f"no server at {url}")
    return url


def read_only_dir(tmp_path: Path) -> Path:
    """A directory the test process cannot create files in: mode 0555, or for
    root (who ignores modes) a sysfs directory, which refuses new files."""
    if os.geteuid() == 0:
        return Path("/sys/kernel")
    folder = tmp_path / "read-only"
    folder.mkdir(mode=0o555)
    return folder


@pytest.fixture
def key() -> str:
    return new_master_key()


def test_unreachable_database_names_host_port_and_reason(tmp_path: Path, key: str) -> None:
    port = free_port()
    url = f"postgresql://postgres@127.0.0.1:{port}/test"
    proc = keyturn(["users", "list"], {"KEYTURN_DATABASE_URL": url, "KEYTURN_MASTER_KEY": key}, tmp_path)
    assert_one_line(proc, 1, "KEYTURN_DATABASE_URL", f"127.0.0.1:{port}", "connection refused")


def test_serve_with_an_unreachable_database_is_one_line(tmp_path: Path, key: str) -> None:
    port = free_port()
    url = f"mysql://root@127.0.0.1:{port}/test"
    proc = keyturn(["serve", "--port", str(free_port())], {"KEYTURN_DATABASE_URL": url, "KEYTURN_MASTER_KEY": key},
                   tmp_path)
    assert_one_line(proc, 1, "database", "KEYTURN_DATABASE_URL", f"127.0.0.1:{port}", "connection refused")


@pytest.mark.parametrize(("url", "says"), [
    ("postgresql+psycopg://postgres@127.0.0.1/test", "driver in 'postgresql+psycopg' is not supported"),
    ("sqlite:///:memory:", "in-memory SQLite database cannot be shared"),
])
def test_a_url_the_hot_path_does_not_serve_is_one_line(tmp_path: Path, key: str, url: str, says: str) -> None:
    proc = keyturn(["serve", "--port", str(free_port())], {"KEYTURN_DATABASE_URL": url, "KEYTURN_MASTER_KEY": key},
                   tmp_path)
    assert_one_line(proc, 2, "KEYTURN_DATABASE_URL", says)  # a setting's fault, like any other


@pytest.mark.backend
def test_unknown_role_is_named(tmp_path: Path, key: str) -> None:
    url = server(POSTGRES_URL).replace("postgres@", "no_such_role_kt@", 1)
    proc = keyturn(["users", "list"], {"KEYTURN_DATABASE_URL": url, "KEYTURN_MASTER_KEY": key}, tmp_path)
    assert_one_line(proc, 1, "KEYTURN_DATABASE_URL", 'role "no_such_role_kt" does not exist')


@pytest.mark.backend
def test_unknown_database_is_named(tmp_path: Path, key: str) -> None:
    url = with_database(server(POSTGRES_URL), "no_such_database_kt")
    proc = keyturn(["users", "list"], {"KEYTURN_DATABASE_URL": url, "KEYTURN_MASTER_KEY": key}, tmp_path)
    assert_one_line(proc, 1, "KEYTURN_DATABASE_URL", 'database "no_such_database_kt" does not exist')


@pytest.mark.backend
def test_wrong_password_is_named_and_masked(tmp_path: Path, key: str) -> None:
    url = server(MYSQL_URL).replace("root@", "root:not-the-password@", 1)
    proc = keyturn(["users", "list"], {"KEYTURN_DATABASE_URL": url, "KEYTURN_MASTER_KEY": key}, tmp_path)
    text = assert_one_line(proc, 1, "KEYTURN_DATABASE_URL", "Access denied", "root:********@")
    assert "not-the-password" not in text


@pytest.mark.backend
def test_unreachable_redis_names_the_session_store(tmp_path: Path, key: str) -> None:
    server(REDIS_URL)
    port = free_port()
    env = {"KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db", "KEYTURN_MASTER_KEY": key,
           "KEYTURN_SESSION_STORE_URL": f"redis://127.0.0.1:{port}/0"}
    proc = keyturn(["db", "upgrade"], env, tmp_path)
    assert_one_line(proc, 1, "session store", "KEYTURN_SESSION_STORE_URL", f"127.0.0.1:{port}", "connection refused")


def test_a_missing_config_file_refuses_to_start(tmp_path: Path) -> None:
    proc = keyturn(["serve"], {"KEYTURN_CONFIG_FILE": str(tmp_path / "nope.toml")}, tmp_path)
    assert_one_line(proc, 2, "KEYTURN_CONFIG_FILE", "nope.toml does not exist")


def test_an_unreadable_config_file_refuses_to_start(tmp_path: Path) -> None:
    proc = keyturn(["users", "list"], {"KEYTURN_CONFIG_FILE": str(tmp_path)}, tmp_path)
    assert_one_line(proc, 2, "KEYTURN_CONFIG_FILE", "is a directory")


def test_invalid_toml_names_the_line(tmp_path: Path) -> None:
    config = tmp_path / "keyturn.toml"
    config.write_text('registration = "closed"\naccess_token_ttl = = 60\n')
    proc = keyturn(["serve"], {"KEYTURN_CONFIG_FILE": str(config)}, tmp_path)
    assert_one_line(proc, 2, "KEYTURN_CONFIG_FILE", "not valid TOML", "line 2")


def test_invalid_log_level(tmp_path: Path) -> None:
    proc = keyturn(["serve"], {"KEYTURN_LOG_LEVEL": "loud"}, tmp_path)
    assert_one_line(proc, 2, "KEYTURN_LOG_LEVEL", "'loud' is not a log level")


def test_read_only_directory_for_the_sqlite_file(tmp_path: Path, key: str) -> None:
    folder = read_only_dir(tmp_path)
    env = {"KEYTURN_DATABASE_URL": f"sqlite:///{folder}/keyturn-test.db", "KEYTURN_MASTER_KEY": key}
    proc = keyturn(["db", "upgrade"], env, tmp_path)
    assert_one_line(proc, 1, "KEYTURN_DATABASE_URL", f"the directory {folder} is not writable")


def test_read_only_directory_for_the_master_key_file(tmp_path: Path) -> None:
    folder = read_only_dir(tmp_path)
    env = {"KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db", "KEYTURN_MASTER_KEY_FILE": f"{folder}/kt.key"}
    proc = keyturn(["serve", "--port", str(free_port())], env, tmp_path)
    assert_one_line(proc, 2, "KEYTURN_MASTER_KEY_FILE", f"cannot create the master key file {folder}/kt.key")


@pytest.mark.parametrize(("port", "bound"), [("99999", "less than or equal to 65535"),
                                            ("0", "greater than or equal to 1"), ("-1", "greater than or equal to 1")])
def test_port_out_of_range(tmp_path: Path, port: str, bound: str) -> None:
    proc = keyturn(["serve", "--port", port], {}, tmp_path)
    assert_one_line(proc, 2, "Invalid value for '--port'", bound)
    assert not (tmp_path / "keyturn.db").exists()


@pytest.mark.parametrize("value", ["abcd", new_master_key()[:42], "c2hvcnQ"])
def test_master_key_of_the_wrong_length(tmp_path: Path, value: str) -> None:
    env = {"KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db", "KEYTURN_MASTER_KEY": value}
    proc = keyturn(["serve", "--port", str(free_port())], env, tmp_path)
    assert_one_line(proc, 2, "KEYTURN_MASTER_KEY", "must be 32 bytes")


@pytest.mark.parametrize("where", ["port_in_use", "address_not_here"])
def test_a_port_in_use_or_a_foreign_address_is_one_error_line_and_nothing_else(
    tmp_path: Path, key: str, where: str
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        args = ["serve", "--port", str(port)] if where == "port_in_use" else ["serve", "--host", "192.0.2.1"]
        proc = keyturn(args, {"KEYTURN_MASTER_KEY": key, "KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db"},
                       tmp_path)
    assert proc.returncode == 1 and "listening on" not in proc.stderr
    assert proc.stderr.startswith("keyturn: error: cannot listen on ") and len(proc.stderr.splitlines()) == 1
    assert ("Address already in use" if where == "port_in_use" else "Cannot assign") in proc.stderr
    assert not (tmp_path / "k.db").exists()  # nothing created for a server that cannot listen


def test_host_and_port_from_the_environment(tmp_path: Path, key: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        proc = keyturn(["serve"], {"KEYTURN_MASTER_KEY": key, "KEYTURN_DATABASE_URL": f"sqlite:///{tmp_path}/k.db",
                                   "KEYTURN_HOST": "127.0.0.1", "KEYTURN_PORT": port}, tmp_path)
    assert proc.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in proc.stderr
    assert "not a keyturn setting" not in proc.stderr
