"""API Gateway's binary rules, through the local gateway (local/apigw.py) into the send function.

A Lambda proxy response marked isBase64Encoded reaches the client as bytes only when the
request's first Accept type is one of the API's binary media types (template.yaml: image/png);
otherwise the client gets the base64 text. So a page or image works on AWS only if the function
and its clients agree with these rules.
"""

import base64
import gzip
import json
from collections.abc import Callable, Iterator

import pytest

from local.apigw import LocalApiGateway, proxy_event
from local.template_stack import api_routes
from local.waha_peer import WahaPeer
from postino.services import Services
from tests.support.events import API_KEY
from tests.support.functions import load_function
from tests.support.waha import waha_sender

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# What Firefox and Chromium send when a person opens a page.
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
BROWSER_ENCODINGS = "gzip, deflate, br"
QR = "/v1/senders/bride/session/qr"

Served = tuple[int, dict[str, str], bytes]
Call = Callable[..., Served]


@pytest.fixture
def gateway(services: Services) -> Iterator[Call]:
    """The local API Gateway in front of the real send function, called without a socket."""
    local = LocalApiGateway(
        api_routes(),
        {"SendFunction": load_function("send").lambda_handler},
        api_key=API_KEY,
        port=0,
    )

    def call(method: str, path: str, body: object = None, **headers: str) -> Served:
        sent = {"x-api-key": API_KEY, **{k.replace("_", "-"): v for k, v in headers.items()}}
        raw = b"" if body is None else json.dumps(body).encode()
        if body is not None:
            sent["Content-Type"] = "application/json"
        return local.serve(method, path, sent, raw)

    yield call
    local.server.server_close()


@pytest.fixture
def bride(gateway: Call, waha_peer: WahaPeer) -> WahaPeer:
    waha_peer.add_session("bride", status="SCAN_QR_CODE", phone="393470000002", push_name="Sara")
    status, _, _ = gateway("PUT", "/v1/senders/bride", waha_sender(waha_peer.base_url, "bride"))
    assert status == 200
    return waha_peer


def header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name), "")


def as_a_browser_reads_it(headers: dict[str, str], body: bytes) -> str:
    """What a browser shows: it undoes a Content-Encoding it asked for, then reads the text."""
    if header(headers, "content-encoding") == "gzip":
        body = gzip.decompress(body)
    return body.decode("utf-8")


def test_the_docs_page_reads_as_html_in_a_browser(gateway: Call) -> None:
    # WHEN a browser opens /v1/docs (no key: the page is public, its calls carry one)
    status, headers, body = gateway(
        "GET", "/v1/docs", Accept=BROWSER_ACCEPT, Accept_Encoding=BROWSER_ENCODINGS
    )
    # THEN it gets Swagger UI's HTML, not base64 text (or gzip of it) the browser cannot show
    assert status == 200
    assert header(headers, "content-type").startswith("text/html")
    page = as_a_browser_reads_it(headers, body)
    assert page.lstrip().lower().startswith("<!doctype html") and "SwaggerUIBundle" in page


def test_the_qr_code_is_binary_only_when_image_png_comes_first(
    gateway: Call, bride: WahaPeer
) -> None:
    # WHEN the client asks for the image first
    for accept in ("image/png", "image/png, */*;q=0.5", "IMAGE/PNG;q=1"):
        status, headers, body = gateway("GET", QR, Accept=accept)
        # THEN API Gateway hands it the PNG's bytes
        assert status == 200 and header(headers, "content-type") == "image/png"
        assert body.startswith(PNG_SIGNATURE), accept
    # WHEN the first Accept type is anything else, or there is none
    others: tuple[str | None, ...] = (
        "*/*",
        "image/*",
        BROWSER_ACCEPT,
        "text/plain, image/png",
        None,
    )
    for other in others:
        asked = {} if other is None else {"Accept": other}
        status, headers, body = gateway("GET", QR, **asked)
        # THEN it gets the function's base64 text as it is, still labelled image/png
        assert status == 200 and header(headers, "content-type") == "image/png"
        assert not body.startswith(PNG_SIGNATURE), other
        assert base64.b64decode(body, validate=True).startswith(PNG_SIGNATURE), other


def test_the_qr_code_as_json_needs_no_binary_support(gateway: Call, bride: WahaPeer) -> None:
    # The form the CLI and the dashboard ask for: it passes any gateway unchanged
    status, _, body = gateway("GET", QR, Accept="application/json")
    assert status == 200
    qr = json.loads(body)
    assert qr["mimetype"] == "image/png"
    assert base64.b64decode(qr["data"]).startswith(PNG_SIGNATURE)


@pytest.mark.parametrize("accept", ["application/json", "*/*", BROWSER_ACCEPT, None])
def test_json_routes_answer_json_whatever_the_accept(gateway: Call, accept: str | None) -> None:
    asked = {} if accept is None else {"Accept": accept}
    body = {"to": "+39 333 123 4567", "type": "text", "text": {"body": "Ciao"}}
    status, headers, sent = gateway("POST", "/v1/messages", body, **asked)
    assert status == 202 and json.loads(sent)["status"] == "queued"
    assert header(headers, "content-type") == "application/json"
    status, _, listed = gateway("GET", "/v1/openapi.json", **asked)
    assert status == 200 and "/v1/messages" in json.loads(listed)["paths"]


@pytest.mark.parametrize(
    ("binary_types", "media_type", "binary"),
    [
        (("image/png",), "image/png", True),
        (("image/png",), "image/png; charset=binary", True),
        (("image/png",), "image/jpeg", False),
        (("image/png",), "*/*", False),  # the client's wildcard is not the API's
        (("image/*",), "image/jpeg", True),
        (("image/*",), "text/html", False),
        (("*/*",), "application/json", True),
        (("*/*",), "", False),
    ],
)
def test_a_request_body_arrives_base64_only_for_a_binary_content_type(
    monkeypatch: pytest.MonkeyPatch, binary_types: tuple[str, ...], media_type: str, binary: bool
) -> None:
    monkeypatch.setattr("local.apigw.binary_media_types", lambda: binary_types)
    route = next(r for r in api_routes() if r.path == "/v1/messages" and r.method == "POST")
    raw = b'{"a": 1}'
    headers = {"Content-Type": media_type} if media_type else {}
    event = proxy_event(route, "POST", route.path, "", headers, raw, {}, stage="prod", api_key="k")
    assert event["isBase64Encoded"] is binary
    assert event["body"] == (base64.b64encode(raw).decode() if binary else raw.decode())
