"""Django: add ``keyturn.adapters.django.KeyturnMiddleware`` to MIDDLEWARE
and set ``KEYTURN_VERIFIER`` (a ``Verifier``) in settings. Every path needs
a valid token except those under ``KEYTURN_EXEMPT_PATHS`` (prefixes);
the claims are ``request.keyturn_claims``. ``@require_token(scopes=[...],
roles=[...])`` on a view checks scopes and roles (403 otherwise)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection
from typing import Any, TypeVar, cast

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from keyturn.errors import KeyturnError
from keyturn.resource.adapters._common import challenge, check_scopes
from keyturn.resource.verifier import Verifier


class KeyturnMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        verifier = settings.KEYTURN_VERIFIER
        if not isinstance(verifier, Verifier):
            raise TypeError("settings.KEYTURN_VERIFIER must be a keyturn.verify.Verifier")
        self.verifier = verifier
        self.exempt = tuple(getattr(settings, "KEYTURN_EXEMPT_PATHS", ()))

    def __call__(self, request: HttpRequest) -> HttpResponse:
        setattr(request, "keyturn_claims", None)  # noqa: B010 - Django's request takes attributes
        if self.exempt and request.path.startswith(self.exempt):
            return self.get_response(request)
        try:
            claims = self.verifier.verify_request(
                request.method or "GET", request.build_absolute_uri(), request.headers.items()
            )
        except KeyturnError as exc:
            return _error_response(exc)
        setattr(request, "keyturn_claims", claims)  # noqa: B010
        return self.get_response(request)


F = TypeVar("F", bound=Callable[..., Any])


def _error_response(exc: KeyturnError) -> HttpResponse:
    status, body, headers = challenge(exc)
    response: HttpResponse = JsonResponse(body, status=status)
    for name, value in headers.items():
        response[name] = value
    return response


def require_token(*, scopes: Collection[str] = (), roles: Collection[str] = ()) -> Callable[[F], F]:
    """A view decorator (behind ``KeyturnMiddleware``): every one of
    ``scopes`` and, when given, one of ``roles``; 401 on an exempt path
    reached without a token."""
    needed, any_role = tuple(scopes), tuple(roles)

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
            claims = getattr(request, "keyturn_claims", None)
            try:
                if claims is None:
                    from keyturn.errors import MissingToken

                    raise MissingToken()
                check_scopes(claims, needed, any_role)
            except KeyturnError as exc:
                return _error_response(exc)
            return view(request, *args, **kwargs)

        return cast(F, wrapped)

    return decorator
