"""Routes: simplejwt's own views plus a tiny register view for setup."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView
import json


def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@csrf_exempt
def register(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body or b"{}")
    User.objects.create_user(body["username"], password=body["password"])
    return JsonResponse({"ok": True}, status=201)


urlpatterns = [
    path("healthz", healthz),
    path("api/register/", register),
    path("api/token/", TokenObtainPairView.as_view()),
    path("api/token/refresh/", TokenRefreshView.as_view()),
]
