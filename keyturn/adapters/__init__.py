"""``keyturn.adapters.{fastapi,starlette,flask,django}``: the documented
paths of the framework adapters, which live in ``keyturn.resource.adapters``.
Each module imports its framework only when used."""
