"""`make run`: the whole gateway on this machine, on an embedded AWS (moto), a Meta sandbox and
a WAHA sandbox.

One process: moto's server, the resources of template.yaml, a local API Gateway in front of
the real handlers, the drain on its schedule (and on the send API's nudge), the webhook
processor fed from its SQS queue, the Meta sandbox, and the WAHA sandbox with two phones to
pair, the senders "groom" and "bride". Ctrl-C stops it all.
"""

import faulthandler
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from local import iam, moto_speedups
from local.apigw import LambdaContext, LocalApiGateway
from local.functions import load_function, under_role
from local.sqs_events import QueuePoller
from local.template_stack import (
    REPO_ROOT,
    api_routes,
    create_stack_resources,
    function_environment,
    load_template,
)

RATE = re.compile(r"rate\((\d+) (second|minute|hour)s?\)")


def drain_every_seconds() -> float:
    """The drain's schedule as the template says (rate(1 minute)), unless the environment
    asks for a shorter one (POSTINO_DRAIN_EVERY_SECONDS: retries show up sooner locally)."""
    if os.environ.get("POSTINO_DRAIN_EVERY_SECONDS"):
        return float(os.environ["POSTINO_DRAIN_EVERY_SECONDS"])
    events = load_template()["Resources"]["SchedulerFunction"]["Properties"]["Events"]
    expression = next(e["Properties"]["ScheduleExpression"] for e in events.values())
    found = RATE.fullmatch(expression)
    if found is None:
        raise ValueError(f"the local stack cannot run the schedule {expression!r}")
    return int(found.group(1)) * {"second": 1, "minute": 60, "hour": 3600}[found.group(2)]


INGEST_BATCH = 10
WAHA_KEY_NAME = "postino/waha/api-key"
# The wedding of the seeds: two phones, each a WAHA session waiting for its QR code.
WEDDING_PHONES = {"groom": ("393470000001", "Marco"), "bride": ("393470000002", "Sara")}


@dataclass(frozen=True)
class LocalConfig:
    api_key: str
    app_secret: str
    verify_token: str
    api_port: int
    sandbox_port: int
    moto_port: int
    phone_number_id: str
    waba_id: str
    graph_api_base_url: str | None
    waha_port: int
    waha_api_key: str
    waha_hmac_key: str
    waha_engine: str
    # A real WAHA to use instead of the sandbox (its sessions "groom" and "bride").
    waha_base_url: str | None
    link_key: str

    @classmethod
    def from_environment(cls) -> "LocalConfig":
        env = os.environ
        return cls(
            api_key=env.get("POSTINO_API_KEY", "local-dev-key"),
            app_secret=env.get("META_APP_SECRET", "local-app-secret"),
            verify_token=env.get("META_VERIFY_TOKEN", "local-verify-token"),
            api_port=int(env.get("POSTINO_LOCAL_PORT", "3000")),
            sandbox_port=int(env.get("POSTINO_SANDBOX_PORT", "3001")),
            moto_port=int(env.get("POSTINO_MOTO_PORT", "3002")),
            phone_number_id=env.get("POSTINO_DEFAULT_PHONE_NUMBER_ID", "100000000000001"),
            waba_id=env.get("POSTINO_DEFAULT_WABA_ID", "100000000000002"),
            graph_api_base_url=env.get("GRAPH_API_BASE_URL") or None,
            waha_port=int(env.get("POSTINO_WAHA_PORT", "3003")),
            waha_api_key=env.get("WAHA_API_KEY", "local-waha-key"),
            waha_hmac_key=env.get("WAHA_HMAC_KEY", "local-waha-hmac-key"),
            waha_engine=env.get("POSTINO_WAHA_ENGINE", "NOWEB"),
            waha_base_url=env.get("WAHA_BASE_URL") or None,
            link_key=env.get("POSTINO_LINK_KEY", "local-link-signing-key"),
        )

    def shown(self) -> dict[str, str]:
        def masked(secret: str) -> str:
            return secret[:3] + "…" if len(secret) > 6 else "***"

        return {
            "POSTINO_API_KEY": self.api_key,  # a local key: printed so the curl below works
            "META_APP_SECRET": masked(self.app_secret),
            "META_VERIFY_TOKEN": masked(self.verify_token),
            "POSTINO_LOCAL_PORT": str(self.api_port),
            "POSTINO_SANDBOX_PORT": str(self.sandbox_port),
            "POSTINO_DEFAULT_PHONE_NUMBER_ID": self.phone_number_id,
            "GRAPH_API_BASE_URL": self.graph_api_base_url or "(the sandbox)",
            "WAHA_API_KEY": masked(self.waha_api_key),
            "WAHA_HMAC_KEY": masked(self.waha_hmac_key),
            "WAHA_BASE_URL": self.waha_base_url or f"(the sandbox, engine {self.waha_engine})",
            "POSTINO_LINK_KEY": masked(self.link_key),
        }


@dataclass
class StartedStack:
    process: "subprocess.Popen[str]"
    ready_line: str
    # Everything it printed after its ready line, read as it comes (a full pipe would block it).
    later: list[str]


def free_port() -> int:
    """A port nothing listens on now, for a stack started beside others (tests, the soak)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def spawn(env: dict[str, str] | None = None, timeout: float = 90) -> StartedStack:
    """Start `python -m local.run` and wait for its ready line (for the demo, bench and tests)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "local.run"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    stream = process.stdout
    before: list[str] = []
    deadline = time.monotonic() + timeout
    for line in stream:
        before.append(line)
        if line.startswith("ready: "):
            later: list[str] = []
            threading.Thread(target=later.extend, args=(stream,), daemon=True).start()
            return StartedStack(process, line.strip(), later)
        if time.monotonic() > deadline:
            break
    process.kill()
    raise RuntimeError("the local stack did not start:\n" + "".join(before))


def say(line: str) -> None:
    print(f"{time.strftime('%H:%M:%S')}  {line}", flush=True)


class LocalNudger:
    """Lambda's asynchronous invoke of the drain, locally: each drainer (a sender's shard) runs
    in a thread of its own. A nudge while it runs makes it run once more when it ends (on AWS a
    second invocation would find the lease held, and the first one finds the message itself;
    but a drainer that hands over nudges itself before it ends)."""

    def __init__(self, *, enabled: bool = True) -> None:
        # Off: drainers run from outside (POSTINO_LOCAL_DRAIN=off), as the end-to-end tests'.
        self.enabled = enabled
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._again: dict[str, bool] = {}  # the running drainers, and whether to run again

    def nudge(
        self, target: Any, function_name: str | None = None, *, takeover: bool = False
    ) -> None:
        # A takeover (a drainer starting its successor) runs, as any nudge, once it has ended.
        if not self.enabled:
            return
        with self._lock:
            if target.scope in self._again:
                self._again[target.scope] = True
                return
            self._again[target.scope] = False
        threading.Thread(target=self._drain, args=(target,), daemon=True).start()

    def _drain(self, target: Any) -> None:
        while not self.stopping.is_set():
            report = invoke_drain(target.payload())
            if report and (report.get("sent") or report.get("deferred") or report.get("outcomes")):
                outcomes = ", ".join(f"{k} {v}" for k, v in report.get("outcomes", {}).items())
                say(
                    f"drain     {target.sender}: sent {report['sent']}, "
                    f"waiting {report['deferred']} ({outcomes})"
                )
            with self._lock:
                if not self._again[target.scope]:
                    del self._again[target.scope]
                    return
                self._again[target.scope] = False


def invoke_drain(event: dict[str, Any]) -> dict[str, Any] | None:
    """One invocation of the drain function, with its own role; None if it failed."""
    scheduler = under_role("SchedulerFunction", load_function("scheduler").lambda_handler)
    context = LambdaContext("postino-SchedulerFunction", str(uuid.uuid4()), timeout_seconds=60)
    try:
        report: dict[str, Any] = scheduler(event, context)
    except Exception as error:  # keep the schedule going, as EventBridge would
        say(f"drain     failed: {error!r}")
        return None
    return report


def start_aws(config: LocalConfig) -> ThreadedMotoServer:
    moto_speedups.apply()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=config.moto_port, verbose=False)
    server.start()
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{config.moto_port}",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }
    )
    return server


def create_stack(config: LocalConfig, sandbox_url: str) -> None:
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
        shared = [*environment, "AWS_ENDPOINT_URL", "GRAPH_API_BASE_URL"]
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


def drain_loop(nudger: LocalNudger, stop: threading.Event) -> None:
    """EventBridge Scheduler's tick: it wakes a drainer for every sender with a backlog."""
    every = drain_every_seconds()
    while not stop.wait(every):
        invoke_drain({"source": "postino.schedule", "action": "drain"})


def ingest_loop(stop: threading.Event) -> None:
    """Lambda's SQS event source: batches to the processor, failures left to SQS's redrive."""
    from postino import aws  # the layer is on the path by now

    processor = under_role(
        "WebhookProcessorFunction", load_function("webhook", "process").lambda_handler
    )
    # Lambda's poller receives and deletes with the function's own role.
    with aws.acting_as("WebhookProcessorFunction"):
        poller = QueuePoller(aws.sqs(), os.environ["INGEST_QUEUE_URL"], batch_size=INGEST_BATCH)

    def handle(event: dict[str, Any]) -> Any:
        context = LambdaContext(
            "postino-WebhookProcessorFunction", str(uuid.uuid4()), timeout_seconds=30
        )
        return processor(event, context)

    announced: set[str] = set()
    while not stop.is_set():
        try:
            batch = poller.poll(handle, wait_seconds=1)
        except Exception as error:  # the whole batch comes back after its visibility timeout
            say(f"webhooks  batch failed: {error!r}")
            stop.wait(1)
            continue
        if batch is None:
            continue
        if batch.failed:
            say(f"webhooks  {len(batch.failed)} notification(s) will be retried")
        with aws.acting_as(iam.OPERATOR):
            _say_new_reservations(announced)


def _say_new_reservations(announced: set[str]) -> None:
    """A readable line for each reservation request the last batch made."""
    from postino.observability import mask_phone
    from postino.reservations.service import list_reservations
    from postino.services import get_services

    for request in list_reservations(get_services(), None, 20):
        if request.id in announced:
            continue
        announced.add(request.id)
        target = f"→ {request.operator_id or 'no operator'}" + (
            "" if request.routed else " (unrouted)"
        )
        say(
            f"reserve   {request.code} from +{mask_phone(request.from_)} {target}, "
            f"{request.status.value}"
        )


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


def quiet_the_machinery() -> None:
    """One readable line per event: no request log from moto's server, no metrics warnings."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message="No application metrics to publish")


def main() -> int:
    sys.path[:0] = [str(REPO_ROOT / "layers" / "common"), str(REPO_ROOT)]
    quiet_the_machinery()
    config = LocalConfig.from_environment()
    started = time.monotonic()
    moto = start_aws(config)
    api_url = f"http://127.0.0.1:{config.api_port}"
    sandbox_url = f"http://127.0.0.1:{config.sandbox_port}"
    create_stack(config, sandbox_url)

    from local.sandbox import MetaSandbox  # after the environment is set
    from local.waha_peer import WahaPeer
    from postino import aws
    from postino.services import get_services

    drain_here = os.environ.get("POSTINO_LOCAL_DRAIN", "on") != "off"  # off: run from outside
    nudger = LocalNudger(enabled=drain_here)
    get_services().nudger = nudger  # type: ignore[assignment]
    handlers = {
        function: under_role(function, load_function(folder).lambda_handler)
        for function, folder in (("SendFunction", "send"), ("WebhookFunction", "webhook"))
    }
    gateway = LocalApiGateway(
        api_routes(),
        handlers,
        api_key=config.api_key,
        port=config.api_port,
        on_request=lambda method, path, status: say(f"api       {method} {path} → {status}"),
    )
    sandbox = None
    if config.graph_api_base_url is None:
        sandbox = MetaSandbox(
            webhook_url=f"{api_url}/webhooks/meta",
            app_secret=config.app_secret,
            phone_number_id=config.phone_number_id,
            waba_id=config.waba_id,
            port=config.sandbox_port,
            on_event=say,
        ).start()
    waha = None
    waha_url = config.waha_base_url
    if waha_url is None:
        waha = WahaPeer(
            api_key=config.waha_api_key,
            engine=config.waha_engine,  # type: ignore[arg-type]
            webhook_url=f"{api_url}/webhooks/waha",
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
        threading.Thread(target=ingest_loop, args=(stop,), daemon=True),
    ]
    if drain_here:
        threads.append(threading.Thread(target=drain_loop, args=(nudger, stop), daemon=True))
    for thread in threads:
        thread.start()

    print("Postino, locally: an embedded AWS (moto) and a Meta sandbox. Ctrl-C stops it.")
    for name, value in config.shown().items():
        print(f"  {name:<32} {value}")
    print(f"  API                              {api_url}/v1")
    print(f"  docs                             {api_url}/v1/docs")
    print(f"  webhooks                         {api_url}/webhooks/meta, {api_url}/webhooks/waha")
    if sandbox is not None:
        print(f"  Meta sandbox                     {sandbox_url}/_sandbox/requests")
    if waha is not None:
        print(f"  WAHA sandbox                     {waha.base_url}/_sandbox/waha/requests")
        print("Pair the WAHA phones (senders groom and bride): get the QR code, then 'scan' it:")
        print(
            f"  curl -s {api_url}/v1/senders/groom/session/qr -H 'x-api-key: {config.api_key}' "
            "-H 'Accept: image/png' -o qr.png"
        )
        print(f"  curl -s -X POST {waha.base_url}/_sandbox/waha/groom/scan")
    print("Send a first message:")
    print(
        f"  curl -s -X POST {api_url}/v1/messages -H 'x-api-key: {config.api_key}' "
        "-H 'content-type: application/json' "
        """-d '{"to": "+39 333 123 4567", "type": "template", """
        """"template": {"name": "hello_world", "language": {"code": "en_US"}}}'"""
    )
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
