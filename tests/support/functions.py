"""The functions' real entry points (shared with the local stack)."""

from local.functions import load_function

__all__ = ["load_function"]
