"""Binding codes: single use, expiry, the race for one code, lockout, rebinding."""
import csv
import datetime as dt
import threading
from pathlib import Path

import requests

from config import load_config
from emulator import inbound
from models import BindCode, Staff


class Clock:
    def __init__(self, start: dt.datetime):
        self.now = start

    def __call__(self):
        return self.now


def codes(world, *args) -> dict[str, str]:
    out = world.tmp / "codes.csv"
    result = world.cli("bind-codes", "--out", str(out), "--force", *args)
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert all(set(r) == {"name", "department", "phone", "code"} for r in rows)
    return {r["name"]: r["code"] for r in rows}


def test_codes_go_to_eligible_unbound_people_and_are_stored_hashed(world):
    issued = codes(world)
    assert set(issued) == {"Alice", "Bob", "Dave", "Erin", "Frank"}  # not exempt Carol
    stored = {c.code_hash for c in BindCode.select()}
    assert not stored & set(issued.values())
    assert set(codes(world, "--department", "组织科")) == {"Dave", "Erin"}


def test_a_code_works_once(world):
    code = codes(world)["Bob"]
    assert world.say("o-bob", f"绑定 {code}").startswith("绑定成功：办公室 Bob")
    assert world.say("o-other", f"绑定 {code}").startswith("此绑定码已被使用")  # not "invalid": it was good once
    assert world.say("o-bob", f"绑定 {code}") == "你已绑定为 办公室 Bob，无需重复绑定。"  # as whom
    assert world.say("o-bob", "绑定 ZZZZZZZZ") == "你已绑定为 办公室 Bob，无需重复绑定。"
    assert Staff.get(Staff.name == "Bob").openid == "o-bob"


def test_codes_are_case_and_space_insensitive_and_bound_people_get_no_new_code(world):
    code = codes(world)["Bob"]
    spaced = " ".join(code.lower()[i:i + 4] for i in (0, 4))
    assert world.say("o-bob", f"绑定 {spaced}").startswith("绑定成功")
    assert "Bob" not in codes(world)


def test_two_openids_racing_for_one_code_exactly_one_wins(world):
    for attempt in range(4):
        code = codes(world, "--rebind")["Erin"]
        openids = [f"o-racer-{attempt}-a", f"o-racer-{attempt}-b", f"o-racer-{attempt}-c"]
        signed = [world.platform.sign_request(inbound.text(o, f"绑定 {code}")) for o in openids]
        barrier = threading.Barrier(len(signed))
        replies = [None] * len(signed)

        def go(i):
            barrier.wait(timeout=10)
            r = requests.post(f"{world.base}/wechat?{signed[i].query_string}", data=signed[i].body, timeout=10)
            replies[i] = world.platform.reply_text(r.text, {})

        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(signed))]
        [t.start() for t in threads]
        [t.join(timeout=20) for t in threads]
        winners = [o for o, r in zip(openids, replies) if r.startswith("绑定成功")]
        assert len(winners) == 1, replies
        assert Staff.get(Staff.name == "Erin").openid == winners[0]


def test_five_failures_in_ten_minutes_lock_the_openid_for_a_while(make_world):
    clock = Clock(dt.datetime(2026, 6, 1, 10, 0, tzinfo=load_config(environ={}).tz))
    world = make_world(clock=clock)
    code = codes(world)["Bob"]
    for n in range(5):
        assert "无效" in world.say("o-guess", f"绑定 ZZZZZZ{n + 2}{n + 2}")
    assert "次数过多" in world.say("o-guess", f"绑定 {code}")  # even the right code
    assert "无效" in world.say("o-fine", "绑定 ZZZZZZZZ")  # the lock is per openid
    assert Staff.get(Staff.name == "Bob").openid is None
    clock.now += dt.timedelta(minutes=11)
    assert world.say("o-guess", f"绑定 {code}").startswith("绑定成功")


def test_codes_expire(make_world):
    clock = Clock(dt.datetime(2026, 6, 1, 10, 0, tzinfo=load_config(environ={}).tz))
    world = make_world(clock=clock)
    code = codes(world)["Bob"]
    clock.now += dt.timedelta(days=7, seconds=1)
    assert "过期" in world.say("o-bob", f"绑定 {code}")


def test_one_openid_binds_one_person_and_rebinding_needs_a_new_code(world):
    issued = codes(world)
    assert world.say("o-shared", f"绑定 {issued['Bob']}").startswith("绑定成功")
    assert "只能绑定一人" in world.say("o-shared", f"绑定 {issued['Erin']}")
    assert Staff.get(Staff.name == "Erin").openid is None
    # Bob changes phone: a --rebind code moves him to the new openid.
    new = codes(world, "--rebind")["Bob"]
    assert world.say("o-bob-new-phone", f"绑定 {new}").startswith("绑定成功")
    assert Staff.get(Staff.name == "Bob").openid == "o-bob-new-phone"
    assert "绑定" in world.say("o-shared", "打卡")  # the old openid is no longer anyone


def test_scan_event_with_a_code_binds_and_a_plain_follow_gets_welcome(world):
    code = codes(world)["Frank"]
    assert world.send(inbound.event("o-frank", "SCAN", code)).startswith("绑定成功")
    welcome = world.send(inbound.event("o-new", "subscribe"))
    assert "欢迎" in welcome and "绑定" in welcome


def test_a_sheet_that_cannot_be_written_changes_no_code(world):
    first = codes(world)["Bob"]
    result = world.cli("bind-codes", "--out", "/proc/codes.csv", "--rebind")
    assert result.exit_code != 0 and "cannot write" in result.output and "no code was changed" in result.output
    assert world.say("o-bob", f"绑定 {first}").startswith("绑定成功")  # the previous sheet still works


def test_bind_codes_refuses_an_unknown_department_an_existing_sheet_and_no_name(world):
    first = codes(world)["Bob"]
    sheet = world.tmp / "codes.csv"
    before = sheet.read_bytes()
    result = world.cli("bind-codes", "--out", str(sheet))
    assert result.exit_code != 0 and "already exists" in result.output and "--force" in result.output
    assert sheet.read_bytes() == before
    result = world.cli("bind-codes", "--department", "不存在", "--out", str(world.tmp / "new.csv"))
    assert result.exit_code != 0 and "no department '不存在'" in result.output and "办公室" in result.output
    assert not (world.tmp / "new.csv").exists()
    result = world.cli("bind-codes", "--out", "")
    assert result.exit_code != 0 and "--out" in result.output and "Traceback" not in result.output
    assert world.say("o-bob", f"绑定 {first}").startswith("绑定成功")  # no refusal changed a code


def test_a_name_that_looks_like_a_formula_is_written_as_text(world):
    (world.tmp / "f.csv").write_text('name,department,phone\n"=HYPERLINK(""http://x"",""x"")",办公室,13700000001\n',
                                     encoding="utf-8")
    assert world.cli("import-staff", str(world.tmp / "f.csv")).exit_code == 0
    sheet = codes(world)
    assert "'=HYPERLINK(\"http://x\",\"x\")" in sheet and "Bob" in sheet


def test_a_codes_sheet_goes_to_a_private_folder_by_default_readable_by_its_owner_only(world):
    import stat

    result = world.cli("bind-codes")
    assert result.exit_code == 0, result.output
    path = Path(result.output.split(" codes written to ")[1].split(" (valid")[0])
    assert path.parent == world.tmp / "data" / "private" and path.name.startswith("codes-")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    named = world.tmp / "codes.csv"
    world.cli("bind-codes", "--out", str(named), "--rebind")
    assert stat.S_IMODE(named.stat().st_mode) == 0o600  # a sheet named by hand too
