"""The pure core: token formats, session rules and policy.

Nothing here imports a web framework, a database driver or the wall clock;
callers pass ``now`` in.
"""
