"""Bank imports over HTTP never change what a published version shows (issue 15, defect 8).

A session pinned to a published version goes on showing its texts after an import brings new
ones (they go into a draft version, named in the answer); reversed options of a calibrated item
are refused with the item and field named, and nothing is imported.
"""

from __future__ import annotations

import httpx

from tests.api._server import staff, start_session


def test_a_pinned_session_keeps_its_texts_and_reversed_options_are_refused(server):
    base, keys = server
    psy = staff(keys, "psychometrician")
    session = start_session(base, keys, language="ru")
    me = {"X-Session-Token": session["token"]}
    url = f"{base}/v1/sessions/{session['id']}/item"
    item_id = httpx.get(url, headers=me).json()["item_id"]
    doc = httpx.get(f"{base}/v1/admin/bank", headers=psy).json()
    item = next(i for i in doc["items"] if i["id"] == item_id)
    old_stem = item["text"]["en"]["stem"]
    item["text"]["en"]["stem"] = old_stem + " (new wording)"

    done = httpx.post(f"{base}/v1/admin/bank", headers=psy, json=doc)
    assert done.status_code == 201, done.text
    assert done.json()["draft_version"] == 2
    # the session pinned version 1: it shows version 1's text (never read before in English)
    shown = httpx.get(url, headers=me, params={"language": "en"}).json()
    assert shown["item_id"] == item_id and shown["stem"] == old_stem
    exported = httpx.get(f"{base}/v1/admin/bank", headers=psy).json()
    v1, v2 = exported["versions"][:2]
    assert v1["status"] == "published" and v2["status"] == "draft"
    assert v1["content"]["items"][item_id]["text"]["en"]["stem"] == old_stem
    assert v2["content"]["items"][item_id]["text"]["en"]["stem"] == old_stem + " (new wording)"
    revision = v2["provenance"]["revisions"][-1]
    assert revision["source"] == "request body" and revision["by"]
    assert revision["previous_version"] == 1 and v2["provenance"]["based_on"] == 1

    sjt = next(i for i in exported["items"] if i["format"] == "sjt")
    for text in sjt["text"].values():
        text["options"].reverse()
    refused = httpx.post(f"{base}/v1/admin/bank", headers=psy, json=exported)
    assert refused.status_code == 422, refused.text
    problems = refused.json()["problems"]
    assert {p["field"] for p in problems} == {f"items[{exported['items'].index(sjt)}] "
                                              f"({sjt['id']!r}).text.{lang}.options"
                                              for lang in sjt["text"]}
    assert all(p["problem"].startswith("moved (") for p in problems)
    after = httpx.get(f"{base}/v1/admin/bank", headers=psy).json()
    assert [v["number"] for v in after["versions"]] == [1, 2]
    assert next(i for i in after["items"] if i["id"] == sjt["id"])["text"] != sjt["text"]
