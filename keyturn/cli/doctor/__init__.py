"""``keyturn doctor``: check a deployment and say what to fix.

Read-only: it never migrates, never creates a master key or a signing key
(the service does those on start). Each check returns ok / warn / fail (or
skip, when what it reads is missing) with a detail and, when not ok, the fix.
``check`` holds the finding and what the checks share, ``run`` the list of
checks and the runner, the other modules one concern each.
"""

from __future__ import annotations

from keyturn.cli.doctor.check import Check, Doctor
from keyturn.cli.doctor.run import CHECKS, diagnose

__all__ = ["CHECKS", "Check", "Doctor", "diagnose"]
