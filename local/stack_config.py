"""The local stack's settings, read from the environment, with defaults that make `make run` work
as it is; and what of them the stack prints at its start (secrets masked)."""

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class LocalConfig:
    api_key: str
    app_secret: str
    verify_token: str
    api_port: int
    # The webhook function's URL: a host of its own in AWS, a port of its own here.
    webhook_port: int
    # The dashboard's WebSocket API (local/websocket_api.py); its @connections take a free port.
    live_port: int
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
    # A plan of AWS faults (local/aws_faults.py), JSON, in force once the stack is ready.
    aws_faults: str | None

    @classmethod
    def from_environment(cls) -> "LocalConfig":
        env = os.environ
        return cls(
            api_key=env.get("POSTINO_API_KEY", "local-dev-key"),
            app_secret=env.get("META_APP_SECRET", "local-app-secret"),
            verify_token=env.get("META_VERIFY_TOKEN", "local-verify-token"),
            api_port=int(env.get("POSTINO_LOCAL_PORT", "3000")),
            # 3004 beside the default ports; a stack started on ports of its own (the tests,
            # the soak) takes a free one unless told, so two stacks never want the same port.
            webhook_port=int(
                env.get("POSTINO_WEBHOOK_PORT") or (0 if "POSTINO_LOCAL_PORT" in env else 3004)
            ),
            live_port=int(
                env.get("POSTINO_LIVE_PORT") or (0 if "POSTINO_LOCAL_PORT" in env else 3005)
            ),
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
            aws_faults=env.get("POSTINO_AWS_FAULTS") or None,
        )

    def shown(self) -> dict[str, str]:
        def masked(secret: str) -> str:
            return secret[:3] + "…" if len(secret) > 6 else "***"

        return {
            "POSTINO_API_KEY": self.api_key,  # a local key: printed so the curl below works
            "META_APP_SECRET": masked(self.app_secret),
            "META_VERIFY_TOKEN": masked(self.verify_token),
            "POSTINO_LOCAL_PORT": str(self.api_port),
            "POSTINO_WEBHOOK_PORT": str(self.webhook_port or "(a free one)"),
            "POSTINO_LIVE_PORT": str(self.live_port or "(a free one)"),
            "POSTINO_SANDBOX_PORT": str(self.sandbox_port),
            "POSTINO_DEFAULT_PHONE_NUMBER_ID": self.phone_number_id,
            "GRAPH_API_BASE_URL": self.graph_api_base_url or "(the sandbox)",
            "WAHA_API_KEY": masked(self.waha_api_key),
            "WAHA_HMAC_KEY": masked(self.waha_hmac_key),
            "WAHA_BASE_URL": self.waha_base_url or f"(the sandbox, engine {self.waha_engine})",
            "POSTINO_LINK_KEY": masked(self.link_key),
            "POSTINO_AWS_FAULTS": self.aws_faults or "(none)",
        }
