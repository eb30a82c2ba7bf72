"""Unit tests of the value helpers: ``fit_text``, ``json_safe`` and ``metrics_dict``."""

from __future__ import annotations

import enum
import json
import math
import re
import uuid
from collections import OrderedDict
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from types import MappingProxyType
from typing import Any

import pytest

from celery_office.core.limits import TASK_MAX
from celery_office.core.statuses import AgentStatus
from celery_office.jsonsafe import ELLIPSIS, fit_text, json_safe, metrics_dict


def dumps_strict(value: Any) -> str:
    """What a strict JSON encoder (and PostgreSQL's JSONB) accepts."""
    return json.dumps(value, allow_nan=False)


# --------------------------------------------------------------------------- fit_text


def test_fit_text_none_stays_none() -> None:
    assert fit_text(None) is None


@pytest.mark.parametrize("text", ["", "a", "Сканирование цен", "x" * TASK_MAX, "я" * TASK_MAX])
def test_fit_text_short_texts_unchanged(text: str) -> None:
    assert fit_text(text) == text


def test_fit_text_default_limit_is_the_task_column() -> None:
    assert TASK_MAX == 255
    cut = fit_text("x" * 256)
    assert cut == "x" * 254 + ELLIPSIS
    assert len(cut) == 255


@pytest.mark.parametrize("length", [256, 1000, 100_000])
def test_fit_text_long_texts_cut_to_limit_with_ellipsis(length: int) -> None:
    cut = fit_text("я" * length)
    assert len(cut) == TASK_MAX
    assert cut.endswith(ELLIPSIS)
    assert cut[:-1] == "я" * (TASK_MAX - 1)


def test_fit_text_ellipsis_is_one_character() -> None:
    assert ELLIPSIS == "…"
    assert len(ELLIPSIS) == 1


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("abcdef", 6, "abcdef"),
        ("abcdefg", 6, "abcde…"),
        ("ab", 1, "…"),
        ("a", 1, "a"),
        ("Ошибка: timeout", 8, "Ошибка:…"),
    ],
)
def test_fit_text_custom_limit(text: str, limit: int, expected: str) -> None:
    assert fit_text(text, limit) == expected
    assert len(fit_text(text, limit)) <= limit


def test_fit_text_converts_non_strings() -> None:
    assert fit_text(12345) == "12345"
    assert fit_text(ValueError("boom")) == "boom"
    assert fit_text(12345, 3) == "12…"


# --------------------------------------------------------------------------- json_safe: scalars


@pytest.mark.parametrize("value", [None, True, False, 0, -7, 2**40, "", "текст", 1.5, -0.25])
def test_json_safe_plain_values_unchanged(value: Any) -> None:
    result = json_safe(value)
    assert result == value
    assert type(result) is type(value)


def test_json_safe_keeps_bools_as_bools() -> None:
    assert json_safe(True) is True
    assert json_safe({"flag": False}) == {"flag": False}
    assert json_safe({"flag": False})["flag"] is False


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_json_safe_non_finite_floats_become_none(value: float) -> None:
    assert json_safe(value) is None


@pytest.mark.parametrize(
    ("value", "expected", "kind"),
    [
        (Decimal("1.5"), 1.5, float),
        (Decimal("-0.25"), -0.25, float),
        (Decimal("3"), 3, int),
        (Decimal("3.00"), 3, int),
        (Decimal("1E+2"), 100, int),
        (Decimal("0"), 0, int),
        (Decimal("123456789012345678901234567890"), 123456789012345678901234567890, int),
    ],
)
def test_json_safe_decimals_become_numbers(value: Decimal, expected: Any, kind: type) -> None:
    result = json_safe(value)
    assert result == expected
    assert type(result) is kind


@pytest.mark.parametrize(
    "value", [Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), Decimal("-Infinity")]
)
def test_json_safe_non_finite_decimals_become_none(value: Decimal) -> None:
    assert json_safe(value) is None


def test_json_safe_dates_and_times_become_iso_text() -> None:
    assert json_safe(datetime(2025, 1, 31, 12, 30, 15, 123456)) == "2025-01-31T12:30:15.123456"
    assert (json_safe(datetime(2025, 1, 31, 12, 30, tzinfo=timezone.utc))
            == "2025-01-31T12:30:00+00:00")
    plus_three = timezone(timedelta(hours=3))
    assert json_safe(datetime(2025, 1, 31, 15, 0, tzinfo=plus_three)) == "2025-01-31T15:00:00+03:00"
    assert json_safe(date(2025, 1, 31)) == "2025-01-31"
    assert json_safe(time(9, 5, 7)) == "09:05:07"


def test_json_safe_timedelta_becomes_seconds() -> None:
    assert json_safe(timedelta(minutes=1, milliseconds=500)) == 60.5
    assert json_safe(timedelta(0)) == 0.0


def test_json_safe_uuid_becomes_text() -> None:
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert json_safe(ident) == "12345678-1234-5678-1234-567812345678"


def test_json_safe_enum_becomes_its_value() -> None:
    class Level(enum.Enum):
        low = Decimal("0.5")
        high = float("inf")

    assert json_safe(AgentStatus.error) == "error"
    assert isinstance(json_safe(AgentStatus.error), str)
    assert json.dumps(json_safe({"s": AgentStatus.error})) == '{"s": "error"}'
    assert json_safe(Level.low) == 0.5
    assert json_safe(Level.high) is None


def test_json_safe_bytes_become_text() -> None:
    assert json_safe(b"abc") == "abc"
    assert json_safe("Привет".encode()) == "Привет"
    assert json_safe(b"\xff\xfe") == "\ufffd\ufffd"


def test_json_safe_other_objects_become_their_str() -> None:
    class Thing:
        def __str__(self) -> str:
            return "a thing"

    assert json_safe(Thing()) == "a thing"
    assert json_safe(ValueError("boom")) == "boom"
    assert json_safe(complex(1, 2)) == "(1+2j)"


# --------------------------------------------------------------------------- json_safe: containers


def test_json_safe_dict_keys_become_strings() -> None:
    result = json_safe({1: "a", 2.5: "b", None: "c", False: "d", uuid.UUID(int=0): "e"})
    assert result == {
        "1": "a",
        "2.5": "b",
        "None": "c",
        "False": "d",
        "00000000-0000-0000-0000-000000000000": "e",
    }
    assert all(type(k) is str for k in result)


def test_json_safe_any_mapping_becomes_a_dict() -> None:
    for mapping in (OrderedDict(a=Decimal("1")), MappingProxyType({"a": Decimal("1")})):
        result = json_safe(mapping)
        assert type(result) is dict
        assert result == {"a": 1}


def test_json_safe_tuples_become_lists() -> None:
    assert json_safe((1, "a", (2, 3))) == [1, "a", [2, 3]]
    assert type(json_safe((1,))) is list


def test_json_safe_sets_become_sorted_lists() -> None:
    assert json_safe({3, 1, 2}) == [1, 2, 3]
    assert json_safe(frozenset({"wb", "ozon", "ym"})) == ["ozon", "wb", "ym"]
    assert json_safe(set()) == []
    mixed = {1, "1", 2.5, None}
    first = json_safe(mixed)
    assert sorted(map(repr, first)) == sorted(map(repr, [1, "1", 2.5, None]))
    assert json_safe(set(mixed)) == first  # deterministic order


def test_json_safe_nested_structures() -> None:
    ident = uuid.uuid4()
    value = {
        "a": [Decimal("0.5"), float("nan"), {"b": (ident, {Decimal("2")})}],
        "c": {"d": {"e": datetime(2025, 1, 1)}},
    }
    assert json_safe(value) == {
        "a": [0.5, None, {"b": [str(ident), [2]]}],
        "c": {"d": {"e": "2025-01-01T00:00:00"}},
    }


def test_json_safe_does_not_mutate_its_input() -> None:
    inner = [Decimal("1.5"), (1, 2)]
    value = {"list": inner, "set": {1, 2}, "nan": float("nan")}
    json_safe(value)
    assert value["list"] is inner
    assert inner == [Decimal("1.5"), (1, 2)]
    assert value["set"] == {1, 2}
    assert math.isnan(value["nan"])


def test_json_safe_output_is_strict_json() -> None:
    value = {
        "decimal": Decimal("1.25"),
        "nan": float("nan"),
        "inf": Decimal("Infinity"),
        "when": datetime.now(timezone.utc),
        "id": uuid.uuid4(),
        "tags": {"a", "b"},
        "pair": (1, 2),
        "status": AgentStatus.warning,
        "raw": b"\x00\x01",
        "obj": object(),
        7: None,
    }
    encoded = dumps_strict(json_safe(value))
    assert json.loads(encoded)["decimal"] == 1.25
    assert json.loads(encoded)["nan"] is None


def test_json_safe_is_idempotent() -> None:
    value = {"d": Decimal("1.5"), "s": {2, 1}, "t": (1, (2,)), "when": date(2025, 1, 31)}
    once = json_safe(value)
    assert json_safe(once) == once


def test_json_safe_huge_integral_decimal_is_still_encodable() -> None:
    dumps_strict(json_safe({"big": Decimal("1e5000")}))


# --------------------------------------------------------------------------- metrics_dict


def test_metrics_dict_none_stays_none() -> None:
    assert metrics_dict(None) is None


def test_metrics_dict_converts_a_mapping() -> None:
    assert metrics_dict({"n": Decimal("2"), "s": {1}}) == {"n": 2, "s": [1]}
    assert metrics_dict({}) == {}
    assert type(metrics_dict(MappingProxyType({"a": 1}))) is dict


@pytest.mark.parametrize("bad", [[1, 2], (("a", 1),), "a=1", 5, 1.5, {1, 2}, b"{}"])
def test_metrics_dict_rejects_non_mappings(bad: Any) -> None:
    message = f"metrics must be a dict of JSON-compatible values, got {type(bad).__name__}"
    with pytest.raises(TypeError, match="^" + re.escape(message) + "$"):
        metrics_dict(bad)
