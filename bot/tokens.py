"""Where the access token lives, shared by every worker and process: a database row (the
default) or Redis. Refreshes queue on a lock, so whoever comes second finds the token already
replaced; and forced refreshes (the platform allows about twenty a day) are counted across
processes: past FORCED_PER_HOUR within an hour, a refresh is refused until the hour is over.
"""
from __future__ import annotations

import json
import time
from typing import Callable, Protocol

from bot.errors import WeChatError
from campaign.clock import epoch_of, utc_from_epoch

MARGIN = 300  # refresh this many seconds before the platform's expiry
FORCED_PER_HOUR = 3
TOKEN_LIMITED = -6  # our errcode: forced refreshes used up for this hour
TOKEN_STORE = -2  # our errcode: the token store cannot be reached
Fetch = Callable[[bool], tuple[str, int]]  # force_refresh -> (token, expires_in)


class ForcedRefreshLimited(WeChatError):
    """The token was refused again, but this hour's forced refreshes are spent: sending pauses
    until `until` (epoch seconds) rather than spend the platform's small daily allowance."""

    def __init__(self, until: float):
        super().__init__(TOKEN_LIMITED, f"access token refused after {FORCED_PER_HOUR} forced refreshes within an "
                         "hour; paused", permanent=False)
        self.until = until


def fresh(token: str | None, expires: float, failed: str | None) -> bool:
    """A token worth using: present, not the one that was just refused, not about to expire."""
    return bool(token) and token != failed and expires - MARGIN > time.time()


class TokenStore(Protocol):
    def current(self) -> tuple[str, float] | None: ...

    def refresh(self, fetch: Fetch, failed: str | None) -> tuple[str, float]: ...


def replacement(fetch: Fetch, failed: str | None, spend_forced: Callable[[], None]) -> tuple[str, int]:
    """A token to store. The refused one is first asked after without force: stable_token then
    answers with the token in force, which differs when another party (a deploy elsewhere, a
    restarted platform) replaced it. Only when that is the very token refused is a forced refresh
    spent, from the budget."""
    token, expires_in = fetch(False)
    if failed is None or token != failed:
        return token, expires_in
    spend_forced()
    return fetch(True)


class DatabaseTokenStore:
    """One row per AppID; refreshes serialise on a write lock (BEGIN IMMEDIATE / FOR UPDATE)."""

    def __init__(self, app_id: str):
        self.app_id = app_id

    def current(self) -> tuple[str, float] | None:
        from models import AccessToken, db

        with db.connection_context():
            row = AccessToken.get_or_none(AccessToken.app_id == self.app_id)
        return (row.token, epoch_of(row.expires_at)) if row else None

    def refresh(self, fetch: Fetch, failed: str | None) -> tuple[str, float]:
        from peewee import SqliteDatabase

        from models import AccessToken, db

        with db.connection_context():
            if isinstance(db.obj, SqliteDatabase):
                return self._refresh_sqlite(fetch, failed)
            # A row to lock, so that concurrent refreshers queue on it (a row lock: other
            # writers, the webhook's among them, are not held up by the HTTP fetch).
            AccessToken.insert(app_id=self.app_id, token="", expires_at=utc_from_epoch(0),
                               updated_at=utc_from_epoch(time.time())).on_conflict_ignore().execute()
            with db.atomic():
                row = AccessToken.select().where(AccessToken.app_id == self.app_id).for_update().get()
                if fresh(row.token, epoch_of(row.expires_at), failed):
                    return row.token, epoch_of(row.expires_at)
                return self._store(fetch, failed)

    def _refresh_sqlite(self, fetch: Fetch, failed: str | None) -> tuple[str, float]:
        """SQLite locks the whole database for a write: the HTTP fetch must not run inside
        one, or every webhook would wait for it. Refreshers queue on a lock file instead."""
        import fcntl

        from models import AccessToken, db

        with open(f"{db.obj.database}.token.lock", "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                row = AccessToken.get_or_none(AccessToken.app_id == self.app_id)
                if row is not None and fresh(row.token, epoch_of(row.expires_at), failed):
                    return row.token, epoch_of(row.expires_at)
                return self._store(fetch, failed)
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _store(self, fetch: Fetch, failed: str | None) -> tuple[str, float]:
        """Fetch and store a token; called with the refresh lock held."""
        from models import AccessToken, db

        token, expires_in = replacement(fetch, failed, self._spend_forced_refresh)
        expires, now = time.time() + expires_in, utc_from_epoch(time.time())
        with db.atomic():
            updated = (AccessToken.update(token=token, expires_at=utc_from_epoch(expires), updated_at=now)
                       .where(AccessToken.app_id == self.app_id).execute())
            if not updated:
                AccessToken.insert(app_id=self.app_id, token=token, expires_at=utc_from_epoch(expires),
                                   updated_at=now).execute()
        return token, expires


    def _spend_forced_refresh(self) -> None:
        """Count one forced refresh in this hour's window, or refuse one past the budget."""
        from models import AccessToken, db

        now = time.time()
        row = AccessToken.get_or_none(AccessToken.app_id == self.app_id)
        if row is None:
            return
        since = epoch_of(row.forced_since) if row.forced_since else 0.0
        count = row.forced_count if now - since < 3600 else 0
        if count >= FORCED_PER_HOUR:
            raise ForcedRefreshLimited(since + 3600)
        with db.atomic():
            (AccessToken.update(forced_count=count + 1, forced_since=utc_from_epoch(since if count else now))
             .where(AccessToken.app_id == self.app_id).execute())


def _redis_errors_named(method):
    """A Redis that cannot be reached is the client's error like any other, not redis's own."""
    import functools

    @functools.wraps(method)
    def run(self, *args, **kwargs):
        import redis

        try:
            return method(self, *args, **kwargs)
        except redis.RedisError as exc:
            raise WeChatError(TOKEN_STORE, f"token store (Redis): {type(exc).__name__}: {exc}", permanent=False) \
                from None
    return run


class RedisTokenStore:
    """The token in Redis, refreshes serialised by a SET NX lock with an expiry."""

    LOCK_TTL_MS = 15000

    def __init__(self, url: str, app_id: str):
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=3)
        self.key, self.lock_key = f"tuanjie:token:{app_id}", f"tuanjie:token:{app_id}:lock"
        self.forced_key = f"tuanjie:token:{app_id}:forced"

    @_redis_errors_named
    def current(self) -> tuple[str, float] | None:
        raw = self.redis.get(self.key)
        if not raw:
            return None
        data = json.loads(raw)
        return data["token"], data["expires"]

    @_redis_errors_named
    def refresh(self, fetch: Fetch, failed: str | None) -> tuple[str, float]:
        import secrets

        me = secrets.token_hex(8)
        deadline = time.monotonic() + self.LOCK_TTL_MS / 1000
        while not self.redis.set(self.lock_key, me, nx=True, px=self.LOCK_TTL_MS):
            if time.monotonic() > deadline:
                raise WeChatError(TOKEN_STORE, "token lock in Redis not released", permanent=False)
            time.sleep(0.05)  # another process is fetching; its result will be in the store
        try:
            have = self.current()
            if have and fresh(*have, failed):
                return have
            token, expires_in = replacement(fetch, failed, self._spend_forced_refresh)
            expires = time.time() + expires_in
            self.redis.set(self.key, json.dumps({"token": token, "expires": expires}),
                           px=int(expires_in * 1000))
            return token, expires
        finally:
            if self.redis.get(self.lock_key) == me.encode():
                self.redis.delete(self.lock_key)

    def _spend_forced_refresh(self) -> None:
        count = self.redis.incr(self.forced_key)
        if count == 1:
            self.redis.expire(self.forced_key, 3600)
        if count > FORCED_PER_HOUR:
            ttl = self.redis.ttl(self.forced_key)
            raise ForcedRefreshLimited(time.time() + (ttl if ttl and ttl > 0 else 3600))
