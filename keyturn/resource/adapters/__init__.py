"""Small framework adapters around ``keyturn.resource.verifier.Verifier``:
FastAPI, Starlette, Flask, Django. Each module imports its framework only
when used. Documented paths: ``keyturn.adapters.<framework>``."""
