"""Studio auth through HTTP: the OAuth2 form by email or username, its 401 texts, who-am-I,
and an exchange that hands tokens only to the configured front end."""

from __future__ import annotations

from tests.integration.studio.conftest import Start, Studio, add_user, login


async def test_login_by_email_or_username_and_me(studio: Studio) -> None:
    await add_user(studio.settings, "carol", "Carol@Example.com")
    for name in ("carol@example.com", "carol"):
        r = await studio.http.post(
            "/studio/api/auth/login", data={"username": name, "password": "correct-horse"}
        )
        assert r.status_code == 200, r.text
        assert r.json()["token_type"] == "bearer"
    token = r.json()["access_token"]
    me = await studio.http.get("/studio/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    body = me.json()
    assert isinstance(body["id"], int) and body["email"] == "Carol@Example.com"
    assert body["created_at"]


async def test_the_contracts_401s(studio: Studio) -> None:
    await add_user(studio.settings, "dave", "dave@example.com")
    r = await studio.http.post(
        "/studio/api/auth/login", data={"username": "dave@example.com", "password": "wrong"}
    )
    assert r.status_code == 401
    assert r.json() == {"detail": "Incorrect email or password"}
    assert r.headers["www-authenticate"] == "Bearer"

    r = await studio.http.get("/studio/api/auth/me")
    assert (r.status_code, r.json()) == (401, {"detail": "Not authenticated"})
    assert r.headers["www-authenticate"] == "Bearer"
    r = await studio.http.get(
        "/studio/api/sessions/", headers={"Authorization": "Bearer not-a-token"}
    )
    assert (r.status_code, r.json()) == (401, {"detail": "Could not validate credentials"})


async def test_exchange_is_off_when_nothing_is_configured(studio: Studio) -> None:
    r = await studio.http.post("/studio/api/auth/exchange", json={"email": "eve@example.com"})
    assert r.status_code == 403 and "not enabled" in r.json()["detail"]


async def test_exchange_refuses_an_untrusted_caller_and_answers_the_front_end(
    start_studio: Start,
) -> None:
    # The test client calls from 127.0.0.1, which is not on the trusted network.
    studio = await start_studio(
        SWITCHYARD_STUDIO_EXCHANGE_NETWORKS="10.20.0.0/16",
        SWITCHYARD_STUDIO_EXCHANGE_SECRET="front-end-secret",
    )
    url = "/studio/api/auth/exchange"
    r = await studio.http.post(url, json={"email": "mallory@example.com"})
    assert r.status_code == 403 and r.json()["detail"]
    r = await studio.http.post(
        url, json={"email": "mallory@example.com"}, headers={"X-Exchange-Secret": "guess"}
    )
    assert r.status_code == 403
    # Nobody got a user out of the refusals: the first real exchange creates it.
    first = await studio.http.post(
        url, json={"email": "frank@example.com"}, headers={"X-Exchange-Secret": "front-end-secret"}
    )
    assert first.status_code == 200, first.text
    again = await studio.http.post(
        url, json={"email": "FRANK@example.com"}, headers={"X-Exchange-Secret": "front-end-secret"}
    )
    ids = []
    for r in (first, again):
        me = await studio.http.get(
            "/studio/api/auth/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
        )
        ids.append(me.json()["id"])
    assert ids[0] == ids[1]


async def test_exchange_answers_a_trusted_network(start_studio: Start) -> None:
    studio = await start_studio(SWITCHYARD_STUDIO_EXCHANGE_NETWORKS="127.0.0.1/32")
    r = await studio.http.post("/studio/api/auth/exchange", json={"email": "gina@example.com"})
    assert r.status_code == 200, r.text


async def test_health_reports_postgres_and_the_media_pool(studio: Studio) -> None:
    r = await studio.http.get("/studio/")
    assert r.json() == {
        "status": "healthy",
        "service": "Gauntlet Pipeline Orchestrator",
        "version": "1.0.0",
    }
    r = await studio.http.get("/studio/health")
    body = r.json()
    assert r.status_code == 200 and body["status"] == "healthy"
    assert body["database"] == "connected"
    assert body["services"]["orchestrator"] == "ready" and body["services"]["media_workers"] == 1


async def test_another_users_session_is_not_found(studio: Studio) -> None:
    alice = await login(studio, "alice")
    bob = await login(studio, "bob")
    r = await studio.http.post(
        "/studio/api/generate-images", json={"prompt": "a cat", "num_images": 1}, headers=alice
    )
    sid = r.json()["session_id"]
    for path in (f"/studio/api/sessions/{sid}", f"/studio/api/sessions/{sid}/costs"):
        r = await studio.http.get(path, headers=bob)
        assert (r.status_code, r.json()) == (404, {"detail": "Session not found"})
        assert (await studio.http.get(path, headers=alice)).status_code == 200
    assert (await studio.http.get("/studio/api/sessions/", headers=bob)).json() == []
    r = await studio.http.get("/studio/api/sessions/not-a-uuid", headers=alice)
    assert r.status_code == 404


async def test_sessions_are_listed_newest_first_in_pages(studio: Studio) -> None:
    h = await login(studio)
    ids = []
    for prompt in ("one", "two", "three"):
        r = await studio.http.post(
            "/studio/api/generate-images", json={"prompt": prompt, "num_images": 1}, headers=h
        )
        ids.append(r.json()["session_id"])
    r = await studio.http.get("/studio/api/sessions/", params={"limit": 2}, headers=h)
    assert [s["id"] for s in r.json()] == ids[::-1][:2]
    r = await studio.http.get("/studio/api/sessions/", params={"limit": 2, "offset": 2}, headers=h)
    assert [s["id"] for s in r.json()] == ids[:1]
    assert r.json()[0]["status"] == "reviewing_images"


async def test_cors_lets_the_studio_front_end_in_and_no_one_else(studio: Studio) -> None:
    ask = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization",
    }
    r = await studio.http.options(
        "/studio/api/generate-images", headers={"Origin": "http://localhost:3000", **ask}
    )
    assert r.status_code in (200, 204), r.text
    assert r.headers["access-control-allow-origin"] == "http://localhost:3000"
    r = await studio.http.options(
        "/studio/api/generate-images", headers={"Origin": "https://evil.example", **ask}
    )
    assert r.status_code == 400 and set(r.json()) == {"detail"}
