"""The example suite: the default kiosk driven through WebKitWebDriver.

What an integrator's own suite looks like: find, click, type, read, screenshot, run
scripts (including the page's `vitrine.invoke`), cookies and the window's rectangle.
"""

import os
import re
import signal
import threading
import time

import pytest
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from conftest import ctl_status, start, stop

WAIT = 20


def wait(driver):
    return WebDriverWait(driver, WAIT)


def test_the_clock_shows_the_time(kiosk):
    wait(kiosk).until(lambda d: re.fullmatch(r"\d\d:\d\d", d.find_element(By.ID, "clock").text))
    assert kiosk.title == "Lobby board"
    assert kiosk.current_url == "app://localhost/index.html"


def test_show_notice_reaches_the_toast_overlay(kiosk):
    notice = wait(kiosk).until(lambda d: d.find_element(By.CSS_SELECTOR, "#notices article.current h2").text)
    main = kiosk.current_window_handle
    kiosk.find_element(By.ID, "show-notice").click()
    # The toast overlay is a surface of its own; WebKit lists every surface of the
    # session as a window handle.
    others = [h for h in kiosk.window_handles if h != main]
    assert others, "the overlays are not reachable as window handles"
    found = None
    deadline = time.monotonic() + WAIT
    while found is None and time.monotonic() < deadline:
        for handle in others:
            kiosk.switch_to.window(handle)
            if kiosk.current_url.endswith("/toast.html"):
                # textContent: the card may still be fading in, and WebDriver's
                # visible text of a transparent element is empty.
                cards = kiosk.find_elements(By.CSS_SELECTOR, "#stage .toast .title")
                if cards and cards[-1].get_attribute("textContent"):
                    found = cards[-1].get_attribute("textContent")
        time.sleep(0.1)
    kiosk.switch_to.window(main)
    assert found == notice


def test_hide_status_bar(kiosk):
    button = wait(kiosk).until(EC.element_to_be_clickable((By.ID, "toggle-status")))
    button.click()
    wait(kiosk).until(lambda d: d.find_element(By.ID, "toggle-status-label").text == "Show status bar")
    status = {s["label"]: s for s in ctl_status()["surfaces"]}
    assert status["status"]["visible"] is False
    listed = kiosk.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "vitrine.invoke('window.list').then(done, (e) => done({error: e}));"
    )
    assert {s["label"]: s["visible"] for s in listed}["status"] is False


def test_screenshot_is_the_board(kiosk):
    wait(kiosk).until(lambda d: d.find_element(By.ID, "clock").text != "--:--")
    png = kiosk.get_screenshot_as_png()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (1280, 720)
    element = kiosk.find_element(By.ID, "show-notice").screenshot_as_png
    assert len(element) > 100


def test_scripts_and_invoke(kiosk):
    assert kiosk.execute_script("return 6 * 7") == 42
    info = kiosk.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "vitrine.invoke('app.info').then(done, (e) => done({error: e}));"
    )
    assert info["name"] == "Vitrine Lobby Board"
    assert info["surfaces"] == ["main", "status", "toast"]


def test_capabilities_still_apply(kiosk):
    # The board may not touch the store: automation does not change that.
    result = kiosk.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "vitrine.invoke('store.get', {key: 'x'}).then((v) => done({value: v}), (e) => done({error: e}));"
    )
    assert result["error"]["code"] == "not_allowed", result
    assert "store:allow-get" in result["error"]["message"]


def test_status_reports_automation(kiosk):
    assert ctl_status()["automation"] is True


def test_window_rect_is_the_screen(kiosk):
    rect = kiosk.get_window_rect()
    assert (rect["width"], rect["height"]) == (1280, 720)


def test_remote_page_form_cookies_and_navigation(loopback):
    driver = start(["run", "--config", start.__globals__["ROOT"].as_posix()], env={"VITRINE_URL": f"{loopback}/form.html"})
    try:
        wait(driver).until(lambda d: d.find_elements(By.ID, "name"))
        field = driver.find_element(By.ID, "name")
        field.send_keys("Ada", Keys.ENTER)
        driver.find_element(By.ID, "greet").click()
        assert driver.find_element(By.ID, "out").text == "Hello, Ada (4 keys)"

        driver.add_cookie({"name": "kiosk", "value": "yes", "path": "/"})
        assert {c["name"]: c["value"] for c in driver.get_cookies()}["kiosk"] == "yes"
        driver.refresh()
        assert driver.get_cookie("kiosk")["value"] == "yes"
        assert driver.execute_script("return document.cookie") == "kiosk=yes"

        # The navigation allow-list holds under automation: another origin is refused,
        # the page stays, and the client sees the load never finish.
        driver.get(f"{loopback}/form.html?again")
        assert driver.current_url.endswith("?again")
        before = driver.current_url
        driver.set_page_load_timeout(5)
        with pytest.raises(TimeoutException):
            driver.get("http://127.0.0.2:9/elsewhere")
        assert driver.current_url == before
        assert driver.find_element(By.ID, "name")
    finally:
        stop(driver)


def test_a_crash_is_an_error_not_a_hang(kiosk):
    pid = {s["label"]: s for s in ctl_status()["surfaces"]}["main"]["pid"]
    assert pid, "the main surface's web process is known"
    kiosk.set_script_timeout(120)
    outcome = {}

    def never_settles():
        try:
            outcome["value"] = kiosk.execute_async_script("/* never calls back */")
        except WebDriverException as e:
            outcome["error"] = e
        outcome["at"] = time.monotonic()

    waiter = threading.Thread(target=never_settles)
    waiter.start()
    time.sleep(1.0)
    killed = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    waiter.join(timeout=60)
    assert not waiter.is_alive(), "the client still waits 60 s after the crash"
    assert "error" in outcome, outcome
    assert outcome["at"] - killed < 30
    # WebKitWebDriver ends the session ("session deleted because of page crash", though
    # not every command says so); the kiosk recovers the surface.
    with pytest.raises(WebDriverException):
        kiosk.title
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        main = {s["label"]: s for s in ctl_status()["surfaces"]}["main"]
        if main["up"] and main["pid"] not in (None, pid) and main["crashes"] == 1:
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"main did not come back: {main}")


def test_automation_is_opt_in(tmp_path):
    """Without --automation no session opens, whatever the client asks for: WebKitWebDriver
    is refused or left waiting, and never gets a session id."""
    import json
    import socket
    import subprocess
    import urllib.error
    import urllib.request

    from conftest import ROOT, vitrine_bin

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Its own process group: the kiosk it starts goes with it.
    driver = subprocess.Popen(
        ["WebKitWebDriver", f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        options = {"binary": vitrine_bin(), "args": ["run", "--config", str(ROOT), "--state-dir", str(tmp_path)]}
        body = json.dumps({"capabilities": {"alwaysMatch": {"webkitgtk:browserOptions": options}}}).encode()
        deadline = time.monotonic() + 10
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/session", data=body, method="POST")
                answer = json.loads(urllib.request.urlopen(request, timeout=20).read())
                break
            except TimeoutError:
                answer = {"value": {"error": "no answer in 20 s"}}
                break
            except urllib.error.HTTPError as e:
                answer = json.loads(e.read())
                break
            except urllib.error.URLError:
                assert time.monotonic() < deadline, "WebKitWebDriver did not listen"
                time.sleep(0.1)
        assert "sessionId" not in answer["value"], answer
        assert answer["value"].get("error") in ("session not created", "no answer in 20 s"), answer
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
