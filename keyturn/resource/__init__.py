"""What a resource server installs: the offline ``Verifier``, the
revocation-feed client it polls, and the framework adapters. Nothing here
needs the server extra."""
