#!/usr/bin/env python3
"""Opens one page in headless Chromium and watches it live through the DevTools protocol (over
--remote-debugging-pipe: no port, no WebSocket library): a screenshot and the value of an expression at each moment
asked for, the page never reloaded between them. For the dashboard's browser test, whose page updates over
server-sent events, which --dump-dom and --screenshot (one load, then a dump) cannot show.

Usage: cdp_snapshots.py CHROMIUM URL OUT_PREFIX EXPRESSION MOMENT...
Chromium starts first ({"ready": true} is printed and OUT_PREFIX + "ready" created), then the page is opened as soon as URL answers. A MOMENT is
seconds after that, or `until:JS` (wait, at most 60 s, until JS is true). Prints one JSON line per moment:
{"moment", "png" (the file written), "value" (EXPRESSION's value then)}.
"""
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request


class Pipe:
    def __init__(self, chromium, profile):
        # Chromium reads commands on fd 3 and writes answers on fd 4, each message ending with a NUL byte.
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        os.set_inheritable(to_chrome_r, True)
        os.set_inheritable(from_chrome_w, True)

        def fds():
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--remote-debugging-pipe", f"--user-data-dir={profile}", "--window-size=1200,900", "about:blank"],
            # preexec_fn runs before subprocess closes inherited fds: keep them all, 3 and 4 are set there.
            preexec_fn=fds, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buffer = b""
        self.next_id = 0

    def call(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self.buffer:
                chunk = os.read(self.from_chrome, 1 << 20)
                if not chunk:
                    raise SystemExit(f"Chromium closed the pipe during {method}")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise SystemExit(f"{method}: {answer['error']}")
                return answer.get("result", {})

    def close(self):
        try:
            self.call("Browser.close")
        except (SystemExit, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()


def main():
    chromium, url, prefix, expression, *moments = sys.argv[1:]
    with tempfile.TemporaryDirectory() as profile:
        pipe = Pipe(chromium, profile)
        try:
            target = pipe.call("Target.createTarget", {"url": "about:blank"})["targetId"]
            session = pipe.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            pipe.call("Page.enable", session=session)
            # Chromium is up: now wait for the page's server (the test may start it after this script).
            print(json.dumps({"ready": True}), flush=True)
            open(f"{prefix}ready", "w").close()
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(url, timeout=2).read(1)
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit(f"{url} never answered")
                    time.sleep(0.05)
            pipe.call("Page.navigate", {"url": url}, session=session)
            start = time.monotonic()

            def evaluate(js):
                result = pipe.call("Runtime.evaluate", {"expression": js, "returnByValue": True}, session=session)
                return result.get("result", {}).get("value")

            for n, moment in enumerate(moments):
                if moment.startswith("until:"):
                    deadline = time.monotonic() + 60
                    while not evaluate(moment[len("until:"):]) and time.monotonic() < deadline:
                        time.sleep(0.1)
                else:
                    time.sleep(max(0, start + float(moment) - time.monotonic()))
                shot = pipe.call("Page.captureScreenshot", {"format": "png"}, session=session)
                path = f"{prefix}{n}.png"
                with open(path, "wb") as f:
                    f.write(base64.b64decode(shot["data"]))
                print(json.dumps({"moment": moment, "png": path, "value": evaluate(expression)}), flush=True)
        finally:
            pipe.close()


if __name__ == "__main__":
    main()
