"""Access-token verification ops/s in-process: keyturn's Verifier against a
bare PyJWT ``jwt.decode`` and a bare joserfc decode with the same key, so the
Verifier's own overhead (caching, claim checks) is visible as a ratio."""

from __future__ import annotations

import inspect
import time
from typing import Any

from bench.floor import CLAIMS, per_op


def _tokens(alg: str) -> tuple[str, Any, Any, dict[str, Any]]:
    """A fresh token plus the private and public key objects."""
    import secrets

    import jwt
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    now = int(time.time())
    claims = {**CLAIMS, "iat": now, "exp": now + 1800}
    if alg == "EdDSA":
        priv = Ed25519PrivateKey.generate()
        return jwt.encode(claims, priv, algorithm="EdDSA", headers={"kid": "k1"}), priv, priv.public_key(), claims
    key = secrets.token_bytes(32)
    return jwt.encode(claims, key, algorithm="HS256", headers={"kid": "k1"}), key, key, claims


def _joserfc_key(alg: str, priv: Any) -> Any:
    from joserfc.jwk import OctKey, OKPKey

    if alg == "EdDSA":
        from cryptography.hazmat.primitives import serialization
        pem = priv.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        return OKPKey.import_key(pem)
    return OctKey.import_key(priv)


def _keyturn_verifier(alg: str, priv: Any, pub: Any) -> tuple[Any, str] | None:
    """Build a keyturn Verifier for this key if the module offers a way we
    recognise; returns (verifier, how) or None."""
    try:
        from keyturn import verify as kv
    except ImportError:
        return None
    V = getattr(kv, "Verifier", None)
    if V is None:
        return None
    from joserfc.jwk import KeySet
    jwk = _joserfc_key(alg, priv).as_dict(private=False)
    jwk.update({"kid": "k1", "alg": alg})
    jwks = {"keys": [jwk]}
    attempts = [
        ("from_jwks", lambda: V.from_jwks(jwks, issuer=CLAIMS["iss"], audience=CLAIMS["aud"])),
        ("jwks kw", lambda: V(jwks=jwks, issuer=CLAIMS["iss"], audience=CLAIMS["aud"])),
        ("keys kw", lambda: V(keys={"k1": pub}, issuer=CLAIMS["iss"], audience=CLAIMS["aud"])),
        ("key kw", lambda: V(key=pub, algorithm=alg, issuer=CLAIMS["iss"], audience=CLAIMS["aud"])),
    ]
    del KeySet
    for how, make in attempts:
        try:
            return make(), how
        except Exception:  # noqa: BLE001 - try the next constructor shape
            continue
    return None


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
        made = _keyturn_verifier(alg, priv, pub)
        if made is None:
            out["notes"].append(f"{alg}: keyturn.verify.Verifier not available or not constructible "
                                "from a bare key/JWKS here")
        else:
            v, how = made
            fn = v.verify
            try:
                r = fn(token)
                if inspect.isawaitable(r):
                    raise TypeError("async verify")
                res["keyturn_verifier"] = 1 / per_op(lambda: fn(token), budget)
                out["notes"].append(f"{alg}: Verifier built via {how}")
            except Exception as exc:  # noqa: BLE001
                out["notes"].append(f"{alg}: Verifier.verify failed: {type(exc).__name__}: {exc}"[:200])
        out["ops_per_s"][alg] = res
        print("  " + alg + "  " + "  ".join(f"{k} {v:,.0f}/s" for k, v in res.items()), flush=True)
    return out
