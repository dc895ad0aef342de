"""Inserts, lookups and counts on the hot path, without peewee's query builder.

Peewee builds every statement anew, which costs about 0.3 ms each: more than the
database needs to run it, and several times per message. The few inserts every
message makes are built here once per table and column set, then reused. Table
and column names and value conversions still come from the models.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import peewee


@functools.lru_cache(maxsize=64)
def _primary_key(model: type[peewee.Model]) -> peewee.Field:
    key = model._meta.primary_key
    assert key, f"{model.__name__} has no primary key"  # every maildesk table has one
    return key


def tuples(query: Any) -> Iterator[tuple[Any, ...]]:
    """The rows of a select as plain tuples (peewee's stubs type `.tuples()` as models)."""
    return iter(query.tuples())


def _insert_sql(table: str, columns: tuple[str, ...], param: str, tail: str) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join(param for _ in columns)
    return f'INSERT INTO "{table}" ({names}) VALUES ({marks}){tail}'


def _sql(
    db: peewee.Database,
    model: type[peewee.Model],
    fields: Sequence[peewee.Field],
    ignore: bool,
    returning: bool,
) -> str:
    tail = " ON CONFLICT DO NOTHING" if ignore else ""
    if returning:
        tail += f' RETURNING "{_primary_key(model).column_name}"'
    columns = tuple(f.column_name for f in fields)
    return _insert_sql(model._meta.table_name, columns, db.param, tail)


def _defaults(model: type[peewee.Model], given: frozenset[str]) -> dict[str, Any]:
    defaults = {}
    for field in model._meta.sorted_fields:
        if field.name not in given and field.default is not None:
            default = field.default
            defaults[field.name] = default() if callable(default) else default
    return defaults


def insert(
    db: peewee.Database,
    model: type[peewee.Model],
    values: Mapping[str, Any],
    *,
    ignore: bool = False,
) -> Any:
    """Insert one row (values by field name, defaults filled in as peewee would); returns
    the new primary key, or None when `ignore` is set and the row already existed."""
    values = {**_defaults(model, frozenset(values)), **values}
    fields = [model._meta.fields[name] for name in values]
    params = tuple(f.db_value(v) for f, v in zip(fields, values.values(), strict=True))
    row = db.execute_sql(_sql(db, model, fields, ignore, True), params).fetchone()
    return None if row is None else row[0]


def insert_many(
    db: peewee.Database, model: type[peewee.Model], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert rows that all name the same fields, in one round of executemany."""
    if not rows:
        return
    fields = [model._meta.fields[name] for name in rows[0]]
    params = [tuple(f.db_value(row[f.name]) for f in fields) for row in rows]
    db.cursor().executemany(_sql(db, model, fields, False, False), params)


def create(
    db: peewee.Database,
    model: type[peewee.Model],
    values: Mapping[str, Any],
    *,
    ignore: bool = False,
) -> Any:
    """Like `model.create(**values)`: insert, and return the model object as if loaded
    (None when `ignore` is set and the row already existed)."""
    key = insert(db, model, values, ignore=ignore)
    if key is None:
        return None
    obj: Any = model(**values)  # Any: `_pk` and `_dirty` are peewee's, not in its stubs
    obj._pk = key
    obj._dirty.clear()
    return obj


@functools.lru_cache(maxsize=64)
def _select_sql(table: str, columns: tuple[str, ...], where: str, param: str, lock: bool) -> str:
    names = ", ".join(f'"{c}"' for c in columns)
    tail = " FOR UPDATE" if lock else ""
    return f'SELECT {names} FROM "{table}" WHERE "{where}" = {param}{tail}'


def get(
    db: peewee.Database,
    model: type[peewee.Model],
    field_name: str,
    value: Any,
    *,
    for_update: bool = False,
) -> Any:
    """The row whose `field_name` equals `value` as a model object, or None. With
    `for_update` the row is locked for the transaction (where the database can)."""
    fields = model._meta.sorted_fields
    where = model._meta.fields[field_name]
    lock = for_update and isinstance(db, peewee.PostgresqlDatabase)
    sql = _select_sql(
        model._meta.table_name,
        tuple(f.column_name for f in fields),
        where.column_name,
        db.param,
        lock,
    )
    row = db.execute_sql(sql, (where.db_value(value),)).fetchone()
    if row is None:
        return None
    obj: Any = model(
        __no_default__=1, **{f.name: f.python_value(v) for f, v in zip(fields, row, strict=True)}
    )
    obj._dirty.clear()
    return obj


@functools.lru_cache(maxsize=64)
def _update_sql(table: str, columns: tuple[str, ...], key: str, param: str) -> str:
    assignments = ", ".join(f'"{c}" = {param}' for c in columns)
    return f'UPDATE "{table}" SET {assignments} WHERE "{key}" = {param}'


def update(db: peewee.Database, obj: Any) -> None:
    """Write the fields of `obj` (a model object) that changed, like `save()` with
    only_save_dirty."""
    model: type[peewee.Model] = type(obj)
    fields = [model._meta.fields[name] for name in sorted(obj._dirty)]
    if not fields:
        return
    pk = _primary_key(model)
    sql = _update_sql(
        model._meta.table_name, tuple(f.column_name for f in fields), pk.column_name, db.param
    )
    params = (*(f.db_value(obj.__data__.get(f.name)) for f in fields), pk.db_value(obj._pk))
    db.execute_sql(sql, params)
    obj._dirty.clear()


@functools.lru_cache(maxsize=16)
def _increment_sql(table: str, column: str, key: str, param: str) -> str:
    return (
        f'UPDATE "{table}" SET "{column}" = "{column}" + 1 WHERE "{key}" = {param} '
        f'RETURNING "{column}"'
    )


def increment_sql(
    db: peewee.Database, model: type[peewee.Model], field_name: str, key_name: str
) -> str:
    """`UPDATE ... SET field = field + 1 WHERE key = ? RETURNING field`: a counter's
    next value in one statement (one parameter: the key's value)."""
    fields = model._meta.fields
    return _increment_sql(
        model._meta.table_name,
        fields[field_name].column_name,
        fields[key_name].column_name,
        db.param,
    )


@functools.lru_cache(maxsize=64)
def _count_sql(
    table: str, key: str, since: str, flag: str | None, unless: str | None, param: str
) -> str:
    extra = f' AND "{flag}"' if flag else ""
    if unless:
        extra += f' AND "{unless}" <> {param}'
    return f'SELECT COUNT(*) FROM "{table}" WHERE "{key}" = {param} AND "{since}" > {param}{extra}'


def count_since(
    db: peewee.Database,
    model: type[peewee.Model],
    field_name: str,
    value: Any,
    time_field: str,
    since: Any,
    flag: str | None = None,
    unless: tuple[str, Any] | None = None,
) -> int:
    """Rows whose `field_name` equals `value` and `time_field` is after `since` (and, with
    `flag`, whose boolean field of that name is true; with `unless` (field, value), whose
    field of that name differs from that value)."""
    fields = model._meta.fields
    key, when = fields[field_name], fields[time_field]
    other = None if unless is None else fields[unless[0]]
    sql = _count_sql(
        model._meta.table_name,
        key.column_name,
        when.column_name,
        None if flag is None else fields[flag].column_name,
        None if other is None else other.column_name,
        db.param,
    )
    params = [key.db_value(value), when.db_value(since)]
    if unless is not None and other is not None:
        params.append(other.db_value(unless[1]))
    row = db.execute_sql(sql, tuple(params)).fetchone()
    return int(row[0])


@functools.lru_cache(maxsize=64)
def _column_sql(table: str, column: str, key: str, param: str) -> str:
    return f'SELECT "{column}" FROM "{table}" WHERE "{key}" = {param}'


def column(
    db: peewee.Database, model: type[peewee.Model], field_name: str, key_name: str, value: Any
) -> list[Any]:
    """The values of one field in the rows whose `key_name` field equals `value`."""
    fields = model._meta.fields
    field, key = fields[field_name], fields[key_name]
    sql = _column_sql(model._meta.table_name, field.column_name, key.column_name, db.param)
    return [field.python_value(row[0]) for row in db.execute_sql(sql, (key.db_value(value),))]
