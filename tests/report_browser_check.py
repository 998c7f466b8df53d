"""Open capsim reports in headless Chromium as a user would; fail on a broken image or a blank page.

    python tests/report_browser_check.py runs/x/report.html [more.html ...] [--shots DIR]

For each page: a screenshot (saved beside it, or in --shots), and the DOM after
load from a copy of the page with a probe script that counts the images that
did not load. Exits 1 naming each failed page, 2 when no Chromium is installed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import image as mpimg

BROWSERS = ("chromium", "chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
]
PROBE = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.slice.call(document.images);
  var broken = images.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  var probe = document.createElement("pre");
  probe.id = "capsim-probe";
  probe.textContent = JSON.stringify({
    images: images.length, broken: broken.length, text: document.body.innerText.length
  });
  document.body.appendChild(probe);
});
</script>"""
MIN_TEXT_CHARACTERS = 200


@dataclass
class PageCheck:
    page: Path
    screenshot: Path
    images: int
    broken: int
    text_characters: int
    screenshot_spread: float  # standard deviation of the screenshot's pixels (0: blank)

    @property
    def problems(self) -> list[str]:
        out = []
        if self.images == 0:
            out.append("no image on the page")
        if self.broken:
            out.append(f"{self.broken} of {self.images} images did not load")
        if self.text_characters < MIN_TEXT_CHARACTERS:
            out.append(f"only {self.text_characters} characters of text")
        if self.screenshot_spread < 0.01:
            out.append("the screenshot is blank")
        return out


def find_browser() -> str | None:
    for name in BROWSERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def _chromium(browser: str, profile: str, *args: str) -> subprocess.CompletedProcess:
    command = [browser, *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


def check_page(page: Path, screenshot: Path, browser: str, width: int = 1100) -> PageCheck:
    """Screenshot the page and count its images that did not load."""
    page = Path(page).resolve()
    with tempfile.TemporaryDirectory(prefix="capsim-chromium-") as work:
        profile = str(Path(work) / "profile")
        probed = Path(work) / page.name  # the copy carries the probe; the report stays as made
        probed.write_text(
            page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
            encoding="utf-8",
        )
        dom = _chromium(
            browser, profile, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()
        ).stdout
        _chromium(
            browser,
            profile,
            f"--window-size={width},1600",
            f"--screenshot={Path(screenshot).resolve()}",
            page.as_uri(),
        )
    found = re.search(r'<pre id="capsim-probe">(.*?)</pre>', dom, re.S)
    probe = json.loads(found.group(1)) if found else {"images": 0, "broken": 0, "text": 0}
    spread = 0.0
    if Path(screenshot).exists():
        pixels = mpimg.imread(screenshot)
        spread = float(np.std(pixels[..., :3]))
    return PageCheck(
        page, Path(screenshot), probe["images"], probe["broken"], probe["text"], spread
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="+", type=Path)
    parser.add_argument("--shots", type=Path, help="Folder for the screenshots.")
    arguments = parser.parse_args()
    browser = find_browser()
    if browser is None:
        print("no chromium installed (apt-get install chromium)", file=sys.stderr)
        return 2
    failed = 0
    for page in arguments.pages:
        folder = arguments.shots or page.parent
        folder.mkdir(parents=True, exist_ok=True)
        result = check_page(page, folder / f"{page.stem}.png", browser)
        status = "; ".join(result.problems) or "ok"
        print(f"{page}: {result.images} images, {result.text_characters} characters: {status}")
        failed += bool(result.problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
