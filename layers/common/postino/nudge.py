"""Wake the drain at once (an asynchronous invoke) instead of waiting for the next minute."""

from botocore.exceptions import BotoCoreError, ClientError

from postino import aws
from postino.observability import logger


class DrainNudger:
    def __init__(self, function_name: str) -> None:
        self.function_name = function_name

    def nudge(self, function_name: str | None = None) -> None:
        """Invoke the drain function; the drain itself names its own (from Lambda's context):
        it cannot be given its own name in its environment (a circular reference)."""
        function_name = function_name or self.function_name
        if not function_name:
            return
        try:
            aws.lambda_().invoke(
                FunctionName=function_name,
                InvocationType="Event",
                Payload=b'{"source": "postino.nudge"}',
            )
        except (BotoCoreError, ClientError) as error:
            # The schedule drains within a minute anyway: a failed nudge only costs latency.
            logger.warning("drain nudge failed", extra={"error": str(error)})
