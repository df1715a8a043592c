"""`make run`: the whole gateway on this machine, on an embedded AWS (moto), a Meta sandbox and
a WAHA sandbox.

One process: moto's server, the resources of template.yaml, a local API Gateway in front of
the send function, the webhook function on its own function URL (a port of its own), the
dashboard's WebSocket API fed by the tables' streams (a port of its own), the drain
on its schedule (and on the send API's nudge), the webhook processor fed from its SQS queue,
the Meta sandbox, and the WAHA sandbox with two phones to pair, the senders "groom" and "bride".
Both sandboxes deliver their webhooks to the function URL. Ctrl-C stops it all.
"""

import faulthandler
import os
import signal
import sys
import threading
import time
from typing import Any

from local import iam
from local.apigw import LocalApiGateway
from local.aws_faults import AwsFaults, PlanRefused, parse_plan
from local.bus_log import print_bus_events
from local.console import quiet_the_machinery, say, welcome
from local.embedded_aws import WEDDING_PHONES, add_wedding_senders, create_stack, start_aws
from local.function_url import LocalFunctionUrl, function_urls
from local.functions import load_function, under_role
from local.live import live_loop, start_live_api
from local.stack_config import LocalConfig
from local.template_stack import REPO_ROOT, api_routes
from local.triggers import LocalNudger, drain_loop, ingest_loop, media_loop

# Enough for invocations waiting on AWS (a throttle's backoff) not to hold every status up;
# the one interpreter's CPU is the limit beyond that.
WEBHOOK_ENVIRONMENTS = 4


def main() -> int:
    sys.path[:0] = [str(REPO_ROOT / "layers" / "common"), str(REPO_ROOT)]
    quiet_the_machinery()
    config = LocalConfig.from_environment()
    try:
        faults_when_ready = parse_plan(config.aws_faults or "{}")
    except PlanRefused as refused:
        raise SystemExit(f"POSTINO_AWS_FAULTS: {refused}") from None
    started = time.monotonic()
    aws_faults = AwsFaults()
    moto = start_aws(config, aws_faults)
    print_bus_events()
    api_url = f"http://127.0.0.1:{config.api_port}"
    sandbox_url = f"http://127.0.0.1:{config.sandbox_port}"
    resources = create_stack(config, sandbox_url)
    live_api = start_live_api(resources, config.live_port)  # before the functions read LIVE_URL

    from local.sandbox import MetaSandbox  # after the environment is set
    from local.waha_peer import WahaPeer
    from postino import aws
    from postino.services import get_services

    drain_here = os.environ.get("POSTINO_LOCAL_DRAIN", "on") != "off"  # off: run from outside
    nudger = LocalNudger(enabled=drain_here)
    get_services().nudger = nudger  # type: ignore[assignment]
    gateway = LocalApiGateway(
        api_routes(),
        {"SendFunction": under_role("SendFunction", load_function("send").lambda_handler)},
        api_key=config.api_key,
        port=config.api_port,
        on_request=lambda method, path, status: say(f"api       {method} {path} → {status}"),
    )
    webhooks = LocalFunctionUrl(
        function_urls(iam.render(resources))["WebhookFunction"],
        under_role("WebhookFunction", load_function("webhook").lambda_handler),
        port=config.webhook_port,
        on_request=lambda method, path, status: say(f"webhook   {method} {path} → {status}"),
        # Statuses come in bursts (three a message); Lambda meets one with more environments.
        # The webhook function keeps no request on its module (no resolver), so slots on one
        # module stand for them; only its log keys may show another invocation's request id.
        environments=WEBHOOK_ENVIRONMENTS,
    )
    sandbox = None
    if config.graph_api_base_url is None:
        sandbox = MetaSandbox(
            webhook_url=f"{webhooks.url}webhooks/meta",
            app_secret=config.app_secret,
            phone_number_id=config.phone_number_id,
            waba_id=config.waba_id,
            port=config.sandbox_port,
            on_event=say,
            aws_faults=aws_faults,
        ).start()
    waha = None
    waha_url = config.waha_base_url
    if waha_url is None:
        waha = WahaPeer(
            api_key=config.waha_api_key,
            engine=config.waha_engine,  # type: ignore[arg-type]
            webhook_url=f"{webhooks.url}webhooks/waha",
            hmac_key=config.waha_hmac_key,
            port=config.waha_port,
            on_event=say,
        ).start()
        for session, (phone, name) in WEDDING_PHONES.items():
            waha.add_session(session, status="SCAN_QR_CODE", phone=phone, push_name=name)
        waha_url = waha.base_url
    with aws.acting_as(iam.OPERATOR):
        add_wedding_senders(waha_url)
    stop = threading.Event()
    threads = [
        threading.Thread(target=gateway.server.serve_forever, daemon=True),
        threading.Thread(target=webhooks.server.serve_forever, daemon=True),
        threading.Thread(target=ingest_loop, args=(stop,), daemon=True),
        threading.Thread(target=media_loop, args=(stop,), daemon=True),
        threading.Thread(target=live_loop, args=(stop, resources), daemon=True),
    ]
    if drain_here:
        threads.append(threading.Thread(target=drain_loop, args=(stop,), daemon=True))
    for thread in threads:
        thread.start()

    welcome(
        config,
        api_url,
        webhooks.url,
        sandbox_url if sandbox is not None else None,
        waha.base_url if waha is not None else None,
        live_api.url,
        live_api.management_url,
    )
    # Only now: the stack's own setup (tables, secrets, senders) is not what the faults test.
    aws_faults.use(faults_when_ready)
    print(f"ready: {api_url}  ({time.monotonic() - started:.1f} s)", flush=True)

    def shut_down(*_: Any) -> None:
        stop.set()
        nudger.stopping.set()

    signal.signal(signal.SIGINT, shut_down)
    signal.signal(signal.SIGTERM, shut_down)
    stop.wait()
    # Stopping takes a second; should it ever hang, say where (every thread's stack) and leave.
    faulthandler.dump_traceback_later(20, exit=True)
    gateway.server.shutdown()
    webhooks.server.shutdown()
    live_api.stop()
    if sandbox is not None:
        sandbox.stop()
    if waha is not None:
        waha.stop()
    moto.stop()
    print("stopped", flush=True)
    sys.stderr.flush()
    # A drain still in flight would be joined at exit (its send threads are not daemons) and
    # could hold Ctrl-C for as long as its sends take. Its state lived in the embedded AWS that
    # has just stopped, so there is nothing left for it to finish: leave at once.
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
