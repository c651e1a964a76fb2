"""The evidence archive fills itself: photos, voice and video sent after a check-in are fetched
from the emulator through the one client, told by their bytes, kept by content, and what WeChat
no longer has is recorded lost with the reason."""
from __future__ import annotations

import datetime as dt
import io

import pytest

from models import CheckIn, CheckInEvidence, Evidence
from tests.conftest import bind, documented, start_emulator
from emulator import inbound


def jpeg(size=(800, 600), colour=(200, 30, 30), taken: str | None = "2026:05:06 09:15:00", pad: int = 0,
         orientation: int | None = None) -> bytes:
    from PIL import Image

    image = Image.new("RGB", size, colour)
    exif = Image.Exif()
    if taken:
        exif[0x8769] = {36867: taken}
    if orientation:
        exif[0x0112] = orientation  # 6: the camera was held upright, the pixels lie on their side
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue() + b"\0" * pad


MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 200
AMR = b"#!AMR\n" + b"\x3c" * 400


@pytest.fixture(params=["local", "s3"])
def media_world(request, make_world):
    """The world with the emulator as its platform, its archive on disk or in a bucket of moto's."""
    storage = request.getfixturevalue("moto").storage_toml(request.getfixturevalue("moto").new_bucket()) \
        if request.param == "s3" else ""
    emu, server = start_emulator("http://127.0.0.1:9/wechat")
    world = make_world(api_base=emu.base, storage=storage)
    bind(world, "13900000002", "o-bob")
    emu.call("POST", "/_emu/users", json={"openid": "o-bob"})
    yield world, emu
    server.shutdown()


def upload(emu, kind: str, content: bytes, name: str = "f") -> str:
    r = emu.call("POST", "/cgi-bin/media/upload", params={"type": kind, "access_token": emu.token()},
                 files={"media": (name, content)})
    return r.json()["media_id"]


def fetch(world, now: str | None = None) -> str:
    result = world.cli("run-job", "media", *(["--now", now] if now else []))
    assert result.exit_code == 0, result.output
    return result.output


def archive(world):
    return world.app.extensions["tuanjie"].archive


def test_photos_sent_together_are_all_fetched_with_thumbnails_and_the_time_taken(media_world):
    world, emu = media_world
    world.say("o-bob", "1")
    first, second = upload(emu, "image", jpeg()), upload(emu, "image", jpeg(colour=(0, 90, 200)))
    assert "凭证" in world.send(inbound.image("o-bob", first))
    assert "凭证" in world.send(inbound.image("o-bob", second))
    assert "media: 2" in fetch(world)
    pieces = list(Evidence.select().order_by(Evidence.id))
    assert [(p.state, p.mime, p.ext, p.media_id) for p in pieces] == [("stored", "image/jpeg", "jpg", None)] * 2
    assert pieces[0].taken_at == dt.datetime(2026, 5, 6, 9, 15)
    store = archive(world)
    assert store.get(pieces[0].sha256) == jpeg()
    from PIL import Image

    with Image.open(io.BytesIO(store.get(pieces[0].thumb))) as thumb:
        assert max(thumb.size) == 320 and thumb.format == "JPEG"
    assert len(documented()[0][1]) == 2


def test_a_photo_taken_upright_gets_an_upright_thumbnail(media_world):
    from PIL import Image

    world, emu = media_world
    world.say("o-bob", "1")
    world.send(inbound.image("o-bob", upload(emu, "image", jpeg(size=(1600, 1200), orientation=6))))
    fetch(world)
    with Image.open(io.BytesIO(archive(world).get(Evidence.get().thumb))) as thumb:
        assert thumb.size == (240, 320)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_picture_past_pillows_size_warning_gets_no_thumbnail_and_is_still_kept(media_world):
    from PIL import Image

    world, emu = media_world
    big = io.BytesIO()
    Image.new("1", (10_000, 9_000)).save(big, "PNG")  # 90 MP: past the warning, below the error
    world.say("o-bob", "1")
    world.send(inbound.image("o-bob", upload(emu, "image", big.getvalue())))
    fetch(world)
    piece = Evidence.get()
    assert (piece.state, piece.thumb) == ("stored", None)


def test_voice_keeps_its_recognition_and_video_comes_through_its_url(media_world):
    world, emu = media_world
    world.say("o-bob", "4")
    voice = upload(emu, "voice", AMR)
    assert world.send(inbound.voice("o-bob", voice, "我们和牧民一起讲了民族团结的故事")) \
        == "语音已作为「共讲一个团结故事」的凭证存档。"
    video = upload(emu, "video", MP4)
    world.send(inbound.video("o-bob", video))
    fetch(world)
    kinds = {p.kind: p for p in Evidence.select()}
    assert (kinds["voice"].mime, kinds["voice"].text) == ("audio/amr", "我们和牧民一起讲了民族团结的故事")
    assert kinds["video"].mime == "video/mp4" and archive(world).get(kinds["video"].sha256) == MP4
    calls = [c["endpoint"] for c in emu.call("GET", "/_emu/calls").json()["calls"]]
    assert "video" in calls  # the file came from the URL media/get answered with


def test_the_same_bytes_twice_are_kept_once(media_world):
    world, emu = media_world
    world.say("o-bob", "1")
    world.say("o-bob", "2")
    same = jpeg()
    world.send(inbound.image("o-bob", upload(emu, "image", same)))
    world.say("o-bob", "3")
    world.send(inbound.image("o-bob", upload(emu, "image", same)))
    fetch(world)
    shas = [p.sha256 for p in Evidence.select()]
    assert len(shas) == 2 and len(set(shas)) == 1
    assert len(list(archive(world).store.keys())) == 2  # the photo once, and its thumbnail


def test_what_wechat_no_longer_has_is_lost_with_the_reason(media_world):
    world, emu = media_world
    world.say("o-bob", "1")
    world.send(inbound.image("o-bob", upload(emu, "image", jpeg())))
    emu.call("POST", "/_emu/clock", json={"advance": 3 * 86400 + 60})  # the platform's 3 days pass
    output = fetch(world)
    piece = Evidence.get()
    assert piece.state == "lost" and "40007" in piece.error, output
    listed = world.cli("evidence").output
    assert "lost 1" in listed and "40007" in listed and "Bob" in listed
    bind(world, "13900000001", "o-alice")
    assert "1 份凭证未能存档" in world.say("o-alice", "统计")  # organisers are told


def test_a_failing_platform_is_tried_again_and_given_up_after_three_days(media_world):
    world, emu = media_world
    world.say("o-bob", "1")
    world.send(inbound.image("o-bob", upload(emu, "image", jpeg())))
    emu.call("POST", "/_emu/faults", json={"endpoint": "media/get", "sequence": ["500", -1]})
    assert "media: 0" in fetch(world)
    piece = Evidence.get()
    assert (piece.state, piece.attempts) == ("pending", 1) and "500" in piece.error
    later = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)).isoformat()
    fetch(world, later)  # -1 (busy): still pending
    assert Evidence.get().state == "pending"
    assert "media: 1" in fetch(world, (dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)).isoformat())
    assert Evidence.get().state == "stored"
    # Another that keeps failing for more than WeChat's three days is lost, saying why.
    world.say("o-bob", "2")
    world.send(inbound.image("o-bob", upload(emu, "image", jpeg(colour=(1, 2, 3)))))
    emu.call("POST", "/_emu/faults", json={"endpoint": "media/get", "sequence": ["500"] * 20})
    fetch(world)
    fetch(world, (dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=3, minutes=1)).isoformat())
    gone = Evidence.select().order_by(Evidence.id.desc()).get()
    assert gone.state == "lost" and "3 days" in gone.error


def test_files_over_their_kinds_limit_are_lost_not_kept(media_world):
    world, emu = media_world
    world.say("o-bob", "1")
    world.send(inbound.image("o-bob", upload(emu, "image", jpeg(pad=11 << 20))))
    world.send(inbound.voice("o-bob", upload(emu, "voice", AMR + b"\0" * (3 << 20))))
    fetch(world)
    assert {p.kind: p.state for p in Evidence.select()} == {"image": "lost", "voice": "lost"}
    assert all("over the platform's limit" in p.error for p in Evidence.select())
    assert not list(archive(world).store.keys()) and not list(archive(world).scratch.glob("*"))


def test_collected_media_never_slows_the_webhook(media_world):
    """The answer does not wait for the file: it is fetched by the job, not in the request."""
    world, emu = media_world
    world.say("o-bob", "1")
    emu.call("POST", "/_emu/faults", json={"endpoint": "media/get", "latency_ms": 3000})
    import time

    began = time.monotonic()
    world.send(inbound.image("o-bob", upload(emu, "image", jpeg())))
    assert time.monotonic() - began < 1.0
    assert Evidence.get().state == "pending" and CheckInEvidence.select().count() == 1
    assert CheckIn.get().evidence_count == 1


def test_half_written_files_a_killed_job_left_are_swept_after_a_day(media_world):
    import os
    import time

    world, _ = media_world
    scratch = archive(world).scratch  # media_dir/tmp, on this machine whichever the store
    scratch.mkdir(parents=True, exist_ok=True)
    old, fresh = scratch / "in-old", scratch / "in-fresh"
    old.write_bytes(b"x")
    fresh.write_bytes(b"y")
    os.utime(old, (time.time() - 90_000, time.time() - 90_000))
    assert "sweep: 1" in world.cli("run-job", "sweep").output
    assert not old.exists() and fresh.exists()
