"""The signing keys: they decrypt with this master key, one signs now, and
it is not too old."""

from __future__ import annotations

import datetime as dt
from typing import Any

from keyturn.cli.doctor.check import Check, Doctor, skipped
from keyturn.cli.doctor.settings import check_master_key
from keyturn.cli.doctor.stores import check_migrations
from keyturn.errors import KeyturnError

KEY_MAX_AGE_DAYS = 90


async def check_keys(rt: Any, now: float) -> Check:
    try:
        await rt.keys.reload(now)
    except KeyturnError as exc:
        return Check("signing keys", "fail", exc.description, "check the database")
    except Exception:
        return Check("signing keys", "fail", "cannot decrypt the stored signing keys",
                     "KEYTURN_MASTER_KEY is not the key they were encrypted with: restore the right one")
    stored = rt.keys.describe()
    alg = rt.settings.signing_alg
    # The key that signs now, not the newest: during a rotation the next key
    # is published ahead and must not hide the age of the one in use.
    signing = [k for k in stored if k.alg == alg and k.signs_at(now)]
    if not signing:
        return Check("signing keys", "warn", f"no active {alg} key yet",
                     "start the service once (it creates one)")
    current = max(signing, key=lambda k: k.starts)
    age_days = (now - current.starts) / 86_400
    detail = f"active {current.alg} key {current.kid}, {age_days:.0f} days old; {len(stored)} published"
    upcoming = [k for k in stored if k.alg == alg and k.revoked_at is None and k.starts > now]
    if upcoming:
        nxt = min(upcoming, key=lambda k: k.starts)
        when = dt.datetime.fromtimestamp(nxt.starts, dt.timezone.utc)
        detail += f"; {nxt.kid} signs from {when:%Y-%m-%d %H:%M} UTC"
        return Check("signing keys", "ok", detail)
    if age_days > KEY_MAX_AGE_DAYS:
        return Check("signing keys", "warn", detail, "rotate with `keyturn keys rotate`")
    return Check("signing keys", "ok", detail)


async def key_checks(d: Doctor) -> list[Check]:
    if "database" in d.unreachable:
        return [skipped("signing keys", "no database to read")]
    if check_master_key(d.settings).status == "fail":
        return [skipped("signing keys", "no usable master key")]
    stores = d.database()
    if stores is not None and (await check_migrations(stores.database)).status != "ok":
        return [skipped("signing keys", "the schema is not migrated")]
    return [await check_keys(d.runtime(), d.now)]
