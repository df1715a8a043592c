"""moto, made to keep pace with a deep queue (the soak's, the bench's): changes speed, not behaviour.

- moto 5.2's ReceiveMessage checks each message it returns against the queue's retention period
  by building every attribute of the queue, counts of its messages included: each receive
  walks the whole queue ten times. With thousands of webhooks waiting, the local processor fell
  to a few a second. This reads the one attribute instead.
- moto's server finds the backend for each request's host by listing its own package's folders
  (some 150 `isdir` calls) and then trying every service's URL patterns, under one lock that
  every request waits on: a tenth of the soak's CPU (py-spy). A host's backend cannot change
  while the server runs, so each host is looked up once.
"""

from typing import Any

from moto.core.utils import unix_time
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sqs.models import SQSBackend

MOTO_BACKEND_FOR_HOST = DomainDispatcherApplication.get_backend_for_host


def _retained(self: SQSBackend, queue_name: str, message: Any) -> bool:
    retention = int(self.get_queue(queue_name).message_retention_period)  # type: ignore[attr-defined]
    retained: bool = retention + message.sent_timestamp / 1000 > unix_time()
    return retained


def _backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
    known: dict[str | None, Any] = self.__dict__.setdefault("_backends_by_host", {})
    if host not in known:
        known[host] = MOTO_BACKEND_FOR_HOST(self, host)
    return known[host]


def apply() -> None:
    SQSBackend.is_message_valid_based_on_retention_period = _retained  # type: ignore[method-assign]
    DomainDispatcherApplication.get_backend_for_host = _backend_for_host  # type: ignore[method-assign]
