"""A real server on a private copy of the demonstration bank, and its two staff keys."""

from __future__ import annotations

import httpx
import pytest

from itembank.database import connect
from itembank.session_store import SessionStore
from tests.api._server import Server


@pytest.fixture
def server(demo_db):
    """``(base URL, {"operator": key, "psychometrician": key})`` of a running server."""
    engine = connect(demo_db)
    store = SessionStore(engine)
    keys = {"operator": store.create_api_key("operator"),
            "psychometrician": store.create_api_key("psychometrician")}
    engine.dispose()
    running = Server(demo_db).start()
    yield running.base, keys
    running.stop()


def staff(keys, role="operator") -> dict[str, str]:
    """The Authorization header of a staff key."""
    return {"Authorization": f"Bearer {keys[role]}"}


def start_session(base: str, keys, language: str = "ru", **limits) -> dict:
    """A new candidate and session over HTTP (the session's public record, with its token)."""
    c = httpx.post(f"{base}/v1/candidates", json={"display_name": "A"}, headers=staff(keys))
    assert c.status_code == 201, c.text
    s = httpx.post(f"{base}/v1/sessions", headers=staff(keys),
                   json={"candidate_id": c.json()["id"], "level": "middle", "language": language,
                         **limits})
    assert s.status_code == 201, s.text
    return s.json()


def answer_current(base: str, session: dict, code: int = 0) -> httpx.Response:
    """Fetch the session's item as its candidate and answer it with ``code`` (or the last choice).

    A finished session has no item: the answer then goes to the next position with no item id.
    """
    me = {"X-Session-Token": session["token"]}
    item = httpx.get(f"{base}/v1/sessions/{session['id']}/item", headers=me).json()
    return httpx.post(f"{base}/v1/sessions/{session['id']}/answers", headers=me,
                      json={"position": item["position"], "item_id": item["item_id"] or "none",
                            "code": min(code, len(item["choices"] or [0]) - 1),
                            "response_time_s": 3.0})
