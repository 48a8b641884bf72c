#!/usr/bin/env python3
"""Loads loopsim's HTML reports in a real headless Chromium and checks them.

Drives Chromium over the DevTools protocol on a pipe (--remote-debugging-pipe:
commands on fd 3, replies and events on fd 4, each message ending in NUL), with
nothing but the standard library. For every page given:

- it loads with no console error and no uncaught exception, and its script
  ran (body[data-ready]);
- hovering a span (the first span drawn, and on equal_deadline_ties the span
  of sleeper(0) waiting on its 10 ms timer) shows that span's tooltip and its
  events in the info box;
- clicking a task highlights a wake-up chain; switching variants shows that
  variant's picture; zooming into an instant widens the picture;
- the index page (index.html) loads with no error and links every page.

Usage: tools/html_check.py [--chromium PATH] [--screenshots DIR] FILE.html...
Exit status: 0 all pages pass, 1 a check failed, 2 usage or no browser.
"""

import argparse
import base64
import fcntl
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time


class Browser:
    """A headless Chromium driven over the DevTools pipe."""

    def __init__(self, binary):
        self.profile = tempfile.mkdtemp(prefix="loopsim-html-check-")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        # Out of the way of 3 and 4, where the child wants them.
        for name in ("to_chrome_r", "from_chrome_w"):
            fd = locals()[name]
            high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
            os.close(fd)
            if name == "to_chrome_r":
                to_chrome_r = high
            else:
                from_chrome_w = high
        # Chromium reads commands on fd 3 and writes to fd 4.
        self.proc = subprocess.Popen(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--remote-debugging-pipe",
                f"--user-data-dir={self.profile}",
                "--window-size=1300,1000",
                "about:blank",
            ],
            pass_fds=(3, 4),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=lambda: (os.dup2(to_chrome_r, 3), os.dup2(from_chrome_w, 4)),
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buf = b""
        self.next_id = 0
        self.events = []
        self.session = None

    def close(self):
        try:
            self.send("Browser.close", session=False, wait=False)
        except OSError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read(self, deadline):
        while b"\0" not in self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from chromium")
            chunk = os.read(self.from_chrome, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed the pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=True, wait=True, timeout=30):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        if not wait:
            return None
        deadline = time.monotonic() + timeout
        while True:
            m = self._read(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, timeout=30):
        deadline = time.monotonic() + timeout
        for i, m in enumerate(self.events):
            if m.get("method") == method:
                del self.events[i]
                return m
        while True:
            m = self._read(deadline)
            if m.get("method") == method:
                return m
            self.events.append(m)

    def open_page(self):
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send(
            "Target.attachToTarget",
            {"targetId": target["targetId"], "flatten": True},
            session=False,
        )
        self.session = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": 1300, "height": 1000, "deviceScaleFactor": 1, "mobile": False})

    def load(self, url):
        self.events = []
        self.send("Page.navigate", {"url": url})
        self.wait_event("Page.loadEventFired", timeout=60)

    def eval(self, expr):
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"evaluating {expr[:60]!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def mouse(self, kind, x, y, clicks=0):
        params = {"type": kind, "x": x, "y": y, "button": "left" if clicks else "none",
                  "clickCount": clicks}
        self.send("Input.dispatchMouseEvent", params)

    def click(self, x, y):
        self.mouse("mouseMoved", x, y)
        self.mouse("mousePressed", x, y, 1)
        self.mouse("mouseReleased", x, y, 1)

    def errors(self):
        """Console errors and uncaught exceptions seen so far."""
        out = []
        for m in self.events:
            method, p = m.get("method"), m.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:300])
            elif method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                args = [a.get("value", a.get("description", "")) for a in p.get("args", [])]
                out.append("console.error: " + " ".join(map(str, args))[:300])
            elif method == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append("log: " + p["entry"].get("text", "")[:300])
        return out

    def screenshot(self, path):
        shot = self.send("Page.captureScreenshot", {"format": "png"})
        pathlib.Path(path).write_bytes(base64.b64decode(shot["data"]))


# Finds a group in the visible picture, scrolls it to the middle, and returns
# where to point at and its tooltip.
FIND = r"""
(function (selector, titleStart) {
  const section = document.querySelector('section.view:not([hidden])') || document;
  const groups = Array.from(section.querySelectorAll(selector)).filter(g => {
    const t = g.querySelector(':scope > title');
    return t && (!titleStart || t.textContent.startsWith(titleStart));
  });
  for (const g of groups) {
    const shape = Array.from(g.querySelectorAll('rect,polygon,line,text'))
      .find(s => { const r = s.getBoundingClientRect(); return r.width >= 2 && r.height >= 2; });
    if (!shape) continue;
    shape.scrollIntoView({block: 'center', inline: 'center'});
    const r = shape.getBoundingClientRect();
    const x = r.left + r.width / 2, y = r.top + r.height / 2;
    // Skip a group another one covers there (a marker over a span).
    const top = document.elementFromPoint(x, y);
    if (!top || top.closest(selector) !== g) continue;
    return {x: x, y: y, title: g.querySelector(':scope > title').textContent};
  }
  return null;
})
"""


def check_page(b, path, shots):
    """The checks of one scenario page; returns the problems found."""
    problems = []
    b.load(path.resolve().as_uri())
    if b.eval("document.body.dataset.ready") != "yes":
        problems.append("the page's script did not run to its end")
    # Hover the first span drawn.
    found = b.eval(f"{FIND}('g.span', '')")
    if not found:
        problems.append("no span to hover")
    else:
        b.mouse("mouseMoved", found["x"], found["y"])
        shown = b.eval("document.getElementById('info').innerText")
        first = found["title"].split("\n")[0]
        if first not in shown:
            problems.append(f"hovering a span shows {shown[:120]!r}, not its tooltip {first!r}")
        elif "#" not in shown.split(first, 1)[1]:
            problems.append(f"hovering a span lists none of its events: {shown[:200]!r}")
    if path.parent.name == "equal_deadline_ties":
        # A known span: sleeper(0) waits on its 10 ms timer.
        found = b.eval(f"{FIND}('g.span', 'sleeper(0): waiting on a timer')")
        if not found:
            problems.append("no timer span of sleeper(0)")
        else:
            b.mouse("mouseMoved", found["x"], found["y"])
            shown = b.eval("document.getElementById('info').innerText")
            for want in ("sleeper(0): waiting on a timer: sleep(10ms)", "0s → 10ms",
                         "step_ended", "wait=timer"):
                if want not in shown:
                    problems.append(f"hovering sleeper(0)'s sleep: no {want!r} in {shown[:300]!r}")
    # Click a task: a wake-up chain lights up (when some task was woken).
    if b.eval("document.querySelectorAll('section.view:not([hidden]) g.wake').length") > 0:
        found = b.eval(f"""{FIND}('g.lane', '')""")
        # The task woken first: its lane's name.
        woken = b.eval("""(function () {
          const s = document.querySelector('section.view:not([hidden])');
          const w = s.querySelector('g.wake');
          return w ? w.dataset.to : null; })()""")
        found = b.eval(f"""(function () {{
          const s = document.querySelector('section.view:not([hidden])');
          const g = s.querySelector('g.name[data-task="{woken}"]');
          if (!g) return null;
          g.scrollIntoView({{block: 'center'}});
          const r = g.querySelector('text').getBoundingClientRect();
          return {{x: r.left + r.width / 2, y: r.top + r.height / 2}}; }})()""")
        if found:
            b.click(found["x"], found["y"])
            n = b.eval("document.querySelectorAll('section.view:not([hidden]) g.wake.chain').length")
            if not n:
                problems.append(f"clicking task #{woken} highlights no wake-up chain")
            b.eval("document.getElementById('clear').click()")
    # Switch to each variant and back.
    views = b.eval("Array.from(document.querySelectorAll('button.variant')).map(x => x.dataset.view)")
    for v in views or []:
        b.eval(f"document.querySelector('button.variant[data-view=\"{v}\"]').click()")
        shown = b.eval("Array.from(document.querySelectorAll('section.view'))"
                       ".filter(s => !s.hidden).map(s => s.dataset.view)")
        if shown != [v]:
            problems.append(f"variant button {v} shows {shown}")
    if views:
        b.eval("document.querySelector('button.variant[data-view=\"all\"]').click()")
    # Zoom into the first instant listed.
    if b.eval("document.getElementById('instants').options.length") > 1:
        before = b.eval("document.querySelector('section.view:not([hidden]) svg').getBoundingClientRect().width")
        b.eval("""(function () { const p = document.getElementById('instants');
          p.value = p.options[1].value; p.dispatchEvent(new Event('change')); })()""")
        after = b.eval("document.querySelector('section.view:not([hidden]) svg').getBoundingClientRect().width")
        if not after > before:
            problems.append(f"zooming into an instant leaves the picture {before} px wide")
        b.eval("document.getElementById('zoom-reset').click()")
    if shots:
        b.eval("window.scrollTo(0, 0)")
        b.screenshot(pathlib.Path(shots) / f"{path.parent.name}.png")
    problems += b.errors()
    return problems


def check_index(b, path, pages):
    problems = []
    b.load(path.resolve().as_uri())
    links = set(b.eval("Array.from(document.querySelectorAll('a')).map(a => a.getAttribute('href'))"))
    for p in pages:
        rel = f"{p.parent.name}/{p.name}"
        if rel not in links:
            problems.append(f"the index does not link {rel}")
    return problems + b.errors()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chromium", default=None)
    ap.add_argument("--screenshots", default=None, help="save a screenshot of each page here")
    ap.add_argument("files", nargs="+", type=pathlib.Path)
    args = ap.parse_args()
    binary = args.chromium or shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        print("html_check: no chromium found", file=sys.stderr)
        return 2
    if args.screenshots:
        os.makedirs(args.screenshots, exist_ok=True)
    pages = [f for f in args.files if f.name != "index.html"]
    indexes = [f for f in args.files if f.name == "index.html"]
    failed = 0
    b = Browser(binary)
    try:
        b.open_page()
        for f in pages + indexes:
            problems = check_index(b, f, pages) if f in indexes else check_page(b, f, args.screenshots)
            if problems:
                failed += 1
                print(f"FAIL {f}")
                for p in problems:
                    print(f"  {p}")
            else:
                print(f"ok   {f}")
    finally:
        b.close()
    print(f"{len(args.files) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
