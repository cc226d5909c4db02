"""Event payloads fuzzed (hypothesis) against every service's consumer: the real EventProcessor with the service's
real handlers over a fresh database of its own. Events are generated from the contract's JSON schemas (valid ones
with arbitrary values, this region or another, known tenants or not, ids reused) and then broken (a field
dropped, a wrong type, a wrong envelope, not JSON, too big). Whatever comes, the processor never raises, and
each record is handled (its inbox row), dead-lettered with a reason, or ignored as a type the service does
not consume: never silently lost."""

import asyncio
import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ims_shared.events import EVENT_TYPES
from ims_shared.events.registry import MAX_EVENT_BYTES
from ims_shared.tenants import load_tenants
from tests.abuse.consumers import consumer_of
from tests.faults.tools import FULL, report
from tests.support import consumer_record

pytestmark = pytest.mark.integration
CN = "cn-north-4"
TENANTS = load_tenants(None)
PROJECTS = [p for t in TENANTS.tenants for p in t.projects.values()]
EXAMPLES = 1500 if FULL else 120


# -- values from the contract's JSON schemas -----------------------------------------------------------------
TEXT = st.one_of(
    st.sampled_from(["", "x", CN, "ap-southeast-1", *PROJECTS, "OS::Nova::Server", "Linux", "ACTIVE", "SHUTOFF"]),
    st.text(max_size=40),
    st.uuids().map(str),
)


def from_schema(schema: dict[str, Any], defs: dict[str, Any], depth: int = 0) -> st.SearchStrategy[Any]:
    if "$ref" in schema:
        return from_schema(defs[schema["$ref"].rsplit("/", 1)[1]], defs, depth)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return st.one_of(*(from_schema(s, defs, depth) for s in schema[key]))
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "date-time":
            return st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat())
        low, high = schema.get("minLength", 0), schema.get("maxLength", 64)
        return TEXT.filter(lambda s: low <= len(s) <= high) | st.text(min_size=low, max_size=min(high, low + 20))
    if kind == "integer":
        return st.integers(schema.get("minimum", -(2**40)), schema.get("maximum", 2**40))
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        if depth > 3:
            return st.just([])
        return st.lists(from_schema(schema.get("items", {}), defs, depth + 1), max_size=3)
    if kind == "object" or "properties" in schema:
        if depth > 3:
            return st.just({})
        required = set(schema.get("required", ()))
        fields = {name: from_schema(sub, defs, depth + 1) for name, sub in schema.get("properties", {}).items()}
        return st.fixed_dictionaries(
            {k: v for k, v in fields.items() if k in required},
            optional={k: v for k, v in fields.items() if k not in required},
        )
    return JSON


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def data_of(event_type: str) -> st.SearchStrategy[dict[str, Any]]:
    schema = EVENT_TYPES[event_type].model_json_schema()
    return from_schema(schema, schema.get("$defs", {}))


ID_POOL = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"ims-fuzz-{i}")) for i in range(25)]  # ids that come again


@st.composite
def records(draw: st.DrawFn, types: list[str]) -> bytes | None:
    event_type = draw(st.sampled_from(types))
    data = draw(data_of(event_type))
    event_id = draw(st.sampled_from(ID_POOL)) if draw(st.integers(0, 4)) == 0 else str(draw(st.uuids()))
    doc: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": "/fuzz",
        "type": event_type,
        "time": datetime.now(UTC).isoformat(),
        "region": draw(st.sampled_from([CN, CN, "ap-southeast-1", "nowhere"])),
        "projectid": draw(st.sampled_from([*PROJECTS, "", "p-unknown"])),
        "data": data,
    }
    breakage = draw(st.integers(0, 9))
    if breakage == 1 and data:  # a field dropped
        del data[draw(st.sampled_from(sorted(data)))]
    elif breakage == 2 and data:  # a field of the wrong type
        data[draw(st.sampled_from(sorted(data)))] = draw(JSON)
    elif breakage == 3:  # a broken envelope
        doc[draw(st.sampled_from(sorted(doc)))] = draw(JSON)
    elif breakage == 4:  # not an event at all
        return draw(st.one_of(st.binary(max_size=64), JSON.map(lambda v: json.dumps(v).encode()), st.none()))
    elif breakage == 5:  # another event type's data, or an unknown type
        doc["type"] = draw(st.sampled_from([*sorted(EVENT_TYPES), "NoSuchEvent"]))
    return json.dumps(doc, default=str).encode()


def _record(offset: int, value: bytes | None) -> ConsumerRecord[Any, Any]:
    return consumer_record(f"ims.{CN}.fuzz", offset, value)


@pytest.mark.parametrize("service", ["image-service", "backup-service", "billing-service", "replication-service"])
async def test_fuzzed_events_never_crash_a_consumer_and_are_never_lost(service: str) -> None:
    loop = asyncio.get_running_loop()
    outcomes: Counter[str] = Counter()
    handler_errors: Counter[str] = Counter()
    async with consumer_of(service, "ims_fuzz") as (processor, dead, pool, handlers):
        handled_types = sorted(handlers.handlers)
        offset = 0

        async def one(value: bytes | None) -> None:
            nonlocal offset
            offset += 1
            before_dead = len(dead.sent)
            doc = _json(value)
            seen_before = await _in_inbox(pool, doc)
            await processor.process([_record(offset, value)])
            if len(dead.sent) > before_dead:
                reason = dead.sent[-1][2].get("dlt-reason", b"").decode()
                assert reason, "dead-lettered without a reason"
                outcomes["dead-lettered"] += 1
                if reason.startswith("handler error"):
                    handler_errors[reason.split(":")[1].strip()] += 1
            elif await _in_inbox(pool, doc):
                outcomes["duplicate" if seen_before else "handled"] += 1
            else:
                assert isinstance(doc, dict) and doc.get("type") in EVENT_TYPES, f"lost: {value!r:.300}"
                assert doc["type"] not in handled_types, f"a handled type neither handled nor dead-lettered: {doc}"
                outcomes["ignored"] += 1

        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(value=records(handled_types))
        def fuzz(value: bytes | None) -> None:
            asyncio.run_coroutine_threadsafe(one(value), loop).result(60)

        await asyncio.to_thread(fuzz)
        # And one over the size limit, well-formed otherwise.
        await one(json.dumps({"type": handled_types[0], "id": "big", "pad": "x" * MAX_EVENT_BYTES}).encode())
        assert "exceeds the limit" in dead.sent[-1][2]["dlt-reason"].decode()
    report(f"event fuzzing, {service}", records=sum(outcomes.values()), **outcomes, handler_errors=dict(handler_errors))


def _json(value: bytes | None) -> Any:
    try:
        return json.loads(value or b"")
    except ValueError:
        return None


async def _in_inbox(pool: Any, doc: Any) -> bool:
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str):
        return False
    return bool(await pool.fetchval("SELECT 1 FROM inbox WHERE event_id = $1", doc["id"]))


_ = Decimal
