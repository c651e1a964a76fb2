"""The chat page in headless Chromium: a demo user checks in and sees the bot's reply bubble."""
import os
import shutil
import tempfile

import pytest

from models import CheckIn
from tests.conftest import bind

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


@pytest.fixture
def browser():
    if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are required in CI (.ci/run installs them)")
        pytest.skip("chromium / chromium-driver not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="tuanjie-chrome-")
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
                 "--window-size=400,800", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, predicate, seconds=15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(lambda d: predicate(d))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_demo_user_checks_in_from_the_chat_page(world, emu, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    bind(world, "13900000002", "o-bob")
    from bot.menu import MENU
    import json

    r = emu.call("POST", "/cgi-bin/menu/create", params={"access_token": emu.token()},
                 data=json.dumps(MENU, ensure_ascii=False).encode())
    assert r.json()["errcode"] == 0

    browser.get(emu.base + "/")
    wait_for(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#user-select option")) == 2)
    Select(browser.find_element(By.ID, "user-select")).select_by_value("o-bob")
    box = browser.find_element(By.ID, "input")
    box.send_keys("打卡 1")
    browser.find_element(By.ID, "send").click()

    def bot_bubbles(d):
        return [b.text for b in d.find_elements(By.CSS_SELECTOR, ".row.bot .bubble")]

    wait_for(browser, lambda d: any("已记录：共照一张全家福" in t for t in bot_bubbles(d)))
    assert [b.text for b in browser.find_elements(By.CSS_SELECTOR, ".row.user .bubble")] == ["打卡 1"]
    assert CheckIn.select().count() == 1

    # The menu created through menu/create is at the bottom; tapping it sends a CLICK.
    wait_for(browser, lambda d: [b.text for b in d.find_elements(By.CSS_SELECTOR, "#menu button")]
             == ["打卡", "我的进度", "帮助"])
    browser.find_element(By.XPATH, "//nav[@id='menu']//button[text()='我的进度']").click()
    wait_for(browser, lambda d: any("Bob的进度" in t for t in bot_bubbles(d)))
