"""``pip install keyturn`` (no extras): the client, the Verifier and the
adapters' shared code import with nothing of the server present, and the
CLI says in one line what to install. Each check runs in a fresh
interpreter in which the server's packages cannot be imported."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each check runs in a fresh interpreter

ROOT = Path(__file__).resolve().parents[1]
SERVER_ONLY = (
    "sqlalchemy", "alembic", "aiosqlite", "asyncpg", "asyncmy", "redis", "argon2", "bcrypt", "starlette", "uvicorn",
    "pydantic", "pydantic_settings", "typer", "prometheus_client", "fastapi",
)
BLOCK = textwrap.dedent(f"""
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in {SERVER_ONLY!r}:
                raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
            return None

    sys.meta_path.insert(0, Block())
""")


def run_light(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCK + textwrap.dedent(code)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )


@pytest.mark.parametrize("code", [
    "import keyturn",
    "from keyturn import AccessClaims, KeyturnError, FrozenClock",
    "from keyturn.verify import Verifier",
    "from keyturn.client import TokenAuth",
    "import keyturn.resource.adapters._common",
])
def test_light_face_imports_without_the_server(code: str) -> None:
    done = run_light(code + "\nloaded = sorted({m.split('.')[0] for m in sys.modules} & set(" + repr(SERVER_ONLY) + "))"
                     + "\nassert not loaded, loaded")
    assert done.returncode == 0, done.stderr


def test_the_block_works() -> None:
    """Otherwise the test above proves nothing."""
    done = run_light("import keyturn.config")
    assert done.returncode != 0
    assert "pydantic" in done.stderr


def test_cli_without_the_server_extra_says_what_to_install() -> None:
    done = run_light("sys.argv = ['keyturn', 'serve']\nfrom keyturn.cli import main\nmain()")
    assert done.returncode == 1, done.stderr
    assert done.stderr == "keyturn serve needs the server extra: pip install 'keyturn[server]'\n"
    assert done.stdout == ""


def test_cli_help_without_the_server_extra_names_no_command() -> None:
    done = run_light("sys.argv = ['keyturn', '--help']\nfrom keyturn.cli import main\nmain()")
    assert done.returncode == 1, done.stderr
    assert done.stderr == "the keyturn command line needs the server extra: pip install 'keyturn[server]'\n"


def test_server_names_load_on_first_use() -> None:
    import keyturn
    from keyturn.http.app import create_app
    from keyturn.service.tokens import TokenService

    assert keyturn.create_app is create_app
    assert keyturn.TokenService is TokenService
    with pytest.raises(AttributeError):
        keyturn.no_such_name  # noqa: B018


@pytest.mark.parametrize(("documented", "real"), [
    ("keyturn.verify", "keyturn.resource.verifier"),
    ("keyturn.adapters.fastapi", "keyturn.resource.adapters.fastapi"),
    ("keyturn.adapters.starlette", "keyturn.resource.adapters.starlette"),
    ("keyturn.adapters.flask", "keyturn.resource.adapters.flask"),
    ("keyturn.adapters.django", "keyturn.resource.adapters.django"),
    ("keyturn.client", "keyturn.client.auth"),
])
def test_documented_paths_are_the_real_objects(documented: str, real: str) -> None:
    import importlib

    shim = importlib.import_module(documented)
    source = importlib.import_module(real)
    names = list(shim.__all__)
    assert names
    for name in names:
        assert getattr(shim, name) is getattr(source, name), name
