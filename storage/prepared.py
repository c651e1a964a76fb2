"""A peewee query compiled once and executed again with its parameters swapped.

On the hot paths (the webhook's check-in, the sender's claim) peewee rebuilding the same
SQL text cost more CPU than running it: about 0.4 ms per statement-heavy message
(bench/fanout.py, bench/webhook.py profiles). The query is written once with peewee, its
parameters named after the model's fields:

    DONE = Prepared(CheckIn, lambda p: CheckIn.select(CheckIn.item)
                    .where((CheckIn.staff == p.staff) & (CheckIn.year == p.year)))
    DONE.execute(staff=7, year=2026)

`p.staff` stands for a value of the field's type that no real row holds; peewee still does
the quoting and parameter style of the database in use, and the SQL is recompiled when the
database is re-initialised.
"""
from __future__ import annotations

import datetime as dt
import itertools

from peewee import CharField, DateTimeField, ForeignKeyField, IntegerField, TextField

from storage.engine import db

_serial = itertools.count(1)


class _Params:
    """`p.<field>`: a placeholder value for that field of `model`, distinct per name."""

    def __init__(self, model):
        self._model, self._by_name = model, {}

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in self._by_name:
            self._by_name[name] = _placeholder(self._model, name)
        return self._by_name[name]


def _placeholder(model, name: str):
    field = model._meta.fields.get(name)
    if field is None:
        raise AttributeError(f"{model.__name__} has no field {name!r} to name a parameter after")
    n = next(_serial)
    if isinstance(field, (IntegerField, ForeignKeyField)) or field.field_type in ("AUTO", "INT", "BIGINT"):
        return -727_000_000_000 - n
    if isinstance(field, (CharField, TextField)):
        return f"\x00param{n}:{name}"
    if isinstance(field, DateTimeField):
        return dt.datetime(1901, 1, 1) + dt.timedelta(seconds=n)
    raise TypeError(f"{model.__name__}.{name}: no placeholder for a {type(field).__name__}")


class Prepared:
    def __init__(self, model, build):
        self.model, self.build = model, build
        self._for = None

    def _compile(self) -> None:
        params = _Params(self.model)
        sql, values = self.build(params).sql()
        where = {(type(v), v): name for name, v in params._by_name.items()}
        slots = [(where.get((type(v), v)), v) for v in values]
        missing = set(params._by_name) - {name for name, _ in slots if name}
        if missing:
            raise ValueError(f"parameters not found in the SQL: {sorted(missing)}")
        self.names = frozenset(params._by_name)
        self.sql, self.slots, self._for = sql, slots, db.obj

    def execute(self, **values):
        if self._for is not db.obj:
            self._compile()
        return db.execute_sql(self.sql, [values[name] if name else v for name, v in self.slots])

    def get(self, **values):
        """The first row as a model instance (fields converted as peewee would), or None."""
        cursor = self.execute(**values)
        row = cursor.fetchone()
        if row is None:
            return None
        columns = self.model._meta.columns
        fields = [columns[d[0]] for d in cursor.description]
        return self.model(**{f.name: f.python_value(v) for f, v in zip(fields, row)})
