"""A local Graph API peer: answers like Meta's Cloud API and checks every request against
Meta's published schema. Tests use it as the far end of the Cloud API provider; the local
stack grows it into the Meta sandbox.
"""

import json
import random
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from local import arrival_stamps
from local.graph_api_errors import ERROR_HTTP_STATUS, graph_error
from local.graph_api_handler import handler_for
from local.graph_api_media import MEDIA_DOWNLOAD_PATH, MediaFile, media_answer
from local.http_server import LocalHttpServer
from local.meta_contract import MetaContract
from local.peer_http import ReceivedRequest


@dataclass
class Fault:
    """What to do to the next matching requests instead of answering them normally."""

    error_code: int | None = None
    http_status: int | None = None
    kind: Literal["error", "timeout", "reset"] = "error"
    times: int | None = 1
    rate: float = 1.0
    match_to: str | None = None
    hold_seconds: float = 5.0
    details: str = "Injected by the Graph API peer"
    # Only requests whose path holds this (e.g. "/whatsapp_business/attachments"); None: sends.
    match_path: str | None = None


@dataclass
class _State:
    requests: list[ReceivedRequest] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0


class GraphApiPeer:
    def __init__(
        self,
        *,
        access_token: str | None = None,
        contract: MetaContract | None = None,
        clock: Callable[[], float] = time.time,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        self.access_token = access_token
        self.contract = contract or MetaContract.load()
        self.clock = clock
        self.latency = 0.0
        # Message templates by WABA id, as Meta lists them (GET /{waba-id}/message_templates).
        self.templates: dict[str, list[dict[str, Any]]] = {}
        # Inbound files by media id (GET /{version}/{media-id}, then the download URL), and the
        # origin the download URLs name (None: this peer's own; a test may name another host).
        self.media: dict[str, MediaFile] = {}
        self.media_url_origin: str | None = None
        self._random = random.Random(seed)
        self._state = _State()
        self._lock = threading.Lock()
        self._server = LocalHttpServer((host, port), handler_for(self))
        if clock is time.time and arrival_stamps.SUPPORTED:
            arrival_stamps.stamp_arrivals(self._server.socket)
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> "GraphApiPeer":
        # Polls every 50 ms, not 0.5 s: stop() waits for the loop to notice, once per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "GraphApiPeer":
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- what tests look at and program --------------------------------------------------

    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._lock:
            return list(self._state.requests)

    def sent_messages(self) -> list[ReceivedRequest]:
        return [
            r
            for r in self.requests
            if r.status == 200 and r.path.endswith("/messages") and not _is_read_receipt(r.body)
        ]

    def read_receipts(self) -> list[str]:
        """The wamids marked read, in order."""
        return [
            r.body["message_id"]
            for r in self.requests
            if r.status == 200 and _is_read_receipt(r.body)
        ]

    @property
    def most_in_flight(self) -> int:
        with self._lock:
            return self._state.most_in_flight

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._state.faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._state = _State()

    def add_media(self, data: bytes, mime_type: str) -> str:
        """A customer's file, as Meta holds it: its media id for a webhook to name."""
        media_id = str(10**15 + self._random.randrange(10**15))
        self.media[media_id] = MediaFile(data, mime_type)
        return media_id

    def media_downloads(self) -> list[ReceivedRequest]:
        return [r for r in self.requests if r.path.startswith(MEDIA_DOWNLOAD_PATH)]

    # ---- inside the server -----------------------------------------------------------------

    def _take_fault(self, body: Any, path: str | None = None) -> Fault | None:
        to = body.get("to", "") if isinstance(body, dict) else ""
        with self._lock:
            for fault in self._state.faults:
                if fault.match_to is not None and not str(to).endswith(fault.match_to):
                    continue
                if (fault.match_path is None) != (path is None) or (
                    path is not None and str(fault.match_path) not in path
                ):
                    continue
                if self._random.random() >= fault.rate:
                    continue
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times <= 0:
                        self._state.faults.remove(fault)
                return fault
        return None

    # ---- for its HTTP side (local/graph_api_handler.py) ------------------------------------

    def record(self, request: ReceivedRequest) -> None:
        with self._lock:
            self._state.requests.append(request)

    def enter(self) -> None:
        with self._lock:
            self._state.in_flight += 1
            self._state.most_in_flight = max(self._state.most_in_flight, self._state.in_flight)

    def leave(self) -> None:
        with self._lock:
            self._state.in_flight -= 1

    def latency_for(self, path: str) -> float:
        """How long to hold the answer to a request for `path`."""
        return self.latency

    def _authorised(self, headers: dict[str, str]) -> bool:
        return self.access_token is None or (
            headers.get("authorization") == f"Bearer {self.access_token}"
        )

    def _templates_page(self, waba_id: str, path: str) -> tuple[int, Any, list[str], None]:
        """One page of a WABA's templates, with Meta's cursor paging."""
        if waba_id not in self.templates:
            return 404, graph_error(100, f"Unsupported get request: object '{waba_id}'"), [], None
        query = parse_qs(urlsplit(path).query)
        try:
            limit = int(query.get("limit", ["25"])[0])
            start = int(query.get("after", ["0"])[0] or 0)
        except ValueError:
            return 400, graph_error(100, "limit and after must be numbers here"), [], None
        templates = self.templates[waba_id]
        page: dict[str, Any] = {
            "data": templates[start : start + limit],
            "paging": {"cursors": {"before": str(start), "after": str(start + limit)}},
        }
        if start + limit < len(templates):
            page["paging"]["next"] = (
                f"{self.base_url}{urlsplit(path).path}?limit={limit}&after={start + limit}"
            )
        # The peer must speak the spec too: a page it cannot vouch for is a 500 with problems.
        problems = self.contract.check_templates_page(page)
        return (
            (500, graph_error(1, "; ".join(problems)), problems, None)
            if problems
            else (
                200,
                page,
                [],
                None,
            )
        )

    def answer(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, list[str], Fault | None]:
        """Decide the answer to one request: status, JSON body, schema problems, fault."""
        parts = path.split("?", 1)[0].strip("/").split("/")
        if method == "GET" and (
            path.startswith(MEDIA_DOWNLOAD_PATH) or (len(parts) == 2 and parts[1] in self.media)
        ):
            return self._media(path, headers)
        if method == "GET" and len(parts) == 3 and parts[2] == "message_templates":
            if not self._authorised(headers):
                return 401, graph_error(190, "The access token is missing or invalid."), [], None
            return self._templates_page(parts[1], path)
        if method != "POST" or len(parts) != 3 or parts[2] != "messages":
            return 404, graph_error(100, f"Unknown path components: /{'/'.join(parts)}"), [], None
        if not self._authorised(headers):
            return 401, graph_error(190, "The access token is missing or invalid."), [], None
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return 400, graph_error(100, "The request body is not JSON."), ["body: not JSON"], None
        if _is_read_receipt(body):
            problems = self.contract.check_mark_read(body)
            if problems:
                return 400, graph_error(100, "; ".join(problems)), problems, None
            return 200, {"success": True}, [], None
        problems = self.contract.check_send_message(body)
        if problems:
            return (
                400,
                graph_error(100, "; ".join(problems), "(#100) Invalid parameter"),
                problems,
                None,
            )
        fault = self._take_fault(body)
        if fault is not None and fault.kind == "error":
            code = fault.error_code if fault.error_code is not None else 131000
            status = fault.http_status or ERROR_HTTP_STATUS.get(code, 400)
            if fault.http_status and fault.error_code is None:
                return status, "<html><body>Service Unavailable</body></html>", [], fault
            return status, graph_error(code, fault.details), [], fault
        if fault is not None:
            return 0, None, [], fault
        wamid = "wamid.HBgM" + secrets.token_urlsafe(24)
        to = str(body["to"])
        return (
            200,
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to.lstrip("+")}],
                "messages": [{"id": wamid, "message_status": "accepted"}],
            },
            [],
            None,
        )

    def _media(
        self, path: str, headers: dict[str, str]
    ) -> tuple[int, Any, list[str], Fault | None]:
        """Retrieve Media URL, or the download it names (graph_api_media.py)."""
        if not self._authorised(headers):
            return 401, graph_error(190, "The access token is missing or invalid."), [], None
        fault = self._take_fault(None, path)
        if fault is not None:
            status = fault.http_status or 500
            return (status, graph_error(fault.error_code or 131000, fault.details), [], fault)
        origin = self.media_url_origin or self.base_url
        return (*media_answer(path, self.media, origin, self.contract), None)


def _is_read_receipt(body: Any) -> bool:
    return isinstance(body, dict) and "status" in body and "to" not in body
