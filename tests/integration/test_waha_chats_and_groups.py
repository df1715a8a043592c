"""A WAHA sender's chats and groups on the send API, cached; and reservation targets naming a
WAHA group, which must be one the sender's phone is in."""

from collections.abc import Callable

import pytest

from local.waha_peer import WahaFault, WahaPeer
from local.waha_peer.config import Engine
from postino.clock import FakeClock
from postino.senders.chats import CACHE_SECONDS
from postino.services import Services
from tests.support.events import HttpResult
from tests.support.waha import WAHA_API_KEY, waha_sender

Api = Callable[..., HttpResult]
AMALFI = "120363025246125001@g.us"
MISSING = "120363099999999999@g.us"


@pytest.fixture
def groom(api: Api, waha_peer: WahaPeer) -> WahaPeer:
    waha_peer.add_session("groom", phone="393470000001", push_name="Marco")
    assert api("PUT", "/v1/senders/groom", waha_sender(waha_peer.base_url, "groom")).status == 200
    return waha_peer


def reads(peer: WahaPeer, what: str) -> int:
    """How many times WAHA was asked for the groom's chats or groups."""
    return sum(1 for r in peer.requests if r.path.split("?")[0] == f"/api/groom/{what}")


@pytest.mark.parametrize("engine", ["WEBJS", "NOWEB", "GOWS"])
def test_the_groups_a_phone_is_in_with_their_members_whatever_the_engine(
    api: Api, groom: WahaPeer, engine: Engine
) -> None:
    groom.engine = engine
    # WHEN the tour operator asks for the sender's groups
    groups = api("GET", "/v1/senders/groom/groups")
    # THEN each comes with its id, its name and how many are in it, by name
    assert groups.status == 200 and groups.body["sender"] == "groom"
    assert groups.body["items"] == [
        {"id": "120363025246125002@g.us", "name": "Capri in barca 15/06", "participant_count": 9},
        {"id": "120363025246125003@g.us", "name": "Guide Napoli", "participant_count": 5},
        {"id": AMALFI, "name": "Tour Amalfi 12/06", "participant_count": 14},
    ]
    # AND WAHA was asked as its description says
    assert reads(groom, "groups") == 1
    assert all(r.problems == [] for r in groom.requests)


@pytest.mark.parametrize("engine", ["WEBJS", "NOWEB", "GOWS"])
def test_the_chats_latest_first_with_their_last_message_time(
    api: Api, groom: WahaPeer, engine: Engine
) -> None:
    groom.engine = engine
    chats = api("GET", "/v1/senders/groom/chats")
    assert chats.status == 200
    items = chats.body["items"]
    assert [c["name"] for c in items] == [
        "Tour Amalfi 12/06",
        "Giulia",
        "Tom",
        "Capri in barca 15/06",
        "Guide Napoli",
    ]
    assert items[1]["id"] == "393331112222@c.us"
    times = [c["last_message_at"] for c in items]
    assert all(times) and times == sorted(times, reverse=True)
    request = next(r for r in groom.requests if r.path.startswith("/api/groom/chats"))
    assert "sortBy=conversationTimestamp" in request.path and request.problems == []


def test_a_second_read_comes_from_the_cache_and_refresh_reads_waha_again(
    api: Api, groom: WahaPeer
) -> None:
    # GIVEN the groups and chats read once
    first = api("GET", "/v1/senders/groom/groups").body
    api("GET", "/v1/senders/groom/chats")
    # WHEN the phone joins a group and the lists are asked for again
    sorrento = groom.add_group("groom", "Tour Sorrento 20/06", members=6)
    again = api("GET", "/v1/senders/groom/groups").body
    api("GET", "/v1/senders/groom/chats")
    # THEN they come from the cache: WAHA was not asked, the new group is not there yet
    assert again == first
    assert (reads(groom, "groups"), reads(groom, "chats")) == (1, 1)
    # AND refresh=true reads WAHA again, and the cache keeps what it read
    fresh = api("GET", "/v1/senders/groom/groups", query={"refresh": "true"}).body
    assert sorrento in [g["id"] for g in fresh["items"]]
    assert api("GET", "/v1/senders/groom/groups").body == fresh
    api("GET", "/v1/senders/groom/chats", query={"refresh": "true"})
    assert (reads(groom, "groups"), reads(groom, "chats")) == (2, 2)


def test_the_cache_lasts_a_few_minutes(
    api: Api, groom: WahaPeer, make_services: Callable[..., Services]
) -> None:
    clock = FakeClock()
    make_services(clock)
    fetched_at = api("GET", "/v1/senders/groom/groups").body["fetched_at"]
    clock.advance(CACHE_SECONDS - 1)
    assert api("GET", "/v1/senders/groom/groups").body["fetched_at"] == fetched_at
    clock.advance(2)
    assert api("GET", "/v1/senders/groom/groups").body["fetched_at"] > fetched_at
    assert reads(groom, "groups") == 2


def test_a_cloud_api_sender_and_an_unknown_sender_are_refused(api: Api, groom: WahaPeer) -> None:
    for what in ("chats", "groups"):
        cloud = api("GET", f"/v1/senders/default/{what}")
        assert cloud.status == 409 and cloud.body["error"]["code"] == "not_a_waha_sender"
        assert "Cloud API" in cloud.body["error"]["message"]
        unknown = api("GET", f"/v1/senders/nobody/{what}")
        assert unknown.status == 404 and unknown.body["error"]["code"] == "sender_not_found"
        assert unknown.body["error"]["message"] == "No sender named 'nobody'."
    assert groom.requests == []


def test_waha_down_refusing_or_not_paired_in_words_without_the_key(
    api: Api, groom: WahaPeer
) -> None:
    # A WAHA nobody answers at
    api("PUT", "/v1/senders/groom", waha_sender("http://127.0.0.1:9", "groom"))
    down = api("GET", "/v1/senders/groom/groups")
    assert down.status == 503 and down.body["error"]["code"] == "waha_unreachable"
    assert "http://127.0.0.1:9" in down.body["error"]["message"]
    # A WAHA that fails
    api("PUT", "/v1/senders/groom", waha_sender(groom.base_url, "groom"))
    groom.add_fault(WahaFault(status=500, path="/groups"))
    failing = api("GET", "/v1/senders/groom/groups")
    assert failing.status == 502 and failing.body["error"]["code"] == "waha_error"
    # A WAHA that refuses the key
    groom.api_key = "rotated"
    refused = api("GET", "/v1/senders/groom/chats")
    assert refused.status == 502 and refused.body["error"]["code"] == "waha_unauthorized"
    groom.api_key = WAHA_API_KEY
    # A phone not paired yet
    groom.set_session_status("groom", "SCAN_QR_CODE")
    unpaired = api("GET", "/v1/senders/groom/chats")
    assert unpaired.status == 409 and "SCAN_QR_CODE" in unpaired.body["error"]["message"]
    for answer in (down, failing, refused, unpaired):
        assert WAHA_API_KEY not in str(answer.body) and "rotated" not in str(answer.body)


# ---- reservation targets naming a WAHA group -------------------------------------------------


def bind(api: Api, to: str, sender: str = "groom") -> HttpResult:
    body = {"operator_id": "amalfi-tours", "target": {"sender": sender, "to": to}}
    return api("PUT", "/v1/experiences/amalfi-coast/binding", body | {"is_override": True})


@pytest.fixture
def operator(api: Api, groom: WahaPeer) -> WahaPeer:
    assert api("PUT", "/v1/operators/amalfi-tours", {"name": "Amalfi Tours"}).status == 200
    return groom


def test_binding_to_a_group_the_phone_is_not_in_is_refused_naming_it(
    api: Api, operator: WahaPeer
) -> None:
    refused = bind(api, MISSING)
    assert refused.status == 422 and refused.body["error"]["code"] == "unknown_group"
    assert MISSING in refused.body["error"]["message"]
    assert refused.body["error"]["details"][0]["field"] == "target.to"
    assert api("GET", "/v1/experiences/amalfi-coast/binding").status == 404
    # So is an operator's default target
    default = {"name": "Amalfi Tours", "default_target": {"sender": "groom", "to": MISSING}}
    refused = api("PUT", "/v1/operators/amalfi-tours", default)
    assert refused.status == 422 and MISSING in refused.body["error"]["message"]
    assert refused.body["error"]["details"][0]["field"] == "default_target.to"


def test_binding_to_a_group_the_phone_is_in_works(api: Api, operator: WahaPeer) -> None:
    bound = bind(api, AMALFI)
    assert bound.status == 200 and bound.body["target"] == {"sender": "groom", "to": AMALFI}
    default = {"name": "Amalfi Tours", "default_target": {"sender": "groom", "to": AMALFI}}
    assert api("PUT", "/v1/operators/amalfi-tours", default).status == 200
    # AND a phone number, or a Cloud API sender, is no group to look for
    assert bind(api, "+393331112222").status == 200
    assert bind(api, "+393331112222", sender="default").status == 200
    # One read of WAHA served both group checks
    assert reads(operator, "groups") == 1


def test_a_group_newer_than_the_cache_is_found_with_one_more_read(
    api: Api, operator: WahaPeer
) -> None:
    # GIVEN the groups cached before the phone joined a new one
    api("GET", "/v1/senders/groom/groups")
    sorrento = operator.add_group("groom", "Tour Sorrento 20/06")
    # WHEN an experience is bound to the new group
    bound = bind(api, sorrento)
    # THEN WAHA is read once more and the binding stands
    assert bound.status == 200 and reads(operator, "groups") == 2
    # AND a group still missing is refused after one more read, no more
    assert bind(api, MISSING).status == 422 and reads(operator, "groups") == 3
