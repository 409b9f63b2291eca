"""gateway.support.jsonio: msgspec's and orjson's speed with exactly the standard library's notion
of JSON."""

from __future__ import annotations

import json
import math

import pytest

from gateway.errors import RequestJSONError
from gateway.support import jsonio


@pytest.mark.parametrize(
    "text",
    [
        b'{"data": [{"id": 1, "total": 1999, "price": 12.5, "name": "M\\u00fcller"}]}',
        '{"name": "Müller", "nested": {"list": [1, 2.0, null, true, false, ""]}}'.encode(),
        b"[1e400, -0.0, 0.1, 123456789012345678]",
        b'"\\ud83d\\ude00"',
    ],
)
def test_loads_equals_the_standard_library(text: bytes) -> None:
    assert jsonio.loads(text) == json.loads(text)
    assert jsonio.loads(text.decode()) == json.loads(text)


def test_what_the_fast_libraries_refuse_or_misread_is_read_as_json_reads_it() -> None:
    # JSON as Python's json reads it: NaN, integers beyond 64 bits, lone surrogates
    assert math.isnan(jsonio.loads(b'{"a": NaN}')["a"])
    assert jsonio.loads(b"[123456789012345678901234567890]") == [123456789012345678901234567890]
    assert jsonio.loads(b"[-9223372036854775809]") == [-9223372036854775809]
    assert jsonio.loads(b"[18446744073709551616]") == [18446744073709551616]
    assert jsonio.loads(b'"\\ud800"') == "\ud800"
    assert jsonio.loads('{"a": 1}'.encode("utf-16")) == {"a": 1}


@pytest.mark.parametrize("text", [b"", b"{", b"{'a': 1}", b"[1,]", b"\xff"])
def test_loads_refuses_what_is_not_json_with_a_value_error(text: bytes) -> None:
    with pytest.raises(ValueError):
        jsonio.loads(text)


def test_dumps_is_compact_utf8_json_that_reads_back() -> None:
    value = {"data": {"name": "Müller", "amount": "12.50", "n": [1, None, True]}}
    encoded = jsonio.dumps(value)
    assert isinstance(encoded, bytes)
    assert json.loads(encoded) == value
    assert b" " not in encoded.replace(b"M\xc3\xbcller", b"")
    assert "Müller".encode() in encoded


def test_dumps_falls_back_for_what_orjson_cannot_encode() -> None:
    value = {"big": 123456789012345678901234567890, 1: "int key"}
    assert json.loads(jsonio.dumps(value)) == {"big": 123456789012345678901234567890,
                                               "1": "int key"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "JSON nested deeper than 64 levels"),
        ("[" * 65 + "]" * 65, "JSON nested deeper than 64 levels"),
        (b'{"a": ' * 70 + b"1" + b"}" * 70, "JSON nested deeper than 64 levels"),
        (b'{"q": "\xff"}', "not UTF-8 (byte 7)"),
        (b"{not json", "not valid JSON (Expecting property name"),
        (b"", "not valid JSON (Expecting value at line 1 column 1)"),
    ],
)
def test_loads_request_refuses_with_one_error_naming_why(text, reason) -> None:
    with pytest.raises(RequestJSONError) as refused:
        jsonio.loads_request(text)
    assert str(refused.value).startswith(reason)
    assert isinstance(refused.value, json.JSONDecodeError)  # what strawberry catches


def test_loads_request_reads_what_loads_reads_up_to_the_cap() -> None:
    deep = b"[" * 64 + b"]" * 64
    assert jsonio.loads_request(deep) == json.loads(deep)
    text = b'{"query": "{ a { b { c { d } } } }", "variables": {"x": [[1, {"y": [2]}]]}}'
    assert jsonio.loads_request(text) == json.loads(text)
    assert math.isnan(jsonio.loads_request(b"[NaN]")[0])
