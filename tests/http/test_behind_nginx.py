"""keyturn behind a real reverse proxy: Debian's nginx, on a free loopback
port with a self-signed certificate, in front of ``keyturn serve`` started
the way deploy/keyturn.service starts it, with deploy/keyturn.env. Both
files and deploy/nginx-keyturn.conf are the ones docs/deploy.md shows
(checked here too), with only ports, paths and secrets replaced.

The client speaks to nginx from 127.0.0.2, nginx to keyturn from 127.0.0.1
(the one trusted proxy), so the address keyturn records tells whom it
believed."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from keyturn.service.masterkey import new_master_key
from tests.chromium import browser  # noqa: F401 - the one Chromium fixture
from tests.conftest import FAST_ARGON2_ENV, PASSWORD, backend_unavailable, free_port
from tests.dpop_client import DpopKey

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
CLIENT_ADDRESS = "127.0.0.2"
SPOOFED = "203.0.113.66"


def test_docs_show_exactly_the_files_the_test_uses() -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text()
    for name in ("nginx-keyturn.conf", "keyturn.service", "keyturn.env"):
        assert (DEPLOY / name).read_text() in doc, f"docs/deploy.md must show deploy/{name} verbatim"


def self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    import ipaddress

    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def replaced(text: str, pairs: dict[str, str]) -> str:
    for old, new in pairs.items():
        assert old in text, f"{old!r} is no longer in the deploy file: update this test"
        text = text.replace(old, new)
    return text


def serve_as_the_unit_does(folder: Path, port: int, public_url: str) -> subprocess.Popen[bytes]:
    """``ExecStart`` of deploy/keyturn.service with deploy/keyturn.env."""
    unit = (DEPLOY / "keyturn.service").read_text()
    (exec_start,) = re.findall(r"^ExecStart=(\S+) (.*)$", unit, re.MULTILINE)
    assert Path(exec_start[0]).name == "keyturn"
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEYTURN_")}
    for line in (DEPLOY / "keyturn.env").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    assert env["KEYTURN_TRUSTED_PROXIES"] == "127.0.0.1/32" and env["KEYTURN_HOST"] == "127.0.0.1"
    env.update({"KEYTURN_PORT": str(port), "KEYTURN_PUBLIC_URL": public_url,
                "KEYTURN_DATABASE_URL": f"sqlite:///{folder}/keyturn.db", "KEYTURN_MASTER_KEY": new_master_key(),
                "PYTHONPATH": str(ROOT), **FAST_ARGON2_ENV})
    return subprocess.Popen([sys.executable, "-m", "keyturn", *exec_start[1].split()], env=env, cwd=folder,
                            stdout=(folder / "keyturn.log").open("wb"), stderr=subprocess.STDOUT)


def nginx_config(folder: Path, port: int, upstream: int) -> Path:
    cert, key = self_signed(folder)
    site = replaced((DEPLOY / "nginx-keyturn.conf").read_text(), {
        "listen 443 ssl;": f"listen 127.0.0.1:{port} ssl;",
        "server 127.0.0.1:8000;": f"server 127.0.0.1:{upstream};",
        "/etc/letsencrypt/live/auth.example.com/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/auth.example.com/privkey.pem": str(key),
    })
    (folder / "keyturn.conf").write_text(site)
    temp = folder / "temp"
    temp.mkdir(mode=0o777)
    temp.chmod(0o777)
    user = "user root;\n" if os.geteuid() == 0 else ""
    main = folder / "nginx.conf"
    main.write_text(
        f"{user}daemon off;\nworker_processes 1;\npid {folder}/nginx.pid;\nerror_log {folder}/error.log;\n"
        "events { worker_connections 64; }\n"
        f"http {{\n  access_log {folder}/access.log;\n"
        + "".join(f"  {kind}_temp_path {temp}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        + f"  include {folder}/keyturn.conf;\n}}\n"
    )
    return main


def wait_until(ok: Any, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        assert proc.poll() is None, f"{what} exited: {log.read_text(errors='replace')}"
        try:
            if ok():
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"{what} did not come up: {log.read_text(errors='replace')}"
        time.sleep(0.1)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)  # nginx: fast shutdown; keyturn: graceful
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@dataclass
class Proxied:
    public: str  # https://127.0.0.1:PORT, what clients and DPoP proofs name
    internal: str  # keyturn's own http URL, behind nginx

    def client(self) -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS, verify=False)
        return httpx.Client(base_url=self.public, transport=transport, timeout=30)


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    if not os.access(NGINX, os.X_OK):
        backend_unavailable(f"{NGINX} is not installed (apt-get install nginx)")
    folder = tmp_path_factory.mktemp("nginx")
    folder.chmod(0o755)
    port, upstream = free_port(), free_port()
    public = f"https://127.0.0.1:{port}"
    keyturn = serve_as_the_unit_does(folder, upstream, public)
    nginx: subprocess.Popen[bytes] | None = None
    try:
        internal = f"http://127.0.0.1:{upstream}"
        wait_until(lambda: httpx.get(internal + "/healthz", timeout=1).status_code == 200, "keyturn serve",
                   keyturn, folder / "keyturn.log")
        config = nginx_config(folder, port, upstream)
        nginx = subprocess.Popen([NGINX, "-c", str(config), "-p", str(folder)], stdout=subprocess.DEVNULL,
                                 stderr=(folder / "nginx.out").open("wb"))
        wait_until(lambda: httpx.get(public + "/healthz", verify=False, timeout=1).status_code == 200, "nginx",
                   nginx, folder / "nginx.out")
        yield Proxied(public, internal)
    finally:
        if nginx is not None:
            stop(nginx)
        stop(keyturn)


@pytest.fixture(scope="module")
def alice(proxied: Proxied) -> None:
    with proxied.client() as c:
        assert c.post("/auth/register", json={"username": "alice", "password": PASSWORD}).status_code == 201


def test_the_refresh_cookie_keeps_secure_over_the_tls_proxy(proxied: Proxied, alice: None) -> None:
    with proxied.client() as c:
        r = c.post("/auth/login", json={"username": "alice", "password": PASSWORD},
                   headers={"x-keyturn-cookie": "1"})
        assert r.status_code == 200, r.text
        cookie = r.headers["set-cookie"]
        assert cookie.startswith("keyturn_refresh=") and "Secure" in cookie and "HttpOnly" in cookie


def test_the_client_address_is_nginx_s_not_a_spoofed_header(proxied: Proxied, alice: None) -> None:
    with proxied.client() as c:
        r = c.post("/auth/login", json={"username": "alice", "password": PASSWORD},
                   headers={"x-forwarded-for": SPOOFED, "user-agent": "spoofer"})
        assert r.status_code == 200, r.text
        me = {"authorization": f"Bearer {r.json()['access_token']}"}
        sessions = c.get("/auth/sessions", headers=me).json()["sessions"]
    (mine,) = [s for s in sessions if s["current"]]
    assert mine["ip"] == CLIENT_ADDRESS  # what nginx saw, not what the client wrote
    # Straight to keyturn from anywhere but the proxy, the header is not believed at all.
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
    with httpx.Client(base_url=proxied.internal, transport=transport, timeout=30) as direct:
        r = direct.post("/auth/login", json={"username": "alice", "password": PASSWORD},
                        headers={"x-forwarded-for": SPOOFED})
        bearer = {"authorization": f"Bearer {r.json()['access_token']}"}
        listed = direct.get("/auth/sessions", headers=bearer).json()["sessions"]
    assert [s["ip"] for s in listed if s["current"]] == [CLIENT_ADDRESS]


def test_dpop_htu_is_the_public_https_url(proxied: Proxied, alice: None) -> None:
    key = DpopKey()
    with proxied.client() as c:
        inside = key.proof("POST", proxied.internal + "/auth/login", iat=time.time())
        r = c.post("/auth/login", json={"username": "alice", "password": PASSWORD}, headers={"dpop": inside})
        assert r.status_code in (400, 401) and r.json()["code"] == "invalid_dpop_proof", r.text
        proof = key.proof("POST", proxied.public + "/auth/login", iat=time.time())
        r = c.post("/auth/login", json={"username": "alice", "password": PASSWORD}, headers={"dpop": proof})
        assert r.status_code == 200, r.text
        access = r.json()["access_token"]
        me = c.get("/auth/me", headers={
            "authorization": f"DPoP {access}",
            "dpop": key.proof("GET", proxied.public + "/auth/me", iat=time.time(), access_token=access)})
        assert me.status_code == 200, me.text


def test_account_page_works_through_nginx_in_chromium(proxied: Proxied, alice: None, browser: Any) -> None:
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.goto(proxied.public + "/account")
    page.fill("#username", "alice")
    page.fill("#password", PASSWORD)
    page.click("#signin-button")
    page.locator("#sessions-body tr.current").wait_for()
    cookies = {c["name"]: c for c in context.cookies()}
    assert cookies["keyturn_refresh"]["secure"] is True
    page.reload()  # signed in again from the Secure cookie, over https
    page.locator("#sessions-body tr.current").wait_for()
