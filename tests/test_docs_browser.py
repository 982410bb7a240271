"""The built documentation site, opened in headless Chromium as a reader would: every
page at desktop (1400 px) and phone (390 px) width loads with no console error and no
failed request, nothing runs past the main column outside a scrolling container, no
table hides columns at desktop width and no figure is shown at less than 0.9 of its
size (the width a high-resolution image declares, else its pixel width); the index, the API reference and a notebook page show their content.
Screenshots are saved (in ``NOVOGRAD_REF_SCREENSHOTS`` if set), with ``figures.tsv``:
each figure's page, source, shown width, size and pixel width at desktop width.

Chromium is driven over the DevTools protocol on a pipe (``--remote-debugging-pipe``),
so no Python package beyond the standard library is needed. Chromium is a system
package that no extra can install: where it or the docs extra is missing, the tests
skip with the reason (``apt-get install chromium`` makes them run).
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from .conftest import DOCS_MISSING as MISSING

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
PAGES = {
    "index": ("index.html", "novograd-ref"),
    "api": ("api/optimizer.html", "novograd_ref.novograd"),
    "notebook": ("_generated/notebooks/03_porting_novograd.html", "Porting NovoGrad"),
}
# Every page of the site but the highlighted source listings (_modules/), at a desktop
# and a phone width (CSS pixels).
WIDTHS = {"desktop": 1400, "phone": 390}
# At desktop width every figure is shown at this fraction of its size or more: sized for
# the main column, so that its text reads at 1x.
FIGURE_FIT = 0.9

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="no Chromium here (apt-get install chromium)"),
    pytest.mark.skipif(shutil.which("bash") is None, reason="no bash here to start Chromium"),
    pytest.mark.skipif(bool(MISSING), reason=f"the docs extra is not installed: {MISSING}"),
]


def _high(fd: int) -> int:
    """``fd`` moved to a number above 9, clear of the descriptors the shell remaps."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


class Browser:
    """Headless Chromium and one page, over the DevTools protocol on fds 3 and 4."""

    def __init__(self, executable: str, profile: str) -> None:
        self.log = open(Path(profile) / "chromium.log", "wb")  # noqa: SIM115 (closed in close)
        to_chrome_r, self._to_chrome = (_high(fd) for fd in os.pipe())
        self._from_chrome, from_chrome_w = (_high(fd) for fd in os.pipe())
        # bash (which reads descriptors above 9, unlike dash) puts the pipes on the protocol's fixed descriptors 3 and 4
        remap = f'exec "$@" 3<&{to_chrome_r} 4>&{from_chrome_w}'
        self.process = subprocess.Popen(
            ["bash", "-c", remap, "bash", executable, "--headless", "--no-sandbox",
             "--disable-gpu", "--remote-debugging-pipe", f"--user-data-dir={profile}",
             "--no-first-run", "--window-size=1280,1000", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self.log,
            pass_fds=(to_chrome_r, from_chrome_w))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next_id = 0
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self._replies: dict[int, dict[str, Any]] = {}
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:
            target = self.call("Target.createTarget", url="about:blank")["targetId"]
            self.session = self.call("Target.attachToTarget", targetId=target,
                                     flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Log"):
                self.call(f"{domain}.enable", session=True)
        except BaseException:
            self.close()
            raise

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._from_chrome, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                message = json.loads(raw)
                if "id" in message:
                    self._replies[message["id"]] = message
                else:
                    self.events.put(message)

    def call(self, method: str, session: bool = False, timeout: float = 60,
             **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        try:
            os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        except OSError as exc:
            self.log.flush()
            log = Path(self.log.name).read_text(errors="replace")[-3000:]
            raise RuntimeError(f"Chromium (exit status {self.process.poll()}) stopped "
                               f"reading its pipe: {exc}\n{log}") from exc
        deadline = time.monotonic() + timeout
        while self._next_id not in self._replies:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Chromium did not answer {method}")
            time.sleep(0.01)
        reply = self._replies.pop(self._next_id)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return dict(reply.get("result", {}))

    def open(self, url: str, timeout: float = 60) -> list[str]:
        """Load ``url``; the console errors, exceptions and failed loads it caused."""
        while not self.events.empty():
            self.events.get()
        self.call("Page.navigate", session=True, url=url)
        problems: list[str] = []
        deadline, loaded = time.monotonic() + timeout, None
        while loaded is None or time.monotonic() < loaded + 1.0:  # 1 s for late errors
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not finish loading")
            try:
                event = self.events.get(timeout=0.1)
            except queue.Empty:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Page.loadEventFired" and loaded is None:
                loaded = time.monotonic()
            elif method == "Runtime.exceptionThrown":
                problems.append(f"exception: {params['exceptionDetails'].get('text')}")
            elif method == "Runtime.consoleAPICalled" and params["type"] in ("error",
                                                                               "assert"):
                problems.append("console.error: " + " ".join(
                    str(a.get("value", a.get("description"))) for a in params["args"]))
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                entry = params["entry"]
                problems.append(f"{entry['source']}: {entry['text']} {entry.get('url', '')}")
        return problems

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", session=True, expression=expression,
                           returnByValue=True)
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", session=True, format="png")["data"]
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(OSError, TimeoutError, RuntimeError):
                self.call("Browser.close", timeout=10)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_chrome)
        self.log.close()


@pytest.fixture(scope="module")
def browser() -> Any:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        opened = Browser(CHROMIUM, profile)
        try:
            yield opened
        finally:
            opened.close()


# Run in the page: what a reader would see as broken. The main column is furo's
# div.content (the <article> and its margins); an element may extend past it only inside
# a scrolling container (a table's wrapper, a code block), whose scrollbar shows the rest.
CHECK_LAYOUT = r"""(() => {
  const problems = [];
  const main = document.querySelector("div.content") || document.body;
  const box = main.getBoundingClientRect();
  const scrolls = el => {
    for (let e = el.parentElement; e && e !== main; e = e.parentElement) {
      const x = getComputedStyle(e).overflowX;
      if (x === "auto" || x === "scroll") return true;
    }
    return false;
  };
  const describe = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.split(" ")[0] : "")
    + " '" + (el.textContent || el.getAttribute("src") || "").trim().slice(0, 50) + "'";
  for (const el of main.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    if ((r.right > box.right + 1 || r.left < box.left - 1) && !scrolls(el)) {
      problems.push("past the main column by " + Math.round(r.right - box.right) +
                    " px: " + describe(el));
      if (problems.length >= 3) break;
    }
  }
  if (document.documentElement.scrollWidth > window.innerWidth + 1)
    problems.push("the page scrolls sideways: " + document.documentElement.scrollWidth +
                  " px in a " + window.innerWidth + " px window");
  const hidden = [];  // tables that hide some of their columns behind a scrollbar
  for (const wrapper of main.querySelectorAll(".table-wrapper"))
    if (wrapper.scrollWidth > wrapper.clientWidth + 1)
      hidden.push(Math.round(100 * (1 - wrapper.clientWidth / wrapper.scrollWidth)) +
                  "% of a table hidden: " + describe(wrapper.querySelector("tr")));
  const figures = [];
  for (const img of main.querySelectorAll("img")) {
    if (!img.complete || img.naturalWidth === 0) {
      problems.push("an image that did not load: " + img.getAttribute("src"));
      continue;
    }
    // A high-resolution image declares the width it is drawn for (myst-nb copies it from
    // the notebook output's metadata, an <img> gives it in its width attribute): that is
    // its size on the page; an image that declares none is drawn for its pixel width.
    const declared = img.getAttribute("width") || "";
    const size = /^[0-9.]+(px)?$/.test(declared) ? parseFloat(declared) : img.naturalWidth;
    figures.push([img.getAttribute("src"), img.getBoundingClientRect().width, size,
                  img.naturalWidth]);
  }
  return {problems, hidden, figures};
})()"""


def figure_problems(page: str, figures: list[list[Any]]) -> list[str]:
    """The figures of ``page`` (``[src, shown px, size px, pixels]`` each) shown at less
    than :data:`FIGURE_FIT` of their size, or declaring a size under half their pixels
    (drawn for a screen of more than twice the density, their text would be too small;
    a high-resolution figure's pixels are twice its size give or take 2 of rounding)."""
    return ([f"{page}: {src} shown at {shown:.0f} px of its {size:.0f} px"
             for src, shown, size, _ in figures if shown < FIGURE_FIT * size]
            + [f"{page}: {src} declares {size:.0f} px for its {pixels} px"
               for src, _, size, pixels in figures if pixels > 2 * size + 2])


def site_pages(site: Path) -> list[str]:
    return sorted(str(p.relative_to(site)) for p in site.rglob("*.html")
                  if "_modules" not in p.parts)


@pytest.fixture(scope="module")
def pages(site: Path) -> list[str]:
    return site_pages(site)


def test_every_page_fits_and_loads_cleanly_at_desktop_and_phone_width(
        site: Path, browser: Browser, pages: list[str], tmp_path: Path) -> None:
    """Every page, at 1400 and 390 CSS pixels: no console error or failed load, nothing
    past the main column outside a scrolling container, no sideways scrolling of the
    page, every image loaded and, at desktop width, no table hiding columns behind its
    scrollbar and no figure shown at less than 0.9 of its size (where a reader could not
    read it without clicking)."""
    problems, figures = [], []
    shots = Path(os.environ.get("NOVOGRAD_REF_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    try:
        for name, width in WIDTHS.items():
            browser.call("Emulation.setDeviceMetricsOverride", session=True, width=width,
                         height=1000, deviceScaleFactor=1, mobile=width < 500)
            for page in pages:
                found = [f"{page} at {width} px: {p}"
                         for p in browser.open((site / page).as_uri())]
                layout = browser.evaluate(CHECK_LAYOUT)
                found += [f"{page} at {width} px: {p}" for p in layout["problems"]]
                if name == "desktop":
                    found += figure_problems(page, layout["figures"])
                    figures += ["\t".join(map(str, [page, *f])) for f in layout["figures"]]
                    found += [f"{page} at {width} px: {p}" for p in layout["hidden"]]
                if found or page in ("index.html", "user-guide/variant-matrix.html"):
                    browser.screenshot(shots / f"{name}-{page.replace('/', '_')}.png")
                problems += found
    finally:
        browser.call("Emulation.clearDeviceMetricsOverride", session=True)
        (shots / "figures.tsv").write_text("".join(f"{row}\n" for row in figures))
    assert problems == []


def test_figure_problems_flag_shrunk_and_overdense_figures() -> None:
    fine = ["a.png", 731.0, 731.0, 1463]  # shown at its size, drawn at 2x (rounded)
    shrunk = ["b.png", 740.0, 1300.0, 1300]
    overdense = ["c.png", 720.0, 720.0, 2160]
    assert figure_problems("p", [fine]) == []
    assert figure_problems("p", [shrunk, overdense]) == [
        "p: b.png shown at 740 px of its 1300 px", "p: c.png declares 720 px for its 2160 px"]


@pytest.mark.parametrize("page", sorted(PAGES))
def test_page_loads_cleanly_in_chromium(page: str, site: Path, browser: Browser,
                                        tmp_path: Path) -> None:
    file, expected = PAGES[page]
    problems = browser.open((site / file).as_uri())
    assert problems == [], f"{file}: {problems}"
    assert expected in browser.evaluate("document.body.innerText")
    # the theme's stylesheet applied: the sidebar is laid out beside the content
    assert browser.evaluate("document.querySelector('.sidebar-drawer') !== null && "
                            "document.querySelector('.sidebar-drawer').offsetWidth > 100")
    assert browser.evaluate("document.querySelectorAll('img').length === "
                            "[...document.querySelectorAll('img')].filter("
                            "i => i.complete && i.naturalWidth > 0).length")
    out = Path(os.environ.get("NOVOGRAD_REF_SCREENSHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    browser.screenshot(out / f"{page}.png")
    assert (out / f"{page}.png").stat().st_size > 10_000
