"""Lambda runs one invocation at a time in an environment; the local front ends (the API gateway
and the function URL) share one process and one module per function, so they run a function's
invocations one after another too. Powertools' resolver keeps the request it is answering on
the app (app.current_event): two at once would answer one request with the other's event."""

import threading
import time
from typing import Any

from local.apigw import LocalApiGateway
from local.function_url import FunctionUrl, LocalFunctionUrl
from local.template_stack import api_routes


class Overlap:
    """A handler that counts how many of its invocations run at once."""

    def __init__(self) -> None:
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(0.05)
        with self._lock:
            self.running -= 1
        return {"statusCode": 200, "headers": {}, "body": "{}"}


def at_once(call: Any, times: int = 6) -> None:
    threads = [threading.Thread(target=call) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def test_the_local_api_gateway_runs_a_functions_invocations_one_at_a_time() -> None:
    handler = Overlap()
    gateway = LocalApiGateway(api_routes(), {"SendFunction": handler}, api_key="k", port=0)
    try:
        at_once(lambda: gateway.serve("GET", "/v1/senders", {"x-api-key": "k"}, b""))
    finally:
        gateway.server.server_close()
    assert handler.most == 1


def test_the_local_function_url_runs_its_invocations_one_at_a_time() -> None:
    handler = Overlap()
    url = LocalFunctionUrl(
        FunctionUrl("WebhookFunction", "NONE", "BUFFERED", True), handler, port=0
    )
    try:
        at_once(lambda: url.serve("GET", "/webhooks/meta?hub.mode=subscribe", {}, b""))
    finally:
        url.server.server_close()
    assert handler.most == 1


def test_a_function_url_with_more_environments_runs_that_many_at_once() -> None:
    # Lambda starts environments for requests that come while one is busy; the webhook
    # function, which keeps no request on its module, is given several locally (local/run.py).
    handler = Overlap()
    url = LocalFunctionUrl(
        FunctionUrl("WebhookFunction", "NONE", "BUFFERED", True), handler, port=0, environments=3
    )
    try:
        at_once(lambda: url.serve("GET", "/webhooks/meta?hub.mode=subscribe", {}, b""), times=9)
    finally:
        url.server.server_close()
    assert handler.most == 3
