"""Debian's Chromium for the browser tests, driven by Playwright (which never downloads
a browser of its own: `scripts/setup --test` installs the package)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# As root and without network: no sandbox, and none of Chromium's own background traffic.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright: Playwright) -> Browser:
    if not Path(CHROMIUM).exists():
        pytest.fail("no Chromium: run scripts/setup --test (it installs Debian's chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
