"""The browser module: the committed build is the source's build, it stays
under its size budget, its types check, and keyturn serves it."""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Api, backend_unavailable, lane

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "web"
STATIC = ROOT / "keyturn" / "http" / "static"
BUDGET = 5 * 1024  # bytes, minified + gzipped


def node_tools() -> Path:
    """clients/web/node_modules/.bin, installed by `npm ci` (CI does it)."""
    if shutil.which("node") is None:
        backend_unavailable("node is not installed")
    bin_dir = CLIENT / "node_modules" / ".bin"
    if not (bin_dir / "esbuild").exists() or not (bin_dir / "tsc").exists():
        backend_unavailable("run `npm ci` in clients/web")
    return bin_dir


@pytest.fixture(scope="module")
@lane("slow")
def fresh_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    node_tools()
    out = tmp_path_factory.mktemp("web-build")
    subprocess.run(["node", str(CLIENT / "build.mjs"), str(out)], check=True, timeout=120, cwd=CLIENT)
    return out


@pytest.mark.parametrize("name", ["keyturn.js", "keyturn.d.ts"])
def test_committed_module_is_the_build_of_the_source(fresh_build: Path, name: str) -> None:
    built = (fresh_build / name).read_bytes()
    assert built == (STATIC / name).read_bytes(), f"keyturn/http/static/{name} is stale: run `npm run build` in clients/web"


def test_module_is_within_its_size_budget(fresh_build: Path) -> None:
    js = (fresh_build / "keyturn.js").read_bytes()
    size = len(gzip.compress(js, compresslevel=9, mtime=0))
    print(f"keyturn.js: {len(js)} bytes minified, {size} bytes gzipped (budget {BUDGET})")
    assert size <= BUDGET


def test_module_has_no_runtime_dependencies() -> None:
    import json

    package = json.loads((CLIENT / "package.json").read_text())
    assert "dependencies" not in package and set(package["devDependencies"]) == {"esbuild", "typescript"}
    js = (STATIC / "keyturn.js").read_text()
    # One self-contained module: it exports, it imports nothing.
    assert "export{" in js.replace(" ", "") and "import" not in js.replace("import.meta", "")


@pytest.mark.parametrize("project", ["tsconfig.json", "example/tsconfig.json"])
@pytest.mark.slow
def test_types_check(project: str) -> None:
    """The source, and a typed app against the served declarations."""
    tsc = node_tools() / "tsc"
    r = subprocess.run([str(tsc), "--noEmit", "-p", project], cwd=CLIENT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


async def test_keyturn_serves_the_module_and_its_types(api: Api) -> None:
    r = await api.client.get("/keyturn.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert r.content == (STATIC / "keyturn.js").read_bytes()
    assert r.headers["cache-control"] == "no-cache" and r.headers["x-content-type-options"] == "nosniff"
    again = await api.client.get("/keyturn.js", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    types = await api.client.get("/keyturn.d.ts")
    assert types.status_code == 200 and b"export declare class Keyturn" in types.content
    assert (await api.client.get("/keyturn.ts")).status_code == 404
