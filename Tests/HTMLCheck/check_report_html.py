#!/usr/bin/env python3
"""Checks a lordba-convert HTML report in headless Chromium (a dev-time check, not run by CI).

    python3 Tests/HTMLCheck/check_report_html.py REPORT.html REPORT.json [--width 390] [--screenshot PNG]

REPORT.json is the --report-json of the same run: it says which modules the page must show.
Needs Debian's `chromium` (apt-get install -y chromium). Three runs of the browser:

1. the page as written, with a network log and console logging: no console message (the page
   has no scripts, so any message is an error such as a blocked load) and no request other
   than the page itself;
2. the page in an iframe --width px wide (headless Chromium keeps its window at least 500 px
   wide; the frame's viewport drives the media queries as a phone's does), every <details>
   opened, measured by the wrapper's script: no horizontal overflow (scrollWidth <=
   clientWidth, and no element's box past the right edge unless a scrolling box holds it), and
   every module of the JSON in the heatmap and in the table;
3. with --screenshot, a screenshot of the page in that frame.

Prints one line per check and exits 1 when any fails.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-extensions", "--disable-default-apps", "--mute-audio"]

# The page is measured inside an iframe of the given width: headless Chromium will not make its
# window narrower than 500 px, and an iframe's viewport drives the page's media queries the same
# way a phone's does. Reading the frame needs --allow-file-access-from-files.
WRAPPER = r"""<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:0">
<iframe id="page" src="URL" style="border:0;width:WIDTHpx;height:800px"></iframe>
<script>
document.getElementById('page').addEventListener('load', function () {
  const doc = this.contentDocument, win = this.contentWindow;
  for (const d of doc.querySelectorAll('details')) d.open = true;
  const root = doc.documentElement;
  const width = root.clientWidth;
  const scrolls = (el) => { for (let p = el.parentElement; p; p = p.parentElement) {
      const s = win.getComputedStyle(p).overflowX; if (s === 'auto' || s === 'scroll' || s === 'hidden') return p; } return null; };
  const outside = [];
  for (const el of doc.body.querySelectorAll('*')) {
    if (el.closest('svg') && el.tagName.toLowerCase() !== 'svg') continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > width + 0.5 || r.left < -0.5) {
      const box = scrolls(el);
      if (box && box.getBoundingClientRect().right <= width + 0.5) continue;
      outside.push(el.tagName.toLowerCase() + (typeof el.className === 'string' && el.className ? '.' + el.className : '') +
                   ' right=' + Math.round(r.right));
    }
  }
  const result = {
    clientWidth: width, scrollWidth: root.scrollWidth, bodyScrollWidth: doc.body.scrollWidth,
    outside: outside.slice(0, 10), outsideCount: outside.length,
    heatmap: Array.from(doc.querySelectorAll('rect[data-module]')).map(e => e.getAttribute('data-module')),
    table: Array.from(doc.querySelectorAll('details tr[data-module]')).map(e => e.getAttribute('data-module')),
  };
  const pre = document.createElement('pre');
  pre.id = 'lordba-check';
  pre.textContent = JSON.stringify(result);
  document.body.appendChild(pre);
});
</script></body></html>
"""


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("chromium not found: apt-get update && apt-get install -y chromium")


def run(args, profile):
    return subprocess.run([chromium()] + CHROMIUM_FLAGS + ["--user-data-dir=" + profile] + args,
                          capture_output=True, text=True, timeout=180)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("html")
    parser.add_argument("json")
    parser.add_argument("--width", type=int, default=390)
    parser.add_argument("--screenshot")
    options = parser.parse_args()
    html_path = os.path.abspath(options.html)
    url = "file://" + html_path
    report = json.load(open(options.json))
    expected = sorted(m["name"] for i in report["inputs"] if i["status"] == "ok" for m in i["modules"])
    failures = 0

    def check(ok, text):
        nonlocal failures
        failures += 0 if ok else 1
        print(("ok    " if ok else "FAIL  ") + text)

    with tempfile.TemporaryDirectory() as work:
        # 1. Console and network, on the page as written.
        netlog = os.path.join(work, "net.json")
        first = run(["--enable-logging=stderr", "--v=0", "--log-net-log=" + netlog, "--window-size=%d,800" % options.width,
                     "--dump-dom", url], os.path.join(work, "p1"))
        console = [line for line in first.stderr.splitlines() if ":CONSOLE" in line]
        check(first.returncode == 0 and "</html>" in first.stdout, "page loads (chromium exit %d)" % first.returncode)
        check(not console, "no console messages" + ("" if not console else ": " + " | ".join(console[:3])))
        events = json.load(open(netlog)).get("events", [])
        requests = set()
        for event in events:
            params = event.get("params", {})
            if "file://" in str(params.get("network_isolation_key", "")) and params.get("url") and params["url"] != url:
                requests.add(params["url"])
        check(not requests, "no network requests from the page" + ("" if not requests else ": " + ", ".join(sorted(requests)[:5])))

        # 2. Layout and content, measured in a frame --width px wide.
        wrapper = os.path.join(work, "wrapper.html")
        open(wrapper, "w", encoding="utf-8").write(WRAPPER.replace("URL", url).replace("WIDTH", str(options.width)))
        second = run(["--allow-file-access-from-files", "--window-size=800,900", "--virtual-time-budget=5000",
                      "--dump-dom", "file://" + wrapper], os.path.join(work, "p2"))
        match = re.search(r'<pre id="lordba-check">(.*?)</pre>', second.stdout, re.S)
        if not match:
            check(False, "measuring script ran")
            return 1
        result = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
        check(result["clientWidth"] == options.width, "page laid out %d px wide" % result["clientWidth"])
        check(result["scrollWidth"] <= result["clientWidth"] and result["bodyScrollWidth"] <= result["clientWidth"],
              "no horizontal overflow at %d px (scrollWidth %d, body %d)" % (options.width, result["scrollWidth"], result["bodyScrollWidth"]))
        check(result["outsideCount"] == 0, "no element past the right edge" +
              ("" if not result["outsideCount"] else " (%d: %s)" % (result["outsideCount"], "; ".join(result["outside"]))))
        check(sorted(result["heatmap"]) == expected,
              "every module has its own heatmap cell (%d cells, %d modules)" % (len(result["heatmap"]), len(expected)))
        check(sorted(result["table"]) == expected, "every module in the full table (%d rows)" % len(result["table"]))

        # 3. Screenshot of the frame (the image is the window's width, at least 500 px).
        if options.screenshot:
            shot_page = os.path.join(work, "shot.html")
            open(shot_page, "w", encoding="utf-8").write(
                '<!DOCTYPE html><html><body style="margin:0;background:#888">'
                '<iframe src="%s" style="border:0;width:%dpx;height:2400px;background:#fff"></iframe></body></html>' % (url, options.width))
            shot = run(["--allow-file-access-from-files", "--window-size=%d,2400" % max(options.width, 500),
                        "--screenshot=" + os.path.abspath(options.screenshot), "file://" + shot_page], os.path.join(work, "p3"))
            check(shot.returncode == 0 and os.path.exists(options.screenshot), "screenshot " + options.screenshot)
    print("%s: %s" % (options.html, "all checks passed" if failures == 0 else "%d checks failed" % failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
