"""Small framework adapters around ``keyturn.verify.Verifier``: FastAPI,
Starlette, Flask, Django. Each module imports its framework only when used."""
