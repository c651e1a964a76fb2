"""Exactly-once handling of inbound messages.

Storing the message, running its handler and storing the reply happen in one write
transaction keyed by the message's dedup key. WeChat's redeliveries of the same message,
even concurrent ones, either find the stored row or block on its unique key until the
first transaction commits, and then answer with the stored reply: one effect, one answer.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Callable

from peewee import DatabaseError, IntegrityError

from bot import texts as T
from bot.inbound import Inbound
from campaign.clock import to_utc
from models import InboundMessage, db
from storage.engine import drop_connection, is_outage
from storage.prepared import Prepared

log = logging.getLogger(__name__)


class Replay(Exception):
    """A (timestamp, nonce) pair already used by another message."""


class DatabaseDown(Exception):
    """The database cannot be reached: nothing was stored, the message must wait (bot/spool.py)."""


def process(msg: Inbound, body: str, timestamp: int, nonce: str, now: dt.datetime,
            handler: Callable[[Inbound], str | None]) -> str | None:
    """Reply text for msg (None means "success"); raises Replay, or DatabaseDown when nothing
    could be stored because the database cannot be reached."""
    was_open = not db.is_closed()
    try:
        return _process(msg, body, timestamp, nonce, now, handler)
    except DatabaseDown:
        if not was_open:
            raise  # the connection could not even be opened: the database is away
        # The connection was open when the message came, and may be one kept from an earlier
        # request that died while idle (a database restart, an administrator's
        # pg_terminate_backend): one more try on a new one before the spool. Nothing was
        # committed on the dead one, and a twin that was is found by its key.
        return _process(msg, body, timestamp, nonce, now, handler)


def _process(msg: Inbound, body: str, timestamp: int, nonce: str, now: dt.datetime,
             handler: Callable[[Inbound], str | None]) -> str | None:
    key = msg.dedup_key
    try:
        # Redeliveries are answered from the store without taking the write lock. A replayed
        # (timestamp, nonce) on another message is caught by their unique index below.
        stored = REPLY_OF.execute(dedup_key=key).fetchone()
        if stored is not None:
            return stored[0]
        with db.atomic():
            reply = handler(msg)
            # Inserted after the handler so the write lock is held as briefly as possible; a
            # concurrent twin that committed first makes this insert fail and the handler's
            # effects roll back with it.
            ADD_MESSAGE.execute(dedup_key=key, openid=msg.openid, msg_type=_type(msg), body=body,
                                received_at=to_utc(now), reply=reply, timestamp=timestamp, nonce=nonce)
            return reply
    except IntegrityError:
        stored = _after_race(key, timestamp, nonce)
        if stored is not None:
            return stored.reply
        # Neither this message nor its nonce is stored: the handler's own statement broke a
        # unique rule (two codes redeemed at once by one openid, say). It rolled back.
        log.exception("handling failed for %s", key)
        return _store_failure(msg, key, body, timestamp, nonce, now)
    except Replay:
        raise
    except Exception as exc:
        if is_outage(exc):
            drop_connection()
            raise DatabaseDown(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__) from exc
        log.exception("handling failed for %s", key)
        return _store_failure(msg, key, body, timestamp, nonce, now)


REPLY_OF = Prepared(InboundMessage, lambda p: InboundMessage.select(InboundMessage.reply)
                    .where(InboundMessage.dedup_key == p.dedup_key))
ADD_MESSAGE = Prepared(InboundMessage, lambda p: InboundMessage.insert(
    dedup_key=p.dedup_key, openid=p.openid, msg_type=p.msg_type, body=p.body, received_at=p.received_at,
    reply=p.reply, timestamp=p.timestamp, nonce=p.nonce))


def connection():
    """A connection of its own, for messages applied outside a request (the spool's drain)."""
    return db.connection_context()


def _stored(key: str, timestamp: int, nonce: str) -> InboundMessage | None:
    seen = InboundMessage.get_or_none((InboundMessage.timestamp == timestamp) & (InboundMessage.nonce == nonce))
    if seen is not None and seen.dedup_key != key:
        raise Replay(f"timestamp {timestamp} nonce {nonce} already used by {seen.dedup_key}")
    return seen or InboundMessage.get_or_none(InboundMessage.dedup_key == key)


def _after_race(key: str, timestamp: int, nonce: str) -> InboundMessage | None:
    """After an IntegrityError: the stored twin of this message, Replay if its (timestamp,
    nonce) belongs to another message, or None when neither is stored."""
    with db.atomic():
        return _stored(key, timestamp, nonce)


def _store_failure(msg: Inbound, key: str, body: str, timestamp: int, nonce: str, now: dt.datetime) -> str:
    """Record a message whose handler crashed, with the apology it got: no second attempt on redelivery."""
    try:
        with db.atomic():
            stored = _stored(key, timestamp, nonce)
            if stored is not None:
                return stored.reply
            InboundMessage.create(dedup_key=key, openid=msg.openid, msg_type=_type(msg), body=body,
                                  received_at=to_utc(now), reply=T.APOLOGY, failed=True, timestamp=timestamp, nonce=nonce)
    except IntegrityError:  # a twin stored first, or the nonce is another message's (Replay)
        stored = _after_race(key, timestamp, nonce)
        return stored.reply if stored is not None else T.APOLOGY
    except DatabaseError:
        # Nothing could be stored (the database is down, or refused the row): the handler's
        # effects rolled back, so a redelivery may try again. The user still gets an answer.
        log.exception("could not record the failure of %s", key)
    return T.APOLOGY


def _type(msg: Inbound) -> str:
    return (f"event:{msg.event}" if msg.type == "event" else msg.type)[:64]
