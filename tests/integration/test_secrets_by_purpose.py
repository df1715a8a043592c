"""Secrets by purpose: a sender setting cannot carry a stack secret anywhere, and each function
reads only the secrets its work needs (its role, from template.yaml, enforced locally)."""

from collections.abc import Callable

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

from local import iam
from local.graph_api_peer import GraphApiPeer
from local.waha_peer import WahaPeer
from postino import aws
from postino.senders.allowed import waha_url_allowed
from postino.services import Services
from tests.support.events import HttpResult
from tests.support.links import LINK_KEY_SECRET
from tests.support.waha import WAHA_HMAC_SECRET, WAHA_KEY_SECRET, waha_sender

Api = Callable[..., HttpResult]
TOKEN_SECRET = "postino/meta/access-token"
APP_SECRET = "postino/meta/app-secret"
VERIFY_TOKEN = "postino/meta/verify-token"
STACK_SECRETS = [APP_SECRET, VERIFY_TOKEN, WAHA_HMAC_SECRET, LINK_KEY_SECRET]


def nothing_reached(waha_peer: WahaPeer, peer: GraphApiPeer) -> bool:
    return waha_peer.requests == [] and peer.requests == []


@pytest.mark.parametrize("secret", STACK_SECRETS)
def test_the_reviewed_exploit_a_waha_sender_naming_a_stack_secret_is_refused(
    api: Api, secret: str, waha_peer: WahaPeer, peer: GraphApiPeer
) -> None:
    # WHEN a caller makes a WAHA sender whose "API key" is one of the stack's own secrets
    result = api(
        "PUT", "/v1/senders/x", waha_sender(waha_peer.base_url, "x", api_key_secret=secret)
    )
    # THEN it is refused, nothing is stored, and the session route has nothing to call
    assert result.status == 422
    assert result.body["error"]["code"] == "secret_not_allowed"
    assert result.body["error"]["details"][0]["field"] == "api_key_secret"
    assert api("GET", "/v1/senders/x").status == 404
    assert api("GET", "/v1/senders/x/session").status == 404
    assert nothing_reached(waha_peer, peer)


@pytest.mark.parametrize("secret", STACK_SECRETS)
def test_a_cloud_api_sender_naming_a_stack_secret_is_refused_by_name_or_arn(
    api: Api, secret: str
) -> None:
    arn = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{secret}-AbC123"
    for named in (secret, arn):
        result = api(
            "PUT",
            "/v1/senders/studio",
            {"phone_number_id": "106540352242000", "access_token_secret": named},
        )
        assert result.status == 422, named
        assert result.body["error"]["details"][0]["field"] == "access_token_secret"
    assert api("GET", "/v1/senders/studio").status == 404


@pytest.mark.parametrize("secret", STACK_SECRETS)
def test_a_stack_secret_named_by_its_partial_arn_is_refused(
    api: Api, secret: str, waha_peer: WahaPeer
) -> None:
    # GIVEN the ARN without its random suffix, by which Secrets Manager finds the secret too
    # (the app secret's name, ending in "-secret", looks as if it had one)
    partial_arn = f"arn:aws:secretsmanager:us-east-1:123456789012:secret:{secret}"
    assert boto3.client("secretsmanager").get_secret_value(SecretId=partial_arn)["SecretString"]
    # WHEN a sender names it THEN it is refused and nothing is stored
    for settings in (
        {"phone_number_id": "106540352242000", "access_token_secret": partial_arn},
        waha_sender(waha_peer.base_url, "x", api_key_secret=partial_arn),
    ):
        result = api("PUT", "/v1/senders/x", settings)
        assert result.status == 422, settings
        assert result.body["error"]["code"] == "secret_not_allowed"
    assert api("GET", "/v1/senders/x").status == 404
    assert waha_peer.requests == []


@pytest.mark.parametrize(
    "base_url",
    [
        "https://anywhere.example",
        "http://127.0.0.1.attacker.example:3000",
        "http://127.0.0.1:3000@attacker.example",
        "http://user:pw@127.0.0.1:3000",
        "https://127.0.0.1:3000",  # another scheme than allowed
        "http://localhost:3000",  # another name than allowed, though the same machine
    ],
)
def test_a_waha_base_url_the_operator_did_not_allow_is_refused_and_nothing_stored(
    api: Api, base_url: str, waha_peer: WahaPeer
) -> None:
    result = api("PUT", "/v1/senders/x", waha_sender(base_url, "x"))
    assert result.status == 422
    assert result.body["error"]["code"] == "base_url_not_allowed"
    assert "WahaAllowedBaseUrls" in result.body["error"]["message"]
    assert api("GET", "/v1/senders/x").status == 404
    assert waha_peer.requests == []


def test_an_allowed_waha_base_url_is_taken(api: Api, waha_peer: WahaPeer) -> None:
    assert api("PUT", "/v1/senders/x", waha_sender(waha_peer.base_url, "x")).status == 200


def test_a_stored_sender_outside_the_allowed_urls_is_never_sent_the_key(
    api: Api, services: Services, waha_peer: WahaPeer
) -> None:
    # GIVEN a sender stored around the API (an old item, a hand edit) naming another host
    assert api("PUT", "/v1/senders/x", waha_sender(waha_peer.base_url, "x")).status == 200
    boto3.client("dynamodb").update_item(
        TableName=services.settings.senders_table,
        Key={"name": {"S": "x"}},
        UpdateExpression="SET base_url = :u",
        ExpressionAttributeValues={":u": {"S": "https://anywhere.example"}},
    )
    # WHEN its session is asked for THEN nothing is called, and the answer says why
    result = api("GET", "/v1/senders/x/session")
    assert result.status == 409
    assert result.body["error"]["code"] == "base_url_not_allowed"
    assert waha_peer.requests == []


@pytest.mark.parametrize(
    ("base_url", "allowed", "expected"),
    [
        ("http://waha.prod.internal:3000", "http://waha.prod.internal:3000", True),
        ("http://waha.prod.internal:3000/", "http://waha.prod.internal:3000", True),
        ("http://WAHA.prod.internal:3000", "http://waha.prod.internal:3000", True),
        ("http://waha.prod.internal:3001", "http://waha.prod.internal:3000", False),
        ("http://10.0.3.7:3000", "http://10.0.*.*:3000", True),
        ("http://10.0.3.7.evil.example:3000", "http://10.0.*.*:3000", False),
        ("http://127.0.0.1:41234", "https://x.example, http://127.0.0.1:*", True),
        ("http://127.0.0.1:notaport", "http://127.0.0.1:*", False),
        ("http://127.0.0.1:3000", "", False),
    ],
)
def test_allowed_base_urls_match_scheme_host_and_port(
    base_url: str, allowed: str, expected: bool
) -> None:
    assert waha_url_allowed(base_url, allowed) is expected


# What each function may read, as its role in template.yaml says (the local IAM enforces it).
READS = {
    "WebhookFunction": {APP_SECRET, VERIFY_TOKEN, WAHA_HMAC_SECRET},
    "SendFunction": {TOKEN_SECRET, WAHA_KEY_SECRET, LINK_KEY_SECRET},
    "SchedulerFunction": {TOKEN_SECRET, WAHA_KEY_SECRET},
    "WebhookProcessorFunction": {TOKEN_SECRET, WAHA_KEY_SECRET},
}
ALL_SECRETS = [TOKEN_SECRET, WAHA_KEY_SECRET, *STACK_SECRETS]


@pytest.mark.parametrize("function", sorted(READS))
def test_each_function_reads_only_the_secrets_its_work_needs(
    services: Services, function: str
) -> None:
    readable = set()
    with aws.acting_as(function):
        for secret in ALL_SECRETS:
            try:
                aws.secret(secret, max_age=0)
            except GetParameterError:
                continue
            readable.add(secret)
    assert readable == READS[function]
    # The refusals were AWS's (AccessDenied), one for each secret outside the role.
    denied = iam.take_denials()
    assert sorted(d.resource.rsplit(":secret:", 1)[1][:-7] for d in denied) == sorted(
        set(ALL_SECRETS) - READS[function]
    )
    assert all(d.action == "secretsmanager:GetSecretValue" for d in denied)
