"""Hostile input, generated: the webhook routes and the send API through their real handlers.

Whatever arrives: no 5xx, every 4xx in the one error shape, and nothing stored or queued from a
request that was refused. `make test` runs a few dozen examples per test; `make fuzz` runs
POSTINO_FUZZ_EXAMPLES of them (2,500 a test: 10,000 requests in all).
"""

import json
import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from postino.services import Services
from tests.conftest import queue_depth, sqs_depth
from tests.support.events import HttpResult
from tests.support.webhooks import notification

EXAMPLES = int(os.environ.get("POSTINO_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    # One moto stack per test, shared by its examples: what they store adds up, which is the
    # point (a refused request must add nothing).
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

Call = Callable[..., HttpResult]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)
bodies = st.one_of(
    st.binary(max_size=512).map(lambda raw: raw.decode("utf-8", "replace").encode()),
    json_values.map(lambda value: json.dumps(value).encode()),
)
signatures = st.one_of(
    st.just(""),
    st.text(max_size=80).filter(lambda text: text != ""),
    st.from_regex(r"sha256=[0-9a-f]{64}", fullmatch=True),
    st.from_regex(r"[0-9a-f]{128}", fullmatch=True),
)


def an_error(result: HttpResult) -> None:
    assert 400 <= result.status < 500, (result.status, result.body)
    error = result.body["error"]
    assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"]


def ingest_depth(services: Services) -> int:
    return sqs_depth(services.settings.ingest_queue_url, "", "NotVisible", "Delayed")


@FUZZ
@given(body=bodies, signature=signatures)
def test_meta_webhook_refuses_what_its_app_secret_did_not_sign(
    webhook: Call, services: Services, body: bytes, signature: str
) -> None:
    result = webhook(body, signature=signature)
    an_error(result)
    assert result.status == 401 and ingest_depth(services) == 0


@FUZZ
@given(body=bodies, signature=signatures)
def test_waha_webhook_refuses_what_its_key_did_not_sign(
    waha_webhook: Call, services: Services, body: bytes, signature: str
) -> None:
    result = waha_webhook(body, signature=signature)
    an_error(result)
    assert result.status == 401 and ingest_depth(services) == 0


# Meta's envelope around anything: what passes the route's shape check reaches the processor.
notifications = st.builds(
    lambda value, field: json.dumps(notification(value, field)).encode(),
    st.dictionaries(st.sampled_from(["messages", "statuses", "contacts", "metadata", "errors"]),
                    json_values, max_size=3),
    st.sampled_from(["messages", "user_preferences", "message_template_status_update", "x"]),
)  # fmt: skip


@FUZZ
@given(body=st.one_of(bodies, notifications))
def test_a_signed_body_is_queued_whole_or_refused_whole(
    webhook: Call, services: Services, body: bytes
) -> None:
    before = ingest_depth(services)
    result = webhook(body)
    event(f"answered {result.status}")
    if result.status == 200:
        # (A shape the processor then cannot read fails there, and after five receives waits
        # in the ingest DLQ, alarmed: signed by Meta, it is for a person to look at.)
        assert ingest_depth(services) == before + 1
    else:
        an_error(result)
        assert ingest_depth(services) == before


# A message close to valid, with one part replaced by anything: the shape users get wrong.
valid = {"to": "+39 333 123 4567", "type": "text", "text": {"body": "Ciao"}}
fields = st.sampled_from(
    ["to", "type", "text", "sender", "send_at", "reference", "metadata", "validity_seconds",
     "at_least_once", "variables", "link", "template", "image", "idempotency_key"]
)  # fmt: skip
near_valid = st.builds(
    lambda field, value: valid | {field: value},
    fields,
    json_values | st.text(min_size=0, max_size=5000),
)


@FUZZ
@given(body=st.one_of(near_valid, json_values, bodies))
@example(body=valid | {"metadata": {"": 1.0000000000000001e126}})  # found by this test: a 500
def test_the_send_api_accepts_or_refuses_and_stores_only_what_it_accepts(
    api: Call, services: Services, body: Any
) -> None:
    before = queue_depth(services)
    if isinstance(body, bytes):
        result = api("POST", "/v1/messages", raw_body=body.decode())
    else:
        result = api("POST", "/v1/messages", body)
    event(f"answered {result.status}")
    if result.status == 202:
        assert queue_depth(services) == before + 1
    else:
        an_error(result)
        assert queue_depth(services) == before


def test_metadata_dynamodb_could_not_hold_comes_back_as_it_was_sent(api: Call) -> None:
    # Numbers past DynamoDB's range or precision, an empty key, a null: JSON allows them all.
    metadata = {"": 1e126, "tiny": 1e-200, "big": 10**40, "none": None, "list": [1.5, None]}
    answer = api("POST", "/v1/messages", valid | {"metadata": metadata})
    assert answer.status == 202, answer.body
    assert api("GET", f"/v1/messages/{answer.body['id']}").body["metadata"] == metadata
