"""``keyturn audit``: check any refresh-token deployment, keyturn or not,
against the attack catalogue (RFC 6749 / 6750 / 6819 / 7009 / 8725,
RFC 9700 §4.14, OWASP ASVS).

Nothing here imports the service, the stores or the HTTP app: the audit
speaks to the target only over HTTP, through a bounded :class:`Probe`.
"""

from __future__ import annotations
