"""Password hashes made by other systems, kept until their owner's next login.

An imported user logs in with the password they have, checked against the
hash their old system made; the login then replaces it with today's argon2
(``Accounts._upgrade_hash``). Accepted, by the text each system writes:

* bcrypt ``$2a$ $2b$ $2y$`` (Spring ``BCryptPasswordEncoder``, Rails,
  PHP, Flask-Bcrypt), also behind Spring's ``{bcrypt}`` prefix and Django's
  ``bcrypt$`` and ``bcrypt_sha256$``;
* argon2 (``$argon2id$``, ``$argon2i$``, ``$argon2d$``) with any parameters,
  also behind Spring's ``{argon2}`` and Django's ``argon2$``;
* Werkzeug ``pbkdf2:sha256:N$salt$hex`` (also sha1 and sha512) and
  ``scrypt:N:r:p$salt$hex``;
* Django ``pbkdf2_sha256$N$salt$b64`` (also ``pbkdf2_sha1``) and
  ``scrypt$N$salt$r$p$b64``.

Cost parameters are bounded (``MAX_*``): a hash that would take seconds or
gigabytes to check is refused at import, and is never checked at login
either — verifying it would hand anyone who knows the username a way to
burn the hashing pool. bcrypt reads at most 72 bytes of a password: a
longer password against a bcrypt hash is a wrong password (never
truncated, so two passwords sharing 72 bytes are not one).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass

import argon2
import bcrypt
from argon2.exceptions import InvalidHashError, VerificationError

from keyturn.errors import BadRequest

MAX_HASH_CHARS = 255  # the users table's password_hash column
MAX_BCRYPT_COST = 15  # 2^15 rounds: about a second; Spring's default is 10
MAX_PBKDF2_ITERATIONS = 2_000_000  # Django 5.2 and Werkzeug 3.1 use 1_000_000
MAX_SCRYPT_MEMORY = 256 * 2**20  # bytes: 128 * N * r
MAX_SCRYPT_WORK = 2**22  # N * r * p; Werkzeug's default is 2^18
MAX_ARGON2_MEMORY_KIB = 256 * 1024
MAX_ARGON2_TIME_COST = 10
MAX_ARGON2_PARALLELISM = 16
BCRYPT_MAX_PASSWORD_BYTES = 72

PBKDF2_DIGESTS = ("sha1", "sha256", "sha512")
_BCRYPT = re.compile(r"\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}")
_SPRING_PREFIX = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True, slots=True)
class Parsed:
    """A stored hash understood: its scheme's name and a checker that
    takes the password (run in the hashing pool: it is the slow part)."""

    scheme: str
    check: Callable[[str], bool]


def describe(stored: str) -> str:
    """The scheme of ``stored`` (``bcrypt``, ``werkzeug-scrypt``, ...), or
    ``BadRequest`` saying why it cannot be accepted."""
    return parse(stored).scheme


def verify(stored: str, password: str) -> bool:
    """True iff ``password`` matches ``stored``; False for a mismatch and
    for anything that is not an acceptable hash."""
    try:
        return parse(stored).check(password)
    except (BadRequest, ValueError, OverflowError):
        # Unacceptable, or a library refusing its own parameters: either
        # way no match, and a login answers 401, never 500.
        return False


def parse(stored: str) -> Parsed:
    if len(stored) > MAX_HASH_CHARS:
        raise BadRequest(f"password_hash is longer than {MAX_HASH_CHARS} characters")
    spring = _SPRING_PREFIX.match(stored)
    if spring:
        return _spring(spring.group(1), stored[spring.end():])
    if stored.startswith("$2"):
        return _bcrypt(stored, "bcrypt")
    if stored.startswith("$argon2"):
        return _argon2(stored, "argon2")
    if stored.startswith(("pbkdf2:", "scrypt:")):
        return _werkzeug(stored)
    if stored.startswith(("pbkdf2_", "argon2$", "bcrypt$", "bcrypt_sha256$", "scrypt$")):
        return _django(stored)
    raise BadRequest(
        "unknown password_hash format (accepted: bcrypt, argon2, Werkzeug pbkdf2/scrypt, "
        "Django pbkdf2/argon2/bcrypt/scrypt, Spring {bcrypt}/{argon2})"
    )


def _spring(encoder: str, rest: str) -> Parsed:
    """Spring's ``DelegatingPasswordEncoder`` writes ``{id}`` before the hash."""
    if encoder == "bcrypt":
        return _bcrypt(rest, "spring-bcrypt")
    if encoder == "argon2":  # Argon2PasswordEncoder writes the PHC string
        return _argon2(rest, "spring-argon2")
    if encoder in ("pbkdf2", "pbkdf2@SpringSecurity_v5_8"):
        raise BadRequest(
            "Spring {pbkdf2} hashes do not record their secret and iterations, so they cannot be "
            "checked; these users need a new password"
        )
    raise BadRequest(f"unsupported Spring password encoder {{{encoder}}} (accepted: {{bcrypt}}, {{argon2}})")


def _bcrypt(stored: str, scheme: str, prehash: Callable[[str], bytes] | None = None) -> Parsed:
    shape = _BCRYPT.fullmatch(stored)
    if shape is None:
        raise BadRequest("malformed bcrypt hash (expected $2a$, $2b$ or $2y$, a two-digit cost, 53 characters)")
    cost = int(shape.group(1))
    if not 4 <= cost <= MAX_BCRYPT_COST:
        raise BadRequest(f"bcrypt cost {cost} is outside 4..{MAX_BCRYPT_COST}")
    encoded = stored.encode("ascii")

    def check(password: str) -> bool:
        secret = prehash(password) if prehash else password.encode("utf-8")
        if len(secret) > BCRYPT_MAX_PASSWORD_BYTES:
            return False  # bcrypt never saw more than 72 bytes: no match, never a truncation
        try:
            return bcrypt.checkpw(secret, encoded)
        except ValueError:  # bcrypt refuses what it cannot hash (NUL, length)
            return False

    return Parsed(scheme, check)


def _argon2(stored: str, scheme: str) -> Parsed:
    try:
        params = argon2.extract_parameters(stored)
    except InvalidHashError:
        raise BadRequest("malformed argon2 hash") from None
    if params.memory_cost > MAX_ARGON2_MEMORY_KIB:
        raise BadRequest(f"argon2 memory cost {params.memory_cost} KiB is above {MAX_ARGON2_MEMORY_KIB}")
    if params.time_cost > MAX_ARGON2_TIME_COST:
        raise BadRequest(f"argon2 time cost {params.time_cost} is above {MAX_ARGON2_TIME_COST}")
    if params.parallelism > MAX_ARGON2_PARALLELISM:
        raise BadRequest(f"argon2 parallelism {params.parallelism} is above {MAX_ARGON2_PARALLELISM}")

    def check(password: str) -> bool:
        try:
            # verify() reads type and parameters from the hash itself.
            return argon2.PasswordHasher().verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    return Parsed(scheme, check)


def _werkzeug(stored: str) -> Parsed:
    """``generate_password_hash``: ``method$salt$hexdigest``, the salt used
    as its UTF-8 text."""
    parts = stored.split("$")
    if len(parts) != 3 or not parts[1] or not re.fullmatch(r"(?:[0-9a-f]{2})+", parts[2]):
        raise BadRequest("malformed Werkzeug hash (expected method$salt$hex)")
    method, salt, digest = parts
    args = method.split(":")
    if args[0] == "pbkdf2":
        if len(args) != 3:
            raise BadRequest("Werkzeug pbkdf2 hash without its iterations (expected pbkdf2:sha256:N$...)")
        name, iterations = args[1], _int(args[2], "pbkdf2 iterations")
        _check_pbkdf2(name, iterations)
        expected = bytes.fromhex(digest)

        def pbkdf2(password: str) -> bool:
            got = hashlib.pbkdf2_hmac(name, password.encode(), salt.encode(), iterations, len(expected))
            return hmac.compare_digest(got, expected)

        return Parsed(f"werkzeug-pbkdf2-{name}", pbkdf2)
    if len(args) != 4:
        raise BadRequest("Werkzeug scrypt hash without its parameters (expected scrypt:N:r:p$...)")
    n, r, p = (_int(a, "scrypt parameter") for a in args[1:])
    return _scrypt(n, r, p, salt, bytes.fromhex(digest), "werkzeug-scrypt")


def _scrypt(n: int, r: int, p: int, salt: str, target: bytes, scheme: str) -> Parsed:
    if n < 2 or n & (n - 1) or r < 1 or p < 1:
        raise BadRequest("scrypt N must be a power of two above 1, r and p at least 1")
    if 128 * n * r > MAX_SCRYPT_MEMORY or n * r * p > MAX_SCRYPT_WORK:
        raise BadRequest(f"scrypt parameters N={n} r={r} p={p} cost too much to check")

    def check(password: str) -> bool:
        got = hashlib.scrypt(
            password.encode(), salt=salt.encode(), n=n, r=r, p=p,
            maxmem=132 * n * r * p, dklen=len(target),
        )
        return hmac.compare_digest(got, target)

    return Parsed(scheme, check)


def _django(stored: str) -> Parsed:
    """Django's ``algorithm$...`` (``django.contrib.auth.hashers``)."""
    algorithm, _, rest = stored.partition("$")
    if algorithm == "argon2":
        return _argon2("$" + rest, "django-argon2")
    if algorithm == "bcrypt":
        return _bcrypt(rest, "django-bcrypt")
    if algorithm == "bcrypt_sha256":
        # The password's SHA-256, in hex, is what bcrypt saw (no 72-byte limit).
        return _bcrypt(rest, "django-bcrypt-sha256", lambda pw: hashlib.sha256(pw.encode()).hexdigest().encode())
    parts = rest.split("$")
    if algorithm == "scrypt":
        if len(parts) != 5 or not parts[1]:
            raise BadRequest("malformed Django scrypt hash (expected scrypt$N$salt$r$p$base64)")
        n, r, p = (_int(parts[i], "scrypt parameter") for i in (0, 2, 3))
        return _scrypt(n, r, p, parts[1], _b64(parts[4], algorithm), "django-scrypt")
    name = algorithm.removeprefix("pbkdf2_")
    if len(parts) != 3 or not parts[1]:
        raise BadRequest(f"malformed Django {algorithm} hash (expected {algorithm}$N$salt$base64)")
    iterations = _int(parts[0], "pbkdf2 iterations")
    _check_pbkdf2(name, iterations)
    salt = parts[1]
    expected = _b64(parts[2], algorithm)

    def check(password: str) -> bool:
        got = hashlib.pbkdf2_hmac(name, password.encode(), salt.encode(), iterations, len(expected))
        return hmac.compare_digest(got, expected)

    return Parsed(f"django-pbkdf2-{name}", check)


def _b64(text: str, algorithm: str) -> bytes:
    try:
        digest = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise BadRequest(f"malformed Django {algorithm} hash (the digest is not base64)") from None
    if not digest:
        raise BadRequest(f"malformed Django {algorithm} hash (empty digest)")
    return digest


def _check_pbkdf2(name: str, iterations: int) -> None:
    if name not in PBKDF2_DIGESTS:
        raise BadRequest(f"unsupported pbkdf2 digest {name!r} (accepted: {', '.join(PBKDF2_DIGESTS)})")
    if not 1 <= iterations <= MAX_PBKDF2_ITERATIONS:
        raise BadRequest(f"pbkdf2 iterations {iterations} outside 1..{MAX_PBKDF2_ITERATIONS}")


def _int(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        raise BadRequest(f"{what} {text[:20]!r} is not a number")
    return int(text)
