"""Inbound media kept, through the real handlers: the webhook queues the notification, the
processor stores the message and queues its file, the media function fetches it from Meta's or
WAHA's sandbox into the media bucket, and the conversation API hands out a presigned URL."""

import hashlib
from collections.abc import Callable
from typing import Any

import boto3
import pytest
import requests

from local.graph_api_peer import Fault, GraphApiPeer
from local.waha_peer import WahaPeer
from postino.services import Services
from postino.store.inbox import inbound_key
from tests.conftest import ACCESS_TOKEN
from tests.support.events import HttpResult
from tests.support.waha import GUEST, WAHA_API_KEY, waha_sender
from tests.support.webhooks import inbound

Api = Callable[..., HttpResult]
Webhook = Callable[..., HttpResult]
Run = Callable[[], list[str]]
PHOTO = b"\xff\xd8\xff\xe0 a guest's photo of the terrace \xff\xd9"
CUSTOMER = "393331234567"


def photo_message(wamid: str, media_id: str) -> dict[str, Any]:
    return {
        "from": CUSTOMER,
        "id": wamid,
        "timestamp": "1795600000",
        "type": "image",
        "image": {"id": media_id, "mime_type": "image/jpeg", "caption": "Il terrazzo"},
    }


def a_photo_arrives(webhook: Webhook, process: Run, peer: GraphApiPeer, wamid: str) -> None:
    media_id = peer.add_media(PHOTO, "image/jpeg")
    assert webhook(inbound(photo_message(wamid, media_id))).status == 200
    assert process() == []


def stored_media(services: Services, wamid: str) -> dict[str, Any] | None:
    item = services.inbox.get(inbound_key(wamid))
    assert item is not None
    media: dict[str, Any] | None = item.get("media")
    return media


def bucket_object(services: Services, key: str) -> bytes:
    body: bytes = (
        boto3.client("s3").get_object(Bucket=services.settings.media_bucket, Key=key)["Body"].read()
    )
    return body


def conversation_item(api: Api, sender: str, contact: str, wamid: str) -> dict[str, Any]:
    page = api("GET", f"/v1/conversations/{sender}/{contact}/messages")
    assert page.status == 200, page.body
    (item,) = [m for m in page.body["items"] if m["id"] == wamid]
    return dict(item)


def test_an_inbound_meta_photo_is_kept_and_served_through_a_presigned_url(
    api: Api, webhook: Webhook, process: Run, media: Run, peer: GraphApiPeer, services: Services
) -> None:
    # GIVEN a customer's photo, notified by Meta and processed
    a_photo_arrives(webhook, process, peer, "wamid.PHOTO1")
    # WHEN the media function takes its job
    assert media() == []
    # THEN the file is in the bucket, byte for byte, and the inbound item says so
    kept = stored_media(services, "wamid.PHOTO1")
    assert kept is not None
    assert kept["sha256"] == hashlib.sha256(PHOTO).hexdigest() and kept["size"] == len(PHOTO)
    assert bucket_object(services, kept["key"]) == PHOTO
    # AND the token went to Meta's media endpoint and its download URL, nothing else
    (info,) = [r for r in peer.requests if r.path.startswith("/v23.0/")]
    assert info.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}" and info.status == 200
    assert len(peer.media_downloads()) == 1
    # AND the conversation shows it with a presigned URL that fetches the very bytes
    shown = conversation_item(api, "default", CUSTOMER, "wamid.PHOTO1")["content"]["media"]
    assert shown["mime_type"] == "image/jpeg" and shown["sha256"] == kept["sha256"]
    assert "X-Amz-Expires=300" in shown["url"]
    fetched = requests.get(shown["url"], timeout=5)
    assert fetched.status_code == 200 and fetched.content == PHOTO


def test_a_job_delivered_twice_keeps_the_file_once(
    webhook: Webhook, process: Run, media: Run, peer: GraphApiPeer, services: Services
) -> None:
    # GIVEN a photo, and Meta delivering its notification twice (two jobs for one file)
    media_id = peer.add_media(PHOTO, "image/jpeg")
    for _ in range(2):
        assert webhook(inbound(photo_message("wamid.TWICE", media_id))).status == 200
        assert process() == []
    # WHEN the media function takes both jobs
    assert media() == []
    # THEN the file was downloaded once and kept once
    assert len(peer.media_downloads()) == 1
    kept = stored_media(services, "wamid.TWICE")
    assert kept is not None and bucket_object(services, kept["key"]) == PHOTO


def test_a_file_over_the_limit_is_not_kept_and_the_record_says_so(
    webhook: Webhook, process: Run, media: Run, peer: GraphApiPeer, services: Services
) -> None:
    # GIVEN a stack that keeps files up to 16 bytes
    services.settings = services.settings.model_copy(update={"media_max_bytes": 16})
    a_photo_arrives(webhook, process, peer, "wamid.LARGE")
    # WHEN the media function takes the job
    assert media() == []
    # THEN Meta's file_size was enough: nothing downloaded, nothing kept, and the record says so
    assert peer.media_downloads() == []
    assert stored_media(services, "wamid.LARGE") == {
        "mime_type": "image/jpeg",
        "size": len(PHOTO),
        "too_large": True,
    }
    listed = boto3.client("s3").list_objects_v2(Bucket=services.settings.media_bucket)
    assert listed.get("KeyCount", 0) == 0


def test_a_media_url_on_a_host_meta_does_not_own_is_refused_and_never_gets_the_token(
    webhook: Webhook, process: Run, media: Run, peer: GraphApiPeer, services: Services
) -> None:
    # GIVEN Meta's answer naming a download URL on another host (localhost is not 127.0.0.1)
    port = peer.base_url.rsplit(":", 1)[1]
    peer.media_url_origin = f"http://localhost:{port}"
    a_photo_arrives(webhook, process, peer, "wamid.ELSEWHERE")
    # WHEN the media function takes the job
    assert media() == []
    # THEN nothing was downloaded (the token never left for that host) and the record says why
    assert peer.media_downloads() == []
    kept = stored_media(services, "wamid.ELSEWHERE")
    assert kept is not None and "localhost" in kept["refused"] and "key" not in kept


def test_a_failed_fetch_leaves_the_job_to_be_retried_and_the_webhook_unaffected(
    webhook: Webhook, process: Run, media: Run, peer: GraphApiPeer, services: Services
) -> None:
    # GIVEN Meta's media download failing once, and a failed job back on its queue at once
    # (SQS brings it back when its visibility timeout ends)
    peer.add_fault(Fault(http_status=500, match_path="/whatsapp_business/attachments"))
    boto3.client("sqs").set_queue_attributes(
        QueueUrl=services.settings.media_queue_url, Attributes={"VisibilityTimeout": "0"}
    )
    # WHEN a photo arrives: the webhook and the processor are done with it at once
    a_photo_arrives(webhook, process, peer, "wamid.RETRY")
    assert services.inbox.get(inbound_key("wamid.RETRY")) is not None
    # THEN the media function reports its job failed, and nothing is noted yet
    assert len(media()) == 1
    assert stored_media(services, "wamid.RETRY") is None
    # AND the job's retry keeps the file
    assert media() == []
    kept = stored_media(services, "wamid.RETRY")
    assert kept is not None and bucket_object(services, kept["key"]) == PHOTO


@pytest.fixture
def groom(api: Api, waha_peer: WahaPeer) -> WahaPeer:
    waha_peer.add_session("groom", status="WORKING")
    assert api("PUT", "/v1/senders/groom", waha_sender(waha_peer.base_url, "groom")).status == 200
    return waha_peer


def test_a_waha_media_message_is_kept(
    api: Api,
    waha_webhook: Webhook,
    process: Run,
    media: Run,
    groom: WahaPeer,
    services: Services,
) -> None:
    # GIVEN a guest sending a voice note to the groom's phone (WAHA keeps it on its own disk)
    voice = b"OggS a guest's voice note"
    _, envelope = groom.inbound_file("groom", GUEST, voice, "audio/ogg; codecs=opus")
    assert waha_webhook(envelope).status == 200 and process() == []
    wamid = envelope["payload"]["id"]
    # WHEN the media function takes the job
    assert media() == []
    # THEN it fetched the file from the sender's WAHA with WAHA's key, and kept it
    (download,) = [r for r in groom.requests if r.path.startswith("/api/files/")]
    assert download.headers["x-api-key"] == WAHA_API_KEY and download.status == 200
    kept = stored_media(services, wamid)
    assert kept is not None and kept["mime_type"] == "audio/ogg; codecs=opus"
    assert bucket_object(services, kept["key"]) == voice
    shown = conversation_item(api, "groom", GUEST, wamid)["content"]["media"]
    assert requests.get(shown["url"], timeout=5).content == voice


def test_a_waha_media_url_off_the_senders_base_url_is_refused(
    waha_webhook: Webhook, process: Run, media: Run, groom: WahaPeer, services: Services
) -> None:
    # GIVEN a message whose media URL names another host than the sender's WAHA
    _, envelope = groom.inbound_file("groom", GUEST, b"elsewhere", "image/jpeg")
    url = envelope["payload"]["media"]["url"]
    envelope["payload"]["media"]["url"] = url.replace("127.0.0.1", "localhost")
    assert waha_webhook(envelope).status == 200 and process() == []
    # WHEN the media function takes the job
    assert media() == []
    # THEN WAHA's key went nowhere, and the record says why
    assert [r for r in groom.requests if r.path.startswith("/api/files/")] == []
    kept = stored_media(services, envelope["payload"]["id"])
    assert kept is not None and "base_url" in kept["refused"]


def test_a_waha_download_is_cut_at_the_limit(
    waha_webhook: Webhook, process: Run, media: Run, groom: WahaPeer, services: Services
) -> None:
    # GIVEN a stack keeping files up to 8 bytes, and a larger file on WAHA
    services.settings = services.settings.model_copy(update={"media_max_bytes": 8})
    _, envelope = groom.inbound_file("groom", GUEST, b"0123456789abcdef", "image/jpeg")
    assert waha_webhook(envelope).status == 200 and process() == []
    # WHEN the media function takes the job
    assert media() == []
    # THEN nothing is kept and the record says it was too large
    kept = stored_media(services, envelope["payload"]["id"])
    assert kept is not None and kept["too_large"] is True and "key" not in kept
