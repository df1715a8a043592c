"""Wake the drain at once (an asynchronous invoke) instead of waiting for the next minute."""

from botocore.exceptions import BotoCoreError, ClientError

from postino import aws
from postino.observability import logger


class DrainNudger:
    def __init__(self, function_name: str) -> None:
        self.function_name = function_name

    def nudge(self) -> None:
        if not self.function_name:
            return
        try:
            aws.lambda_().invoke(
                FunctionName=self.function_name,
                InvocationType="Event",
                Payload=b'{"source": "postino.nudge"}',
            )
        except (BotoCoreError, ClientError) as error:
            # The schedule drains within a minute anyway: a failed nudge only costs latency.
            logger.warning("drain nudge failed", extra={"error": str(error)})
