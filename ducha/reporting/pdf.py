"""The briefing printed to an A4 PDF by Chromium in headless mode (the Debian `chromium`
package), from the HTML file just written: the page's own print styles (A4, margins, header rows
repeated) decide the layout. The page carries a CSP that allows no script and no request, and
Chromium runs without a profile of its own kept. Without Chromium no PDF is made (a warning)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

PRINT_SECONDS = 120


def chromium() -> str | None:
    """The Chromium to print with: DUCHA_CHROMIUM, else `chromium` on the PATH (None: none)."""
    configured = os.environ.get("DUCHA_CHROMIUM")
    if configured:
        return configured if Path(configured).is_file() else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


def print_pdf(html: Path, pdf: Path) -> bool:
    """`html` printed to `pdf` (written whole or not at all); False when no Chromium is here."""
    browser = chromium()
    if browser is None:
        return False
    with tempfile.TemporaryDirectory(prefix="ducha-print-") as profile:
        partial = pdf.with_name(pdf.name + ".partial")
        command = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", "--disable-background-networking", "--no-pdf-header-footer",
            f"--user-data-dir={profile}", f"--print-to-pdf={partial}", html.resolve().as_uri(),
        ]  # fmt: skip
        try:
            subprocess.run(command, capture_output=True, timeout=PRINT_SECONDS, check=True)
            if not partial.is_file() or partial.stat().st_size == 0:
                raise RuntimeError("Chromium wrote no PDF")
            os.replace(partial, pdf)
        finally:
            partial.unlink(missing_ok=True)
    return True
