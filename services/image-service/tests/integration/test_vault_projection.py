"""The vaults image-service accepts shared images into: its projection of backup-service's vaults."""

import pytest

from image_service.app import MIGRATIONS
from image_service.vaults import check_vault, record_vault
from ims_shared.refusal import Refusal
from tests.support import fresh_database

pytestmark = pytest.mark.integration


async def test_a_shared_image_is_accepted_only_into_a_live_vault_of_the_recipients_project() -> None:
    async def refused(project_id: str, vault_id: str) -> str:
        with pytest.raises(Refusal) as caught:
            await check_vault(conn, project_id, vault_id)
        assert vault_id in caught.value.message and "CreateVault" in caught.value.message
        return caught.value.code

    async with fresh_database(MIGRATIONS) as (_, pool), pool.acquire() as conn:
        assert await refused("p-beta", "v-1") == "IMG.0250"  # not told yet
        assert await record_vault(conn, "v-1", "p-beta", deleted=False)
        await check_vault(conn, "p-beta", "v-1")
        assert await refused("p-alpha", "v-1") == "IMG.0250"  # beta's vault, not alpha's
        assert not await record_vault(conn, "v-1", "p-alpha", deleted=True)  # another project's id: nothing changes
        await check_vault(conn, "p-beta", "v-1")
        assert await record_vault(conn, "v-1", "p-beta", deleted=True)
        assert await refused("p-beta", "v-1") == "IMG.0250"
