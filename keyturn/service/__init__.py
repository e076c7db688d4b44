"""The use cases, with no HTTP in sight: ``TokenService`` (accounts,
refresh, ending sessions, the access-token check), the keys, the guards
(throttle, denylist, DPoP), security events and their webhook, the
revocation feed, the OAuth endpoints' logic, and ``build_runtime``, which
wires them to the stores (``keyturn.service.wiring``)."""
