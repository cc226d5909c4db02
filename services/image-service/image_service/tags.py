"""The tags of an image as IMS keeps them: what a tag may be, adding and deleting them under the tenant's tag policy,
and the queries of ListImageByTags. No I/O: plain values in, tags or a query out."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from image_service.errors import TAG_NOT_FOUND, invalid_parameter
from ims_shared.refusal import Refusal
from ims_shared.tenants import TagPolicy

TAG_KEY_PATTERN = re.compile(r"^[A-Za-z0-9\-_\u4e00-\u9fa5]{1,36}$")
TAG_VALUE_PATTERN = re.compile(r"^[A-Za-z0-9\-_.\u4e00-\u9fa5]{0,43}$")
MAX_TAGS = 10
"""IMS: "An image can have a maximum of 10 tags." """


def normalized_tags(image_tags: list[dict[str, str]], tags: list[str]) -> list[dict[str, str]]:
    """A request's ``image_tags`` or ``tags`` ("key.value") as key/value pairs; both at once is an error."""
    if image_tags and tags:
        raise invalid_parameter("use either tags or image_tags, not both")
    pairs: list[dict[str, str]] = []
    if tags:
        for tag in tags:
            key, sep, value = tag.partition(".")
            if not sep:
                raise invalid_parameter(f"tag {tag!r} must have the form key.value")
            pairs.append({"key": key, "value": value})
    else:
        pairs = [{"key": t.get("key", ""), "value": t.get("value", "") or ""} for t in image_tags]
    check_tags(pairs)
    if len(pairs) > MAX_TAGS:
        raise invalid_parameter(f"at most {MAX_TAGS} tags per image")
    return pairs


def check_tags(pairs: list[dict[str, str]]) -> None:
    """Tags as IMS takes them: unique keys of 1 to 36 letters, digits, hyphens (-) or underscores (_), values of at
    most 43 letters, digits, hyphens, underscores or periods (.), empty allowed."""
    for pair in pairs:
        if not isinstance(pair["key"], str) or not TAG_KEY_PATTERN.fullmatch(pair["key"]):
            raise invalid_parameter(
                f"tag key {pair['key']!r:.50} must be 1 to 36 letters, digits, hyphens (-) or underscores (_)"
            )
        if not isinstance(pair["value"], str) or not TAG_VALUE_PATTERN.fullmatch(pair["value"]):
            raise invalid_parameter(
                f"tag value {pair['value']!r:.50} must be at most 43 letters, digits, hyphens (-), underscores (_) "
                "or periods (.)"
            )
    keys = [p["key"] for p in pairs]
    if len(set(keys)) != len(keys):
        raise invalid_parameter("tag keys must be unique")


def tags_added(current: list[dict[str, str]], pairs: list[dict[str, str]], policy: TagPolicy) -> list[dict[str, str]]:
    """The image's tags once ``pairs`` are added (IMS AddImageTag, BatchAddOrDeleteTags ``create``): a key it has
    already takes the new value, a new key is appended; at most ``MAX_TAGS`` in all, and the tenant's tag policy
    holds for the result."""
    check_tags(pairs)
    tags = [dict(t) for t in current]
    for pair in pairs:
        existing = next((t for t in tags if t["key"] == pair["key"]), None)
        if existing is not None:
            existing["value"] = pair["value"]
        else:
            tags.append({"key": pair["key"], "value": pair["value"]})
    if len(tags) > MAX_TAGS:
        raise invalid_parameter(
            f"an image can have at most {MAX_TAGS} tags; it has {len(current)}, this would make {len(tags)}"
        )
    enforce_tag_policy(tags, policy)
    return tags


def tags_deleted(current: list[dict[str, str]], pairs: list[dict[str, Any]], policy: TagPolicy) -> list[dict[str, str]]:
    """The image's tags once ``pairs`` are deleted (BatchAddOrDeleteTags ``delete``): by key, and only where the
    value matches when one is given (an empty value, as the SDK sends a tag without one, names the key alone); a tag
    it does not have is deleted already. IMS checks no character set here,
    only lengths: a key of 1 to 127 characters, not blank, a value of at most 255. The tenant's tag policy holds for
    the result (a required key stays)."""
    for pair in pairs:
        key, value = pair.get("key"), pair.get("value")
        if not isinstance(key, str) or not key.strip() or len(key) > 127:
            raise invalid_parameter("a tag key to delete must be 1 to 127 characters, not blank")
        if value is not None and (not isinstance(value, str) or len(value) > 255):
            raise invalid_parameter("a tag value to delete must be a string of at most 255 characters")
    keys = [p["key"] for p in pairs]
    if len(set(keys)) != len(keys):
        raise invalid_parameter("tag keys must be unique")
    gone = {p["key"]: p.get("value") for p in pairs}
    tags = [dict(t) for t in current if not (t["key"] in gone and gone[t["key"]] in (None, "", t["value"]))]
    enforce_tag_policy(tags, policy)
    return tags


def tag_removed(current: list[dict[str, str]], key: str, policy: TagPolicy) -> list[dict[str, str]]:
    """The image's tags without ``key`` (IMS DeleteImageTag): a key it does not have is a 404, as IMS answers."""
    if all(t["key"] != key for t in current):
        raise Refusal(TAG_NOT_FOUND, f"the image has no tag with the key {key!r}", status=404)
    tags = [dict(t) for t in current if t["key"] != key]
    enforce_tag_policy(tags, policy)
    return tags


@dataclass(frozen=True)
class TagCondition:
    """One key of a tag query: an image has a tag ``key`` with one of ``values`` (any value when there are none)."""

    key: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class TagQuery:
    """IMS ListImageByTags: the project's images that have every tag of ``tags`` and one of ``tags_any``, and not
    every tag of ``not_tags`` nor any of ``not_tags_any`` (or, ``without_any_tag``, no tag at all), whose name
    contains ``name_contains`` and whose id is ``image_id`` where given; ``count`` (only how many) or a page of
    ``limit`` from ``offset``."""

    count: bool = False
    tags: tuple[TagCondition, ...] = ()
    tags_any: tuple[TagCondition, ...] = ()
    not_tags: tuple[TagCondition, ...] = ()
    not_tags_any: tuple[TagCondition, ...] = ()
    without_any_tag: bool = False
    name_contains: str | None = None
    image_id: str | None = None
    limit: int = 10
    offset: int = 0


TAG_QUERY_LISTS = ("tags", "tags_any", "not_tags", "not_tags_any")
MATCH_KEYS = {"resource_name": "name_contains", "resource_id": "image_id"}


def _tag_conditions(name: str, given: Any) -> tuple[TagCondition, ...]:
    """A list of ``{key, values}`` of a tag query: not empty, at most 10 keys, each unique, of 1 to 127 characters,
    with at most 10 unique values of at most 255 (IMS checks no character set in a query)."""
    if not isinstance(given, list) or not given:
        raise invalid_parameter(f"{name} must be a non-empty list of {{key, values}}")
    if len(given) > 10:
        raise invalid_parameter(f"{name} may name at most 10 keys")
    conditions = []
    for item in given:
        key = item.get("key") if isinstance(item, dict) else None
        values = item.get("values", []) if isinstance(item, dict) else None
        if not isinstance(key, str) or not key.strip() or len(key) > 127:
            raise invalid_parameter(f"a key of {name} must be 1 to 127 characters, not blank")
        if not isinstance(values, list) or not all(isinstance(v, str) and len(v) <= 255 for v in values):
            raise invalid_parameter(
                f"the values of {name} key {key!r} must be a list of strings of at most 255 characters"
            )
        if len(values) > 10 or len(set(values)) != len(values):
            raise invalid_parameter(f"{name} key {key!r} may have at most 10 values, each once")
        conditions.append(TagCondition(key, tuple(values)))
    if len({c.key for c in conditions}) != len(conditions):
        raise invalid_parameter(f"the keys of {name} must be unique")
    return tuple(conditions)


def _whole_number(name: str, given: Any, default: int, low: int, high: int) -> int:
    """``limit`` or ``offset`` of a tag query: the SDK sends them as strings of digits."""
    if given is None:
        return default
    if isinstance(given, str) and given.isascii() and given.isdigit() and len(given) <= 10:
        given = int(given)
    if type(given) is not int or not low <= given <= high:
        raise invalid_parameter(f"{name} must be a whole number from {low} to {high}")
    return given


def tag_query(body: Mapping[str, Any]) -> TagQuery:
    """The query of an IMS ListImageByTags body, validated as IMS does: ``action`` ``filter`` (a page of ``limit``,
    10 by default, at most 1000, from ``offset``) or ``count``; the tag lists (``_tag_conditions``), ignored when
    ``without_any_tag`` is true; ``matches``, unique keys ``resource_name`` (the name contains the value) or
    ``resource_id`` (the id is the value), each value 1 to 255 characters."""
    action = body.get("action")
    if action not in ("filter", "count"):
        raise invalid_parameter("action must be filter or count")
    without_any_tag = body.get("without_any_tag", False)
    if not isinstance(without_any_tag, bool):
        raise invalid_parameter("without_any_tag must be a boolean")
    lists = {name: _tag_conditions(name, body[name]) if body.get(name) is not None else () for name in TAG_QUERY_LISTS}
    if without_any_tag:
        lists = {name: () for name in TAG_QUERY_LISTS}
    matched: dict[str, str] = {}
    matches = body.get("matches")
    if matches is not None:
        if not isinstance(matches, list) or not matches:
            raise invalid_parameter("matches must be a non-empty list of {key, value}")
        for match in matches:
            key = match.get("key") if isinstance(match, dict) else None
            value = match.get("value") if isinstance(match, dict) else None
            if not isinstance(key, str) or key not in MATCH_KEYS:
                raise invalid_parameter(f"a key of matches must be one of {sorted(MATCH_KEYS)}; got {key!r}")
            if MATCH_KEYS[key] in matched:
                raise invalid_parameter(f"the keys of matches must be unique: {key} is given twice")
            if not isinstance(value, str) or not 1 <= len(value) <= 255:
                raise invalid_parameter(f"the value of matches key {key} must be 1 to 255 characters")
            matched[MATCH_KEYS[key]] = value
    return TagQuery(
        count=action == "count",
        without_any_tag=without_any_tag,
        limit=_whole_number("limit", body.get("limit"), 10, 1, 1000),
        offset=_whole_number("offset", body.get("offset"), 0, 0, 2**31 - 1),
        tags=lists["tags"],
        tags_any=lists["tags_any"],
        not_tags=lists["not_tags"],
        not_tags_any=lists["not_tags_any"],
        name_contains=matched.get("name_contains"),
        image_id=matched.get("image_id"),
    )


def enforce_tag_policy(pairs: list[dict[str, str]], policy: TagPolicy) -> None:
    present = {p["key"]: p["value"] for p in pairs}
    for key in policy.required_keys:
        if key not in present:
            raise invalid_parameter(f"the tenant's tag policy requires the tag key {key!r}")
    for key, allowed in policy.allowed_values.items():
        if key in present and present[key] not in allowed:
            raise invalid_parameter(
                f"tag {key}={present[key]!r} is not allowed by the tag policy (allowed: {', '.join(allowed)})"
            )
