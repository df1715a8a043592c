"""A local WAHA: answers like WAHA 2026.7.1 and checks every request against its published
OpenAPI description. Tests use it as the far end of the WAHA provider; `make run` as the WAHA
sandbox, with phones to pair (`POST /_sandbox/waha/{session}/scan` plays the phone scanning
the QR code) and HMAC-signed webhooks to the stack: `message.ack` after each send (recipients
ending in 0000 get ack -1), `session.status` on every change, `message` for a guest writing.

A request comes in through `handler` to the peer's front door (`peer`), which answers it from
`sessions`, `chats` or `directory` (a session's chats and groups); what they change goes out
through `webhooks`.
"""

from local.waha_peer.faults import WahaFault
from local.waha_peer.peer import WahaPeer

__all__ = ["WahaFault", "WahaPeer"]
