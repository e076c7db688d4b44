"""Access-token verification ops/s in-process: keyturn's Verifier against a
bare PyJWT ``jwt.decode`` and a bare joserfc decode with the same key, so the
Verifier's own overhead (caching, claim checks) is visible as a ratio."""

from __future__ import annotations

import time
from typing import Any

from bench.floor import CLAIMS, per_op


def _tokens(alg: str) -> tuple[str, Any, Any, dict[str, Any]]:
    """A fresh RFC 9068 access token (``typ: at+jwt``) plus its keys."""
    import secrets

    import jwt
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    now = int(time.time())
    claims = {**CLAIMS, "iat": now, "exp": now + 1800}
    headers = {"kid": "k1", "typ": "at+jwt"}
    if alg == "EdDSA":
        priv = Ed25519PrivateKey.generate()
        return jwt.encode(claims, priv, algorithm="EdDSA", headers=headers), priv, priv.public_key(), claims
    key = secrets.token_bytes(32)
    return jwt.encode(claims, key, algorithm="HS256", headers=headers), key, key, claims


def _joserfc_key(alg: str, priv: Any) -> Any:
    from joserfc.jwk import OctKey, OKPKey

    if alg == "EdDSA":
        from cryptography.hazmat.primitives import serialization
        pem = priv.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        return OKPKey.import_key(pem)
    return OctKey.import_key(priv)


class _QuietFeed:
    """A revocation source with nothing new: the Verifier's feed is live, so
    every verify also consults the revoked-session set."""

    def poll(self, cursor: str | None, *, wait: float) -> Any:
        from keyturn.resource.feed import RevocationBatch

        time.sleep(min(wait, 0.05))
        return RevocationBatch(cursor=cursor or "0")

    def close(self) -> None:
        return None


def _keyturn_verifier(alg: str, priv: Any, with_revocations: bool) -> Any:
    """keyturn's Verifier holding this key (as a resource server would after
    fetching the JWKS), optionally with a live revocation feed and 10,000
    revoked sessions in its set."""
    from keyturn.resource.verifier import Verifier

    kw: dict[str, Any] = {"issuer": CLAIMS["iss"], "audience": CLAIMS["aud"], "algorithms": (alg,)}
    if alg == "HS256":
        kw["hmac_keys"] = {"k1": priv}
    if with_revocations:
        kw["revocations"] = _QuietFeed()
        kw["poll_interval"] = 0.05
    v = Verifier(None, **kw)
    if alg != "HS256":
        jwk = _joserfc_key(alg, priv).as_dict(private=False)
        jwk.update({"kid": "k1", "alg": alg})
        v.load_jwks({"keys": [jwk]})
    if with_revocations:
        v.revoked.add(((f"sid-{i}", time.time() + 3600) for i in range(10_000)), now=time.time())
        deadline = time.monotonic() + 5
        while v._feed_ok_at is None and time.monotonic() < deadline:
            try:
                v.verify(_tokens(alg)[0])
            except Exception:  # noqa: BLE001 - the feed is not up yet
                time.sleep(0.05)
    return v


def run(quick: bool) -> dict[str, Any]:
    import warnings

    import jwt
    from joserfc import jwt as jjwt

    warnings.filterwarnings("ignore", message=".*deprecated via RFC 9864")  # joserfc on EdDSA
    budget = 0.3 if quick else 1.5
    out: dict[str, Any] = {"ops_per_s": {}, "notes": []}
    for alg in ("EdDSA", "HS256"):
        token, priv, pub, _ = _tokens(alg)
        jkey = _joserfc_key(alg, priv)
        res = {
            "pyjwt": 1 / per_op(lambda: jwt.decode(token, pub, algorithms=[alg], audience=CLAIMS["aud"],
                                                   issuer=CLAIMS["iss"]), budget),
            "joserfc": 1 / per_op(lambda: jjwt.decode(token, jkey, algorithms=[alg]), budget),
        }
        for label, with_rev in (("keyturn_verifier", False), ("keyturn_verifier_revocations", True)):
            v = _keyturn_verifier(alg, priv, with_rev)
            try:
                v.verify(token)
                res[label] = 1 / per_op(lambda: v.verify(token), budget)
            except Exception as exc:  # noqa: BLE001
                out["notes"].append(f"{alg}: Verifier.verify failed: {type(exc).__name__}: {exc}"[:200])
            finally:
                v.stop()
        out["ops_per_s"][alg] = res
        print("  " + alg + "  " + "  ".join(f"{k} {v:,.0f}/s" for k, v in res.items()), flush=True)
    return out
