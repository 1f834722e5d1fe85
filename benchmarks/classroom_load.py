"""A classroom on one server: N sessions pressing the Sliders page's z1 slider at once, before and after a Train
live run. A benchmark to print, not a timed test.

    python benchmarks/classroom_load.py                          # 10 and 30 sessions, the shipped checkpoints
    python benchmarks/classroom_load.py --sessions 10 30 60 --presses 20 --browser 3

Each session speaks Streamlit's websocket protocol as a browser does: it opens the Sliders page, then sends the
rerun message a slider change sends (the new value of z1) and, when the run has finished, fetches the decoded
digit's image from the server; the time from sending to having the image is one interaction. Sessions pause 50–150
ms between presses, as a student's do. Printed per phase: p50 / p95 per interaction, errors (timeouts, app
exceptions, failed image fetches), the server's CPU time per interaction and its RSS per extra open session. Then
one session submits the Train live form with its defaults, and the phases run again on the same server.
`--browser K` adds K Chromium pages pressing the arrow key on z1 at the same time (keypress to new image).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

REPO = Path(__file__).resolve().parents[1]
MODEL = "aae-2d-mixture"
PAGE_TIMEOUT_S = 120.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU time of the server process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def server_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class RunResult:
    """What one script run sent back: widget ids by label, media URLs, whether it raised."""

    widgets: dict[str, str] = field(default_factory=dict)
    fragments: dict[str, str] = field(default_factory=dict)  # widget id -> the fragment it is drawn in
    images: list[str] = field(default_factory=list)
    pages: dict[str, str] = field(default_factory=dict)
    exception: str = ""


class Session:
    """One browser tab's websocket session with the app."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.ws = None
        self.page_hash = ""
        self.pages: dict[str, str] = {}
        self.query = ""
        self.slider = ""  # the z1 slider's widget id, once the Sliders page is open
        self.slider_fragment = ""  # and the fragment it is drawn in, if any

    async def open(self, url_path: str, query: str) -> RunResult:
        self.ws = await websockets.connect(
            self.base.replace("http", "ws") + "/_stcore/stream", subprotocols=["streamlit"], max_size=None
        )
        self.query = query
        first = await self.rerun(page_name=url_path)
        self.pages = first.pages
        self.page_hash = self.pages.get(url_path, "")
        return first if not url_path else await self.rerun()

    async def rerun(
        self, widget_values: dict[str, object] | None = None, page_name: str = "", fragment: str = ""
    ) -> RunResult:
        """Send a rerun with these widget values (by id) and read messages until the run has finished.

        With `fragment`, only that fragment reruns: what a browser sends for a widget drawn inside a fragment.
        """
        message = BackMsg()
        state = message.rerun_script
        state.query_string = self.query
        if fragment:
            state.fragment_id = fragment
        if self.page_hash:
            state.page_script_hash = self.page_hash
        elif page_name:
            state.page_name = page_name
        for widget_id, value in (widget_values or {}).items():
            widget = state.widget_states.widgets.add()
            widget.id = widget_id
            if value is True:
                widget.trigger_value = True
            else:
                widget.double_array_value.data.extend([float(value)])
        await self.ws.send(message.SerializeToString())
        result = RunResult()
        while True:
            forward = ForwardMsg()
            forward.ParseFromString(await asyncio.wait_for(self.ws.recv(), PAGE_TIMEOUT_S))
            kind = forward.WhichOneof("type")
            if kind == "navigation":
                result.pages = {p.url_pathname: p.page_script_hash for p in forward.navigation.app_pages}
            elif kind == "delta" and forward.delta.WhichOneof("type") == "new_element":
                element = forward.delta.new_element
                which = element.WhichOneof("type")
                if which == "exception":
                    result.exception = element.exception.message or element.exception.type
                elif which == "imgs":
                    result.images += [image.url for image in element.imgs.imgs]
                elif which in ("slider", "button"):
                    widget = getattr(element, which)
                    result.widgets[widget.label] = widget.id
                    if forward.delta.fragment_id:
                        result.fragments[widget.id] = forward.delta.fragment_id
            elif kind == "script_finished":
                return result

    async def fetch(self, url: str) -> int:
        def get() -> int:
            with urllib.request.urlopen(self.base + url if url.startswith("/") else url, timeout=30) as response:
                return len(response.read())

        return await asyncio.to_thread(get)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


async def press_sliders(base: str, sessions: int, presses: int, seed: int) -> tuple[list[float], int, list[Session]]:
    """`sessions` sessions each press z1 `presses` times; returns the interaction times, the errors, the sessions."""
    opened = await asyncio.gather(*(open_sliders(base) for _ in range(sessions)), return_exceptions=True)
    live = [s for s in opened if isinstance(s, Session)]
    errors = sessions - len(live)
    times: list[float] = []
    shown: set[str] = set()

    async def student(session: Session, rng: random.Random) -> None:
        nonlocal errors
        for _ in range(presses):
            await asyncio.sleep(rng.uniform(0.05, 0.15))
            value = round(rng.uniform(-2.5, 2.5), 2)
            started = time.perf_counter()
            try:
                result = await session.rerun({session.slider: value}, fragment=session.slider_fragment)
                if result.exception or not result.images:
                    errors += 1
                    continue
                for url in result.images:
                    await session.fetch(url)
                times.append(time.perf_counter() - started)
                shown.update(result.images)
            except (TimeoutError, OSError, websockets.WebSocketException):
                errors += 1

    await asyncio.gather(*(student(s, random.Random(seed + i)) for i, s in enumerate(live)))
    if times and len(shown) < min(len(times), 10) // 2:  # the server ignored the values: nothing was measured
        raise SystemExit(f"only {len(shown)} different images in {len(times)} presses: z1's value was not applied")
    return times, errors, live


async def open_sliders(base: str) -> Session:
    session = Session(base)
    result = await session.open("sliders", f"model={MODEL}")
    if result.exception or "z1" not in result.widgets:
        raise RuntimeError(f"the Sliders page did not open: {result.exception or 'no z1 slider'}")
    session.slider = result.widgets["z1"]
    session.slider_fragment = result.fragments.get(session.slider, "")
    return session


async def train_live(base: str) -> float:
    """One session submits the Train live form with its defaults; returns the seconds until the run finished."""
    session = Session(base)
    form = await session.open("train", f"model={MODEL}")
    button = next((wid for label, wid in form.widgets.items() if "Train" in label), None)
    if button is None:
        raise RuntimeError("no Train button on the Train live page")
    started = time.perf_counter()
    result = await session.rerun({button: True})
    seconds = time.perf_counter() - started
    await session.close()
    if result.exception:
        raise RuntimeError(f"Train live raised: {result.exception}")
    return seconds


def browser_presses(base: str, pages: int, presses: int) -> list[float]:
    """`pages` Chromium pages pressing the arrow key on z1; keypress → new digit loaded, measured in the page."""
    from playwright.sync_api import sync_playwright

    times: list[float] = []
    with sync_playwright() as playwright:
        chrome = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        tabs = []
        for _ in range(pages):
            tab = chrome.new_page(viewport={"width": 1400, "height": 1000})
            tab.goto(f"{base}/sliders?model={MODEL}&pad=off")  # the server-side sliders: what loads the server
            tab.locator("[data-testid=stImage] img").first.wait_for(timeout=120_000)
            tab.evaluate("""() => {
                window.__down = 0; window.__shown = 0;
                document.addEventListener('keydown', () => { window.__down = performance.now(); }, true);
                document.addEventListener('load', (e) => {
                    if (e.target.tagName === 'IMG') window.__shown = performance.now();
                }, true);
            }""")
            tab.get_by_role("slider", name="z1").focus()
            tabs.append(tab)
        for i in range(presses):
            for tab in tabs:
                tab.evaluate("() => { window.__shown = 0; }")
                tab.keyboard.press("ArrowRight" if (i // 10) % 2 == 0 else "ArrowLeft")
            for tab in tabs:
                tab.wait_for_function("() => window.__shown > window.__down", timeout=60_000)
                times.append(tab.evaluate("() => window.__shown - window.__down") / 1000)
            tabs[0].wait_for_timeout(100)
        chrome.close()
    return times


def start_server(runs: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "AAE_CHECKPOINT_DIRS": str(REPO / "checkpoints"), "AAE_RUNS_DIR": str(runs)}
    command = [sys.executable, "-m", "streamlit", "run", str(REPO / "app" / "streamlit_app.py")]
    command += ["--server.headless", "true", "--server.port", str(port), "--server.fileWatcherType", "none"]
    server = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2):
                return server, base
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not become healthy within 60 s")


def line(phase: str, sessions: int, times: list[float], errors: int, cpu_ms: float, rss_mb: float) -> str:
    if not times:
        return f"| {phase} | {sessions} | – | – | {errors} | – | – |"
    ms = np.array(times) * 1000
    return (
        f"| {phase} | {sessions} | {statistics.median(ms):.0f} | {np.percentile(ms, 95):.0f} | {errors} "
        f"| {cpu_ms:.1f} | {rss_mb:.2f} |"
    )


async def phase(name: str, base: str, pid: int, counts: list[int], presses: int, rows: list[str]) -> None:
    for sessions in counts:
        rss_before, cpu_before = server_rss_mb(pid), server_cpu_seconds(pid)
        times, errors, live = await press_sliders(base, sessions, presses, seed=sessions)
        cpu_ms = 1000 * (server_cpu_seconds(pid) - cpu_before) / max(1, len(times) + errors)
        rss_per_session = (server_rss_mb(pid) - rss_before) / sessions
        await asyncio.gather(*(s.close() for s in live))
        rows.append(line(name, sessions, times, errors, cpu_ms, rss_per_session))
        print(rows[-1], flush=True)


async def main_async(args: argparse.Namespace, pid: int, base: str) -> list[str]:
    rows = ["| phase | sessions | p50 ms | p95 ms | errors | server CPU ms / interaction | RSS MB / session |"]
    rows.append("|---|---|---|---|---|---|---|")
    print("\n".join(rows), flush=True)
    warm = await open_sliders(base)  # the first run loads the model and imports torch: not part of any figure
    await warm.close()
    await phase("before Train live", base, pid, args.sessions, args.presses, rows)
    if not args.skip_training:
        seconds = await train_live(base)
        print(f"Train live (form defaults) finished in {seconds:.1f} s; server RSS {server_rss_mb(pid):.0f} MB")
        await phase("after Train live", base, pid, args.sessions, args.presses, rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, nargs="+", default=[10, 30], help="session counts, one phase each")
    parser.add_argument("--presses", type=int, default=20, help="slider presses per session (default: 20)")
    parser.add_argument("--browser", type=int, default=0, help="Chromium pages pressing keys afterwards (0: none)")
    parser.add_argument("--skip-training", action="store_true", help="no Train live run, no second phase")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as runs:
        server, base = start_server(Path(runs))
        try:
            print(f"server {base}, pid {server.pid}, RSS {server_rss_mb(server.pid):.0f} MB at start; model {MODEL}")
            asyncio.run(main_async(args, server.pid, base))
            if args.browser:
                times = browser_presses(base, args.browser, args.presses)
                ms = np.array(times) * 1000
                print(
                    f"Chromium, {args.browser} pages: keypress → new digit p50 {statistics.median(ms):.0f} ms, "
                    f"p95 {np.percentile(ms, 95):.0f} ms (n={len(ms)})"
                )
            print(f"server RSS at the end {server_rss_mb(server.pid):.0f} MB")
        finally:
            server.terminate()
            server.wait(timeout=20)


if __name__ == "__main__":
    main()
