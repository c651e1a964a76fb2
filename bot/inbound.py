"""Inbound WeChat messages as one typed value that handlers can use without Flask or XML."""
from __future__ import annotations

from dataclasses import dataclass

MEDIA_TYPES = ("image", "voice", "video", "shortvideo")


@dataclass(frozen=True)
class Inbound:
    openid: str
    account: str  # our own account id (ToUserName); replies come from it
    type: str  # text, image, voice, video, shortvideo, location, link, event, unknown
    create_time: int
    msg_id: int = 0
    content: str = ""
    event: str = ""  # lower case, as wechatpy names it: subscribe, subscribe_scan, scan, click, ...
    event_key: str = ""
    media_id: str = ""
    pic_url: str = ""
    recognition: str = ""  # voice recognition text, when the account has it on
    status: str = ""  # TEMPLATESENDJOBFINISH: success | failed:user block | failed: system failed
    job_msgid: str = ""  # TEMPLATESENDJOBFINISH: the template message's MsgID

    @property
    def dedup_key(self) -> str:
        """Messages by MsgId; events (which have none) by sender, time, event and key."""
        if self.type != "event" and self.msg_id:
            return f"m:{self.msg_id}"
        # Delivery reports carry MsgID: two reports in the same second are two events.
        return f"e:{self.openid}:{self.create_time}:{self.event}:{self.event_key}:{self.job_msgid}"[:200]


def from_wechatpy(message) -> Inbound:
    """Convert a wechatpy message or event (from `parse_message`)."""
    data = message._data  # wechatpy keeps the parsed dict; fields it does not model live here only
    msg_type = message.type if message.type != "unknown" else str(data.get("MsgType", "unknown")).lower()
    event = ""
    if msg_type == "event":
        event = message.event if hasattr(message, "event") else str(data.get("Event", "")).lower()
    return Inbound(
        openid=str(data.get("FromUserName") or ""),
        account=str(data.get("ToUserName") or ""),
        type=msg_type,
        create_time=int(data.get("CreateTime") or 0),
        msg_id=int(data.get("MsgId") or 0) if msg_type != "event" else 0,
        content=str(data.get("Content") or ""),
        event=event,
        event_key=str(data.get("EventKey") or ""),
        media_id=str(data.get("MediaId") or ""),
        pic_url=str(data.get("PicUrl") or ""),
        recognition=str(data.get("Recognition") or ""),
        status=str(data.get("Status") or ""),
        job_msgid=str(data.get("MsgID") or ""),
    )
