"""Fetching an inbound file from where its provider keeps it, with the sender's credential, and
never sending that credential anywhere the operator did not allow.

- Meta: `GET {graph}/{version}/{media-id}` gives a short-lived URL, then a GET of that URL, both
  with the sender's token. The URL comes from Meta's answer: the token goes to it only on one of
  Meta's hosts or on the configured Graph API's own origin (the local sandbox).
- WAHA: the message's `media.url`, with WAHA's key, only under the sender's own `base_url`, itself
  one of WahaAllowedBaseUrls.

Redirects are not followed: a redirect would take the credential to a host nobody checked.
Downloads are streamed and cut at the size limit.
"""

import base64
import hashlib
import re
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

import httpx
from pydantic import ValidationError

from postino import aws
from postino.media.jobs import MediaJob
from postino.model import Model
from postino.providers.cloud_api import TOKEN_MAX_AGE_SECONDS
from postino.providers.waha import WahaClient
from postino.senders.allowed import waha_url_allowed
from postino.senders.model import CloudApiSender, Sender, WahaSender
from postino.settings import Settings

# Where Meta serves media downloads (the CDN) and its Graph API.
META_MEDIA_HOSTS = frozenset({"lookaside.fbsbx.com", "graph.facebook.com"})
MEDIA_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
DEFAULT_MIME_TYPE = "application/octet-stream"


class Refused(Exception):
    """Not fetched, for good: the credential would go where it may not (or there is none)."""


class FetchFailed(Exception):
    """Not fetched this time (the peer failed or was unreachable): the job is retried."""


@dataclass(frozen=True)
class Fetched:
    data: bytes
    mime_type: str


@dataclass(frozen=True)
class TooLarge:
    size: int
    mime_type: str


class _OverLimit(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(f"{size} bytes")
        self.size = size


class MediaInfo(Model):
    """Meta's answer to GET /{media-id} (file_size: a string in the spec, a number in practice)."""

    url: str
    mime_type: str | None = None
    sha256: str | None = None
    file_size: int | str | None = None


@cache
def _http() -> httpx.Client:
    return httpx.Client(timeout=httpx.Timeout(20.0, connect=5.0), follow_redirects=False)


def fetch(settings: Settings, sender: Sender | None, job: MediaJob) -> Fetched | TooLarge:
    """The job's file, or TooLarge; Refused or FetchFailed when it cannot be had."""
    limit = settings.media_max_bytes
    if job.provider == "cloud_api" and isinstance(sender, CloudApiSender):
        return _from_meta(settings, sender, job, limit)
    if job.provider == "waha" and isinstance(sender, WahaSender):
        return _from_waha(settings, sender, job, limit)
    raise Refused(f"there is no {job.provider} sender named '{job.sender}' any more")


def _origin(url: str) -> tuple[str, str, int] | None:
    """Scheme, host and port of a URL; None for one with credentials or without a host."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.username is not None or parts.password is not None or not parts.hostname:
        return None
    default = {"https": 443, "http": 80}.get(parts.scheme)
    if default is None:
        return None
    return parts.scheme, parts.hostname.lower(), port or default


def meta_url_allowed(url: str, graph_api_base_url: str) -> bool:
    """Meta's download URL may have the token: on Meta's hosts (https), or the Graph API's origin."""
    origin = _origin(url)
    if origin is None:
        return False
    if origin == _origin(graph_api_base_url):
        return True
    scheme, host, port = origin
    return scheme == "https" and port == 443 and host in META_MEDIA_HOSTS


def under_base_url(url: str, base_url: str) -> bool:
    """Whether `url` is on `base_url`'s origin and under its path."""
    origin = _origin(url)
    if origin is None or origin != _origin(base_url):
        return False
    base_path = urlsplit(base_url).path.rstrip("/")
    return urlsplit(url).path.startswith(base_path + "/")


def _from_meta(
    settings: Settings, sender: CloudApiSender, job: MediaJob, limit: int
) -> Fetched | TooLarge:
    if not job.media_id or not MEDIA_ID.fullmatch(job.media_id):
        raise Refused("the media id is not one Meta gives")
    token: str = aws.secret(sender.access_token_secret, max_age=TOKEN_MAX_AGE_SECONDS)
    headers = {"Authorization": f"Bearer {token}"}
    base = settings.graph_api_base_url.rstrip("/")
    try:
        response = _http().get(
            f"{base}/{settings.graph_api_version}/{job.media_id}",
            params={"phone_number_id": sender.phone_number_id},
            headers=headers,
        )
    except httpx.TransportError as error:
        raise FetchFailed(f"Graph API unreachable: {type(error).__name__}") from error
    if not response.is_success:
        raise FetchFailed(f"Graph API answered HTTP {response.status_code} for the media id")
    try:
        info = MediaInfo.model_validate_json(response.content)
    except ValidationError as error:
        raise FetchFailed("Graph API's media answer is not readable") from error
    mime_type = info.mime_type or job.mime_type or DEFAULT_MIME_TYPE
    declared = str(info.file_size)
    size = int(declared) if declared.isdigit() else None
    if size is not None and size > limit:
        return TooLarge(size, mime_type)
    if not meta_url_allowed(info.url, settings.graph_api_base_url):
        host = urlsplit(info.url).hostname or "no host"
        raise Refused(f"Meta's media URL is on {host}, which is not one of Meta's hosts")
    try:
        data = _download(info.url, headers, limit)
    except _OverLimit as over:
        return TooLarge(over.size, mime_type)
    if info.sha256 and not _same_hash(data, info.sha256):
        raise FetchFailed("the file's sha256 is not the one Meta gave")
    return Fetched(data, mime_type)


def _from_waha(
    settings: Settings, sender: WahaSender, job: MediaJob, limit: int
) -> Fetched | TooLarge:
    if not waha_url_allowed(sender.base_url, settings.waha_allowed_base_urls):
        raise Refused(f"{sender.base_url} is not in WahaAllowedBaseUrls")
    if not job.url or not under_base_url(job.url, sender.base_url):
        host = urlsplit(job.url or "").hostname or "no host"
        raise Refused(f"the media URL is on {host}, not under the sender's WAHA base_url")
    key = WahaClient(_http(), sender, settings.waha_allowed_base_urls).api_key()
    mime_type = job.mime_type or DEFAULT_MIME_TYPE
    try:
        return Fetched(_download(job.url, {"X-Api-Key": key}, limit), mime_type)
    except _OverLimit as over:
        return TooLarge(over.size, mime_type)


def _download(url: str, headers: dict[str, str], limit: int) -> bytes:
    """The body, read no further than `limit` bytes (_OverLimit past it)."""
    chunks: list[bytes] = []
    read = 0
    try:
        with _http().stream("GET", url, headers=headers) as response:
            if not response.is_success:
                raise FetchFailed(f"the download answered HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise _OverLimit(int(declared))
            for chunk in response.iter_bytes():
                read += len(chunk)
                if read > limit:
                    raise _OverLimit(read)
                chunks.append(chunk)
    except httpx.TransportError as error:
        raise FetchFailed(f"the download failed: {type(error).__name__}") from error
    return b"".join(chunks)


def _same_hash(data: bytes, expected: str) -> bool:
    """Meta gives a file's sha256 in hex or in base64: either form matches."""
    digest = hashlib.sha256(data).digest()
    return expected in (digest.hex(), base64.b64encode(digest).decode())
