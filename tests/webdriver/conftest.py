"""Fixtures for driving a real Vitrine kiosk through the real WebKitWebDriver.

Each test gets its own kiosk: a fresh state directory, the session's Xvfb and private
D-Bus session bus, and a WebDriver session that WebKitWebDriver opens by starting
`vitrine --automation` (the binary in $VITRINE_BIN, else target/debug/vitrine).
"""

import http.server
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.webkitgtk.options import Options
from selenium.webdriver.webkitgtk.service import Service

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Selenium waits for WebKitWebDriver's answers as long as the socket's default allows,
# which is for ever: a session that never opens would stall the whole run. Bounded, it
# is an error that names what happened (above the crash test's 120 s script timeout).
socket.setdefaulttimeout(150)


def vitrine_bin():
    return os.environ.get("VITRINE_BIN") or str(ROOT / "target" / "debug" / "vitrine")


@pytest.fixture(scope="session", autouse=True)
def display():
    """An Xvfb screen (1280x720) and a private session bus for every kiosk of the run."""
    # -noreset: an X server resets when its last client leaves, dropping the connections
    # that arrive meanwhile, and here one session's kiosk leaves as the next one's starts.
    xvfb = subprocess.Popen(
        ["Xvfb", "-displayfd", "1", "-screen", "0", "1280x720x24", "-nolisten", "tcp", "-noreset"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    number = xvfb.stdout.readline().decode().strip()
    assert number, "Xvfb did not report a display"
    bus = subprocess.run(
        ["dbus-daemon", "--session", "--print-address=1", "--print-pid=1", "--fork"],
        capture_output=True,
        text=True,
        check=True,
    )
    address, pid = bus.stdout.split("\n")[:2]
    saved = {k: os.environ.get(k) for k in ("DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "GDK_BACKEND", "WAYLAND_DISPLAY")}
    os.environ.update(DISPLAY=f":{number}", DBUS_SESSION_BUS_ADDRESS=address, GDK_BACKEND="x11")
    os.environ.pop("WAYLAND_DISPLAY", None)
    yield f":{number}"
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    subprocess.run(["kill", pid.strip()], check=False)
    xvfb.kill()
    xvfb.wait()


def start(args, env=None):
    """A WebDriver session on a kiosk started with `args` (before `--automation`)."""
    state = tempfile.mkdtemp(prefix="vitrine-wd-")
    options = Options()
    options.binary_location = vitrine_bin()
    # WebKitWebDriver matches it against the name the kiosk gives its sessions.
    options.set_capability("browserName", "vitrine")
    for a in [*args, "--state-dir", state, "--automation"]:
        options.add_argument(a)
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    # WebKitWebDriver's output, and the kiosk's (it inherits it): what a failed start said.
    log = os.path.join(state, "webdriver.log")
    try:
        service = Service(executable_path=shutil.which("WebKitWebDriver"), log_output=log)
        driver = webdriver.WebKitGTK(options=options, service=service)
    except Exception as e:
        try:
            with open(log, errors="replace") as f:
                said = f.read()[-4000:]
        except OSError as unread:
            said = f"(no log: {unread})"
        shutil.rmtree(state, ignore_errors=True)
        raise RuntimeError(f"no WebDriver session: {e!r}; WebKitWebDriver and the kiosk said:\n{said}") from e
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    driver.vitrine_state = state
    return driver


def stop(driver):
    try:
        driver.quit()
    except WebDriverException:
        pass  # a session WebKitWebDriver already ended (the crash test)
    finally:
        shutil.rmtree(driver.vitrine_state, ignore_errors=True)


@pytest.fixture
def kiosk():
    """The default kiosk (the crate root's vitrine.toml, capabilities/ and ui/)."""
    driver = start(["run", "--config", str(ROOT)])
    yield driver
    stop(driver)


@pytest.fixture
def loopback():
    """A loopback HTTP server for the fixtures' remote pages; yields its base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(FIXTURES / "www"), **kw)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def ctl_status():
    """`vitrine ctl status --json` of the kiosk on this session bus."""
    out = subprocess.run([vitrine_bin(), "ctl", "status", "--json"], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
