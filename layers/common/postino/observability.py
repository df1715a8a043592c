"""Module-level Powertools singletons and the masking every log line goes through."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
metrics = Metrics()
tracer = Tracer()


def mask_phone(digits: str) -> str:
    """Keep the country-code end and the last three digits: enough to tell messages apart."""
    if len(digits) <= 5:
        return "*" * len(digits)
    return f"{digits[:2]}{'*' * (len(digits) - 5)}{digits[-3:]}"
