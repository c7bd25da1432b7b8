"""Login, refresh rotation with reuse detection, /auth/me, and bad credentials or tokens."""

from __future__ import annotations

import jwt


async def test_login_returns_tokens_and_user(http, login) -> None:
    body = await login("alice", roles=["operator"])
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    assert body["user"]["username"] == "alice"
    assert body["user"]["displayName"] == "alice"
    assert body["user"]["roles"] == ["operator"]
    me = await http.get("/auth/me", headers=body["headers"])
    assert me.status_code == 200 and me.json() == body["user"]


async def test_wrong_password_and_unknown_user_get_the_same_401(http, login) -> None:
    await login("alice")
    wrong = await http.post("/auth/login", json={"username": "alice", "password": "nope-nope"})
    nobody = await http.post("/auth/login", json={"username": "ghost", "password": "nope-nope"})
    assert wrong.status_code == nobody.status_code == 401
    assert (
        wrong.json()
        == nobody.json()
        == {
            "detail": "invalid username or password",
            "code": "INVALID_CREDENTIALS",
        }
    )


async def test_repeated_failures_are_rate_limited(http, login) -> None:
    await login("alice")
    for _ in range(10):
        await http.post("/auth/login", json={"username": "alice", "password": "wrong-wrong"})
    r = await http.post("/auth/login", json={"username": "alice", "password": "correct-horse"})
    assert r.status_code == 429 and r.json()["code"] == "RATE_LIMITED"


async def test_refresh_rotates_and_reuse_revokes_the_family(http, login) -> None:
    first = await login("alice")
    r1 = await http.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r1.status_code == 200, r1.text
    second = r1.json()
    assert second["refresh_token"] != first["refresh_token"]
    # The first token is replayed (stolen?): refused, and the whole family dies with it.
    replay = await http.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401 and replay.json()["code"] == "TOKEN_REUSED"
    after = await http.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert after.status_code == 401
    # A fresh login starts a new, healthy family.
    fresh = await http.post("/auth/login", json={"username": "alice", "password": "correct-horse"})
    ok = await http.post("/auth/refresh", json={"refresh_token": fresh.json()["refresh_token"]})
    assert ok.status_code == 200


async def test_bad_tokens_get_clear_401s(http, login, settings) -> None:
    body = await login("alice")
    cases = {
        "missing": {},
        "not bearer": {"Authorization": "Basic YWxpY2U6eA=="},
        "garbage": {"Authorization": "Bearer not-a-jwt"},
        "refresh token as access": {"Authorization": f"Bearer {body['refresh_token']}"},
        "forged": {
            "Authorization": "Bearer "
            + jwt.encode(
                {
                    "sub": body["user"]["id"],
                    "roles": ["admin"],
                    "typ": "access",
                    "iat": 1,
                    "exp": 9999999999,
                    "iss": "switchyard",
                },
                "wrong-secret-of-at-least-32-bytes-long",
            )
        },
        "expired": {
            "Authorization": "Bearer "
            + jwt.encode(
                {
                    "sub": body["user"]["id"],
                    "roles": ["user"],
                    "typ": "access",
                    "iat": 1,
                    "exp": 2,
                    "iss": "switchyard",
                },
                settings.auth.jwt_secret,
            )
        },
    }
    for name, headers in cases.items():
        r = await http.get("/jobs", headers=headers)
        assert r.status_code == 401, name
        assert r.json()["code"] == "UNAUTHORIZED", name
        assert r.headers["www-authenticate"] == "Bearer", name
    expired = await http.get("/jobs", headers=cases["expired"])
    assert expired.json()["detail"] == "token expired"
    bad_refresh = await http.post("/auth/refresh", json={"refresh_token": "x.y.z"})
    assert bad_refresh.status_code == 401 and bad_refresh.json()["code"] == "INVALID_TOKEN"
