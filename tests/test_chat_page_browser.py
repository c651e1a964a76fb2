"""The chat page in headless Chromium: a demo user checks in and sees the bot's reply bubble."""
import pytest

from models import CheckIn
from tests.browsers import chromium, wait_for
from tests.conftest import bind


@pytest.fixture
def browser():
    with chromium("--window-size=400,800") as driver:
        yield driver


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
    wait_for(browser, lambda d: [b.text for b in d.find_elements(By.CSS_SELECTOR, "#menu .top > button")]
             == ["打卡", "我的进度", "更多"])
    browser.find_element(By.XPATH, "//nav[@id='menu']//button[text()='我的进度']").click()
    wait_for(browser, lambda d: any("Bob的进度" in t for t in bot_bubbles(d)))
