"""The depth scan of request bodies (``ims_shared.service.nested_deeper_than``): brackets outside strings, as the
JSON parsers will recurse on them, in whatever encoding the parsers accept, in linear time."""

import json
import time

import pytest

from ims_shared.service import MAX_BODY_DEPTH, nested_deeper_than


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("body", "deeper"),
    [
        ('[{"op": "replace", "path": "/name", "value": "web"}]', False),
        (nested(MAX_BODY_DEPTH), False),
        (nested(MAX_BODY_DEPTH + 1), True),
        ('{"a": ' * 40 + "1" + "}" * 40, True),
        ("[{}, [{}], " * 10_000 + "[]" + "]" * 10_000, True),  # deep by interleaving, never two openers in a row
        ("[[], [], []]" * 1000, False),
        (json.dumps({"text": "[" * 100 + '\\"{' * 100}), False),  # brackets and escaped quotes inside a string
        ('{"a": "ends with a backslash\\\\", "b": ' + nested(40) + "}", True),
        ('{"open": "never closed ' + nested(40), False),  # the parser refuses the unterminated string first
        ("", False),
        ("not json at all [[[", False),
    ],
)
def test_brackets_outside_strings_are_counted(body: str, deeper: bool) -> None:
    assert nested_deeper_than(body.encode(), MAX_BODY_DEPTH) is deeper


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-8-sig"])
def test_a_body_in_another_encoding_the_parser_reads_is_scanned_as_it_reads_it(encoding: str) -> None:
    # U+2241's UTF-16 bytes contain 0x22, a quote to a byte scan, which would then take the real brackets for text.
    body = '{"a": "\u2241", "b": ' + nested(3000) + "}"
    with pytest.raises(RecursionError):
        json.loads(body.encode(encoding))
    assert nested_deeper_than(body.encode(encoding), MAX_BODY_DEPTH)
    assert not nested_deeper_than('{"a": "\u2241", "b": [[1]]}'.encode(encoding), MAX_BODY_DEPTH)


@pytest.mark.parametrize(
    "body",
    [
        b'"\\' * 500_000,  # a quote after every escape: a string pattern restarting at each quote is quadratic
        b"[" + b"[]," * 340_000 + b"[]]",  # a mebibyte of brackets, each counted
        b'"' + b"x" * 1_000_000,
    ],
    ids=["escaped-quotes", "flat-brackets", "open-string"],
)
def test_a_mebibyte_is_scanned_in_linear_time(body: bytes) -> None:
    started = time.perf_counter()
    nested_deeper_than(body, MAX_BODY_DEPTH)
    assert time.perf_counter() - started < 2.0
