from aiokafka.record.default_records import DefaultRecordBatchBuilder

from ims_shared.consumer import DEAD_LETTER_HEADER_BYTES, dead_letter_record
from ims_shared.events.registry import MAX_EVENT_BYTES
from ims_shared.kafka import MAX_MESSAGE_BYTES

OURS = [("dlt-reason", b"not JSON"), ("dlt-consumer", b"image-service.cn-north-4")]


def _size(key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]) -> int:
    return DefaultRecordBatchBuilder.estimate_size_in_bytes(key, value, headers)


def test_a_dead_letter_is_the_record_with_its_reason_after_its_own_headers() -> None:
    own = [("ims-authorization", b"SDK-HMAC-SHA256 ..."), ("ce-type", b"BackupCreated")]
    assert dead_letter_record(b"k", b"{not json", own, OURS) == (b"k", b"{not json", [*own, *OURS])


def test_headers_that_pass_for_a_dead_letters_are_not_copied() -> None:
    own = [("dlt-reason", b"all good"), ("dlt-consumer", b"nobody"), ("x", b"1")]
    assert dead_letter_record(b"k", b"[1]", own, OURS)[2] == [("x", b"1"), *OURS]


def test_a_record_as_large_as_a_producer_sends_gets_a_dead_letter_a_producer_sends() -> None:
    largest = b" " * (MAX_MESSAGE_BYTES - _size(b"k", b"", [("ims-authorization", b"x" * 100)]))
    key, value, headers = dead_letter_record(b"k", largest, [("ims-authorization", b"x" * 100)], OURS)
    assert _size(key, value, headers) <= MAX_MESSAGE_BYTES
    assert value == largest[:MAX_EVENT_BYTES] and ("dlt-value-bytes", str(len(largest)).encode()) in headers

    junk = [("x-junk", b"j" * (MAX_MESSAGE_BYTES - 4096))]
    key, value, headers = dead_letter_record(b"k", b"{", junk, OURS)
    assert (value, headers) == (b"{", [*OURS, ("dlt-headers-dropped", b"1")])

    key, value, headers = dead_letter_record(b"k" * (MAX_MESSAGE_BYTES - 4096), b"{", [], OURS)
    assert (
        key == b"k" * DEAD_LETTER_HEADER_BYTES and ("dlt-key-bytes", str(MAX_MESSAGE_BYTES - 4096).encode()) in headers
    )


def test_a_value_over_the_contracts_limit_that_fits_is_kept_whole() -> None:
    value = b" " * (MAX_EVENT_BYTES + 10)
    assert dead_letter_record(None, value, [], OURS) == (None, value, OURS)
