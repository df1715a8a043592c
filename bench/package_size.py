"""Package size: the layer's and each function's unzipped size after `sam build`."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".aws-sam" / "build"
SAM = ROOT / ".tools" / "sam" / "bin" / "sam"
SOURCES = ("template.yaml", "functions", "layers")
# Lambda's limit on a function and all its layers, unzipped (250 MB, in MiB as AWS counts).
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024


def _newest(path: Path) -> float:
    if path.is_file():
        return path.stat().st_mtime
    return max((p.stat().st_mtime for p in path.rglob("*") if p.is_file()), default=0.0)


def _stale() -> bool:
    if not (BUILD / "template.yaml").exists():
        return True
    built = _newest(BUILD / "template.yaml")
    return any(_newest(ROOT / source) > built for source in SOURCES)


def _build() -> None:
    # sam build (BuildMethod: python3.12) looks for python3.12 on PATH: this one's folder first.
    path = f"{Path(sys.executable).resolve().parent}:{os.environ.get('PATH', '')}"
    subprocess.run(  # noqa: S603 - the project's own sam
        [str(SAM), "build"],
        cwd=ROOT,
        env={**os.environ, "PATH": path, "SAM_CLI_TELEMETRY": "0"},
        check=True,
        capture_output=True,
        timeout=900,
    )


def _size(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    return sum(p.stat().st_size for p in files), len(files)


def measure() -> tuple[list[str], dict[str, Any]]:
    rebuilt = _stale()
    if rebuilt:
        _build()
    lines = [
        f"Package size: .aws-sam/build/<LogicalId>/ unzipped "
        f"({'rebuilt now' if rebuilt else 'build newer than the sources'})",
        f"{'artifact':<28}{'kB':>11}{'files':>8}{'% of 250 MB':>13}",
    ]
    figures: dict[str, Any] = {"rebuilt": rebuilt, "artifacts": {}}
    for folder in sorted(p for p in BUILD.iterdir() if p.is_dir()):
        size, count = _size(folder)
        lines.append(
            f"{folder.name:<28}{size / 1e3:>11.1f}{count:>8}"
            f"{100 * size / UNZIPPED_LIMIT_BYTES:>13.1f}"
        )
        figures["artifacts"][folder.name] = {"bytes": size, "files": count}
    lines.append(
        "Each function deploys with CommonLayer: its limit (250 MB unzipped) counts both; "
        "the zipped sizes Lambda stores are smaller and not measured here."
    )
    return lines, figures
