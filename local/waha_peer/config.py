"""What a WAHA is started with: its API key, its engine, where its webhooks go and the key that
signs them. One value that the fake's parts share, so a test can change the key or the engine of
a running fake."""

from dataclasses import dataclass
from typing import Literal

Engine = Literal["WEBJS", "NOWEB", "GOWS"]


@dataclass
class WahaConfig:
    api_key: str | None
    engine: Engine
    webhook_url: str | None
    hmac_key: str
