"""Load each function's real entry point the way Lambda does: its folder first on the path."""

import importlib.util
import sys
from collections.abc import Callable
from functools import cache
from types import ModuleType
from typing import Any

from local.template_stack import REPO_ROOT

Handler = Callable[[dict[str, Any], Any], Any]


@cache
def load_function(name: str, entry: str = "app") -> ModuleType:
    """functions/<name>/<entry>.py, as the template's Handler `<entry>.lambda_handler` names it."""
    folder = REPO_ROOT / "functions" / name
    sys.path.insert(0, str(folder))
    spec = importlib.util.spec_from_file_location(f"{name}_{entry}", folder / f"{entry}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no function at {folder / entry}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def under_role(function: str, handler: Handler) -> Handler:
    """The handler with its AWS calls made as `function` (its own role), as Lambda runs it."""
    from postino import aws  # the layer is on the path once a function is loaded

    def run(event: dict[str, Any], context: Any) -> Any:
        with aws.acting_as(function):
            return handler(event, context)

    return run
