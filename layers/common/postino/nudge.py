"""Wake the drain at once (an asynchronous invoke) instead of waiting for the next minute."""

import json
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from postino import aws
from postino.observability import logger

if TYPE_CHECKING:
    from postino.drain.targets import DrainTarget


class DrainNudger:
    def __init__(self, function_name: str) -> None:
        self.function_name = function_name

    def nudge(
        self, target: "DrainTarget", function_name: str | None = None, *, takeover: bool = False
    ) -> None:
        """Invoke the drain function for one sender's shard; the drain itself names its own
        (from Lambda's context): it cannot be given its own name in its environment (a
        circular reference). `takeover`: a drainer starts its successor (DrainTarget.payload)."""
        function_name = function_name or self.function_name
        if not function_name:
            return
        try:
            aws.lambda_().invoke(
                FunctionName=function_name,
                InvocationType="Event",
                Payload=json.dumps(target.payload(takeover=takeover)).encode(),
            )
        except (BotoCoreError, ClientError) as error:
            # The schedule drains within a minute anyway: a failed nudge only costs latency.
            logger.warning("drain nudge failed", extra={"error": str(error)})
