"""/admin: the operator's dashboard, one static page that calls the /v1 API with the key the
user types in. It holds no data, so it needs no key itself."""

from pathlib import Path
from urllib.parse import urlsplit

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.exceptions import NotFoundError

from postino.settings import get_settings

router = Router()

# Everything the page runs comes from these files: no inline script or style, nothing remote.
# It connects to this API and to the stack's own WebSocket for live updates (LIVE_URL).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'{live}; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'"
)
_FOLDER = Path(__file__).resolve().parent / "admin"
# Read once per cold start: a request then costs a dictionary lookup.
PAGE = (_FOLDER / "index.html").read_text(encoding="utf-8")
_SCRIPTS = ("admin.js", "live.js", "senders.js", "inbox.js", "campaigns.js", "routing.js")
ASSETS = {
    "admin.css": ("text/css; charset=utf-8", (_FOLDER / "admin.css").read_text(encoding="utf-8")),
} | {
    script: ("text/javascript; charset=utf-8", (_FOLDER / script).read_text(encoding="utf-8"))
    for script in _SCRIPTS
}


def content_security_policy() -> str:
    live = urlsplit(get_settings().live_url)
    origin = f" {live.scheme}://{live.netloc}" if live.scheme in ("ws", "wss") else ""
    return CONTENT_SECURITY_POLICY.format(live=origin)


def _static(content_type: str, body: str) -> Response[str]:
    return Response(
        status_code=200,
        content_type=content_type,
        body=body,
        headers={
            "Content-Security-Policy": content_security_policy(),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-cache",
        },
    )


@router.get("/admin", include_in_schema=False)
def admin_page() -> Response[str]:
    return _static("text/html; charset=utf-8", PAGE)


@router.get("/admin/<asset>", include_in_schema=False)
def admin_asset(asset: str) -> Response[str]:
    if asset not in ASSETS:
        raise NotFoundError(asset)
    return _static(*ASSETS[asset])
