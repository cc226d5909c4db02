"""Every SQL statement is parameterised: values travel as $n parameters, never inside the SQL text.

An AST pass over the services' and the shared package's code finds every string that looks like SQL and is built
at run time (an f-string, ``%`` or ``.format``, ``+`` with something not literal). Such a string may only
interpolate SQL fragments the code itself builds: column lists and placeholder lists, WHERE/SET clauses made of
column names and ``$n``, placeholder numbers, and constants. Those are listed below by name after review; any
other interpolation fails the test, so a new one gets reviewed too.
"""

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOTS = [REPO / "shared" / "ims_shared", *sorted((REPO / "services").glob("*/*_service"))]
# Upper-case keywords, as all the project's SQL is written (English messages say "create", not "CREATE TABLE").
SQL = re.compile(
    r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM|WHERE|VALUES|SET|CREATE (DATABASE|TABLE|INDEX)|DROP (DATABASE|TABLE)"
    r"|ALTER TABLE)\b|= \$"
)

# Interpolations reviewed as safe: they only ever hold identifiers, placeholders or clauses built from both.
FRAGMENTS = {
    "columns",  # ", ".join(<dict built in code>) - column names
    "params",  # ", ".join("$i" ...) - placeholders
    "where",  # " AND ".join(clauses) - "<column> = $n" built from fixed column tuples
    "sets",  # "<column> = $n" pairs, columns from code (keyword arguments / an allow-list)
    "', '.join(sets)",
    "column",  # loop variable over a fixed tuple of column names
    "table",  # one of a module's fixed tuple of table names, checked before use
    "order",  # an ORDER BY list from a module's constant, for that table
    "scope",  # one of two fixed clauses
    "own",
    "shared",
    "i",  # placeholder number
    "len(args)",  # placeholder number
    "_NEW_IMAGES",  # module constant: a parameterised INSERT of images from arrays, reused inside CTEs
    "_AND_THEIR_IMAGES",  # module constant: the parameterised second half of the statements that write jobs
    "PUBLISHED_RETENTION",  # module constant: an interval literal
    "name",  # CREATE/DROP DATABASE "<name>": a database name from configuration, quoted as an identifier
    "_MATCHING",  # module constant: a WHERE clause of columns and $n placeholders (backup-service's listings)
    "_FROM_BACKUPS",  # module constant: the parameterised INSERT of operation logs from backups, reused in a CTE
    "direction",  # "ASC" or "DESC"
    "beyond",  # "<" or ">"
    "after",  # "" or a keyset clause of a SORT_KEYS column and $n placeholders
}


def _sql_text(node: ast.AST) -> str:
    return "".join(
        part.value for part in ast.walk(node) if isinstance(part, ast.Constant) and isinstance(part.value, str)
    )


def _dynamic_parts(node: ast.AST) -> list[str] | None:
    """The interpolated expressions of a run-time string, or None if ``node`` is not one."""
    if isinstance(node, ast.JoinedStr):
        return [ast.unparse(v.value) for v in node.values if isinstance(v, ast.FormattedValue)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant):
        return [ast.unparse(node.right)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        parts = []
        for side in (node.left, node.right):
            inner = _dynamic_parts(side)
            if inner is not None:
                parts += inner
            elif not (isinstance(side, ast.Constant) and isinstance(side.value, str)):
                parts.append(ast.unparse(side))
        return parts
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "format"
        and isinstance(node.func.value, ast.Constant)
    ):
        return [ast.unparse(a) for a in [*node.args, *(k.value for k in node.keywords)]]
    return None


def findings() -> tuple[list[str], int]:
    problems, checked = [], 0
    for root in ROOTS:
        for path in sorted(root.rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                parts = _dynamic_parts(node)
                if parts is None or not SQL.search(_sql_text(node)):
                    continue
                checked += 1
                unknown = [p for p in parts if p not in FRAGMENTS]
                if unknown:
                    where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', '?')}"
                    problems.append(f"{where}: SQL built with {unknown}: {ast.unparse(node)[:160]}")
    return problems, checked


def test_every_sql_statement_is_parameterised() -> None:
    problems, checked = findings()
    assert checked > 5, "the scan found (almost) no dynamic SQL: is it looking in the right place?"
    assert problems == [], "values interpolated into SQL:\n" + "\n".join(problems)
    print(f"\n[figures] SQL parameterisation: dynamic SQL strings={checked}, unreviewed interpolations=0")


def test_the_check_catches_an_interpolated_value() -> None:
    bad = ast.parse("conn.fetch(f\"SELECT * FROM images WHERE image_id = '{image_id}'\")")
    call = next(n for n in ast.walk(bad) if isinstance(n, ast.JoinedStr))
    assert _dynamic_parts(call) == ["image_id"]
    concatenated = ast.parse('"DELETE FROM outbox WHERE id = " + str(row_id)').body[0].value  # type: ignore[attr-defined]
    assert _dynamic_parts(concatenated) == ["str(row_id)"]
