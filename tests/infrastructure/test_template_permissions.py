"""Each function's role as deployed: secrets by purpose, and what its code calls."""

from fnmatch import fnmatchcase
from typing import Any

import pytest

from tests.infrastructure.rendering import PARAMETER_SETS, parameters_of, rendered, sam_python
from tests.support.prerequisites import skip_or_fail

if not sam_python().exists():
    skip_or_fail("the SAM CLI is not installed (make test installs it)")

DEFAULTS = parameters_of({})
ARN_PREFIX = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:"
# A secret's ARN is its name, "-" and six random characters.
SUFFIX = "-AbC123"
APP_SECRET, VERIFY_TOKEN, HMAC_KEY, LINK_KEY = (
    DEFAULTS[name] + SUFFIX
    for name in ("AppSecretName", "VerifyTokenName", "WahaHmacKeySecretName", "LinkKeySecretName")
)
SENDER_TOKENS = (DEFAULTS["AccessTokenSecretName"] + SUFFIX, "postino/senders/groom-x1Y2z3")
WEBHOOK_KEYS = {APP_SECRET, VERIFY_TOKEN, HMAC_KEY}
EVERY_SECRET = {*WEBHOOK_KEYS, LINK_KEY, *SENDER_TOKENS}
READS = {
    "WebhookFunction": WEBHOOK_KEYS,
    "SendFunction": {*SENDER_TOKENS, LINK_KEY},
    "SchedulerFunction": set(SENDER_TOKENS),
    "WebhookProcessorFunction": set(SENDER_TOKENS),
}


def role_statements(function: str) -> list[dict[str, Any]]:
    resources = rendered(PARAMETER_SETS["defaults"])["Resources"]
    role_name = resources[function]["Properties"]["Role"]["Fn::GetAtt"][0]
    documents = [p["PolicyDocument"] for p in resources[role_name]["Properties"]["Policies"]] + [
        r["Properties"]["PolicyDocument"]
        for r in resources.values()
        if r["Type"] == "AWS::IAM::RolePolicy" and r["Properties"]["RoleName"] == {"Ref": role_name}
    ]
    return [s for d in documents for s in d["Statement"]]


def arn(resource: Any) -> str:
    """A statement's resource with the default parameters and this test's account filled in."""
    if isinstance(resource, dict) and "Fn::Sub" not in resource:
        return ""  # a GetAtt: a queue, a table, never a secret
    text = resource["Fn::Sub"] if isinstance(resource, dict) else resource
    values = DEFAULTS | {
        "AWS::Partition": "aws",
        "AWS::Region": "eu-west-1",
        "AWS::AccountId": "123456789012",
    }
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    return str(text)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def matches(statement: dict[str, Any], action: str, resource: str) -> bool:
    return any(fnmatchcase(action, a) for a in as_list(statement["Action"])) and any(
        fnmatchcase(resource, arn(r)) for r in as_list(statement["Resource"])
    )


def allowed(function: str, action: str, resource: str) -> bool:
    """IAM's evaluation for one identity policy: an explicit Deny wins over any Allow."""
    statements = [s for s in role_statements(function) if matches(s, action, resource)]
    return any(s["Effect"] == "Allow" for s in statements) and not any(
        s["Effect"] == "Deny" for s in statements
    )


@pytest.mark.parametrize("function", list(READS))
def test_each_function_reads_the_secrets_of_its_purpose_only(function: str) -> None:
    readable = {
        secret
        for secret in EVERY_SECRET
        if allowed(function, "secretsmanager:GetSecretValue", ARN_PREFIX + secret)
    }
    assert readable == READS[function]


def test_a_secret_named_like_a_key_with_more_after_it_is_not_that_key() -> None:
    # "-??????" is exactly the random suffix: postino/meta/app-secret-old-AbC123 is another secret
    other = ARN_PREFIX + DEFAULTS["AppSecretName"] + "-old" + SUFFIX
    assert not allowed("WebhookFunction", "secretsmanager:GetSecretValue", other)


def test_the_processor_may_delay_an_ingest_record_it_cannot_place_yet() -> None:
    # functions/webhook/process.py: change_message_visibility on the ingest queue
    queue = {"Fn::GetAtt": ["IngestQueue", "Arn"]}
    (statement,) = [
        s
        for s in role_statements("WebhookProcessorFunction")
        if s["Resource"] == queue and s["Effect"] == "Allow"
    ]
    assert set(statement["Action"]) == {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
    }


def test_the_drain_may_hand_over_to_itself_and_to_nothing_else() -> None:
    # functions/scheduler/app.py: out of time with work left, it invokes itself
    itself = {"Fn::GetAtt": ["SchedulerFunction", "Arn"]}
    invokes = [
        s for s in role_statements("SchedulerFunction") if "lambda:InvokeFunction" in s["Action"]
    ]
    assert [s["Resource"] for s in invokes] == [itself]


@pytest.mark.parametrize("parameter_set", list(PARAMETER_SETS))
def test_the_functions_may_send_wahas_key_only_to_the_allowed_base_urls(
    parameter_set: str,
) -> None:
    overrides = PARAMETER_SETS[parameter_set]
    template = rendered(overrides)
    own_waha = {"Fn::Sub": "http://waha.${AWS::StackName}.internal:3000"}
    expected = {"Ref": "WahaAllowedBaseUrls"} if overrides.get("WahaAllowedBaseUrls") else own_waha
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Lambda::Function":
            variables = resource["Properties"]["Environment"]["Variables"]
            assert variables["WAHA_ALLOWED_BASE_URLS"] == expected, name
    if "WahaBaseUrl" in template["Outputs"]:  # the default is the service the stack runs
        assert template["Outputs"]["WahaBaseUrl"]["Value"] == own_waha
