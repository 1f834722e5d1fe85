"""Where checkpoints are looked for, how they are listed, and how their text is shown (no Streamlit calls).

Folders: the repository's `checkpoints/` (shipped models) and `runs/` (models trained in the app or by the CLI),
or instead the folders in $AAE_CHECKPOINT_DIRS (separated by the OS path separator). In-app training writes to
$AAE_RUNS_DIR, by default `runs/`. A user may name a folder of their own in the sidebar only where the operator
allows it: $AAE_USER_FOLDER_ROOTS (separated by the OS path separator) names the folders under which such a folder
must lie (after resolving symlinks); unset, the sidebar offers no folder input.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT_SUFFIX = ".safetensors"
# The shipped checkpoint a first visit opens (when it is there): the mixture-prior AAE whose discriminator also saw
# the labels (paper Fig. 4), so its map shows ten blobs on a circle, one digit each.
DEFAULT_MODEL = "labelled-prior-2d-mixture"
USER_FOLDER_ROOTS_VARIABLE = "AAE_USER_FOLDER_ROOTS"
# One message for a folder outside the roots, whether or not it exists: a user learns nothing about the server.
FOLDER_REFUSED = "that folder is not inside the folders this server allows"
# Every ASCII punctuation character: CommonMark lets each be escaped, and escaping all of them also stops
# Streamlit's directives (:red[…], :material/…:), math ($…$), emphasis, links, images and HTML.
_MARKDOWN_SPECIALS = re.compile(r"([!-/:-@\[-`{-~])")
# GFM links bare URLs and e-mail addresses after parsing, escaped or not: an invisible word joiner inside their
# "://", "www." and "@" keeps them text.
_AUTOLINK_MARKS = re.compile(r"(:(?=//)|(?i:www)(?=\.)|@)")
WORD_JOINER = "\u2060"
# An absolute path of two or more parts, as error messages of libraries and the OS print them.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~])(?:/[^\s/'\"`]+)+/([^\s/'\"`]+)")


def plain(text: object) -> str:
    """`text` escaped for Streamlit Markdown so that it shows literally, on one line: names, priors, messages."""
    one_line = " ".join(str(text).split())  # a newline would start a new block: a heading, a list, a code block
    unlinked = _AUTOLINK_MARKS.sub(lambda mark: mark.group(1) + WORD_JOINER, one_line)
    return _MARKDOWN_SPECIALS.sub(r"\\\1", unlinked)


def without_server_paths(message: str, path: Path) -> str:
    """`message` with the file's path (as given or resolved) shown as its file name, other paths as theirs."""
    for shown in sorted({str(path), str(path.resolve())}, key=len, reverse=True):
        message = message.replace(shown, path.name)
    return _ABSOLUTE_PATH.sub(r"\1", message)


def runs_dir() -> Path:
    """The user-writable folder that in-app training writes to."""
    return Path(os.environ.get("AAE_RUNS_DIR") or REPO_ROOT / "runs")


def checkpoint_dirs(extra: str | os.PathLike[str] | None = None) -> list[Path]:
    """Folders to list, in order, without duplicates: the configured ones, the runs folder, then `extra` (a folder
    the operator's settings allow: a user's goes through `user_folder` first)."""
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


def find_checkpoints(folders: Sequence[Path], within: Sequence[Path] = ()) -> list[CheckpointFile]:
    """Checkpoint files in the folders (not recursive), sorted by folder order then name.

    With `within` (resolved folders), only files whose real path lies inside one of them: a symlink in a user's
    folder must not open a file elsewhere on the server.
    """
    found: list[CheckpointFile] = []
    for folder in folders:
        try:
            paths = sorted(p for p in folder.iterdir() if p.suffix == CHECKPOINT_SUFFIX and p.is_file())
        except OSError:  # missing or unreadable folder: nothing to list there
            continue
        for path in paths:
            if within and not _inside(path, within):
                continue
            try:
                found.append(CheckpointFile(path, path.stat().st_mtime))
            except OSError:
                continue
    return found


def pick(files: Sequence[CheckpointFile], stem: str | None) -> CheckpointFile:
    """The file a first visit opens: the first named `stem` (a link's ?model=STEM), or with no stem the default
    model's, else the first listed. `files` must not be empty."""
    named = [f for f in files if f.path.stem == (stem or DEFAULT_MODEL)]
    return named[0] if named else files[0]


def user_folder_roots() -> list[Path]:
    """The resolved folders under which a user may name a folder of checkpoints; none unless the operator set some."""
    roots = []
    for entry in os.environ.get(USER_FOLDER_ROOTS_VARIABLE, "").split(os.pathsep):
        if entry.strip():
            try:
                roots.append(Path(entry.strip()).expanduser().resolve())
            except (OSError, RuntimeError, ValueError):  # an unusable entry allows nothing
                continue
    return roots


class FolderRefused(ValueError):
    """A folder the user named that may not be opened; the message is fit to show them."""


def user_folder(text: str, roots: Sequence[Path]) -> Path:
    """The real folder a user named (absolute, or relative to a root), if it is inside one of `roots`."""
    candidate = Path(text.strip())
    tries = [candidate] if candidate.is_absolute() else [root / candidate for root in roots]
    allowed_but_missing = False
    for path in tries:
        try:
            real = path.resolve()
            if not _inside(real, roots, resolved=True):
                continue
            if real.is_dir():
                return real
        except (OSError, RuntimeError, ValueError):  # a symlink loop, a NUL byte, no permission: not opened
            continue
        allowed_but_missing = True  # inside the roots, so saying it is not there tells nothing new
    raise FolderRefused(
        "there is no such folder in the folders this server allows" if allowed_but_missing else FOLDER_REFUSED
    )


def _inside(path: Path, roots: Sequence[Path], resolved: bool = False) -> bool:
    try:
        real = path if resolved else path.resolve()
    except (OSError, RuntimeError, ValueError):
        return False
    return any(real == root or root in real.parents for root in roots)
