"""Inbound media at the local Graph API peer: Retrieve Media URL (checked against Meta's spec)
and the download it names, as Meta's CDN serves it."""

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jsonschema import Draft202012Validator

from local.graph_api_errors import graph_error
from local.meta_contract import MetaContract

# Where the peer serves a media file's bytes, as Meta's CDN (lookaside.fbsbx.com) does.
MEDIA_DOWNLOAD_PATH = "/whatsapp_business/attachments/"
MEDIA_INFO_PATH = "/{Version}/{Media-ID}"


@dataclass(frozen=True)
class MediaFile:
    """A customer's file, as Meta keeps it for a media id; also the download's answer."""

    data: bytes
    mime_type: str


def media_answer(
    path: str, media: dict[str, MediaFile], origin: str, contract: MetaContract
) -> tuple[int, Any, list[str]]:
    """An authorised GET of a media id's URL, or of the download: status, body, problems.
    `origin` is where the download URLs point."""
    query = parse_qs(urlsplit(path).query)
    if path.startswith(MEDIA_DOWNLOAD_PATH):
        found = media.get(query.get("mid", [""])[0])
        if found is None:
            return 404, graph_error(100, "No such media (or its URL expired)"), []
        return 200, found, []
    unknown = sorted(set(query) - {"phone_number_id"})
    if unknown:
        problems = [f"{MEDIA_INFO_PATH}: unknown query parameter {name!r}" for name in unknown]
        return 400, graph_error(100, "; ".join(problems)), problems
    media_id = urlsplit(path).path.strip("/").split("/")[1]
    found = media[media_id]
    info = {
        "messaging_product": "whatsapp",
        "url": f"{origin}{MEDIA_DOWNLOAD_PATH}?mid={media_id}&ext=1&hash=sandbox",
        "mime_type": found.mime_type,
        "sha256": hashlib.sha256(found.data).hexdigest(),
        "file_size": str(len(found.data)),
        "id": media_id,
    }
    problems = _info_problems(info, contract)
    if problems:  # the peer must speak the spec too
        return 500, graph_error(1, "; ".join(problems)), problems
    return 200, info, []


def _info_problems(body: dict[str, Any], contract: MetaContract) -> list[str]:
    operation = contract.spec["paths"][MEDIA_INFO_PATH]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    return [error.message for error in Draft202012Validator(schema).iter_errors(body)]
