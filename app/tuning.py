"""Process-wide settings that keep the app responsive; applied once per server process."""

from __future__ import annotations

import functools
import gc
import os

import torch


@functools.cache
def freeze_imported_objects() -> None:
    """Exempt everything allocated so far (torch, plotly, streamlit: about a million objects) from garbage collection.

    Without this, the collections that every rerun's allocations trigger keep walking those long-lived objects:
    in Chromium on a busy 2-core machine, keypress → new digit went from ~160 ms to ~40 ms with it.
    Called once, after the imports, so later garbage is still collected as usual.
    """
    gc.freeze()


def limit_torch_threads() -> None:
    """One intra-op thread per script run (override with $AAE_TORCH_THREADS).

    The app's networks are small, so a second thread saves little; but when the cores are busy (other sessions,
    other programs) torch's thread team waits for a free core at every operation. Measured on a loaded 2-core
    machine: 3 epochs of digits training 40 s with two threads, 0.4 s with one. Called on every run, since
    Streamlit runs scripts in fresh threads and the setting is per thread.
    """
    threads = int(os.environ.get("AAE_TORCH_THREADS") or 1)
    if torch.get_num_threads() != threads:
        torch.set_num_threads(max(1, threads))
