"""DPoP for ``TokenAuth`` (RFC 9449): the client's key, its proofs, and the
nonces servers hand out.

* The key (P-256 for ``ES256``, the default, or Ed25519) is made at login
  and kept *with the tokens* it is bound to, as a private JWK in the same
  storage (the token file: mode 0600, replaced atomically, under the same
  cross-process lock): processes sharing the file share the key, and a
  session that ends takes its key with it.
* A proof (§4.2) goes with every login, refresh and resource request;
  resource requests carry ``ath``, the access token's hash.
* Nonces (§8, §9) are remembered per origin — keyturn's and every resource
  server's own — from any ``DPoP-Nonce`` header; a ``use_dpop_nonce``
  answer is retried once with the nonce it carried.

``TokenAuth`` holds a ``DpopState``, or a ``NoDpop`` when DPoP is off, and
asks it how to authorize each request and each token call.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from keyturn.client.storage import Tokens
from keyturn.core.algorithms import ALGORITHMS

ALGS = ("ES256", "Ed25519")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def htu(url: str) -> str:
    """The request URL without query and fragment (RFC 9449 §4.2)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path or '/'}"


class ClientKey:
    """One DPoP key pair and the algorithm it signs with."""

    def __init__(self, alg: str, private: Any) -> None:
        self.alg = alg
        self.private = private
        public = ALGORITHMS[alg].to_jwk(private.public_key(), as_dict=True)
        self.public_jwk = {k: public[k] for k in ("kty", "crv", "x", "y") if k in public}

    @classmethod
    def generate(cls, alg: str = "ES256") -> ClientKey:
        if alg not in ALGS:
            raise ValueError(f"dpop_alg must be one of {', '.join(ALGS)}, not {alg!r}")
        private = ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else ed25519.Ed25519PrivateKey.generate()
        return cls(alg, private)

    def to_json(self) -> str:
        """The private JWK (with ``alg``), for the token storage only."""
        jwk = ALGORITHMS[self.alg].to_jwk(self.private, as_dict=True)
        return json.dumps({**jwk, "alg": self.alg}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ClientKey:
        jwk = json.loads(text)
        alg = jwk.get("alg")
        if alg not in ALGS:
            raise ValueError("stored DPoP key has no supported alg")
        return cls(alg, ALGORITHMS[alg].from_jwk(jwk))

    def proof(self, method: str, url: str, *, access_token: str | None = None, nonce: str | None = None,
              now: float | None = None) -> str:
        header = {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.public_jwk}
        claims: dict[str, Any] = {"jti": secrets.token_urlsafe(16), "htm": method.upper(), "htu": htu(url),
                                  "iat": int(time.time() if now is None else now)}
        if access_token is not None:
            claims["ath"] = _b64(hashlib.sha256(access_token.encode("ascii")).digest())
        if nonce is not None:
            claims["nonce"] = nonce
        signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        signature = ALGORITHMS[self.alg].sign(signing_input.encode("ascii"), self.private)
        return f"{signing_input}.{_b64(signature)}"


class DpopState:
    """What one ``TokenAuth`` knows about DPoP: the algorithm for new keys,
    the last key it read from storage, and the nonce of each origin."""

    def __init__(self, alg: str = "ES256", clock: Callable[[], float] = time.time) -> None:
        ClientKey.generate(alg)  # refuse an unknown algorithm at construction
        self.alg = alg
        self._clock = clock  # the proofs' iat
        self._nonces: dict[str, str] = {}
        self._lock = threading.Lock()
        self._cached: tuple[str, ClientKey] | None = None

    def new_key(self) -> ClientKey:
        return ClientKey.generate(self.alg)

    def key(self, stored: str | None) -> ClientKey | None:
        """The key kept with a token set (parsed once, then remembered)."""
        if stored is None:
            return None
        cached = self._cached
        if cached is not None and cached[0] == stored:
            return cached[1]
        key = ClientKey.from_json(stored)
        self._cached = (stored, key)
        return key

    def session_key(self, stored: str | None, *, login: bool) -> ClientKey | None:
        """The key for a login (a new one) or a refresh (the one stored with
        the tokens; ``None`` for a session bound to none)."""
        return self.new_key() if login else self.key(stored)

    def authorize(self, request: httpx.Request, tokens: Tokens) -> None:
        """``DPoP`` with a fresh proof (``ath``, the origin's nonce) for a
        token bound to the key stored with it; else ``Bearer``."""
        key = self.key(tokens.dpop_key) if tokens.token_type == "DPoP" else None
        if key is None:
            request.headers["Authorization"] = f"Bearer {tokens.access_token}"
            return
        request.headers["Authorization"] = f"DPoP {tokens.access_token}"
        request.headers.update(self.headers(key, request.method, str(request.url), tokens.access_token))

    def post_headers(self, key: ClientKey | None, url: str) -> dict[str, str]:
        """A login or refresh POST's proof; none for a session without a key."""
        return self.headers(key, "POST", url) if key is not None else {}

    def wants_body(self, response: httpx.Response) -> bool:
        """A 400 with a nonce: only its body says whether to retry (§8)."""
        return response.status_code == 400 and "dpop-nonce" in response.headers

    def headers(self, key: ClientKey, method: str, url: str, access_token: str | None = None) -> dict[str, str]:
        with self._lock:
            nonce = self._nonces.get(_origin(url))
        return {"DPoP": key.proof(method, url, access_token=access_token, nonce=nonce, now=self._clock())}

    def retry_with_nonce(self, url: str, response: httpx.Response) -> bool:
        """Remember a ``DPoP-Nonce`` the answer carries (§8.2: a server may
        rotate it on any answer); True when the answer asks for a retry
        with it (§8: 400 ``use_dpop_nonce``; §9: 401 with a DPoP challenge
        naming ``use_dpop_nonce``)."""
        nonce = response.headers.get("dpop-nonce")
        if not nonce:
            return False
        with self._lock:
            self._nonces[_origin(url)] = nonce
        if response.status_code == 401:
            return "use_dpop_nonce" in response.headers.get("www-authenticate", "")
        if response.status_code == 400:
            try:
                body = response.json()
            except ValueError:
                return False
            return isinstance(body, dict) and body.get("error") == "use_dpop_nonce"
        return False


class NoDpop:
    """``DpopState``'s place when DPoP is off: bearer tokens, no proofs."""

    def session_key(self, stored: str | None, *, login: bool) -> ClientKey | None:
        return None

    def authorize(self, request: httpx.Request, tokens: Tokens) -> None:
        request.headers["Authorization"] = f"Bearer {tokens.access_token}"

    def post_headers(self, key: ClientKey | None, url: str) -> dict[str, str]:
        return {}

    def wants_body(self, response: httpx.Response) -> bool:
        return False

    def retry_with_nonce(self, url: str, response: httpx.Response) -> bool:
        return False
