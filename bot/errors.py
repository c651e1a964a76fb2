"""The outbound client's one error type: what the platform said, or that the request failed
on the way, with whether to retry and whether it may have reached the platform."""
from __future__ import annotations

import re

TRANSPORT = -4  # our errcode for "the request failed on the way" (no platform answer)


class WeChatError(Exception):
    """An API call that did not succeed. `permanent`: do not retry it for this person;
    `may_have_left`: the platform may have acted on it (resending could make a duplicate)."""

    def __init__(self, errcode: int, errmsg: str, permanent: bool, may_have_left: bool = False):
        errmsg = mask_token(errmsg)
        super().__init__(f"{errcode}: {errmsg}")
        self.errcode, self.errmsg, self.permanent, self.may_have_left = errcode, errmsg, permanent, may_have_left


_TOKEN_IN_URL = re.compile(r"(access_token=)[^&\s'\"),]+")


def mask_token(text: str) -> str:
    """requests puts the URL, access_token included, in its error messages: mask it."""
    return _TOKEN_IN_URL.sub(r"\1***", text)
