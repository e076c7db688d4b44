"""/metrics: per-app registry, outcome counters, route-template latency,
optional bearer protection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from keyturn.http.metrics import Metrics
from tests.conftest import Api


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


async def scrape(api: Api, **kw: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = await api.client.get("/metrics", **kw)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return samples(r.text)


def refreshes(m: dict[Any, float], outcome: str) -> float:
    return m.get(("keyturn_refreshes_total", (("outcome", outcome),)), 0.0)


async def test_login_outcomes_are_counted(api: Api) -> None:
    await api.user_and_login()
    await api.login(password="wrong password here")
    m = await scrape(api)
    assert m[("keyturn_logins_total", (("outcome", "success"),))] == 1
    assert m[("keyturn_logins_total", (("outcome", "invalid_credentials"),))] == 1


async def test_refresh_rotated_grace_and_reused(api: Api) -> None:
    tokens = await api.user_and_login()
    assert (await api.refresh(tokens["refresh_token"])).status_code == 200
    assert (await api.refresh(tokens["refresh_token"])).status_code == 200  # inside the grace window
    api.clock.advance(60)
    r = await api.refresh(tokens["refresh_token"], headers={"user-agent": "thief/1"})  # a copy
    assert r.json()["code"] == "refresh_token_reused"
    m = await scrape(api)
    assert refreshes(m, "rotated") == 1
    assert refreshes(m, "grace_retry") == 1
    assert refreshes(m, "reused") == 1
    assert m[("keyturn_revocations_total", (("reason", "reuse"),))] == 1


@pytest.mark.parametrize(
    ("token", "outcome"),
    [("krt_nosuchsession_AAAA", "invalid"), ("", "missing")],
)
async def test_refresh_failures_by_outcome(api: Api, token: str, outcome: str) -> None:
    await api.refresh(token)
    assert refreshes(await scrape(api), outcome) == 1


async def test_expired_refresh_is_counted(make_api: Callable[..., Any]) -> None:
    async with make_api(refresh_token_ttl=60) as api:
        tokens = await api.user_and_login()
        api.clock.advance(120)
        assert (await api.refresh(tokens["refresh_token"])).json()["code"] == "refresh_token_expired"
        assert refreshes(await scrape(api), "expired") == 1


@pytest.mark.parametrize(
    ("code", "outcome"),
    [("binding_mismatch", "binding_mismatch"), ("session_revoked", "revoked"), ("rate_limited", "rate_limited")],
)
def test_refresh_outcome_labels(code: str, outcome: str) -> None:
    m = Metrics()
    m.observe_request("/auth/refresh", "POST", 401, 0.001, code, False)
    assert m.registry.get_sample_value("keyturn_refreshes_total", {"outcome": outcome}) == 1


async def test_revocations_by_reason(api: Api) -> None:
    first = await api.user_and_login()
    second = (await api.login()).json()
    third = (await api.login()).json()
    r = await api.client.delete(f"/auth/sessions/{second['session_id']}",
                                headers={"authorization": f"Bearer {first['access_token']}"})
    assert r.status_code == 204
    assert (await api.post("/auth/logout", third["access_token"])).status_code == 204
    m = await scrape(api)
    assert m[("keyturn_revocations_total", (("reason", "user_revoked"),))] == 1
    assert m[("keyturn_revocations_total", (("reason", "logout"),))] == 1


async def test_latency_is_labelled_by_route_template(api: Api) -> None:
    tokens = await api.user_and_login()
    await api.client.delete("/auth/sessions/abc", headers={"authorization": f"Bearer {tokens['access_token']}"})
    await api.client.get("/no/such/path/12345")
    m = await scrape(api)
    key = ("keyturn_http_request_duration_seconds_count",
           (("method", "DELETE"), ("route", "/auth/sessions/{session_id}")))
    assert m[key] == 1
    assert m[("keyturn_http_requests_total", (("method", "GET"), ("route", "<unmatched>"), ("status", "404")))] == 1
    assert not any("abc" in dict(labels).get("route", "") or "12345" in dict(labels).get("route", "")
                   for _, labels in m)


async def test_two_apps_in_one_process_keep_separate_counts(make_api: Callable[..., Any]) -> None:
    async with make_api() as one, make_api(database_url="memory://") as two:
        await one.user_and_login()
        m_two = await scrape(two)
        m_one = await scrape(one)
    assert m_one[("keyturn_logins_total", (("outcome", "success"),))] == 1
    assert ("keyturn_logins_total", (("outcome", "success"),)) not in m_two


async def test_store_errors_are_counted() -> None:
    m = Metrics()
    m.observe_request("/auth/refresh", "POST", 503, 0.01, "store_unavailable", False)
    assert m.registry.get_sample_value("keyturn_store_errors_total", {"route": "/auth/refresh"}) == 1
    assert m.registry.get_sample_value("keyturn_refreshes_total", {"outcome": "store_unavailable"}) == 1


@pytest.mark.parametrize(
    ("header", "status"),
    [(None, 401), ("Bearer wrong-token", 401), ("Basic s3cret-metrics", 401), ("Bearer s3cret-metrics", 200)],
)
async def test_metrics_token(make_api: Callable[..., Any], header: str | None, status: int) -> None:
    async with make_api(metrics_token="s3cret-metrics") as api:
        headers = {"authorization": header} if header else {}
        r = await api.client.get("/metrics", headers=headers)
        assert r.status_code == status
        if status == 401:
            assert r.json()["code"] == "token_invalid"


async def test_an_app_that_builds_its_runtime_counts_revocations(
    clock: Any, make_settings: Callable[..., Any],
) -> None:
    """``create_app(settings)`` hands its metrics to the runtime it builds
    (``build_runtime(event_listeners=...)``), so security events are counted
    without anything attached afterwards."""
    import httpx

    from keyturn.http.app import create_app

    app = create_app(make_settings(), clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://keyturn.test") as client:
            api = Api(client, app.state.runtime, clock)
            tokens = await api.user_and_login()
            assert (await api.post("/auth/logout", tokens["access_token"])).status_code == 204
            m = await scrape(api)
    assert m[("keyturn_revocations_total", (("reason", "logout"),))] == 1
