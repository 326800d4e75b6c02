"""Render an HTML file in headless Chromium (Debian's ``chromium``) for the tests.

``render(html_path, workdir)`` loads a copy of the page with a probe script appended
that writes, once the page has loaded, every ``<img>``'s ``naturalWidth`` and the page
boxes of the cells to check into the DOM; ``--dump-dom`` reads them back, then a
screenshot of the whole page is taken at the same window size. Nothing is installed
here: the tests skip (with the reason) when the binary is absent; ``.ci/run``
installs it.
"""

import json
import os
import pathlib
import re
import shutil
import subprocess

import numpy as np

BINARY = next((path for path in (os.environ.get("KERASCOPE_CHROMIUM"), "/usr/bin/chromium",
                                 shutil.which("chromium"), shutil.which("chromium-browser"))
               if path and os.path.exists(path)), None)
SKIP_REASON = ("headless Chromium not found (/usr/bin/chromium); `apt-get install chromium` "
               "(.ci/run does) to run the browser checks")

_PROBE = """
<script>
window.addEventListener('load', function () {
  var images = Array.prototype.map.call(document.images, function (img) {
    return {w: img.naturalWidth, h: img.naturalHeight, complete: img.complete,
            cls: img.className, alt: img.alt};
  });
  var cells = Array.prototype.map.call(document.querySelectorAll(SELECTOR), function (el) {
    var r = el.getBoundingClientRect();
    return {x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height};
  });
  var right = 0;
  Array.prototype.forEach.call(document.querySelectorAll('body *'), function (el) {
    right = Math.max(right, el.getBoundingClientRect().left + el.scrollWidth);
  });
  var out = document.createElement('pre');
  out.id = 'kerascope-probe';
  out.textContent = JSON.stringify({images: images, cells: cells,
    width: Math.max(document.documentElement.scrollWidth, right + 40),
    height: document.documentElement.scrollHeight});
  document.body.appendChild(out);
});
</script>
"""

_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
          "--force-device-scale-factor=1", "--disable-extensions", "--no-first-run",
          "--no-default-browser-check", "--disable-dev-shm-usage", "--mute-audio",
          "--virtual-time-budget=10000"]


def _run(args, workdir, timeout=120):
    env = dict(os.environ, HOME=str(workdir))
    return subprocess.run([BINARY, *_FLAGS, f"--user-data-dir={workdir / 'profile'}", *args],
                          capture_output=True, text=True, timeout=timeout, env=env, check=False)


def render(html_path, workdir, selector="img", width=1400):
    """``(probe, screenshot)``: the probe's JSON (images, cells, page size) and the
    screenshot as a uint8 RGB array; cells are the boxes of ``selector``."""
    from PIL import Image

    workdir = pathlib.Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    page = pathlib.Path(html_path).read_text(encoding="utf-8")
    probe = _PROBE.replace("SELECTOR", json.dumps(selector))
    copy = workdir / "probed.html"
    copy.write_text(page.replace("</body>", probe + "</body>"), encoding="utf-8")
    url = copy.absolute().as_uri()
    dom = _run([f"--window-size={width},900", "--dump-dom", url], workdir)
    match = re.search(r'<pre id="kerascope-probe">(.*?)</pre>', dom.stdout, re.S)
    if not match:
        raise AssertionError(f"the probe did not run; chromium said: {dom.stderr[-2000:]}")
    import html

    result = json.loads(html.unescape(match.group(1)))
    shot_width = max(width, int(result["width"]))
    if shot_width > width:  # lay the page out at its full width, measure again
        dom = _run([f"--window-size={shot_width},900", "--dump-dom", url], workdir)
        match = re.search(r'<pre id="kerascope-probe">(.*?)</pre>', dom.stdout, re.S)
        result = json.loads(html.unescape(match.group(1)))
    height = min(int(result["height"]) + 20, 16000)
    shot = workdir / "screenshot.png"
    run = _run([f"--window-size={shot_width},{height}", f"--screenshot={shot}", url], workdir)
    if not shot.exists():
        raise AssertionError(f"no screenshot; chromium said: {run.stderr[-2000:]}")
    return result, np.asarray(Image.open(shot).convert("RGB"))


def non_background_share(screenshot, box, background=(255, 255, 255), tolerance=24):
    """Share of the pixels in ``box`` (page coordinates) that differ from the background."""
    x0, y0 = int(box["x"]), int(box["y"])
    x1, y1 = int(box["x"] + box["w"]), int(box["y"] + box["h"])
    region = screenshot[max(y0, 0):y1, max(x0, 0):x1].astype(np.int32)
    if region.size == 0:
        return 0.0
    distance = np.abs(region - np.asarray(background)).max(axis=-1)
    return float(np.mean(distance > tolerance))
