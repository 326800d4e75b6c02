"""Regenerate docs/report.png, README's picture of the report ``kerascope demo`` writes.

Runs the demo into a temporary folder, renders the top of its report.html in headless
Chromium (Debian's ``chromium``) and saves the screenshot. Run from the repository root
with a kerascope environment, e.g. ``.venv-jax/bin/python scripts/readme_picture.py``.
"""

import pathlib
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
WIDTH, HEIGHT = 1500, 1060


def main():
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        subprocess.run([sys.executable, "-m", "kerascope", "demo", "--out", str(folder / "demo"),
                        "--quiet"], check=True, cwd=ROOT)
        shot = folder / "shot.png"
        subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                        "--hide-scrollbars", "--force-device-scale-factor=1",
                        f"--user-data-dir={folder / 'profile'}", f"--window-size={WIDTH},{HEIGHT}",
                        f"--screenshot={shot}", (folder / "demo" / "report.html").as_uri()],
                       check=True, capture_output=True)
        from PIL import Image

        target = ROOT / "docs" / "report.png"
        Image.open(shot).convert("RGB").save(target, optimize=True)
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
