"""Tier 2: the web chat page (GET /) in headless Chromium against a real ``agentspec serve``.

The server is the command itself, run as a subprocess on the default retail spec (the bundled
SmolLM2-135M GGUF) with its own AGENTSPEC_HOME, an integration key issued by ``agentspec keys add``,
and the tau2 retail db.json. The browser is Debian's chromium driven by selenium, in a narrow window.
Asserted:
- a wrong key shows the server's 401 message in #error, and no conversation opens;
- a customer asks, in their own words, to cancel a pending order and gives their email; the agent states
  the cancellation and the Yes button appears; after Yes the page shows the agent's report, and the
  conversation's trace (read through the API, not the page) holds a successful cancel_pending_order of
  that order; a reload shows the same messages (GET /v1/conversations/{id});
- markup typed by the customer is shown as text: no element is made from it and no script of it runs.
Screenshots (web-page*.png) are left in the tests' tmp folders.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

pytestmark = pytest.mark.real

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
READY_TIMEOUT_S = 120
TURN_TIMEOUT_S = 90
MAX_TURNS = 4
MARKUP = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"><b>hello</b> is anyone there?'


@dataclass
class Server:
    url: str
    key: str
    log: Path

    def get(self, path: str, key: str | None = None) -> dict[str, Any]:
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"Bearer {key or self.key}"})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pending_order(db: Path) -> tuple[str, str]:
    """The first pending order of db.json and its customer's email (each conversation starts from a copy)."""
    data = json.loads(db.read_text())
    for order_id, order in data["orders"].items():
        if order["status"] == "pending":
            return order_id, data["users"][order["user_id"]]["email"]
    raise AssertionError("db.json has no pending order")


def _tail(path: Path, chars: int = 3000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


@pytest.fixture(scope="module")
def db() -> Path:
    path = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tau2-retail" / "db.json"
    if not path.exists():
        pytest.fail(f"the retail data is not at {path}; tests read it from ../shared/data")
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory, db) -> Iterator[Server]:
    """``agentspec serve`` on a free port, ready (models loaded); stopped afterwards whatever happens."""
    folder = tmp_path_factory.mktemp("web-server")
    env = {**os.environ, "AGENTSPEC_HOME": str(folder / "home")}
    agentspec = Path(sys.executable).with_name("agentspec")
    assert agentspec.exists(), f"{agentspec} is missing: pip install -e '.[serve]' in the venv"
    issued = subprocess.run([str(agentspec), "keys", "add", "web", "--role", "integration"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert issued.returncode == 0, issued.stderr
    key = issued.stdout.strip().splitlines()[-1]
    port = _free_port()
    log = folder / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen([str(agentspec), "serve", "--port", str(port), "--db", str(db), "--threads", "2"],
                                   env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            assert process.poll() is None, f"agentspec serve exited ({process.returncode}):\n{_tail(log)}"
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=5) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass  # not listening yet, or 503 while the models load
            assert time.monotonic() < deadline, f"/readyz not 200 after {READY_TIMEOUT_S} s:\n{_tail(log)}"
            time.sleep(0.5)
        yield Server(url, key, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@pytest.fixture(scope="module")
def driver(tmp_path_factory) -> Iterator[Any]:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium')}", "--window-size=480,900"):
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield browser
    finally:
        browser.quit()


@pytest.fixture
def page(driver, server) -> Any:
    """The page, fresh: nothing in this tab's sessionStorage."""
    driver.get(server.url + "/")
    driver.execute_script("sessionStorage.clear()")
    driver.get(server.url + "/")
    return driver


# --- what a person does on the page -------------------------------------------------------------------

def _by_id(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def _messages(driver: Any, kind: str) -> list[Any]:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, f"#messages .msg.{kind}")


def _wait(driver: Any, condition: Any, what: str, timeout: float = TURN_TIMEOUT_S) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.1).until(condition, message=what)


def _connect(driver: Any, key: str) -> str:
    field = _by_id(driver, "key")
    field.clear()
    field.send_keys(key)
    _by_id(driver, "connect").click()
    _wait(driver, lambda d: _by_id(d, "conversation-id").text.startswith("c-"), "a conversation id", 30)
    return _by_id(driver, "conversation-id").text


def _turn_over(driver: Any) -> bool:
    return _by_id(driver, "send").is_enabled() and not _messages(driver, "agent.draft")


def _say(driver: Any, text: str) -> None:
    """Type ``text`` and send it; returns when the turn's events are all shown (``done``)."""
    sent = len(_messages(driver, "user"))
    _by_id(driver, "input").send_keys(text)
    _by_id(driver, "send").click()
    _wait(driver, lambda d: len(_messages(d, "user")) > sent and _turn_over(d), f"the agent's answer to {text!r}")


def _click(driver: Any, button: str) -> None:
    sent = len(_messages(driver, "user"))
    _by_id(driver, button).click()
    _wait(driver, lambda d: len(_messages(d, "user")) > sent and _turn_over(d), f"the turn after {button}")


def _last_reply(driver: Any) -> str:
    replies = _messages(driver, "agent")
    assert replies, "no agent reply on the page"
    return replies[-1].text


def _error_shown(driver: Any) -> str:
    return _by_id(driver, "error").text if _by_id(driver, "error").is_displayed() else ""


# --- tests ----------------------------------------------------------------------------------------------

def test_wrong_key_shows_the_servers_error(page, tmp_path):
    _by_id(page, "key").send_keys("as_not-a-key")
    _by_id(page, "connect").click()
    text = _wait(page, _error_shown, "the error line")
    assert "this API key is not valid" in text and "401" in text
    assert "agentspec keys list" in text  # the hint
    assert _by_id(page, "conversation-id").text == "none"
    assert not _by_id(page, "input").is_enabled()
    page.save_screenshot(str(tmp_path / "web-page-error.png"))


def test_customer_cancels_a_pending_order(page, server, db, tmp_path):
    order_id, email = _pending_order(db)
    conversation = _connect(page, server.key)
    assert not _error_shown(page)
    # 1. The request, as a customer writes it; answer what the agent asks until it states the cancellation.
    answers = [f"Hi, I'd like to cancel my order {order_id} because I no longer need it. My email is {email}.",
               f"My email is {email}.", f"Please cancel order {order_id}, I no longer need it."]
    for turn in range(MAX_TURNS):
        _say(page, answers[min(turn, len(answers) - 1)])
        assert not _error_shown(page), _error_shown(page)
        if _by_id(page, "confirm").is_displayed():
            break
    else:
        pytest.fail(f"no Yes button after {MAX_TURNS} turns; last reply: {_last_reply(page)!r}")
    statement = _last_reply(page)
    assert order_id in statement and "cancel" in statement.lower()
    assert any("find_user_id_by_email" in line.text for line in _messages(page, "tool"))
    page.save_screenshot(str(tmp_path / "web-page-confirm.png"))
    # 2. Yes: the cancellation runs and the agent reports it.
    _click(page, "confirm-yes")
    assert not _error_shown(page), _error_shown(page)
    assert not _by_id(page, "confirm").is_displayed()
    report = _last_reply(page)
    assert order_id in report and "cancelled" in report.lower()
    assert any("cancel_pending_order" in line.text and "ok" in line.text for line in _messages(page, "tool"))
    page.save_screenshot(str(tmp_path / "web-page-live.png"))
    # 3. The store, through the API: the trace holds the successful call, and the order is cancelled.
    trace = server.get(f"/v1/conversations/{conversation}/trace")["trace"]
    cancels = [e for e in trace if e.get("kind") == "tool" and e["calls"][0]["name"] == "cancel_pending_order"]
    assert len(cancels) == 1 and cancels[0]["outcome"] == "ok"
    assert cancels[0]["calls"][0]["arguments"]["order_id"] == order_id
    assert json.loads(cancels[0]["output"])["status"] == "cancelled"
    messages = server.get(f"/v1/conversations/{conversation}")["messages"]
    assert messages[-1] == {"role": "assistant", "content": report}
    # 4. A reload shows the conversation again, from the server.
    page.refresh()
    _wait(page, lambda d: len(d.find_elements("css selector", "#messages .msg")) == len(messages),
          "the reloaded messages", 30)
    assert _by_id(page, "conversation-id").text == conversation
    shown = [("user" if "user" in m.get_attribute("class") else "assistant", m.text)
             for m in page.find_elements("css selector", "#messages .msg")]
    assert shown == [(m["role"], m["content"]) for m in messages]
    page.save_screenshot(str(tmp_path / "web-page.png"))


def test_customer_markup_is_text(page, server):
    first = _connect(page, server.key)
    _by_id(page, "new-conversation").click()
    _wait(page, lambda d: _by_id(d, "conversation-id").text not in ("none", first), "a new conversation", 30)
    assert not _messages(page, "user")
    _say(page, MARKUP)
    assert not _error_shown(page), _error_shown(page)
    assert _messages(page, "user")[-1].text == MARKUP
    assert _last_reply(page).strip()
    assert page.execute_script("return window.__pwned") is None
    for tag in ("script", "img", "b"):
        assert not page.find_elements("css selector", f"#messages {tag}"), tag
