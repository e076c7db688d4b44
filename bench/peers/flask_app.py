"""Flask + flask-jwt-extended peer, following its docs for rotation: the
refresh endpoint is ``@jwt_required(refresh=True)`` and the old refresh token's
jti is blocklisted in Redis (``token_in_blocklist_loader``) with a TTL equal
to its remaining life."""

from __future__ import annotations

import os
from datetime import timedelta

import redis
from flask import Flask, jsonify, request
from flask_jwt_extended import (JWTManager, create_access_token, create_refresh_token,
                                get_jwt, get_jwt_identity, jwt_required)

app = Flask(__name__)
app.config["JWT_SECRET_KEY"] = os.environ.get("FLASK_SECRET", "bench-secret-" + "x" * 32)
app.config["JWT_ACCESS_TOKEN_EXPIRES"] = timedelta(minutes=30)
app.config["JWT_REFRESH_TOKEN_EXPIRES"] = timedelta(days=2)
jwt = JWTManager(app)
PREFIX = os.environ.get("FLASK_PREFIX", "flaskbl:")
blocklist = redis.Redis.from_url(os.environ.get("FLASK_REDIS_URL", "redis://127.0.0.1:6379/0"))


@jwt.token_in_blocklist_loader
def check_if_token_is_revoked(jwt_header: dict, jwt_payload: dict) -> bool:
    return blocklist.get(PREFIX + jwt_payload["jti"]) is not None


@app.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    return jsonify(status="ok")


@app.post("/login")
def login():  # type: ignore[no-untyped-def]
    user = (request.get_json(silent=True) or {}).get("username", "")
    return jsonify(access_token=create_access_token(identity=user),
                   refresh_token=create_refresh_token(identity=user))


@app.post("/refresh")
@jwt_required(refresh=True)
def refresh():  # type: ignore[no-untyped-def]
    claims = get_jwt()
    ttl = max(1, int(claims["exp"]) - int(claims["iat"]))
    blocklist.set(PREFIX + claims["jti"], "", ex=ttl)
    user = get_jwt_identity()
    return jsonify(access_token=create_access_token(identity=user),
                   refresh_token=create_refresh_token(identity=user))
