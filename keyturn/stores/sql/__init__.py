"""The SQL engine (SQLite, PostgreSQL, MySQL/MariaDB): the schema and its
migrations, the SQLAlchemy store, the driver-level hot path, the security
state and the revocation log."""
