"""The statements that find a project's images: ListImages' pages, filters and order (``list_position``,
``list_images``), how many images a project has, and the tag calls' reads (ListImagesTags, ListImageByTags). Each
builds its WHERE clause from column names and ``$n`` placeholders only; the values travel as parameters."""

from typing import Any

import asyncpg

from image_service.domain import PLATFORMS, Listing
from image_service.repository import Conn
from image_service.tags import TagCondition, TagQuery


def _listed_scope(listing: Listing, args: list[Any]) -> str:
    """The images a listing of project ``$1`` shows: its own (``private``), those shared with it whose member status
    is the listing's (``shared``; the status appended to ``args``), or both."""
    own = "project_id = $1"
    if listing.scope == "private":
        return own
    args.append(listing.member_status)
    i = len(args)
    shared = f"image_id IN (SELECT image_id FROM members WHERE member_id = $1 AND status = ${i})"
    return shared if listing.scope == "shared" else f"({own} OR {shared})"


def _platform_patterns(platform: str) -> tuple[str | None, list[str]] | None:
    """The OS versions of ``__platform`` as ``domain.platform_of`` names it: those that contain the platform's name
    (any for ``Other``) and none of the names before it in ``PLATFORMS`` (all of them for ``Other``), as ILIKE
    patterns; None for a platform no image has."""
    if platform == "Other":
        return None, [f"%{name}%" for name in PLATFORMS]
    if platform not in PLATFORMS:
        return None
    index = PLATFORMS.index(platform)
    return f"%{platform}%", [f"%{name}%" for name in PLATFORMS[:index]]


async def list_position(conn: Conn, project_id: str, marker: str, listing: Listing) -> tuple[Any, str] | None:
    """Where a page after ``marker`` starts: the (sort column, image_id) of that image when the project's listing
    shows it, or has shown it (deleted since, a page may still follow it); None for any other id, another tenant's
    image as an unknown one."""
    args: list[Any] = [project_id, marker]
    scope = _listed_scope(listing, args)
    column = listing.sort_column
    row = await conn.fetchrow(
        f"SELECT {column} AS position, image_id FROM images WHERE image_id = $2 AND {scope}", *args
    )
    return (row["position"], row["image_id"]) if row else None


LISTED_COLUMNS = ("name", "status", "backup_id", "enterprise_project_id", "os_type", "image_id", "min_disk")
"""The ListImages filters that are a column's value (``owner`` is ``project_id``)."""


async def list_images(
    conn: Conn,
    project_id: str,
    filters: dict[str, Any],
    limit: int,
    after: tuple[Any, str] | None = None,
    listing: Listing = Listing(),
) -> list[asyncpg.Record]:
    """The project's own images (``private``) and the images shared with it (``shared``, by member status), in
    the listing's order, from ``after`` (a ``list_position``) on."""
    args: list[Any] = [project_id]
    clauses = [_listed_scope(listing, args), "deleted_at IS NULL"]
    for column in LISTED_COLUMNS:
        if filters.get(column) is not None:
            args.append(filters[column])
            clauses.append(f"{column} = ${len(args)}")
    if filters.get("owner") is not None:
        args.append(filters["owner"])
        clauses.append(f"project_id = ${len(args)}")
    if filters.get("platform") is not None:
        patterns = _platform_patterns(filters["platform"])
        if patterns is None:
            clauses.append("false")
        else:
            named, before = patterns
            if named is not None:
                args.append(named)
                clauses.append(f"coalesce(os_version, '') ILIKE ${len(args)}")
            args.append(before)
            clauses.append(f"NOT coalesce(os_version, '') ILIKE ANY (${len(args)}::text[])")
    if listing.tag is not None:
        args.append([listing.tag])
        clauses.append(f"tags @> ${len(args)}::jsonb")
    column = listing.sort_column
    if after is not None:
        args += after
        clauses.append(f"({column}, image_id) {'<' if listing.descending else '>'} (${len(args) - 1}, ${len(args)})")
    order = f"{column} DESC, image_id DESC" if listing.descending else f"{column} ASC, image_id ASC"
    args.append(limit)
    where = " AND ".join(clauses)
    return await conn.fetch(f"SELECT * FROM images WHERE {where} ORDER BY {order} LIMIT ${len(args)}", *args)


async def images_of_project(conn: Conn, project_id: str) -> int:
    """How many images the project has (not deleted; those shared with it are another project's)."""
    count: int = await conn.fetchval(
        "SELECT count(*) FROM images WHERE project_id = $1 AND deleted_at IS NULL", project_id
    )
    return count


async def project_tags(conn: Conn, project_id: str) -> list[asyncpg.Record]:
    """Every tag key of the project's images, with the values it has (IMS ListImagesTags), in order of key."""
    return await conn.fetch(
        """
        SELECT t->>'key' AS key, array_agg(DISTINCT t->>'value' ORDER BY t->>'value') AS values
        FROM images i, jsonb_array_elements(i.tags) AS t
        WHERE i.project_id = $1 AND i.deleted_at IS NULL
        GROUP BY t->>'key'
        ORDER BY t->>'key'
        """,
        project_id,
    )


def _has_tag(condition: TagCondition, args: list[Any]) -> str:
    """A clause: the image has a tag with the condition's key, and one of its values when it names any (the
    condition travels as one JSON parameter, ``{key, values}``)."""
    args.append({"key": condition.key, "values": list(condition.values)})
    return (
        f"EXISTS (SELECT 1 FROM jsonb_array_elements(tags) AS t WHERE t->>'key' = ${len(args)}::jsonb->>'key' "
        f"AND (jsonb_array_length(${len(args)}::jsonb->'values') = 0 "
        f"OR (${len(args)}::jsonb->'values') ? (t->>'value')))"
    )


def _tag_query_where(project_id: str, query: TagQuery) -> tuple[str, list[Any]]:
    """The WHERE clause of a ``TagQuery`` over the project's live images, and its arguments."""
    args: list[Any] = [project_id]
    clauses = ["project_id = $1", "deleted_at IS NULL"]
    if query.without_any_tag:
        clauses.append("jsonb_array_length(tags) = 0")
    clauses += [_has_tag(c, args) for c in query.tags]
    if query.tags_any:
        clauses.append("(" + " OR ".join(_has_tag(c, args) for c in query.tags_any) + ")")
    if query.not_tags:
        clauses.append("NOT (" + " AND ".join(_has_tag(c, args) for c in query.not_tags) + ")")
    if query.not_tags_any:
        clauses.append("NOT (" + " OR ".join(_has_tag(c, args) for c in query.not_tags_any) + ")")
    if query.name_contains is not None:
        args.append(query.name_contains)
        clauses.append(f"strpos(name, ${len(args)}) > 0")
    if query.image_id is not None:
        args.append(query.image_id)
        clauses.append(f"image_id = ${len(args)}")
    return " AND ".join(clauses), args


async def images_by_tags(conn: Conn, project_id: str, query: TagQuery) -> tuple[int, list[asyncpg.Record]]:
    """How many of the project's images a ``TagQuery`` finds, and (unless it only counts) its page of them, newest
    first."""
    where, args = _tag_query_where(project_id, query)
    total: int = await conn.fetchval(f"SELECT count(*) FROM images WHERE {where}", *args)
    if query.count:
        return total, []
    args.append([query.limit, query.offset])
    rows = await conn.fetch(
        f"SELECT image_id, name, status, tags FROM images WHERE {where} "
        f"ORDER BY created_at DESC, image_id DESC LIMIT (${len(args)}::int[])[1] OFFSET (${len(args)}::int[])[2]",
        *args,
    )
    return total, rows
