"""Django: add ``keyturn.adapters.django.KeyturnMiddleware`` to MIDDLEWARE
and set ``KEYTURN_VERIFIER`` (a ``Verifier``) in settings. Every path needs
a valid token except those under ``KEYTURN_EXEMPT_PATHS`` (prefixes);
the claims are ``request.keyturn_claims``."""

from __future__ import annotations

from collections.abc import Callable
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from keyturn.errors import KeyturnError
from keyturn.resource.adapters._common import challenge
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
            status, body, headers = challenge(exc)
            response: HttpResponse = JsonResponse(body, status=status)
            for name, value in headers.items():
                response[name] = value
            return response
        setattr(request, "keyturn_claims", claims)  # noqa: B010
        return self.get_response(request)
