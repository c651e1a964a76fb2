"""Charts for the drafted report, drawn with Pillow as PNG images with Chinese labels.

A chart whose labels come out as empty boxes (tofu) is worse than none, so the font is checked
before anything is drawn: the configured one (`[report] font`), or what fontconfig offers for
Chinese, must draw 参与率 unlike a character no font has. When it does not, FontMissing says
what to install, and no report is written.
"""
from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

PROBE, NOWHERE = "参与率", "\U0010fffd"  # a private-use code point: drawn as .notdef by every font
WIDTH, BAR_HEIGHT, MARGIN = 1200, 30, 40
BLUE, RED, GREY, INK = (54, 112, 186), (200, 70, 60), (225, 225, 225), (40, 40, 40)


class FontMissing(Exception):
    pass


@dataclass(frozen=True)
class FontFile:
    path: str
    index: int = 0


def find_font(configured: str | None = None) -> FontFile:
    """The font to draw Chinese with: the configured file, or fontconfig's choice for zh-cn."""
    if configured:
        return check(FontFile(configured))
    if shutil.which("fc-match") is None:
        raise FontMissing("no Chinese font: fontconfig (fc-match) is not installed; install fonts-noto-cjk "
                          "or set [report] font to a .ttf/.otf/.ttc file with Chinese glyphs")
    out = subprocess.run(["fc-match", "-f", "%{file}\n%{index}", "sans-serif:lang=zh-cn"], capture_output=True,
                         text=True, timeout=10, check=False).stdout.split("\n")
    if len(out) < 2 or not out[0]:
        raise FontMissing("no Chinese font found by fontconfig: install fonts-noto-cjk, or set [report] font")
    return check(FontFile(out[0], int(out[1] or 0)))


@lru_cache(maxsize=8)
def check(font: FontFile) -> FontFile:
    """The font, if it draws Chinese; FontMissing naming the file otherwise."""
    try:
        face = ImageFont.truetype(font.path, 32, index=font.index)
    except OSError as exc:
        raise FontMissing(f"[report] font {font.path}: cannot be read as a font ({exc})") from None
    drawn = [bytes(face.getmask(c)) for c in PROBE]
    tofu = bytes(face.getmask(NOWHERE))
    if any(not any(g) or g == tofu for g in drawn):
        raise FontMissing(f"the font {font.path} has no Chinese glyphs (参与率 would be drawn as empty boxes): "
                          f"install fonts-noto-cjk, or set [report] font to a font with Chinese glyphs")
    return font


def _face(font: FontFile, size: int):
    return ImageFont.truetype(font.path, size, index=font.index)


def bars(font: FontFile, title: str, rows: list[tuple[str, float]], target: float) -> bytes:
    """Horizontal bars, one per label, a rate in [0, 1]; bars below the target in red."""
    face, small = _face(font, 24), _face(font, 20)
    label_w = min(360, max((int(small.getlength(label)) for label, _ in rows), default=0) + 20)
    height = 90 + len(rows) * (BAR_HEIGHT + 10) + MARGIN
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, 20), title, font=face, fill=INK)
    left, right = MARGIN + label_w, WIDTH - MARGIN - 90
    y = 80
    for label, rate in rows:
        draw.text((MARGIN, y + 3), _fit(small, label, label_w - 10), font=small, fill=INK)
        draw.rectangle((left, y, right, y + BAR_HEIGHT), fill=GREY)
        draw.rectangle((left, y, left + int((right - left) * max(0.0, min(rate, 1.0))), y + BAR_HEIGHT),
                       fill=BLUE if rate >= target else RED)
        draw.text((right + 8, y + 3), f"{rate:.1%}", font=small, fill=INK)
        y += BAR_HEIGHT + 10
    x = left + int((right - left) * target)
    draw.line((x, 70, x, y), fill=INK, width=2)
    return _png(image)


def line(font: FontFile, title: str, points: list[tuple[str, float]], target: float) -> bytes:
    """A rate over time (date, rate), with the target as a dashed line and months on the axis."""
    face, small = _face(font, 24), _face(font, 18)
    height = 520
    image = Image.new("RGB", (WIDTH, height), "white")
    draw = ImageDraw.Draw(image)
    draw.text((MARGIN, 20), title, font=face, fill=INK)
    left, right, top, bottom = MARGIN + 70, WIDTH - MARGIN, 80, height - 70
    draw.line((left, bottom, right, bottom), fill=INK, width=2)
    draw.line((left, top, left, bottom), fill=INK, width=2)
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        y = bottom - int((bottom - top) * tick)
        draw.text((MARGIN, y - 10), f"{tick:.0%}", font=small, fill=INK)
        draw.line((left, y, right, y), fill=GREY)
    y_target = bottom - int((bottom - top) * target)
    for x in range(left, right, 16):
        draw.line((x, y_target, min(x + 8, right), y_target), fill=RED, width=2)
    if len(points) >= 2:
        step = (right - left) / (len(points) - 1)
        xy = [(left + i * step, bottom - (bottom - top) * rate) for i, (_, rate) in enumerate(points)]
        draw.line(xy, fill=BLUE, width=4)
        month = None
        for (day, _), (x, _) in zip(points, xy):
            if day[5:7] != month:
                month = day[5:7]
                draw.text((x, bottom + 10), f"{int(month)}月", font=small, fill=INK)
    return _png(image)


def _fit(face, text: str, width: int) -> str:
    while text and face.getlength(text) > width:
        text = text[:-2] + "…" if len(text) > 2 else text[:-1]
    return text


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()
