"""TokenService: login, refresh, logout, sessions — the use cases, with no
HTTP in sight. Errors are raised as ``KeyturnError`` subclasses; the edge
renders them.
"""

from __future__ import annotations

import logging
from collections import OrderedDict

from keyturn.clock import Clock
from keyturn.config import Settings
from keyturn.core import refresh as rt
from keyturn.core.policy import BindingPolicy
from keyturn.service.access import TokenPair, _Facts
from keyturn.service.accounts import Accounts
from keyturn.service.ending import SessionManagement
from keyturn.service.events import EventRecorder
from keyturn.service.feed import RevocationNotifier
from keyturn.service.guards import AccessDenylist, DpopGuard, Throttle
from keyturn.service.keys import KeySet
from keyturn.service.passwords import PasswordHasher
from keyturn.service.refresh import Refresh
from keyturn.stores.protocols import SessionStore, UserStore

__all__ = ["TokenPair", "TokenService"]

log = logging.getLogger("keyturn.service")


class TokenService(Accounts, Refresh, SessionManagement):
    """The use cases, with no HTTP in sight: accounts, refresh, ending
    sessions, and the access-token check."""

    def __init__(
        self,
        settings: Settings,
        *,
        users: UserStore,
        sessions: SessionStore,
        keys: KeySet,
        mac: rt.RefreshMac,
        passwords: PasswordHasher,
        events: EventRecorder,
        clock: Clock,
        binding: BindingPolicy,
        throttle: Throttle,
        denylist: AccessDenylist,
        dpop: DpopGuard,
        revocations: RevocationNotifier,
    ) -> None:
        self.settings = settings
        self.users = users
        self.sessions = sessions
        self.keys = keys
        self.mac = mac
        self.passwords = passwords
        self.events = events
        self.clock = clock
        self.binding = binding
        self.throttle = throttle
        self.denylist = denylist
        self.dpop = dpop
        self.revocations = revocations
        self._access_ttl = settings.access_token_ttl
        self._idle_ttl = settings.refresh_token_ttl
        self._facts: OrderedDict[str, _Facts] = OrderedDict()
        self._facts_max = 50_000

