#!/usr/bin/env python3
"""The console in a real browser: headless Chromium driven over WebDriver (Debian chromium and
chromium-driver; the protocol is plain HTTP, so only the standard library is used) against a live
server with seeded traffic. Checks that the console's numbers equal `trackstar report`'s and /metrics',
that editing an offer's URL in the form changes the next click's redirect, and that a viewer token
sees the form disabled and is refused 403 on a direct write. Keeps a screenshot.
Usage: Tests/Api/console_browser.py [SCREENSHOT.png]"""
import base64, hashlib, json, os, re, shutil, socket, subprocess, sys, tempfile, time, urllib.error, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("TRACKSTAR_BINARY", os.path.join(ROOT, ".build/debug/trackstar"))
SHOT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".build/api-report/console.png")
EDITOR, VIEWER = "editor-" + os.urandom(8).hex(), "viewer-" + os.urandom(8).hex()


def digest(token): return hashlib.sha256(token.encode()).hexdigest()


def http(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None: request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args): return None


def click(public, offer):
    opener = urllib.request.build_opener(NoRedirect)
    try:
        opener.open(f"http://{public}/click?offer_id={offer}&aff_id=7", timeout=30)
    except urllib.error.HTTPError as error:
        assert error.code == 302, error.code
        return error.headers["Location"]
    raise AssertionError("no redirect")


def eventually(what, check, within=60):
    deadline = time.time() + within
    while True:
        value = check()
        if value: return value
        if time.time() > deadline: raise AssertionError("timed out waiting for " + what)
        time.sleep(0.2)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    def __init__(self):
        self.port = free_port()
        self.driver = subprocess.Popen(["chromedriver", f"--port={self.port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.base = f"http://127.0.0.1:{self.port}"
        eventually("chromedriver", lambda: self._ready())
        args = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1100"]
        status, _, body = http("POST", self.base + "/session", {"capabilities": {"alwaysMatch": {
            "browserName": "chrome", "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": args}}}})
        assert status == 200, body
        self.session = json.loads(body)["value"]["sessionId"]

    def _ready(self):
        try: return http("GET", self.base + "/status")[0] == 200
        except OSError: return False

    def call(self, method, path, body=None):
        status, _, text = http(method, f"{self.base}/session/{self.session}{path}", body if body is not None else ({} if method == "POST" else None))
        value = json.loads(text)["value"]
        assert status == 200, value
        return value

    def go(self, url): self.call("POST", "/url", {"url": url})
    def js(self, script, *args): return self.call("POST", "/execute/sync", {"script": script, "args": list(args)})
    def element(self, css):
        found = self.call("POST", "/element", {"using": "css selector", "value": css})
        assert isinstance(found, dict) and found, f"no element {css}: {found}"
        return found.get("element-6066-11e4-a52e-4f735a3b7e3c") or found.get("ELEMENT") or next(iter(found.values()))
    def click(self, css):
        # The page re-renders lists when data arrives; an element found just before that is stale: find it again.
        for attempt in range(50):
            try:
                self.call("POST", f"/element/{self.element(css)}/click")
                return
            except AssertionError as error:
                if "stale element" not in str(error) or attempt == 49: raise
                time.sleep(0.1)
    def type(self, css, text): self.call("POST", f"/element/{self.element(css)}/value", {"text": text})
    def text(self, css): return self.js("const e = document.querySelector(arguments[0]); return e ? e.textContent : null;", css)
    def screenshot(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f: f.write(base64.b64decode(self.call("GET", "/screenshot")))

    def close(self):
        try: http("DELETE", f"{self.base}/session/{self.session}")
        finally: self.driver.kill(); self.driver.wait()


def main():
    work = tempfile.mkdtemp(prefix="trackstar-console-")
    config = os.path.join(work, "console.toml")
    with open(config, "w") as f:
        f.write(f"""[export]
batch_age = "100ms"

[[admin.tokens]]
name = "campaigns"
sha256 = "{digest(EDITOR)}"
role = "editor"

[[admin.tokens]]
name = "watcher"
sha256 = "{digest(VIEWER)}"
role = "viewer"

[[offers]]
id = 1
name = "Shoes"
url = "https://shoes.example/?cid={{click_id}}"
payout = 2.50
revenue = 4.00
  [offers.caps]
  daily_clicks = 1000

[[offers]]
id = 2
name = "Hats"
url = "https://hats.example/?cid={{click_id}}"
payout = 1.00
revenue = 1.50

[[affiliates]]
id = 7
name = "Publisher"
""")
    data = os.path.join(work, "data")
    server = subprocess.Popen([BIN, "serve", "--config", config, "--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                               "--data-dir", data, "--loops", "2", "--geo", "off"],
                              stdout=subprocess.PIPE, stderr=open(os.path.join(work, "stderr.log"), "w"), text=True)
    browser = None
    try:
        out = ""
        while "admin listening on" not in out:
            line = server.stdout.readline()
            assert line, "the server did not start: " + open(os.path.join(work, "stderr.log")).read()
            out += line
        public = re.search(r"listening on (127\.0\.0\.1:\d+)", out).group(1)
        admin = re.search(r"admin listening on (127\.0\.0\.1:\d+)", out).group(1)

        # Seeded traffic: 7 clicks on offer 1 (3 converted), 4 on offer 2 (1 converted).
        ids = {1: [], 2: []}
        for offer, count in ((1, 7), (2, 4)):
            for _ in range(count):
                ids[offer].append(re.search(r"cid=([0-9A-Z]+)", click(public, offer)).group(1))
        for n, cid in enumerate(ids[1][:3] + ids[2][:1]):
            status, _, body = http("GET", f"http://{public}/postback?click_id={cid}&txid=order-{n}")
            assert status == 200, body

        def metrics():
            return http("GET", f"http://{admin}/metrics")[2]

        def metric_sum(text, name, label=""):
            return sum(float(m.group(1)) for m in re.finditer(rf"^{name}(?:\{{[^}}]*{label}[^}}]*\}})? (\S+)$", text, re.M))
        eventually("the export to catch up", lambda: metric_sum(metrics(), "trackstar_export_lag_records") == 0)
        page = metrics()
        recorded = int(metric_sum(page, "trackstar_clicks_total", 'outcome="recorded"'))
        converted = int(metric_sum(page, "trackstar_postbacks_total", 'result="recorded"'))
        assert (recorded, converted) == (11, 4), (recorded, converted)
        report = json.loads(subprocess.run([BIN, "report", "--config", config, "--data-dir", data, "--group-by", "offer", "--format", "json"],
                                           check=True, capture_output=True, text=True).stdout)

        browser = Browser()
        browser.go(f"http://{admin}/#live")
        eventually("live figures", lambda: browser.text("#m-clicks") == str(recorded))
        assert browser.text("#m-conversions") == str(converted), browser.text("#m-conversions")
        used = int(metric_sum(page, "trackstar_cap_used", 'offer="1",aff="0",cap="daily_clicks"'))
        assert used == 7, used
        eventually("the cap row", lambda: browser.text("#caps tbody td:nth-child(2)") == f"{used} / 1000 (1 %)")

        browser.type("#token", EDITOR)
        browser.click("#signin button")
        eventually("sign-in", lambda: "campaigns (editor)" in (browser.text("#who") or ""))
        browser.click('nav a[data-page="reports"]')
        browser.click("#today")
        eventually("the report", lambda: browser.text('#report tfoot tr[data-key="total"] td'))
        for row in report["rows"] + [dict(report["totals"], offer="total")]:
            cells = browser.js("return Array.from(document.querySelectorAll(`#report tr[data-key='${arguments[0]}'] td`)).map(c => c.textContent);", str(row["offer"]))
            cells = cells[1:] if row["offer"] != "total" else cells
            expected = [str(row[k]) if row[k] is not None else "" for k in ("clicks", "unique_clicks", "conversions", "conversion_rate", "payout", "revenue", "profit", "epc")]
            got = [c for c in cells]
            assert [float(x) if x else None for x in got] == [float(x) if x else None for x in expected], (row["offer"], got, expected)

        browser.click('nav a[data-page="catalog"]')
        eventually("the offers list", lambda: browser.text('#offers tr[data-id="1"]'))
        browser.click('#offers a[data-edit="1"]')
        eventually("the edit form", lambda: browser.js("return document.getElementById('f-url').value") == "https://shoes.example/?cid={click_id}")
        browser.js("document.getElementById('f-url').value = ''")
        browser.type("#f-url", "https://boots.example/?cid={click_id}")
        browser.screenshot(SHOT)
        browser.click("#f-save")
        eventually("the save", lambda: browser.text("#f-result") == "saved")
        location = click(public, 1)
        assert location.startswith("https://boots.example/?cid="), location

        # A viewer: the form is disabled, and a direct write is refused.
        browser.click("#signout")
        browser.type("#token", VIEWER)
        browser.click("#signin button")
        eventually("viewer sign-in", lambda: "watcher (viewer)" in (browser.text("#who") or ""))
        eventually("the offers list", lambda: browser.text('#offers tr[data-id="1"]'))
        browser.click('#offers a[data-edit="1"]')
        eventually("the disabled form", lambda: browser.js("return document.getElementById('offer-fields').disabled") is True)
        assert browser.js("return document.getElementById('f-readonly').hidden") is False
        status, _, body = http("PATCH", f"http://{admin}/api/v1/offers/1", {"status": "paused"}, {"Authorization": "Bearer " + VIEWER})
        assert status == 403, (status, body)
        assert click(public, 1).startswith("https://boots.example/")

        # The live page once the chart has a few points (one every 5 s), with clicks flowing meanwhile.
        browser.click('nav a[data-page="live"]')
        def charted():
            for offer in (1, 2, 1): click(public, offer)
            return browser.js("return document.querySelector('#chart polyline') && document.querySelector('#chart polyline').getAttribute('points').split(' ').length >= 3")
        eventually("three chart points", charted, within=60)
        browser.screenshot(SHOT.replace(".png", "-live.png"))
        print(f"console: ok (numbers match trackstar report and /metrics; the form changed the redirect; viewer refused); screenshot {SHOT}")
    finally:
        if browser: browser.close()
        server.terminate(); server.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
