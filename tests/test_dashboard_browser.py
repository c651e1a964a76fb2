"""The dashboard in headless Chromium on a phone-sized screen: an organiser asks the bot for a
link on the emulator's chat page, opens it, reads the figures /api/stats has, presses 催办 and
sees what was sent; no page scrolls sideways and the CSP blocks nothing of ours."""
from __future__ import annotations

import os
import subprocess

import pytest

from tests.dashboard_world import ORGANISER, OTHER_STAFF, STAFF, open_dashboard  # noqa: F401
from tests.browsers import chromium, wait_for
from tests.test_dashboard_login import at
from tests.test_dashboard_pages import WORKDAY

PHONE = {"width": 375, "height": 812, "pixelRatio": 2}


@pytest.fixture
def phone():
    with chromium(mobile=PHONE, console=True) as driver:
        yield driver


def cjk_font_installed() -> bool:
    found = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, timeout=20)
    return bool(found.stdout.strip())


def link_from_chat_page(driver, emu_base: str, openid: str) -> str:
    """Choose the user on the chat page, send 登录, and read the link in the bot's reply."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(emu_base + "/")
    wait_for(driver, lambda d: any(o.get_attribute("value") == openid
                                   for o in d.find_elements(By.CSS_SELECTOR, "#user-select option")))
    Select(driver.find_element(By.ID, "user-select")).select_by_value(openid)
    driver.find_element(By.ID, "input").send_keys("登录")
    driver.find_element(By.ID, "send").click()
    link = wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, ".row.bot .bubble a"))
    return link[-1].get_attribute("href")


def no_sideways_scroll(driver) -> bool:
    """Nothing is wider than the phone's layout width (a phone would zoom out, or scroll)."""
    return driver.execute_script("var e = document.documentElement;"
                                 f"return e.clientWidth === {PHONE['width']} && e.scrollWidth <= e.clientWidth")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_organiser_on_a_phone_sees_the_figures_and_chases_the_missing_with_one_press(
        open_dashboard, phone, tmp_path):
    from selenium.webdriver.common.by import By

    from campaign.stats import pct
    from emulator.app import ChatUser

    dash = open_dashboard(clock=at(*WORKDAY), emu_users=(ChatUser(ORGANISER[1], "Alice", "Alice（办公室）"),))
    dash.world.say(STAFF[1], "打卡 1")
    for item in "12345":
        dash.world.say(OTHER_STAFF[1], f"打卡 {item}")

    href = link_from_chat_page(phone, dash.emu.base, ORGANISER[1])
    assert "/dashboard/login/" in href
    phone.get(dash.base + href[href.index("/dashboard/login/"):])  # the link names make run's port
    wait_for(phone, lambda d: d.find_elements(By.ID, "participation"))
    api = dash.world.stats()
    assert phone.find_element(By.ID, "participation").text == pct(api["overall"]["participation_rate"])
    assert phone.find_element(By.ID, "completion").text == pct(api["overall"]["completion_rate"])
    rows = [[c.text for c in r.find_elements(By.TAG_NAME, "td")][:4]
            for r in phone.find_elements(By.CSS_SELECTOR, "#departments tbody tr")]
    assert sorted(rows) == sorted([d["name"], pct(d["participation_rate"]), pct(d["completion_rate"]), str(d["eligible"])]
                                  for d in api["departments"])
    wait_for(phone, lambda d: d.execute_script("return !!window.Chart && !!Chart.getChart('chart')"))
    assert no_sideways_scroll(phone)
    phone.save_screenshot(str(tmp_path / "overview-375x812.png"))

    phone.find_element(By.LINK_TEXT, "办公室").click()
    wait_for(phone, lambda d: d.find_elements(By.ID, "urge-button"))
    assert no_sideways_scroll(phone)
    phone.find_element(By.ID, "urge-button").click()
    result = wait_for(phone, lambda d: d.find_elements(By.ID, "urge-result"))[0].text
    assert "今天已催办（Alice" in result and "发给 2 人" in result and "等待发送 2" in result
    assert dash.world.cli("run-job", "send").exit_code == 0
    phone.refresh()
    assert "已送达 2" in wait_for(phone, lambda d: d.find_elements(By.ID, "urge-result"))[0].text
    phone.save_screenshot(str(tmp_path / "pending-375x812.png"))

    for path in ("/dashboard/gallery", "/dashboard/notices", "/dashboard/roster", "/dashboard/me",
                 "/dashboard/assessment"):
        phone.get(dash.base + path)
        wait_for(phone, lambda d: d.find_elements(By.TAG_NAME, "main"))
        assert no_sideways_scroll(phone), path
    phone.execute_script("var d = document.createElement('div'); d.style.width = '900px'; d.style.height = '1px';"
                         "document.querySelector('main').appendChild(d);")
    assert not no_sideways_scroll(phone)  # the check sees a page wider than the phone
    blocked = [e["message"] for e in phone.get_log("browser") if "Content Security Policy" in e["message"]]
    assert blocked == []
    assert os.path.getsize(tmp_path / "overview-375x812.png") > 10_000


def test_the_machine_has_a_cjk_font_for_the_screenshots():
    if not cjk_font_installed():
        if os.environ.get("CI"):
            pytest.fail("no CJK font (.ci/run installs fonts-noto-cjk)")
        pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk)")
