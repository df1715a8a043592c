"""Load each function's real entry point the way Lambda does: its folder first on the path."""

import importlib.util
import sys
from functools import cache
from types import ModuleType

from local.template_stack import REPO_ROOT


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
