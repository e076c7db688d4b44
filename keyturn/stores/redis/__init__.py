"""The Redis engine (Redis and Redis Cluster): sessions and the security
state as Lua scripts, and the eviction-policy safety check."""
