"""Where checkpoints are looked for, and how they are listed (no Streamlit calls).

Folders: the repository's `checkpoints/` (shipped models) and `runs/` (models trained in the app or by the CLI),
or instead the folders in $AAE_CHECKPOINT_DIRS (separated by the OS path separator), plus any folder the user
names in the sidebar. In-app training writes to $AAE_RUNS_DIR, by default `runs/`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT_SUFFIX = ".safetensors"
# The shipped checkpoint a first visit opens (when it is there): the mixture-prior AAE whose discriminator also saw
# the labels (paper Fig. 4), so its map shows ten blobs on a circle, one digit each.
DEFAULT_MODEL = "labelled-prior-2d-mixture"


def runs_dir() -> Path:
    """The user-writable folder that in-app training writes to."""
    return Path(os.environ.get("AAE_RUNS_DIR") or REPO_ROOT / "runs")


def checkpoint_dirs(extra: str | os.PathLike[str] | None = None) -> list[Path]:
    """Folders to list, in order, without duplicates: the configured ones, the runs folder, then `extra`."""
    configured = os.environ.get("AAE_CHECKPOINT_DIRS")
    folders = [Path(p) for p in configured.split(os.pathsep) if p] if configured else [REPO_ROOT / "checkpoints"]
    folders.append(runs_dir())
    if extra:
        folders.append(Path(extra).expanduser())
    unique: list[Path] = []
    for folder in folders:
        if folder.resolve() not in {f.resolve() for f in unique}:
            unique.append(folder)
    return unique


@dataclass(frozen=True)
class CheckpointFile:
    path: Path
    modified: float  # mtime: part of the cache key, so a retrained file is loaded afresh

    @property
    def label(self) -> str:
        """What the model picker shows: the file name and the folder it is in."""
        return f"{self.path.stem}  ({self.path.parent.name}/)"


def find_checkpoints(folders: list[Path]) -> list[CheckpointFile]:
    """Checkpoint files in the folders (not recursive), sorted by folder order then name."""
    found: list[CheckpointFile] = []
    for folder in folders:
        try:
            paths = sorted(p for p in folder.iterdir() if p.suffix == CHECKPOINT_SUFFIX and p.is_file())
        except OSError:  # missing or unreadable folder: nothing to list there
            continue
        for path in paths:
            try:
                found.append(CheckpointFile(path, path.stat().st_mtime))
            except OSError:
                continue
    return found
