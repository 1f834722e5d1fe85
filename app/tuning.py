"""Process-wide settings that keep the app responsive; applied once per server process."""

from __future__ import annotations

import gc
import os
import sys
import threading

import torch

_freeze_lock = threading.Lock()
_modules_when_frozen = 0


def freeze_imported_objects() -> None:
    """Exempt the objects of every module imported so far from garbage collection; cheap when nothing is new.

    Without this, the collections that every rerun's allocations trigger keep walking those long-lived objects:
    in Chromium on a busy 2-core machine, keypress → new digit went from ~160 ms to ~40 ms with the first freeze.
    Called after the imports of every script run, and again when the page has run: the first training run imports
    about 2,100 more modules (torch.optim pulls in torch._dynamo and sympy; the digits and the k-NN metric pull in
    scikit-learn, scipy and pandas), 210,000 long-lived objects that made every later full collection take ~170 ms
    holding the GIL, so ten sessions' slider presses went from 10 ms to 780 ms until the server restarted. Garbage
    is collected first (except on the server's first run, to keep the cold start short), so only live objects are
    frozen; later garbage is still collected as usual.
    """
    global _modules_when_frozen
    with _freeze_lock:
        if len(sys.modules) == _modules_when_frozen:
            return
        if _modules_when_frozen:
            gc.collect()
        gc.freeze()
        _modules_when_frozen = len(sys.modules)


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
