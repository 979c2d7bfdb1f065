"""The report in a real browser: headless Chromium at a laptop and a phone width.

Chromium is driven through its DevTools protocol over ``--remote-debugging-pipe`` (file
descriptors 3 and 4, NUL-separated JSON), with the standard library only. For each width
the page is loaded with device emulation (the phone as a mobile viewport, so the page's
``<meta name="viewport">`` applies), and the test checks that every ``<img>`` decoded
(``naturalWidth > 0``), that nothing is wider than the viewport, and that the page asked the
network for nothing. Screenshots of the whole page are saved (into ``$LRLAB_SCREENSHOT_DIR``
when set, e.g. for CI artefacts).

Run as a script to screenshot any report (how ``docs/report-screenshot.png`` is made)::

    python tests/test_browser.py runs/demo/report.html docs/report-screenshot.png [WIDTH HEIGHT]
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDTHS = {"laptop": (1280, 800, False), "phone": (390, 844, True)}

# What the page reports about itself once loaded.
PROBE = """JSON.stringify({
  width: window.innerWidth,
  scrollWidth: document.documentElement.scrollWidth,
  height: document.documentElement.scrollHeight,
  images: [...document.images].map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0,
                                          shown: i.getBoundingClientRect().width})),
  overflowing: [...document.querySelectorAll('body *')]
      .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1
                   && !e.closest('.table-wrap, pre'))
      .map(e => e.tagName + (e.className ? '.' + e.className : '')).slice(0, 5)
})"""


def find_chromium() -> str | None:
    explicit = os.environ.get("LRLAB_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return next((p for p in map(shutil.which, CANDIDATES) if p), None)


class Chromium:
    """A headless Chromium driven over the DevTools pipe (one tab)."""

    def __init__(self, binary: str, *, timeout: float = 60.0) -> None:
        self.timeout = timeout
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        # The child must see our command pipe as fd 3 and its answer pipe as fd 4: park the
        # ends above 10 first so that dup2 cannot clobber one with the other.
        child_in = fcntl.fcntl(to_r, fcntl.F_DUPFD, 10)
        child_out = fcntl.fcntl(from_w, fcntl.F_DUPFD, 10)
        os.close(to_r)
        os.close(from_w)

        def wire() -> None:
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        self.profile = tempfile.mkdtemp(prefix="lrlab-chromium-")
        args = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-extensions", "--hide-scrollbars",
            f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            args,
            pass_fds=(3, 4),
            preexec_fn=wire,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(child_in)
        os.close(child_out)
        self.w, self.r = to_w, from_r
        self.buf = b""
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        self.session = attached["sessionId"]
        self.send("Page.enable", session=True)
        self.send("Network.enable", session=True)

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self.r], [], [], left)
            if ready:
                chunk = os.read(self.r, 1 << 20)
                if not chunk:
                    raise RuntimeError("Chromium closed the DevTools pipe")
                self.buf += chunk
        line, self.buf = self.buf.split(b"\0", 1)
        return json.loads(line)

    def send(self, method: str, params: dict | None = None, *, session: bool = False) -> Any:
        self.next_id += 1
        msg: dict[str, Any] = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        os.write(self.w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._message(deadline)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer["result"]
            self.events.append(answer)

    def wait_for(self, event: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        for i, e in enumerate(self.events):
            if e.get("method") == event:
                return self.events.pop(i)
        while True:
            msg = self._message(deadline)
            if msg.get("method") == event:
                return msg
            self.events.append(msg)

    def load(self, url: str, width: int, height: int, mobile: bool) -> dict[str, Any]:
        """Open ``url`` at this viewport; the page's probe results once loaded."""
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile},
            session=True,
        )
        self.events.clear()
        self.send("Page.navigate", {"url": url}, session=True)
        self.wait_for("Page.loadEventFired")
        value = self.send(
            "Runtime.evaluate", {"expression": PROBE, "returnByValue": True}, session=True
        )
        return json.loads(value["result"]["value"])

    def requests(self) -> list[str]:
        return [
            e["params"]["request"]["url"]
            for e in self.events
            if e.get("method") == "Network.requestWillBeSent"
        ]

    def screenshot(self, path: Path, width: int, height: int) -> Path:
        shot = self.send(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1},
            },
            session=True,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.send("Browser.close")
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # the process this test started, by its handle
            self.proc.wait()
        os.close(self.w)
        os.close(self.r)
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def screenshot_report(report: Path, out: Path, width: int = 1280, height: int = 2000) -> Path:
    """A PNG of the top ``height`` pixels of ``report`` at ``width`` (for the docs)."""
    binary = find_chromium()
    if binary is None:
        raise SystemExit("headless Chromium not found (set LRLAB_CHROMIUM)")
    with Chromium(binary) as browser:
        page = browser.load(report.resolve().as_uri(), width, 900, mobile=False)
        return browser.screenshot(out, width, min(height, page["height"]))


# --------------------------------------------------------------------------- the test


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        pytest.skip(
            "headless Chromium not found (looked for "
            f"{', '.join(CANDIDATES)}; Debian: apt-get install chromium; or set LRLAB_CHROMIUM)"
        )
    return binary


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    from fixtures.runs import tiny_experiment, write_range_test_dir
    from lrlab.report import write_report

    root = tmp_path_factory.mktemp("browser")
    write_range_test_dir(root / "range-test")
    tiny_experiment(root, name="one-cycle-vs-a-constant-lr-with-a-long-name")
    return write_report(root)


@pytest.fixture(scope="module")
def rendered(chromium, report, tmp_path_factory) -> dict[str, tuple[dict, list[str], Path]]:
    """The report loaded at every width in one browser: (probe, requests, screenshot)."""
    shots = tmp_path_factory.mktemp("screenshots")
    out = {}
    with Chromium(chromium) as browser:
        for device, (width, height, mobile) in WIDTHS.items():
            page = browser.load(report.resolve().as_uri(), width, height, mobile)
            shot = browser.screenshot(shots / f"report-{device}.png", width, page["height"])
            out[device] = (page, browser.requests(), shot)
    keep = os.environ.get("LRLAB_SCREENSHOT_DIR")
    if keep:
        for _, _, shot in out.values():
            shutil.copy(shot, Path(keep) / shot.name)
    return out


@pytest.mark.parametrize("device", sorted(WIDTHS))
def test_report_renders_every_figure_and_fits_the_screen(rendered, device):
    width = WIDTHS[device][0]
    page, requests, shot = rendered[device]
    assert page["images"], "no figure in the report"
    broken = [img["alt"] for img in page["images"] if not img["ok"]]
    assert broken == [], f"figures that did not load: {broken}"
    # Figures shrink to the column: none is drawn wider than the screen.
    assert all(0 < img["shown"] <= width for img in page["images"])
    assert page["width"] == width, page  # the viewport meta tag is honoured on a phone
    assert page["scrollWidth"] <= width, f"page wider than the screen: {page['overflowing']}"
    assert page["overflowing"] == []
    # Self-contained: the only thing loaded is the file itself (figures are data: URIs).
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert shot.stat().st_size > 10_000


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    size = [int(v) for v in sys.argv[3:5]]
    print(screenshot_report(Path(sys.argv[1]), Path(sys.argv[2]), *size))
