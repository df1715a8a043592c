"""local/moto_speedups.py changes moto's speed, not what it answers."""

from typing import Any

import pytest
from moto import backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sqs.models import SQSBackend

from local import moto_speedups

HOSTS = [
    "dynamodb.us-east-1.amazonaws.com",
    "sqs.us-east-1.amazonaws.com",
    "streams.dynamodb.us-east-1.amazonaws.com",
    "secretsmanager.us-east-1.amazonaws.com",
    "moto_api",
    "s3",
    "nothing.example",
]


def backend_answers(monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], int]:
    """Each host's backend, asked twice, and how often moto walked its own package for it."""
    walks = 0
    walk = backends.list_of_moto_modules

    def counted() -> Any:
        nonlocal walks
        walks += 1
        return walk()

    monkeypatch.setattr(backends, "list_of_moto_modules", counted)
    dispatcher = DomainDispatcherApplication(create_app=lambda backend: None)  # type: ignore[arg-type,return-value]
    answers = [dispatcher.get_backend_for_host(host) for host in HOSTS * 2]
    return answers, walks


def test_a_hosts_backend_is_found_once_and_the_same_as_moto_finds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN moto's own answers (it walks its package's folders on every request)
    with monkeypatch.context() as plain:
        plain.setattr(
            DomainDispatcherApplication,
            "get_backend_for_host",
            moto_speedups.MOTO_BACKEND_FOR_HOST,
        )
        moto_answers, moto_walks = backend_answers(plain)
    assert moto_walks >= len(HOSTS)
    # WHEN the speedups are applied
    monkeypatch.setattr(
        DomainDispatcherApplication,
        "get_backend_for_host",
        DomainDispatcherApplication.get_backend_for_host,
    )
    monkeypatch.setattr(
        SQSBackend,
        "is_message_valid_based_on_retention_period",
        SQSBackend.is_message_valid_based_on_retention_period,
    )
    moto_speedups.apply()
    answers, walks = backend_answers(monkeypatch)
    # THEN the answers are the same, and each host was looked up once
    assert answers == moto_answers
    assert walks < moto_walks and walks <= len(HOSTS)
