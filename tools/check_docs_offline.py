"""Check that the built docs read right offline, in a real (headless) browser.

The docs exist to explain maths, so the maths must render on a machine with no
network. This script opens pages of a built HTML site in headless Chromium with the
network blocked and fails when

* an equation stays unrendered: raw ``\\(``, ``\\[`` or ``$$`` text left in the page,
  a Sphinx math element with no MathJax output in it, a MathJax error, or no MathJax
  output at all on a page that has maths;
* the page requests anything from outside the site (a CDN script, a web font, a
  stylesheet), or a file of the site fails to load (a web font included).

Usage (from the repository root)::

    TINYMIN_QUICK=1 sphinx-build -W --keep-going -q -b html docs docs/_build/html
    python tools/check_docs_offline.py docs/_build/html
    python tools/check_docs_offline.py --build        # the quick build first, then the check
    python tools/check_docs_offline.py docs/_build/html --screenshot /tmp/shots

How: Chromium runs with ``--remote-debugging-port`` and this script speaks the Chrome
DevTools Protocol to it over a websocket (a minimal client, standard library only).
Every request the page makes is paused by the protocol's ``Fetch`` domain: requests
for the site go on, any other is recorded and failed. The browser is also started with
a proxy that does not exist and a host resolver that resolves nothing, so that nothing
can leave the machine even if a request slipped past the protocol. Each page is opened
twice: served over HTTP from ``127.0.0.1`` (a web server) and as a ``file://`` URL (a
learner opening ``index.html`` from disk).

Every HTML page of the site is also scanned, without a browser, for ``src``/``href``
of scripts, stylesheets, images and fonts that point outside the site.

Exit status: 0 when every check passed, 1 when one failed, 0 with a ``SKIPPED`` line
when no Chromium is installed (``apt-get install chromium`` on Debian/Ubuntu;
``--require-browser`` makes that an error).
"""

from __future__ import annotations

import argparse
import base64
import functools
import http.server
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PAGES = ("guides/minconv_math.html", "auto_tutorials/07_minconv_algorithm1.html")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PAGE_TIMEOUT_S = 60.0


# -- A minimal websocket client (RFC 6455), enough for the DevTools protocol ---------


class WebSocket:
    """Text frames over one TCP connection; client frames are masked, as required."""

    def __init__(self, url: str, timeout: float = 30.0):
        parts = urllib.parse.urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
                   "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                   f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
        self.sock.sendall(request.encode())
        response = b""
        while b"\r\n\r\n" not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("websocket handshake: connection closed")
            response += chunk
        head, self.buffer = response.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n", 1)[0]:
            raise ConnectionError(f"websocket handshake refused: {head[:200]!r}")

    def send(self, text: str) -> None:
        payload = text.encode()
        header = bytearray([0x81])  # FIN + text frame
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(bytes(header) + mask + masked)

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buffer)))
            if not chunk:
                raise ConnectionError("websocket closed by the browser")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def recv(self) -> str:
        """The next complete text message (control frames are answered or skipped)."""
        message = b""
        while True:
            b0, b1 = self._read(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            payload = self._read(n)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            opcode = b0 & 0x0F
            if opcode == 0x8:
                raise ConnectionError("websocket closed by the browser")
            if opcode in (0x9, 0xA):  # ping / pong: nothing to do for this client
                continue
            message += payload
            if b0 & 0x80:
                return message.decode()

    def close(self) -> None:
        self.sock.close()


class DevTools:
    """Commands and events of one page target of the Chrome DevTools Protocol.

    Every event goes to ``handler`` as soon as it is read, whatever command is being
    awaited: a paused request must be answered before, for example, ``Page.navigate``
    can answer.
    """

    def __init__(self, ws_url: str):
        self.ws = WebSocket(ws_url)
        self.next_id = 0
        self.results: dict[int, dict] = {}
        self.handler = lambda event: None

    def send(self, method: str, **params) -> int:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        return self.next_id

    def pump(self, timeout: float) -> bool:
        """Read and dispatch one message; False when none came within ``timeout`` s."""
        self.ws.sock.settimeout(timeout)
        try:
            message = json.loads(self.ws.recv())
        except (socket.timeout, TimeoutError):
            return False
        finally:
            self.ws.sock.settimeout(PAGE_TIMEOUT_S)
        if "id" in message:
            self.results[message["id"]] = message
        else:
            self.handler(message)
        return True

    def wait_result(self, my_id: int, timeout: float = PAGE_TIMEOUT_S) -> dict | None:
        """The answer to command ``my_id`` (events are handled meanwhile); None on timeout."""
        deadline = time.monotonic() + timeout
        while my_id not in self.results:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.pump(min(left, 1.0))
        message = self.results.pop(my_id)
        if "error" in message:
            raise RuntimeError(f"DevTools: {message['error']}")
        return message.get("result", {})

    def call(self, method: str, timeout: float = PAGE_TIMEOUT_S, **params) -> dict:
        result = self.wait_result(self.send(method, **params), timeout)
        if result is None:
            raise TimeoutError(f"{method}: no answer in {timeout:.0f} s")
        return result


# -- The browser ---------------------------------------------------------------------


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def start_browser(binary: str, profile: str) -> tuple[subprocess.Popen, str]:
    """Headless Chromium with no network; returns the process and the page's ws URL."""
    args = [
        binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
        f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-extensions", "--window-size=1280,1600",
        # Nothing leaves the machine: a proxy that does not exist, names that never resolve.
        "--proxy-server=http://127.0.0.1:9",  # loopback (the local server) bypasses it
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "about:blank",
    ]
    log = Path(profile) / "chromium.log"  # a file, not a pipe that nobody reads and fills
    with open(log, "wb") as log_file:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log_file)
    port_file = Path(profile) / "DevToolsActivePort"
    deadline = time.monotonic() + 60
    while not (port_file.is_file() and port_file.read_text().count("\n") >= 1):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            err = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{binary} did not start its DevTools server\n{err}")
        time.sleep(0.1)
    port = int(port_file.read_text().split()[0])
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # ignore *_proxy
    with no_proxy.open(f"http://127.0.0.1:{port}/json/list", timeout=30) as response:
        targets = json.load(response)
    pages = [t for t in targets if t.get("type") == "page"]
    if not pages:
        proc.kill()
        raise RuntimeError("the browser has no page target")
    return proc, pages[0]["webSocketDebuggerUrl"]


# -- What is checked in each page, inside the browser --------------------------------

# Text nodes outside code, scripts and MathJax's own output that still hold TeX
# delimiters; Sphinx math elements without MathJax output; MathJax errors; web fonts.
DOM_REPORT_JS = r"""
(() => {
  const skip = 'pre, code, script, style, textarea, mjx-container, .highlight, .sphx-glr-script-out';
  const raw = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.nodeValue;
    if (!/\\\(|\\\[|\$\$/.test(text)) continue;
    if (node.parentElement && node.parentElement.closest(skip)) continue;
    raw.push(text.trim().slice(0, 120));
  }
  const mathElements = Array.from(document.querySelectorAll('.math'));
  const unrendered = mathElements.filter(e => !e.querySelector('mjx-container'))
                                 .map(e => e.textContent.trim().slice(0, 120));
  const errors = Array.from(document.querySelectorAll('mjx-merror, [data-mjx-error]'))
                      .map(e => (e.getAttribute('data-mjx-error') || e.textContent).slice(0, 120));
  const fonts = [];
  document.fonts.forEach(f => fonts.push([f.family, f.status]));
  return JSON.stringify({
    raw, unrendered, errors, fonts,
    math_elements: mathElements.length,
    mathjax_output: document.querySelectorAll('mjx-container').length,
    mathjax_loaded: !!(window.MathJax && window.MathJax.startup),
    title: document.title,
  });
})()
"""

# Resolves once MathJax has typeset the page (at once when the page loads no MathJax).
MATHJAX_READY_JS = r"""
new Promise(resolve => {
  const start = Date.now();
  (function poll() {
    const mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) {
      mj.startup.promise.then(() => document.fonts.ready).then(() => resolve('typeset'));
    } else if (!document.querySelector('script[src*="mathjax" i]') || Date.now() - start > 15000) {
      resolve('no MathJax');
    } else {
      setTimeout(poll, 100);
    }
  })();
})
"""


def inside_site(url: str, site_prefixes: tuple[str, ...]) -> bool:
    if url.startswith(("data:", "blob:", "about:")):
        return True
    return url.startswith(site_prefixes)


def check_page(devtools: DevTools, url: str, site_prefixes: tuple[str, ...],
               screenshot: Path | None, expect_math: bool = True) -> list[str]:
    """Open ``url`` with the network blocked; a list of problems (empty: all good)."""
    problems: list[str] = []
    outside: list[str] = []
    failed: list[str] = []
    requested: dict[str, str] = {}
    loaded = False

    def handle(event: dict) -> None:
        nonlocal loaded
        method, params = event.get("method"), event.get("params", {})
        if method == "Fetch.requestPaused":
            request_url = params["request"]["url"]
            if inside_site(request_url, site_prefixes):
                devtools.send("Fetch.continueRequest", requestId=params["requestId"])
            else:
                outside.append(request_url)
                devtools.send("Fetch.failRequest", requestId=params["requestId"],
                              errorReason="InternetDisconnected")
        elif method == "Network.requestWillBeSent":
            requested[params["requestId"]] = params["request"]["url"]
        elif method == "Network.loadingFailed":
            failed_url = requested.get(params["requestId"], "?")
            if inside_site(failed_url, site_prefixes) and not params.get("canceled"):
                failed.append(f"{failed_url} ({params.get('errorText')})")
        elif method == "Page.loadEventFired":
            loaded = True

    devtools.handler = handle
    deadline = time.monotonic() + PAGE_TIMEOUT_S
    devtools.call("Page.navigate", url=url)
    while not loaded and time.monotonic() < deadline:
        devtools.pump(1.0)
    if not loaded:
        return [f"{url}: the page did not finish loading in {PAGE_TIMEOUT_S:.0f} s"]

    # Wait until MathJax has typeset the page (its components and fonts are requested,
    # and answered by ``handle``, meanwhile).
    ready = devtools.send("Runtime.evaluate", expression=MATHJAX_READY_JS, awaitPromise=True,
                          returnByValue=True)
    if devtools.wait_result(ready, max(1.0, deadline - time.monotonic())) is None:
        problems.append(f"{url}: MathJax did not finish typesetting in {PAGE_TIMEOUT_S:.0f} s")
    # A short quiet period for the last requests (late fonts), still answered.
    quiet_until = time.monotonic() + 1.0
    while time.monotonic() < quiet_until:
        devtools.pump(0.2)

    result = devtools.call("Runtime.evaluate", expression=DOM_REPORT_JS, returnByValue=True)
    report = json.loads(result["result"]["value"])
    name = url.rsplit("/", 1)[-1]
    if report["math_elements"] == 0 and expect_math:
        problems.append(f"{name}: no maths found on the page (is this the right page?)")
    if report["math_elements"] and report["mathjax_output"] == 0:
        problems.append(f"{name}: {report['math_elements']} equations and no MathJax output "
                        f"(MathJax loaded: {report['mathjax_loaded']})")
    for text in report["unrendered"][:5]:
        problems.append(f"{name}: equation left unrendered: {text!r}")
    for text in report["raw"][:5]:
        problems.append(f"{name}: raw TeX delimiters in the page text: {text!r}")
    for text in report["errors"][:5]:
        problems.append(f"{name}: MathJax error: {text!r}")
    for family, status in report["fonts"]:
        if status == "error":
            problems.append(f"{name}: web font {family!r} failed to load")
    for request_url in sorted(set(outside)):
        problems.append(f"{name}: request outside the site (blocked): {request_url}")
    for text in sorted(set(failed)):
        problems.append(f"{name}: a file of the site failed to load: {text}")
    print(f"  {name}: {report['math_elements']} equations, {report['mathjax_output']} rendered "
          f"by MathJax, {len(requested)} requests, {len(set(outside))} outside the site")

    if screenshot is not None:
        shot = devtools.call("Page.captureScreenshot", format="png")
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        print(f"  screenshot: {screenshot}")
    return problems


# -- The static scan of every page ----------------------------------------------------

# src/href of what a browser loads by itself (not plain links a reader may follow).
LOADED_RESOURCE = re.compile(
    r"<(?:script|img|source|iframe|embed)\b[^>]*\bsrc=[\"']([^\"']+)"
    r"|<link\b(?=[^>]*\brel=[\"'](?:stylesheet|preload|modulepreload|icon|prefetch|preconnect)[\"'])"
    r"[^>]*\bhref=[\"']([^\"']+)"
    r"|@import\s+(?:url\()?[\"']?([^\"')\s;]+)"
    r"|url\(\s*[\"']?((?:https?:)?//[^\"')]+)", re.IGNORECASE)


def static_scan(html_dir: Path) -> list[str]:
    problems = []
    files = list(html_dir.rglob("*.html")) + [p for p in html_dir.rglob("*.css")
                                               if "mathjax" not in p.parts]
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in LOADED_RESOURCE.finditer(text):
            target = next(g for g in match.groups() if g)
            if re.match(r"(?:[a-z][a-z0-9+.-]*:)?//", target, re.IGNORECASE) and not \
                    target.lower().startswith("data:"):
                problems.append(f"{path.relative_to(html_dir)}: loads {target}")
    print(f"static scan: {len(files)} HTML and CSS files, "
          f"{len(problems)} references to resources outside the site")
    return problems


# -- Main ------------------------------------------------------------------------------


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # noqa: D102 (keep the output short)
        pass


def build_quick_docs(html_dir: Path) -> None:
    env = dict(os.environ, TINYMIN_QUICK="1")
    command = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
               str(ROOT / "docs"), str(html_dir)]
    print("building the quick docs:", " ".join(command))
    subprocess.run(command, check=True, env=env, cwd=ROOT)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html_dir", nargs="?", default=str(ROOT / "docs" / "_build" / "html"),
                        help="the built HTML site (default: docs/_build/html)")
    parser.add_argument("--build", action="store_true",
                        help="build the quick docs into HTML_DIR first (TINYMIN_QUICK=1)")
    parser.add_argument("--page", action="append", dest="pages",
                        help="a page to open, relative to HTML_DIR (default: "
                        f"{', '.join(DEFAULT_PAGES)}, which must have maths)")
    parser.add_argument("--screenshot", metavar="DIR",
                        help="save a PNG of each page (as served over HTTP) in DIR")
    parser.add_argument("--require-browser", action="store_true",
                        help="fail, instead of skipping, when no Chromium is installed")
    args = parser.parse_args(argv)

    html_dir = Path(args.html_dir).resolve()
    if args.build:
        build_quick_docs(html_dir)
    if not (html_dir / "index.html").is_file():
        print(f"{html_dir}/index.html not found: build the docs first, or pass --build")
        return 1
    problems = static_scan(html_dir)

    binary = find_browser()
    if binary is None:
        message = ("no Chromium found (looked for " + ", ".join(BROWSERS) + "); install it with "
                   "'apt-get install chromium' to check the maths in a browser")
        if args.require_browser:
            print("FAILED:", message)
            return 1
        print("SKIPPED: browser check:", message)
        return 1 if problems else 0

    pages = args.pages or list(DEFAULT_PAGES)
    shots = Path(args.screenshot) if args.screenshot else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(html_dir)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    http_root = f"http://127.0.0.1:{server.server_address[1]}/"
    file_root = html_dir.as_uri() + "/"
    profile = tempfile.mkdtemp(prefix="tinymin-docs-chromium-")
    proc = None
    try:
        try:
            proc, ws_url = start_browser(binary, profile)
        except (RuntimeError, OSError) as exc:
            print(f"FAILED: could not start {binary}: {exc}")
            return 1
        devtools = DevTools(ws_url)
        devtools.call("Page.enable")
        devtools.call("Network.enable")
        devtools.call("Network.setCacheDisabled", cacheDisabled=True)
        devtools.call("Fetch.enable", patterns=[{"urlPattern": "*"}])
        print(f"browser: {binary}, network blocked")
        for root, label in ((http_root, "served over HTTP"), (file_root, "opened from disk")):
            print(f"pages {label} ({root}):")
            for page in pages:
                if not (html_dir / page).is_file():
                    problems.append(f"{page}: not in {html_dir}")
                    continue
                shot = None
                if shots and root == http_root:
                    shot = shots / (page.replace("/", "_").replace(".html", ".png"))
                problems += check_page(devtools, root + page, (http_root, file_root), shot,
                                       expect_math=page in DEFAULT_PAGES)
        devtools.ws.close()
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)

    if problems:
        print(f"FAILED: {len(problems)} problems")
        for problem in problems:
            print("  -", problem)
        return 1
    print("OK: every equation rendered, nothing requested from outside the site")
    return 0


if __name__ == "__main__":
    sys.exit(main())
