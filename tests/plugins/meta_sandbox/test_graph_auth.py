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


def test_every_served_graph_version_is_accepted(graph):
    # Meta's calendar on 2026-12-07: v21.0 (until 2027-01-21) ... v27.0 (released 2026-11-04).
    for version in ("v21.0", "v22.0", "v23.0", "v24.0", "v25.0", "v26.0", "v27.0"):
        url = f"{graph.settings['graph_url']}/{version}/{graph.settings['phone_number_id']}"
        assert graph.session.get(url, timeout=5).status_code == 200, version


def test_expired_graph_versions_are_refused_as_meta_does(graph):
    for version in ("v20.0", "v19.0", "v12.0"):
        url = f"{graph.settings['graph_url']}/{version}/{graph.settings['phone_number_id']}"
        answer = graph.session.get(url, timeout=5)
        assert answer.status_code == 400, version
        error = graph.error(answer)
        assert (error["code"], error["type"]) == (2635, "OAuthException")
        assert error["message"] == (
            "(#2635) You are calling a deprecated version of the Ads API. Please update to the latest version: v27.0."
        )
    unreleased = graph.session.get(f"{graph.settings['graph_url']}/v28.0/{graph.settings['phone_number_id']}")
    assert unreleased.status_code == 400 and graph.error(unreleased)["code"] == 2500


def test_unknown_object_and_path_answer_like_graph(graph):
    missing = graph.get("999999")
    assert missing.status_code == 400
    assert graph.error(missing)["code"] == 100 and graph.error(missing)["error_subcode"] == 33
    unknown = graph.session.get(f"{graph.settings['graph_url']}/v25.0/a/b/c", timeout=5)
    assert unknown.status_code == 400 and graph.error(unknown)["code"] == 2500


def test_a_version_expires_on_its_day_in_sandbox_time(sandbox, graph):
    node = graph.settings["phone_number_id"]
    assert graph.session.get(f"{graph.settings['graph_url']}/v21.0/{node}", timeout=5).status_code == 200
    sandbox.advance_clock(50 * 86400)  # past 2027-01-21, v21.0's last day
    answer = graph.session.get(f"{graph.settings['graph_url']}/v21.0/{node}", timeout=5)
    assert answer.status_code == 400 and graph.error(answer)["code"] == 2635
    assert graph.session.get(f"{graph.settings['graph_url']}/v22.0/{node}", timeout=5).status_code == 200


def test_expired_versions_can_be_served_as_reported_for_plain_graph_calls(sandbox, graph):
    sandbox.set_options(expired_versions="serve")
    url = f"{graph.settings['graph_url']}/v20.0/{graph.settings['phone_number_id']}"
    assert graph.session.get(url, timeout=5).status_code == 200
