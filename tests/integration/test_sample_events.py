"""Every sample event under events/ is a real event its function handles (for sam local invoke)."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from local.template_stack import REPO_ROOT, api_routes
from postino.webhooks.ingest import ROUTES
from tests.support.events import FakeLambdaContext, as_http
from tests.support.functions import load_function

EVENTS = sorted((REPO_ROOT / "events").glob("*.json"))


@pytest.mark.parametrize("path", EVENTS, ids=lambda p: p.stem)
def test_each_sample_event_is_handled_without_a_server_error(
    path: Path, services: Any, drain: Callable[..., dict[str, Any]]
) -> None:
    event = json.loads(path.read_text())
    if "httpMethod" in event:
        routes = {(r.method, r.path) for r in api_routes()}
        assert (event["httpMethod"], event["resource"]) in routes
        result = as_http(load_function("send").lambda_handler(event, FakeLambdaContext()))
        assert result.status < 500, result.body
    elif event.get("version") == "2.0":  # at the webhook function's URL
        assert event["requestContext"]["http"]["method"] in ROUTES[event["rawPath"]]
        result = as_http(load_function("webhook").lambda_handler(event, FakeLambdaContext()))
        # signed with the tests' app secret and WAHA key, so it gets in
        assert result.status == 200, result.body
    elif "Records" in event:
        processor = load_function("webhook", "process")
        assert processor.lambda_handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    else:
        # The schedule's tick wakes nobody (no queue holds copies); a drainer finds nothing.
        scheduler = load_function("scheduler")
        answer = scheduler.lambda_handler(event, FakeLambdaContext(remaining_millis=10_000))
        assert answer == ({"woken": 0, "due_enqueued": 0} if "sender" not in event else answer)
        if "sender" in event:
            assert answer["received"] == 0 and answer["drain"] == "default#0"
