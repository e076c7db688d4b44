"""Access-token verification in-process: keyturn's Verifier against a bare
PyJWT ``jwt.decode`` with the same key, in interleaved passes.  Two cases:
the same token again and again (what a resource server sees while one client
makes many requests: the Verifier's cache answers it, and the revocation
check still runs, as in production) and first sight (every token new, never
seen in any pass: the signature must be checked).  The Verifier's own hit
counters are recorded to show that the first case hits and the second
does not."""

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
    else:
        kw["revocations"] = False  # the bare-decode comparison, on purpose
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


def _first_sight(fn: Any, tokens: list[str]) -> float:
    """CPU seconds (this thread) per call over tokens seen once each."""
    t0 = time.thread_time()
    for t in tokens:
        fn(t)
    return (time.thread_time() - t0) / len(tokens)


def _mint(alg: str, priv: Any, n: int) -> list[str]:
    """``n`` tokens never minted before: a random ``jti`` each (EdDSA and
    HS256 are deterministic, so a counter reset within the same second
    would mint the very same strings and let the cache answer)."""
    import secrets

    import jwt

    now = int(time.time())
    return [jwt.encode({**CLAIMS, "jti": secrets.token_urlsafe(12), "iat": now, "exp": now + 1800}, priv,
                       algorithm=alg, headers={"kid": "k1", "typ": "at+jwt"}) for _ in range(n)]


def run(quick: bool, passes: int) -> dict[str, Any]:
    import warnings

    import jwt

    from bench import stats

    warnings.filterwarnings("ignore", message=".*deprecated via RFC 9864")  # joserfc on EdDSA
    budget = 0.15 if quick else 0.6
    fresh_n = 600 if quick else 3000
    out: dict[str, Any] = {"passes": passes, "first_sight_tokens": fresh_n, "algs": {}, "notes": []}
    for alg in ("EdDSA", "HS256"):
        token, priv, pub, _ = _tokens(alg)

        def bare(t: str) -> object:
            return jwt.decode(t, pub, algorithms=[alg], audience=CLAIMS["aud"], issuer=CLAIMS["iss"])

        verifiers = {}
        try:
            verifiers["plain"] = _keyturn_verifier(alg, priv, False)
            verifiers["feed"] = _keyturn_verifier(alg, priv, True)
            for v in verifiers.values():
                v.verify(token)
        except Exception as exc:  # noqa: BLE001
            out["notes"].append(f"{alg}: Verifier.verify failed: {type(exc).__name__}: {exc}"[:200])
            for v in verifiers.values():
                v.stop()
            continue
        plain, feed = verifiers["plain"], verifiers["feed"]
        fresh: dict[int, list[str]] = {}

        def tokens_for(i: int) -> list[str]:
            if i not in fresh:
                fresh.clear()
                fresh[i] = _mint(alg, priv, fresh_n)
            return fresh[i]

        counted = {"first_sight_hits": 0, "repeated_misses": 0}

        def counting(v: Any, counter: str, attr: str, fn: Any) -> Any:
            def arm(i: int) -> float:
                before = getattr(v.verified, attr)
                t = fn(i)
                counted[counter] += getattr(v.verified, attr) - before
                return float(t)
            return arm

        try:
            arms = {
                "pyjwt": lambda i: per_op(lambda: bare(token), budget),
                # The target: with the revocation feed live, as in production.
                "repeated": counting(feed, "repeated_misses", "misses",
                                     lambda i: per_op(lambda: feed.verify(token), budget)),
                "repeated_plain": lambda i: per_op(lambda: plain.verify(token), budget),
                "pyjwt_fresh": lambda i: _first_sight(bare, tokens_for(i)),
                "first_sight": counting(plain, "first_sight_hits", "hits",
                                        lambda i: _first_sight(plain.verify, tokens_for(i))),
            }
            got = stats.interleave(passes, arms)
        finally:
            for v in verifiers.values():
                v.stop()
        if counted["first_sight_hits"] or counted["repeated_misses"]:
            out["notes"].append(f"{alg}: cache not exercised as intended: {counted}")
        repeated = stats.ratio(got["repeated"], got["pyjwt"])
        first = stats.ratio(got["first_sight"], got["pyjwt_fresh"])
        out["algs"][alg] = {
            "seconds": dict(got),
            "repeated_ratio": repeated.as_dict(),
            "repeated_plain_ratio": stats.ratio(got["repeated_plain"], got["pyjwt"]).as_dict(),
            "first_sight_ratio": first.as_dict(),
            "cache": counted,
        }
        print(f"  {alg}: repeated ÷ PyJWT {repeated.text()}  first sight ÷ PyJWT {first.text()}"
              f"  PyJWT {1e6 * stats.spread(got['pyjwt']).median:.1f} us"
              f"  (first-sight cache hits {counted['first_sight_hits']},"
              f" repeated misses {counted['repeated_misses']})", flush=True)
    return out
