"""Sender profiles through the send API."""

from collections.abc import Callable
from typing import Any

from postino.services import Services
from tests.support.events import HttpResult
from tests.support.webhooks import PHONE_NUMBER_ID

Api = Callable[..., HttpResult]
STUDIO = {
    "phone_number_id": "106540352242000",
    "waba_id": "102290129340000",
    "access_token_secret": "postino/meta/studio-token",
    "limits": [{"max": 20, "per_seconds": 1}, {"max": 1000, "per_seconds": 86400}],
    # Its tests send free text to numbers that never wrote (the window has its own tests).
    "enforce_service_window": False,
}


def test_the_default_sender_comes_from_the_stack_parameters(api: Api) -> None:
    senders = api("GET", "/v1/senders").body["items"]
    assert [s["name"] for s in senders] == ["default"]
    default = api("GET", "/v1/senders/default").body
    assert default["phone_number_id"] == PHONE_NUMBER_ID
    assert default["limits"] == [{"max": 80, "per_seconds": 1}]
    assert default["pair_limit"] == {"max": 1, "per_seconds": 6}
    assert default["windows"][0]["used"] == 0


def test_a_sender_is_created_listed_and_shows_its_live_window(api: Api) -> None:
    created = api("PUT", "/v1/senders/studio", STUDIO)
    assert created.status == 200 and created.body["paused"] is False
    assert [s["name"] for s in api("GET", "/v1/senders").body["items"]] == ["default", "studio"]
    windows = api("GET", "/v1/senders/studio").body["windows"]
    assert [(w["max"], w["per_seconds"], w["used"]) for w in windows] == [
        (20, 1, 0),
        (1000, 86400, 0),
    ]
    assert (
        api(
            "POST",
            "/v1/messages",
            {"to": "+393331234567", "sender": "studio", "type": "text", "text": {"body": "hi"}},
        ).status
        == 202
    )


def test_a_secret_outside_the_stacks_prefix_is_refused(api: Api) -> None:
    result = api(
        "PUT", "/v1/senders/studio", STUDIO | {"access_token_secret": "prod/other-team/token"}
    )
    assert result.status == 422
    assert result.body["error"]["details"][0]["field"] == "access_token_secret"
    assert api("GET", "/v1/senders/studio").status == 404


def test_bad_sender_settings_are_refused(api: Api) -> None:
    for body in (
        STUDIO | {"limits": []},
        STUDIO | {"limits": [{"max": 0, "per_seconds": 1}]},
        STUDIO | {"provider": "sms"},
        {},
    ):
        assert api("PUT", "/v1/senders/studio", body).status == 422
    assert api("PUT", "/v1/senders/Bad Name", STUDIO).status == 422


def test_resume_lifts_a_pause(api: Api, services: Services) -> None:
    services.senders.set_pause(
        "default", paused=True, reason="190: token expired", until=None, now=services.clock.now()
    )
    paused = api("GET", "/v1/senders/default").body
    assert paused["paused"] is True and paused["paused_reason"].startswith("190")
    resumed = api("POST", "/v1/senders/default/resume")
    assert resumed.status == 200 and resumed.body["paused"] is False
    assert api("POST", "/v1/senders/ghost/resume").status == 404


def test_a_sender_is_paused_by_hand_holds_its_messages_and_resumes(
    api: Api, drain: Callable[..., dict[str, Any]]
) -> None:
    # WHEN a user pauses the sender, saying why
    paused = api("POST", "/v1/senders/default/pause", {"reason": "the bride changes the text"})
    # THEN it is paused until resumed, with the reason
    assert paused.status == 200, paused.body
    assert paused.body["paused"] is True and paused.body["paused_until"] is None
    assert paused.body["paused_reason"] == "the bride changes the text"
    # AND a message sent meanwhile waits through a drain
    hello = {"name": "hello_world", "language": {"code": "en_US"}}
    sent = api(
        "POST", "/v1/messages", {"to": "+393331234567", "type": "template", "template": hello}
    )
    assert sent.status == 202
    drain()
    assert api("GET", f"/v1/messages/{sent.body['id']}").body["status"] == "queued"
    # AND resume lifts the pause and sends it
    assert api("POST", "/v1/senders/default/resume").body["paused"] is False
    drain()
    assert api("GET", f"/v1/messages/{sent.body['id']}").body["status"] == "sent"


def test_a_pause_without_a_reason_says_so_and_bad_pauses_change_nothing(api: Api) -> None:
    paused = api("POST", "/v1/senders/default/pause")
    assert paused.status == 200 and paused.body["paused_reason"] == "paused by hand"
    api("POST", "/v1/senders/default/resume")
    assert api("POST", "/v1/senders/ghost/pause").status == 404
    refused = api("POST", "/v1/senders/default/pause", {"reason": "x" * 201})
    assert refused.status == 422 and refused.body["error"]["details"][0]["field"] == "reason"
    assert api("POST", "/v1/senders/default/pause", {"until": 5}).status == 422
    assert api("GET", "/v1/senders/default").body["paused"] is False


CRM, BOOKINGS = "crm0key111", "bookings22"


def test_a_sender_records_the_key_id_of_whoever_last_changed_it(
    api: Api, services: Services
) -> None:
    # WHEN one system creates a sender and another replaces it
    created = api("PUT", "/v1/senders/studio", STUDIO, api_key_id=CRM)
    assert created.status == 200 and created.body["updated_by"] == CRM
    assert api("GET", "/v1/senders/studio").body["updated_by"] == CRM
    api("PUT", "/v1/senders/studio", STUDIO | {"auto_mark_read": True}, api_key_id=BOOKINGS)
    # THEN the sender names the second key, on GET and in the list
    assert api("GET", "/v1/senders/studio").body["updated_by"] == BOOKINGS
    listed = {s["name"]: s for s in api("GET", "/v1/senders").body["items"]}
    assert listed["studio"]["updated_by"] == BOOKINGS
    # AND a pause Postino makes itself keeps the last caller's id; a resume names its caller
    services.senders.set_pause(
        "studio", paused=True, reason="190: token expired", until=None, now=services.clock.now()
    )
    assert api("GET", "/v1/senders/studio").body["updated_by"] == BOOKINGS
    resumed = api("POST", "/v1/senders/studio/resume", api_key_id=CRM)
    assert resumed.status == 200 and resumed.body["updated_by"] == CRM
    assert api("GET", "/v1/senders/studio").body["updated_by"] == CRM


def test_the_default_sender_names_who_resumed_it(api: Api) -> None:
    # The stack's parameters made it: no key changed it until a resume stores it
    assert api("GET", "/v1/senders/default").body["updated_by"] is None
    api("POST", "/v1/senders/default/resume", api_key_id=BOOKINGS)
    assert api("GET", "/v1/senders/default").body["updated_by"] == BOOKINGS
