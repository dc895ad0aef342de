"""Column types shared by the models and the migrations.

Times are stored as naive UTC and handed out as aware UTC datetimes, so every
comparison in the code is between aware values and both databases agree.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import peewee


class UTCDateTimeField(peewee.DateTimeField):
    def db_value(self, value: Any) -> Any:
        if isinstance(value, dt.datetime):
            if value.tzinfo is None:
                raise ValueError("naive datetime given to a UTC column")
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return super().db_value(value)

    def python_value(self, value: Any) -> Any:
        value = super().python_value(value)
        if isinstance(value, dt.datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


class JSONTextField(peewee.TextField):
    """JSON kept as text: portable, and never queried inside."""

    def db_value(self, value: Any) -> Any:
        return None if value is None else json.dumps(value, ensure_ascii=False)

    def python_value(self, value: Any) -> Any:
        return None if value is None else json.loads(value)
