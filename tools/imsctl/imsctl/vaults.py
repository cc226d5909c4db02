"""``imsctl vault``: CBR server backup vaults, through backup-service's CBR API, signed with the tenant's AK/SK.

A checkpoint (``imsctl cbr checkpoint``) backs up only an ECS that a vault of the project holds, so a script makes
one first: ``V=$(imsctl vault create -q --name web --size-gb 100 --server-id "$S")``.
"""

from typing import Annotated, Any

import typer

from imsctl import output
from imsctl.api import ApiClient, JsonOpt, titled_table
from imsctl.target import Target, connection_options

vault_app = typer.Typer(
    help="CBR server backup vaults (backup-service) as a tenant: the ECSs each holds and its capacity.",
    no_args_is_help=True,
)

SERVER = "OS::Nova::Server"
ServerIdsOpt = Annotated[list[str], typer.Option("--server-id", help="An ECS the vault holds (repeatable).")]


def _resources(server_ids: list[str]) -> list[dict[str, str]]:
    return [{"id": server_id, "type": SERVER} for server_id in server_ids]


@vault_app.command("create")
@connection_options(api=True)
def vault_create(
    target: Target,
    name: Annotated[str, typer.Option("--name")],
    size_gb: Annotated[int, typer.Option("--size-gb", min=1, help="The vault's capacity in GB.")] = 100,
    server_ids: ServerIdsOpt = [],  # noqa: B006 (typer reads the default, never mutates it)
    quiet: output.QuietOpt = False,
) -> None:
    """Create a server backup vault (CreateVault) holding the ECSs given. Prints the new vault id."""
    billing = {
        "cloud_type": "public",
        "consistent_level": "crash_consistent",
        "object_type": "server",
        "protect_type": "backup",
        "size": size_gb,
        "charging_mode": "post_paid",
    }
    body = {"vault": {"name": name, "billing": billing, "resources": _resources(server_ids)}}
    with ApiClient(target, "cbr") as client:
        vault = client.call("POST", f"/v3/{client.project_id}/vaults", body=body)["vault"]
    output.note(f"vault {vault['name']}: {size_gb} GB, holding {len(server_ids)} ECS(s)", quiet=quiet)
    output.print_id(vault["id"])


@vault_app.command("list")
@connection_options(api=True)
def vault_list(target: Target, json_out: JsonOpt = False) -> None:
    """The project's vaults (ListVault) with their capacity and the ECSs they hold."""
    with ApiClient(target, "cbr") as client:
        answer = client.call("GET", f"/v3/{client.project_id}/vaults", query={"limit": 1000})
    if json_out:
        output.print_json(answer)
        return
    table = titled_table(
        f"CBR vaults of project {client.project_id} in {target.region}", ["id", "name", "size", "used", "ECSs"]
    )
    for vault in answer.get("vaults", []):
        billing: dict[str, Any] = vault.get("billing") or {}
        table.add_row(
            *output.plain(
                vault["id"],
                vault["name"],
                f"{billing.get('size')} GB",
                f"{billing.get('used')} MB",
                ", ".join(r["id"] for r in vault.get("resources", [])),
            )
        )
    output.stdout().print(table)


@vault_app.command("show")
@connection_options(api=True)
def vault_show(target: Target, vault_id: Annotated[str, typer.Argument()]) -> None:
    """One vault (ShowVault) as JSON."""
    with ApiClient(target, "cbr") as client:
        output.print_json(client.call("GET", f"/v3/{client.project_id}/vaults/{vault_id}"))


@vault_app.command("add-server")
@connection_options(api=True)
def vault_add_server(target: Target, vault_id: Annotated[str, typer.Argument()], server_ids: ServerIdsOpt) -> None:
    """Have the vault hold more ECSs (AddVaultResource)."""
    body = {"resources": _resources(server_ids)}
    with ApiClient(target, "cbr") as client:
        client.call("POST", f"/v3/{client.project_id}/vaults/{vault_id}/addresources", body=body)
    output.note(f"vault {vault_id} holds {', '.join(server_ids)}")


@vault_app.command("delete")
@connection_options(api=True)
def vault_delete(target: Target, vault_id: Annotated[str, typer.Argument()]) -> None:
    """Delete a vault and its backups (DeleteVault); refused while one of them still has its full-ECS image."""
    with ApiClient(target, "cbr") as client:
        client.call("DELETE", f"/v3/{client.project_id}/vaults/{vault_id}")
    output.note(f"vault {vault_id} deleted with its backups")
