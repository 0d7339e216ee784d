"""Token auth and Graph paths of the sandbox."""

from __future__ import annotations

import requests


def test_phone_number_node_answers_for_connection_tests(graph):
    answer = graph.get(graph.settings["phone_number_id"])
    assert answer.status_code == 200
    assert answer.json()["display_phone_number"] == "+1 555-010-0199"
    assert answer.json()["verified_name"] == "Chatshop Demo"


def test_access_token_parameter_works_like_the_bearer_header(graph):
    url = f"{graph.base}/{graph.settings['phone_number_id']}"
    answer = requests.get(url, params={"access_token": graph.settings["access_token"]}, timeout=5)
    assert answer.status_code == 200


def test_bad_token_is_refused_with_oauth_190(graph):
    url = f"{graph.base}/{graph.settings['phone_number_id']}"
    answer = requests.get(url, headers={"Authorization": "Bearer wrong"}, timeout=5)
    assert answer.status_code == 401
    error = graph.error(answer)
    assert error["code"] == 190 and error["type"] == "OAuthException" and error["fbtrace_id"]


def test_missing_token_is_refused_on_writes_too(graph):
    body = {"item_type": "PRODUCT_ITEM", "requests": []}
    answer = requests.post(f"{graph.base}/{graph.settings['catalog_id']}/items_batch", json=body, timeout=5)
    assert answer.status_code == 401 and graph.error(answer)["code"] == 190


def test_any_graph_version_is_accepted(graph):
    url = f"{graph.settings['graph_url']}/v19.0/{graph.settings['phone_number_id']}"
    assert graph.session.get(url, timeout=5).status_code == 200


def test_unknown_object_and_path_answer_like_graph(graph):
    missing = graph.get("999999")
    assert missing.status_code == 400
    assert graph.error(missing)["code"] == 100 and graph.error(missing)["error_subcode"] == 33
    unknown = graph.session.get(f"{graph.settings['graph_url']}/v25.0/a/b/c", timeout=5)
    assert unknown.status_code == 400 and graph.error(unknown)["code"] == 2500
