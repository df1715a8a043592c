"""Meta's and WAHA's webhooks on the webhook function's own URL, not on the REST API.

A REST API costs $3.50 a million requests (a message brings three status webhooks); a function
URL costs nothing beyond the invocation. The peers need HTTPS and their own signature, which the
function checks: no API key, usage plan or REST feature.
"""

from typing import Any

import pytest

from local.function_url import function_urls
from local.template_stack import api_routes, load_template
from postino.webhooks.ingest import META_PATH, ROUTES, WAHA_PATH
from tests.infrastructure.rendering import PARAMETER_SETS, rendered, sam_python
from tests.support.prerequisites import skip_or_fail

TEMPLATE = load_template()
WEBHOOK = TEMPLATE["Resources"]["WebhookFunction"]


def test_the_rest_api_has_no_webhook_route_and_the_function_has_a_public_url() -> None:
    assert not [r for r in api_routes() if r.path.startswith("/webhooks")]
    assert "Events" not in WEBHOOK["Properties"]
    assert WEBHOOK["Properties"]["FunctionUrlConfig"] == {
        "AuthType": "NONE",
        "InvokeMode": "BUFFERED",
    }
    # AND checkov's finding on AuthType NONE is skipped with its reason: the signatures
    skips = {s["id"]: s["comment"] for s in WEBHOOK["Metadata"]["checkov"]["skip"]}
    assert "signs its webhooks" in skips["CKV_AWS_258"] and "401" in skips["CKV_AWS_258"]


def test_the_outputs_and_wahas_hook_name_the_routes_on_the_function_url() -> None:
    outputs = TEMPLATE["Outputs"]
    # The function URL ends in "/": https://<url-id>.lambda-url.<region>.on.aws/
    assert outputs["WebhookUrl"]["Value"] == {
        "Fn::Sub": "${WebhookFunctionUrl.FunctionUrl}" + META_PATH.lstrip("/")
    }
    assert outputs["WahaWebhookUrl"]["Value"] == {
        "Fn::Sub": "${WebhookFunctionUrl.FunctionUrl}" + WAHA_PATH.lstrip("/")
    }
    assert set(ROUTES) == {META_PATH, WAHA_PATH}
    assert "PostinoApi" not in str(outputs["WebhookUrl"]) + str(outputs["WahaWebhookUrl"])


def public_statements(resources: dict[str, Any], function: str) -> list[dict[str, Any]]:
    return [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Permission"
        and r["Properties"]["FunctionName"] == {"Ref": function}
        and r["Properties"]["Principal"] == "*"
    ]


@pytest.mark.parametrize("parameter_set", list(PARAMETER_SETS))
def test_the_deployed_url_is_public_through_the_url_only(parameter_set: str) -> None:
    if not sam_python().exists():
        skip_or_fail("the SAM CLI is not installed (make test installs it)")
    resources = rendered(PARAMETER_SETS[parameter_set])["Resources"]
    # SAM names the URL it makes <Function>Url
    url = resources["WebhookFunctionUrl"]
    assert url["Type"] == "AWS::Lambda::Url"
    assert url["Properties"] == {
        "TargetFunctionArn": {"Ref": "WebhookFunction"},
        "AuthType": "NONE",
        "InvokeMode": "BUFFERED",
    }
    # Lambda serves a URL with AuthType NONE only if the function's policy lets anyone
    # InvokeFunctionUrl and, for URLs made since October 2025, InvokeFunction too: without
    # either, every request is a 403. SAM writes both.
    assert sorted(
        public_statements(resources, "WebhookFunction"), key=lambda s: str(s["Action"])
    ) == [
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Ref": "WebhookFunction"},
            "Principal": "*",
            "InvokedViaFunctionUrl": True,
        },
        {
            "Action": "lambda:InvokeFunctionUrl",
            "FunctionName": {"Ref": "WebhookFunction"},
            "Principal": "*",
            "FunctionUrlAuthType": "NONE",
        },
    ]
    # AND that is the only URL, and no other function lets anyone in
    assert set(function_urls({"Resources": resources})) == {"WebhookFunction"}
    assert function_urls({"Resources": resources})["WebhookFunction"].public
    others = {
        r["Properties"]["FunctionName"]["Ref"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::Permission" and r["Properties"]["Principal"] == "*"
    }
    assert others == {"WebhookFunction"}
