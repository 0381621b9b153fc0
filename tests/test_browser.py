"""The listening page of ``reencoder eval --plot`` in headless Chromium: every image loads, every
player can play, nothing goes to the console, and the page is not blank."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import soundfile as sf
from conftest import music
from matplotlib.image import imread
from tools import need_module, need_program
from typer.testing import CliRunner

from reencoder_cli.cli import app

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

CHROMIUM_FLAGS = (  # headless, and nothing that reaches for the network
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1200,1600",
)
WAIT_S = 60  # a loaded 2-core machine takes its time


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # the test reads the browser, not the server
        pass


@pytest.fixture
def page(weights_env: Path, tmp_path: Path) -> Iterator[str]:
    """A listening page written by the CLI, served on localhost: -> its URL."""
    sf.write(tmp_path / "ref.wav", music(1.5, 44100, channels=2).T, 44100)
    result = CliRunner().invoke(
        app,
        ["eval", str(tmp_path / "ref.wav"), "--model", "bwe-s", "--plot", str(tmp_path / "page"), "--device", "cpu"],
    )
    assert result.exit_code == 0, result.stderr
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(tmp_path / "page")))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()
    server.server_close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    """Debian's Chromium driven by its chromedriver (no browser is downloaded)."""
    need_module("selenium", 'pip install -e ".[dev]"')
    chromium = need_program("chromium", "Debian: apt-get install chromium")
    chromedriver = need_program("chromedriver", "Debian: apt-get install chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)
    driver.set_page_load_timeout(WAIT_S)
    driver.set_script_timeout(WAIT_S)
    yield driver
    driver.quit()


LOAD_EVERY_PLAYER = """
const done = arguments[arguments.length - 1];
const players = [...document.querySelectorAll('audio')];
Promise.all(players.map(a => new Promise(resolve => {
  const settle = () => resolve({src: a.currentSrc, ready: a.readyState, error: a.error && a.error.code,
                                duration: a.duration});
  if (a.readyState >= 2) return settle();
  a.addEventListener('canplay', settle, {once: true});
  a.addEventListener('error', settle, {once: true});
  a.preload = 'auto';
  a.load();
}))).then(done);
"""


def test_listening_page_loads_in_chromium(browser: WebDriver, page: str, tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(page)
    assert browser.title == "upsample from 22050 Hz: 1 clip, 2 s"
    WebDriverWait(browser, WAIT_S).until(
        lambda d: d.execute_script("return [...document.images].every(i => i.complete)")
    )
    images = browser.execute_script(
        "return [...document.images].map(i => [i.currentSrc, i.naturalWidth, i.naturalHeight])"
    )
    assert images and all(width > 0 and height > 0 for _, width, height in images), images

    players = browser.execute_async_script(LOAD_EVERY_PLAYER)
    assert len(players) >= 6  # reference, input, ceiling, baselines, the model with and without keep-lowband
    for player in players:
        assert player["error"] is None and player["ready"] >= 2, player
        assert player["duration"] == pytest.approx(1.5, abs=0.01), player

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []

    shot = tmp_path / "page.png"
    assert browser.save_screenshot(str(shot))
    pixels = imread(shot)[..., :3]
    assert pixels.shape[:2] == tuple(browser.execute_script("return [innerHeight, innerWidth]"))
    assert pixels.std() > 0.05  # not one colour
    assert len(np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)) > 200  # text and a spectrogram
