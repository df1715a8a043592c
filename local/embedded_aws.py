"""The local stack's AWS: moto's server, and in it the resources of template.yaml, their secrets,
a role for each function (enforced), and the wedding's two WAHA senders."""

import json
import os
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from local import iam, moto_speedups
from local.aws_faults import AwsFaults
from local.console import say
from local.moto_faults import serve_with_faults
from local.stack_config import LocalConfig
from local.template_stack import StackResources, create_stack_resources, function_environment

WAHA_KEY_NAME = "postino/waha/api-key"
# The wedding of the seeds: two phones, each a WAHA session waiting for its QR code.
WEDDING_PHONES = {"groom": ("393470000001", "Marco"), "bride": ("393470000002", "Sara")}


def start_aws(config: LocalConfig, faults: AwsFaults) -> ThreadedMotoServer:
    """moto's server, with the AWS fault layer between it and its callers (no faults until a
    plan is put in force)."""
    moto_speedups.apply()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=config.moto_port, verbose=False)
    server.start()
    serve_with_faults(server, faults)
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{config.moto_port}",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            # moto on a busy 2-core machine can take seconds where AWS takes milliseconds: the
            # clients' read timeouts (postino/aws.py BUDGETS) are stretched for it, not changed.
            "POSTINO_AWS_TIMEOUT_SCALE": "10",
        }
    )
    return server


def create_stack(config: LocalConfig, sandbox_url: str) -> StackResources:
    from postino import aws  # the layer is on the path by now

    resources = create_stack_resources(
        parameter_overrides={
            "PhoneNumberId": config.phone_number_id,
            "WabaId": config.waba_id,
            # The WAHA sandbox (or a WAHA of your own) listens on this machine.
            "WahaAllowedBaseUrls": "http://127.0.0.1:*,http://localhost:*",
        }
    )
    environment = function_environment(resources, "WebhookProcessorFunction")
    environment |= function_environment(resources, "SendFunction")
    environment |= function_environment(resources, "MediaFunction")
    environment |= function_environment(resources, "LiveFunction")
    os.environ.update(environment)

    os.environ.update(
        {
            "GRAPH_API_BASE_URL": config.graph_api_base_url or sandbox_url,
            # The stack prints its own readable lines; the functions' JSON logs stay quiet.
            "POWERTOOLS_LOG_LEVEL": os.environ.get("POSTINO_LOG_LEVEL", "WARNING"),
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    # Operators are notified with the sandbox's approved template: free text would reach them
    # only inside their own 24-hour window.
    os.environ.setdefault("RESERVATION_NOTIFICATION_TEMPLATE", "reservation_request")
    secrets: Any = boto3.client("secretsmanager")
    for name, value in (
        (resources.parameters["AccessTokenSecretName"], "local-access-token"),
        (resources.parameters["AppSecretName"], config.app_secret),
        (resources.parameters["VerifyTokenName"], config.verify_token),
        (WAHA_KEY_NAME, config.waha_api_key),
        (resources.parameters["WahaHmacKeySecretName"], config.waha_hmac_key),
        (resources.parameters["LinkKeySecretName"], config.link_key),
    ):
        secrets.create_secret(Name=name, SecretString=value)
    # From here on every function runs under its own role, and this harness as the operator.
    roles = iam.create_function_roles(resources)
    os.environ.update(iam.operator_environment(roles))
    boto3.setup_default_session()
    aws.use_roles(roles.session)
    iam.enforce(on_denial=lambda denial: say(f"DENIED    {denial}"))
    if os.environ.get("POSTINO_ENV_FILE"):
        # For a drainer run from outside (python -m local.drain_once), as a second Lambda would:
        # the stack's environment and the drain function's own role; and for a harness that
        # looks from outside (the soak), the operator's key.
        shared = [
            *environment,
            "AWS_ENDPOINT_URL",
            "GRAPH_API_BASE_URL",
            "POSTINO_AWS_TIMEOUT_SCALE",
        ]
        drain_role = roles.credentials["SchedulerFunction"]
        operator = roles.credentials[iam.OPERATOR]
        Path(os.environ["POSTINO_ENV_FILE"]).write_text(
            json.dumps(
                {name: os.environ[name] for name in shared}
                | {
                    "AWS_ACCESS_KEY_ID": drain_role["aws_access_key_id"],
                    "AWS_SECRET_ACCESS_KEY": drain_role["aws_secret_access_key"],
                    "AWS_SESSION_TOKEN": drain_role["aws_session_token"],
                    "OPERATOR_AWS_ACCESS_KEY_ID": operator["aws_access_key_id"],
                    "OPERATOR_AWS_SECRET_ACCESS_KEY": operator["aws_secret_access_key"],
                }
            )
        )
    return resources


def add_wedding_senders(waha_base_url: str) -> None:
    """The senders "groom" and "bride", each on its own WAHA session (the defaults keep them safe)."""
    from postino.senders.model import WahaSettings
    from postino.senders.profiles import put_sender
    from postino.services import get_services

    for name in WEDDING_PHONES:
        settings = WahaSettings(
            provider="waha",
            base_url=waha_base_url,
            api_key_secret=WAHA_KEY_NAME,
            session=name,
        )
        put_sender(get_services(), name, settings)
