"""The send API faked for the `postino` command's tests, with httpx's MockTransport."""

from collections import deque
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from postino_cli import main as cli
from postino_cli.client import ApiClient, Config

Answer = tuple[int, Any]


class FakeApi:
    """Answers each (method, path) from its table: one answer, or a list of them in turn, the
    last repeated. Keeps every request."""

    def __init__(self, answers: dict[tuple[str, str], Answer | list[Answer]]) -> None:
        self.answers = {
            key: deque(value if isinstance(value, list) else [value])
            for key, value in answers.items()
        }
        self.requests: list[httpx.Request] = []

    @property
    def asked(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        script = self.answers[(request.method, request.url.path)]
        status, body = script.popleft() if len(script) > 1 else script[0]
        return httpx.Response(status, json=body)

    def client(self, config: Config | None = None) -> ApiClient:
        return ApiClient(config or Config("http://api.test", "k"), httpx.MockTransport(self.handle))


def run_against_fake(monkeypatch: pytest.MonkeyPatch) -> Callable[..., int]:
    """`postino ARGS…` through main(), against the given fake API."""
    monkeypatch.setenv("POSTINO_API_URL", "http://api.test")
    monkeypatch.setenv("POSTINO_API_KEY", "k")

    def run_against(api: FakeApi, *argv: str) -> int:
        monkeypatch.setattr(cli, "ApiClient", api.client)
        return cli.main(list(argv))

    return run_against
