"""What the local stack prints: one readable line per event, stamped with the time, and the
welcome that tells how to reach and use it."""

import logging
import time
import warnings

from local.stack_config import LocalConfig


def say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {line}", flush=True)


def quiet_the_machinery() -> None:
    """One readable line per event: no request log from moto's server, no metrics warnings."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="No application metrics to publish")


def welcome(
    config: LocalConfig,
    api_url: str,
    webhook_function_url: str,
    meta_sandbox_url: str | None,
    waha_sandbox_url: str | None,
    live_url: str,
    live_connections_url: str,
) -> None:
    """The settings, the URLs, and the first commands to try (a sandbox's only if it runs)."""
    print("Postino, locally: an embedded AWS (moto) and a Meta sandbox. Ctrl-C stops it.")
    for name, value in config.shown().items():
        print(f"  {name:<32} {value}")
    print(f"  API                              {api_url}/v1")
    print(f"  docs                             {api_url}/v1/docs")
    # The webhook function's own URL, as on AWS (the WebhookUrl and WahaWebhookUrl outputs).
    print(f"  WebhookUrl (Meta)                {webhook_function_url}webhooks/meta")
    print(f"  WahaWebhookUrl                   {webhook_function_url}webhooks/waha")
    print(f"  LiveUrl (the dashboard's socket) {live_url}")
    print(f"  @connections (LiveFunction's)    {live_connections_url}")
    if meta_sandbox_url is not None:
        print(f"  Meta sandbox                     {meta_sandbox_url}/_sandbox/requests")
    if waha_sandbox_url is not None:
        print(f"  WAHA sandbox                     {waha_sandbox_url}/_sandbox/waha/requests")
        print("Pair the WAHA phones (senders groom and bride): get the QR code, then 'scan' it:")
        print(
            f"  curl -s {api_url}/v1/senders/groom/session/qr -H 'x-api-key: {config.api_key}' "
            "-H 'Accept: image/png' -o qr.png"
        )
        print(f"  curl -s -X POST {waha_sandbox_url}/_sandbox/waha/groom/scan")
    print("Send a first message:")
    print(
        f"  curl -s -X POST {api_url}/v1/messages -H 'x-api-key: {config.api_key}' "
        "-H 'content-type: application/json' "
        """-d '{"to": "+39 333 123 4567", "type": "template", """
        """"template": {"name": "hello_world", "language": {"code": "en_US"}}}'"""
    )
