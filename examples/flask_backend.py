"""A Flask app with its own users table that authenticates its users itself
and asks keyturn for their sessions over HTTP: the shape of a Flask service
whose ``generate_token(user_id)`` runs after its own password check. See
docs/adopt.md.

Create the backend client once (``keyturn clients add web --scope
sessions:issue``), then:

    KEYTURN_URL=http://127.0.0.1:8000 KEYTURN_CLIENT_ID=kc_… KEYTURN_CLIENT_SECRET=kcs_… \\
        python examples/flask_backend.py --port 5000
"""

from __future__ import annotations

import argparse
import os
import sqlite3
from typing import Any

import httpx
from flask import Flask, g, jsonify, request
from werkzeug.security import check_password_hash, generate_password_hash

from keyturn.adapters.flask import current_claims, require_token
from keyturn.verify import Verifier


def create_app(db_path: str, keyturn_url: str, client_id: str, client_secret: str) -> Flask:
    app = Flask(__name__)
    keyturn = httpx.Client(base_url=keyturn_url, auth=(client_id, client_secret), timeout=10)
    # The same client reads the revocation feed, so a logout reaches this
    # app's own checks before the access token expires.
    verifier = Verifier.for_service(keyturn_url, issuer="keyturn", audience="keyturn",
                                    client_id=client_id, client_secret=client_secret)

    def db() -> sqlite3.Connection:
        if "db" not in g:
            g.db = sqlite3.connect(db_path)
            g.db.row_factory = sqlite3.Row
        conn: sqlite3.Connection = g.db
        return conn

    @app.teardown_appcontext
    def close_db(_: BaseException | None) -> None:
        conn = g.pop("db", None)
        if conn is not None:
            conn.close()

    with sqlite3.connect(db_path) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL,"
                     " password_hash TEXT NOT NULL, role TEXT NOT NULL DEFAULT 'member')")

    def generate_token(user_id: int, role: str) -> dict[str, Any]:
        """What used to mint a JWT and a per-user refresh secret: keyturn does it now."""
        r = keyturn.post("/backend/sessions", json={
            "subject": str(user_id), "claims": {"roles": [role]}, "scope": "read",
            "ip": request.remote_addr, "user_agent": request.headers.get("user-agent"),
        })
        r.raise_for_status()
        answer: dict[str, Any] = r.json()
        return answer

    @app.post("/signup")
    def signup() -> Any:
        body = request.get_json(force=True)
        with db() as conn:
            cur = conn.execute("INSERT INTO users (email, password_hash, role) VALUES (?, ?, ?)",
                               (body["email"], generate_password_hash(body["password"]), body.get("role", "member")))
        return jsonify({"id": cur.lastrowid}), 201

    def signed_in(body: dict[str, Any]) -> sqlite3.Row | None:
        """The user whose email and password the body carries, if they match."""
        row: sqlite3.Row | None = db().execute("SELECT * FROM users WHERE email = ?", (body.get("email"),)).fetchone()
        if row is None or not check_password_hash(row["password_hash"], body.get("password", "")):
            return None
        return row

    @app.post("/login")
    def login() -> Any:
        row = signed_in(request.get_json(force=True))
        if row is None:
            return jsonify({"error": "wrong email or password"}), 401
        return jsonify(generate_token(row["id"], row["role"]))

    @app.post("/password")
    def change_password() -> Any:
        """The app's own password change: every session ends, at keyturn too."""
        body = request.get_json(force=True)
        row = signed_in(body)
        if row is None:
            return jsonify({"error": "wrong email or password"}), 401
        with db() as conn:
            conn.execute("UPDATE users SET password_hash = ? WHERE id = ?",
                         (generate_password_hash(body["new_password"]), row["id"]))
        r = keyturn.post("/backend/sessions/revoke", json={"subject": str(row["id"])})
        r.raise_for_status()
        return jsonify(r.json())

    @app.get("/me")
    @require_token(verifier, scopes=["read"])
    def me() -> Any:
        claims = current_claims()
        return jsonify({"user_id": claims.sub, "roles": list(claims.roles), "client_id": claims.client_id})

    @app.get("/admin")
    @require_token(verifier, roles=["admin"])
    def admin() -> Any:
        return jsonify({"hello": "admin"})

    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--db", default="flask_app.db")
    args = parser.parse_args()
    app = create_app(args.db, os.environ["KEYTURN_URL"], os.environ["KEYTURN_CLIENT_ID"],
                     os.environ["KEYTURN_CLIENT_SECRET"])
    app.run(host="127.0.0.1", port=args.port)


if __name__ == "__main__":
    main()
