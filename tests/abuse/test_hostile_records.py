"""Hostile records (tests/abuse/hostile.py) against the contract and every service's real consumer.

Whatever a record holds (JSON nested 10,000 deep, strings of a megabyte, numbers no reader can hold, text that is not
UTF-8, a value of the wrong type in any field, a type on a topic not its own, a principal producing what it may not),
reading it is a contract error: each consumer that reads it dead-letters it once, with the contract's reason, and
goes on with the next records of its partition and of the batch's other partitions. No record fails in a handler, is
read again, or is lost. ``FAULTS_FULL=1`` tries deeper nesting and more hypothesis examples."""

import asyncio
import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ims_shared.consumer import DEAD_LETTER_HEADER_BYTES, EventProcessor
from ims_shared.events import EVENT_TYPES, ContractError, parse_event
from ims_shared.events.registry import MAX_EVENT_BYTES
from ims_shared.kafka import MAX_MESSAGE_BYTES
from tests.abuse import hostile
from tests.abuse.consumers import SERVICES, DeadLetters, consumer_of
from tests.abuse.hostile import CONTRACT_REASONS, Hostile
from tests.abuse.test_fuzz_events import data_of
from tests.faults.tools import FULL, report, size
from tests.support import consumer_record, signer_of

DEPTHS = size((33, 1_000, 1_025, 10_000), (33, 100, 1_000, 1_023, 1_024, 1_025, 3_000, 10_000, 100_000))
LONG = size(64 * 1024, 1_000_000)  # a long string in every field: an index refuses a row over 8 kB
EXAMPLES = size(40, 600)
BATCH = 20


def _contract_reason(reason: str) -> bool:
    return reason.startswith(CONTRACT_REASONS) and not reason.startswith(("handler error", "undecodable"))


# -- the contract, for every type -----------------------------------------------------------------------------------
def test_every_hostile_record_of_every_type_is_a_contract_error_when_read() -> None:
    """``parse_event`` raises ``ContractError`` (never anything else) for every hostile value of every type."""
    tried: Counter[str] = Counter()
    taken: Counter[str] = Counter()
    for event_type in sorted(EVENT_TYPES):
        # Megabyte strings and the deepest nesting for one type (for every one at full size): they do not depend on it.
        heavy = event_type == "BackupCreated" or FULL
        records = [*hostile.nesting(event_type, DEPTHS if heavy else DEPTHS[:2]), *hostile.numbers(event_type)]
        records += [*hostile.encodings(event_type), *hostile.wrong_types(event_type)]
        records += [*hostile.long_strings(event_type, 4096), *(hostile.strings(event_type) if heavy else ())]
        for record in records:
            tried[record.kind] += 1
            try:
                parse_event(record.value)
            except ContractError as exc:
                assert _contract_reason(str(exc)), (record.name, str(exc))
                assert not record.reason or record.reason in str(exc), (record.name, str(exc))
                continue
            except Exception as exc:
                raise AssertionError(f"{event_type}, {record.name}: {type(exc).__name__}: {exc}"[:500]) from None
            assert not record.refused, f"{event_type}, {record.name}: read as a valid event"
            taken[record.kind] += 1
    report("hostile records read", types=len(EVENT_TYPES), **tried, read_as_valid=dict(taken))


# -- through every service's consumer -------------------------------------------------------------------------------
@dataclass
class Tally:
    tried: Counter[str] = field(default_factory=Counter)
    dead: Counter[str] = field(default_factory=Counter)
    handled: Counter[str] = field(default_factory=Counter)
    ignored: Counter[str] = field(default_factory=Counter)
    canaries: int = 0


Letter = tuple[bytes | None, bytes | None, list[tuple[str, bytes]]]
"""A dead letter as produced: its key, value and every header, in order."""


@dataclass
class Case:
    kind: str
    name: str
    record: ConsumerRecord[Any, Any]
    refused: bool | None  # None: refused only if the service handles its type
    reason: str = ""
    principal: str = ""
    event_type: str | None = None
    letter: Callable[[Letter], None] | None = None  # what else its dead letter must be


class Feeder:
    """Feeds records to a processor in batches over two partitions, each batch ending with a valid event on each
    partition (canaries), and says what became of every record."""

    def __init__(self, processor: EventProcessor[Any], dead: DeadLetters, pool: asyncpg.Pool, canary: Any) -> None:
        self.processor, self.dead, self.pool, self.canary = processor, dead, pool, canary
        self.offset = 0
        self.tally = Tally()

    def next_offset(self) -> int:
        self.offset += 1
        return self.offset

    async def feed(self, cases: list[Case], handled_types: Iterable[str]) -> None:
        handled_types = set(handled_types)
        for start in range(0, len(cases), BATCH):
            batch = cases[start : start + BATCH]
            canaries = [self.canary(self.next_offset(), partition) for partition in (0, 1)]
            before = len(self.dead.records)
            await self.processor.process([c.record for c in batch] + [record for record, _ in canaries])
            letters: dict[int, list[Letter]] = defaultdict(list)
            for letter in self.dead.records[before:]:
                letters[int(dict(letter[2])["dlt-original-offset"])].append(letter)
            for record, event_id in canaries:
                assert record.offset not in letters, f"a valid event was dead-lettered: {letters[record.offset]}"
                assert await self._in_inbox(event_id), "a valid event after hostile records was not handled"
                self.tally.canaries += 1
            for case in batch:
                await self._judge(case, letters.pop(case.record.offset, []), handled_types)
            assert not letters, f"dead letters of no record: {letters}"

    async def _judge(self, case: Case, letters: list[Letter], handled_types: set[str]) -> None:
        self.tally.tried[case.kind] += 1
        refused = case.refused if case.refused is not None else case.event_type in handled_types
        if letters:
            assert len(letters) == 1, f"{case.name}: dead-lettered {len(letters)} times"
            headers = letters[0][2]
            ours = [name for name, _ in headers if name in ("dlt-reason", "dlt-consumer", "dlt-original-offset")]
            assert len(ours) == 3, f"{case.name}: {ours}"
            reason = dict(headers)["dlt-reason"].decode()
            assert _contract_reason(reason), f"{case.name}: {reason[:300]}"
            assert case.reason in reason, f"{case.name}: {reason[:300]}"
            if case.principal:
                assert dict(headers)["dlt-principal"].decode() == case.principal, case.name
            if case.letter is not None:
                case.letter(letters[0])
            self.tally.dead[case.kind] += 1
            return
        assert not refused, f"{case.name}: not dead-lettered"
        event_id = _event_id(case.record.value)
        if case.refused is None:  # a type this service does not consume: ignored, so nothing was written
            assert event_id is None or not await self._in_inbox(event_id), case.name
            self.tally.ignored[case.kind] += 1
            return
        assert event_id is not None and await self._in_inbox(event_id), f"{case.name}: neither handled nor refused"
        self.tally.handled[case.kind] += 1

    async def _in_inbox(self, event_id: str) -> bool:
        return bool(await self.pool.fetchval("SELECT 1 FROM inbox WHERE event_id = $1", event_id))


def _event_id(value: bytes | None) -> str | None:
    try:
        doc = json.loads(value or b"")
    except (ValueError, RecursionError):
        return None
    return doc.get("id") if isinstance(doc, dict) and isinstance(doc.get("id"), str) else None


def _canary_type(handled: Iterable[str]) -> str:
    return "BackupCreated" if "BackupCreated" in handled else sorted(handled)[0]


def _canary(event_type: str) -> Any:
    def make(offset: int, partition: int) -> tuple[ConsumerRecord[Any, Any], str]:
        doc = hostile.document(event_type)
        signer = "alpha" if EVENT_TYPES[event_type].producers.tenants else hostile.owner(event_type)
        topic = hostile.own_topic(event_type)
        return consumer_record(topic, offset, hostile.encoded(doc), partition=partition, signed_by=signer), doc["id"]

    return make


def _hostile_cases(feeder: Feeder, records: Iterable[Hostile], event_type: str) -> list[Case]:
    topic = hostile.own_topic(event_type)
    cases = []
    for record in records:
        offset = feeder.next_offset()
        consumed = consumer_record(
            topic, offset, record.value, partition=offset % 2, signed_by=hostile.owner(event_type)
        )
        cases.append(Case(record.kind, f"{event_type}: {record.name}", consumed, record.refused, record.reason))
    return cases


def _record_cases(feeder: Feeder, event_type: str) -> list[Case]:
    """Records as large as a producer sends, in their value, headers or key, and with headers that pass for a dead
    letter's: their dead letters must still be sent (a producer refuses a record over ``MAX_MESSAGE_BYTES``), once."""
    topic, signer = hostile.own_topic(event_type), hostile.owner(event_type)
    text = hostile.encoded(hostile.document(event_type))
    overhead = DefaultRecordBatchBuilder.estimate_size_in_bytes(b"k", b"", [signer_of(signer).header(b"")])
    largest = text + b" " * (MAX_MESSAGE_BYTES - overhead - 8 - len(text))
    junk = [("x-junk", b"j" * (MAX_MESSAGE_BYTES - 4096))]
    forged = [("dlt-reason", b"all good"), ("dlt-consumer", b"nobody"), ("dlt-original-offset", b"0")]

    def cut(letter: Letter) -> None:
        assert dict(letter[2])["dlt-value-bytes"] == str(len(largest)).encode()
        assert letter[1] == largest[:MAX_EVENT_BYTES]

    def without_junk(letter: Letter) -> None:
        assert "x-junk" not in dict(letter[2]) and "dlt-headers-dropped" in dict(letter[2])

    def key_cut(letter: Letter) -> None:
        assert letter[0] is not None and len(letter[0]) == DEAD_LETTER_HEADER_BYTES
        assert dict(letter[2])["dlt-key-bytes"] == str(MAX_MESSAGE_BYTES - 4096).encode()

    huge_key = b"k" * (MAX_MESSAGE_BYTES - 4096)
    relayed = [("ce-type", b"ImageShared")]  # a type no service consumes
    records = [
        ("a value as large as a producer sends", largest, b"k", [], "event of", cut, signer),
        ("headers as large as a producer sends", b"{not json", b"k", junk, "not JSON", without_junk, signer),
        ("a key as large as a producer sends", b"{not json", huge_key, [], "not JSON", key_cut, signer),
        ("headers that pass for a dead letter's", b"[1]", b"k", forged, "a CloudEvent must be", None, signer),
        ("a tenant's unreadable record, ce-type a type nobody reads", b"{", b"k", relayed, "not JSON", None, "alpha"),
    ]  # fmt: skip
    cases = []
    for name, value, key, headers, reason, check, by in records:
        offset = feeder.next_offset()
        record = consumer_record(topic, offset, value, key, headers, offset % 2, signed_by=by)
        cases.append(Case("record limits", name, record, True, reason, letter=check))
    return cases


def _signed_cases(feeder: Feeder) -> list[Case]:
    cases = []
    for signed in hostile.forbidden():
        offset = feeder.next_offset()
        record = consumer_record(signed.topic, offset, signed.value, partition=offset % 2, signed_by=signed.signer)
        kind = "tenant" if signed.signer in hostile.TENANTS else "service" if "-" in signed.signer else "integration"
        principal = f"{kind}:{signed.signer}"
        cases.append(Case(signed.kind, signed.name, record, None, signed.reason, principal, signed.event_type))
    return cases


@pytest.mark.integration
@pytest.mark.parametrize("service", SERVICES)
async def test_every_consumer_dead_letters_each_hostile_record_once_and_goes_on(service: str) -> None:
    started = time.monotonic()
    async with consumer_of(service, "ims_hostile") as (processor, dead, pool, handlers):
        handled = sorted(handlers.handlers)
        feeder = Feeder(processor, dead, pool, _canary(_canary_type(handled)))
        for i, event_type in enumerate(handled):
            records = [*hostile.wrong_types(event_type), *hostile.long_strings(event_type, LONG)]
            if i == 0 or FULL:  # the kinds that do not depend on the type: for one (every one at full size)
                records += [*hostile.nesting(event_type, DEPTHS), *hostile.strings(event_type)]
                records += [*hostile.numbers(event_type), *hostile.encodings(event_type)]
            await feeder.feed(_hostile_cases(feeder, records, event_type), handled)
        await feeder.feed(_record_cases(feeder, handled[0]), handled)
        await feeder.feed(_signed_cases(feeder), handled)
    tally = feeder.tally
    report(
        f"hostile records, {service}",
        records=sum(tally.tried.values()),
        dead_letters=sum(tally.dead.values()),
        tried=dict(tally.tried),
        handled=dict(tally.handled),
        ignored=dict(tally.ignored),
        valid_after_them=tally.canaries,
        seconds=round(time.monotonic() - started, 1),
    )


# -- hypothesis: a hostile part anywhere in an event the contract generates -----------------------------------------
FRAGMENTS = st.one_of(
    st.builds(hostile.nested, st.integers(33, 12_000), st.sampled_from(hostile.SHAPES)),
    st.sampled_from([literal for literal, refused in hostile.HUGE_NUMBERS.values() if refused]),
    st.sampled_from([b'"\\ud800"', b'"a\\udfffb"', b'"\\u0000"', b'"a\xffb"', b'"\xed\xa0\x80"', b'"\x01"']),
    st.integers(MAX_EVENT_BYTES + 1, MAX_EVENT_BYTES + 4096).map(lambda n: b'"' + b"x" * n + b'"'),
)


def _paths(doc: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every place of a document a value may go: its attributes and fields, nested ones, and new ones."""
    paths = [(*prefix, hostile.PLACEHOLDER + "new")]
    if isinstance(doc, dict):
        for key, value in doc.items():
            paths.append((*prefix, key))
            if isinstance(value, dict):
                paths += _paths(value, (*prefix, key))
    return paths


@st.composite
def mutated(draw: st.DrawFn, types: list[str]) -> bytes:
    event_type = draw(st.sampled_from(types))
    doc = hostile.document(event_type, draw(data_of(event_type)))
    path = draw(st.sampled_from(_paths(doc)))
    if path[-1] == hostile.PLACEHOLDER + "new":
        path = (*path[:-1], draw(st.sampled_from(["ext", "hostile", "x" * 30, "Upper"])))
    value = hostile.render(doc, path, draw(FRAGMENTS))
    codec = draw(st.sampled_from([None, None, None, "utf-16", "utf-32", "bom"]))
    if codec == "bom":
        return b"\xef\xbb\xbf" + value
    return value if codec is None else value.decode("utf-8", "replace").encode(codec, "surrogatepass")


@pytest.mark.integration
@pytest.mark.parametrize("service", SERVICES)
async def test_hostile_parts_anywhere_in_generated_events_are_dead_lettered(service: str) -> None:
    async with consumer_of(service, "ims_hostile_gen") as (processor, dead, pool, handlers):
        handled = sorted(handlers.handlers)
        feeder = Feeder(processor, dead, pool, _canary(_canary_type(handled)))
        by_type: dict[str, list[Case]] = defaultdict(list)

        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(value=mutated(handled))
        def generate(value: bytes) -> None:
            try:
                event_type = str(json.loads(value)["type"])
            except (ValueError, RecursionError, KeyError, TypeError):
                event_type = handled[0]
            event_type = event_type if event_type in handled else handled[0]
            by_type[event_type] += _hostile_cases(feeder, [Hostile("generated", "generated", value)], event_type)

        await asyncio.to_thread(generate)
        for cases in by_type.values():
            await feeder.feed(cases, handled)
    tally = feeder.tally
    report(
        f"hostile parts in generated events, {service}",
        records=sum(tally.tried.values()),
        dead_letters=sum(tally.dead.values()),
        valid_after_them=tally.canaries,
    )
