"""Faults a test injects: what the fake does to the next matching requests instead of answering
them, and what the client sees then."""

import threading
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal

from local.waha_peer.replies import crash, http_error


@dataclass
class WahaFault:
    """What to do to the next matching requests instead of answering them."""

    status: int | None = 500
    kind: Literal["error", "timeout", "reset"] = "error"
    times: int | None = 1
    # Only requests whose path ends with this (e.g. "/api/sendText"); None: every WAHA route.
    path: str | None = None
    hold_seconds: float = 5.0


class Faults:
    """The faults waiting for their requests, each taken as many times as it says."""

    def __init__(self) -> None:
        self._faults: list[WahaFault] = []
        self._lock = threading.Lock()

    def add(self, fault: WahaFault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, route: str) -> WahaFault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path is not None and not route.endswith(fault.path):
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                return fault
        return None


def faulted(fault: WahaFault) -> tuple[int, Any]:
    """The answer to a faulted request: an error body (HTML where a proxy would answer), or
    nothing at all for a timeout or a reset."""
    if fault.kind != "error":
        return 0, None
    status = fault.status or 500
    if status in (502, 503):
        return status, f"<html><body><h1>{status} {HTTPStatus(status).phrase}</h1></body></html>"
    if status == 500:
        return status, crash("Injected by the WAHA fake")
    return status, http_error(status, "Injected by the WAHA fake")
