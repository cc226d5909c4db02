"""The IMS, CBR and billing APIs as a tenant: ``imsctl ims ...``, ``imsctl cbr ...``, ``imsctl billing ...`` and
the generic signed call ``imsctl api METHOD PATH``. Requests are signed with the tenant's AK/SK
(``SDK-HMAC-SHA256``) exactly as the Huawei Cloud SDKs sign them."""

import json
import time
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from imsctl import output
from imsctl.client import prepare
from imsctl.target import SERVICE_PROCESS, Service, Target, TargetError, connection_options

# Tests replace this with an ``httpx.MockTransport``.
TRANSPORT: httpx.BaseTransport | None = None
TIMEOUT_S = 30.0


class ApiClient:
    """One service's API as one tenant's project."""

    def __init__(self, target: Target, service: Service) -> None:
        try:
            self.base_url = target.url(service)
            self.project_id = target.project_id
            tenant = target.tenant
        except TargetError as exc:
            raise output.abort(str(exc), code=2) from exc
        self.service = service
        self._access_key, self._secret_key = tenant.access_key, tenant.secret_key
        self._http = httpx.Client(timeout=TIMEOUT_S, transport=TRANSPORT)

    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        credentials = (self._access_key, self._secret_key)
        url, raw, signed = prepare(self.base_url, credentials, self.project_id, method, path, query, body, headers)
        try:
            return self._http.request(method, url, content=raw, headers=signed)
        except httpx.TransportError as exc:
            raise output.abort(
                f"cannot reach {SERVICE_PROCESS[self.service]} at {self.base_url} ({exc}); is the system running "
                "(`make run`), and are the port offset and endpoints right?"
            ) from exc

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON answer of a successful call; an error answer ends the command with its code and message."""
        response = self.request(method, path, **kwargs)
        if response.status_code >= 400:
            refuse(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError:
            return response.text

    def __enter__(self) -> "ApiClient":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()


def refuse(response: httpx.Response) -> NoReturn:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and ("error_code" in body or "error_msg" in body):
        raise output.abort(f"{response.status_code} {body.get('error_code')}: {body.get('error_msg')}")
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        raise output.abort(f"{response.status_code} {error.get('code')}: {error.get('message')}")
    raise output.abort(f"{response.status_code}: {response.text[:2000]}")


def titled_table(title: str, columns: list[str]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, no_wrap=column in ("id", "image id", "backup id", "job id"), overflow="fold")
    return table


JsonOpt = Annotated[bool, typer.Option("--json", help="Print the JSON answer instead of a table.")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", help="Seconds to wait at most.")]
PollOpt = Annotated[float, typer.Option("--poll-interval", hidden=True)]


# -- jobs ----------------------------------------------------------------------------------------------------------
ENDED = ("SUCCESS", "FAIL")


def wait_for_job(
    client: ApiClient, job_id: str, *, timeout_s: float, poll_s: float, quiet: bool = False
) -> dict[str, Any]:
    """Poll the job (IMS, or ECS on compute-service: the same path) until it ends, showing its progress unless
    ``quiet``; returns the ended job."""
    columns = (
        SpinnerColumn(finished_text="[green]done[/]"),
        TextColumn("[bold]{task.fields[status]:<7}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
    )
    deadline = time.monotonic() + timeout_s
    job: dict[str, Any] = {}
    with Progress(*columns, console=output.stderr(), disable=quiet) as progress:
        task = progress.add_task(f"job {job_id}", total=100, status="INIT")
        while True:
            job = client.call("GET", f"/v1/{client.project_id}/jobs/{job_id}")
            entities = job.get("entities") or {}
            status = str(job.get("status"))
            percent = float(entities.get("process_percent") or (100 if status in ENDED else 0))
            description = entities.get("current_task") or (
                f"{job.get('error_code')}: {job.get('fail_reason')}" if status == "FAIL" else f"job {job_id}"
            )
            progress.update(task, completed=percent, status=status, description=description)
            if status in ENDED:
                break
            if time.monotonic() > deadline:
                progress.stop()
                raise output.abort(f"job {job_id} is still {status} after {timeout_s:g} s")
            time.sleep(poll_s)
    return job


def _ended(job: dict[str, Any]) -> str:
    """The image id of a successful job; a failed job ends the command with its code and reason."""
    if job.get("status") != "SUCCESS":
        raise output.abort(f"job {job.get('job_id')} failed: {job.get('error_code')}: {job.get('fail_reason')}")
    image_id = str((job.get("entities") or {}).get("image_id") or "")
    return image_id


def _job_image(client: ApiClient, job_id: str) -> str:
    """The image a job makes (its entity from the start: the new image, or the replica)."""
    job = client.call("GET", f"/v1/{client.project_id}/jobs/{job_id}")
    image_id = str((job.get("entities") or {}).get("image_id") or "")
    if not image_id:
        raise output.abort(f"job {job_id} names no image yet: add --wait")
    return image_id


# -- imsctl ims ----------------------------------------------------------------------------------------------------
ims_app = typer.Typer(help="The IMS API (image-service) as a tenant.", no_args_is_help=True)


def _tags(values: list[str] | None) -> list[dict[str, str]] | None:
    if not values:
        return None
    tags = []
    for item in values:
        key, _, value = item.partition("=")
        tags.append({"key": key, "value": value})
    return tags


@ims_app.command("create")
@connection_options(api=True)
def ims_create(
    target: Target,
    name: Annotated[str, typer.Option("--name", help="Image name.")],
    backup_id: Annotated[str | None, typer.Option("--backup-id", help="The CBR backup of an ECS.")] = None,
    instance_id: Annotated[
        str | None, typer.Option("--instance-id", help="Or: an ECS to back up first (needs --vault-id).")
    ] = None,
    vault_id: Annotated[str | None, typer.Option("--vault-id", help="CBR vault for the ECS backup.")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="KEY=VALUE, repeatable.")] = None,
    enterprise_project_id: Annotated[str | None, typer.Option("--enterprise-project-id")] = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Show the job's progress until it ends; print the image id.")
    ] = False,
    timeout: TimeoutOpt = 300.0,
    poll_interval: PollOpt = 0.5,
    quiet: output.QuietOpt = False,
) -> None:
    """Create a full-ECS image (CreateWholeImage). Prints the job id, or with --wait the image id; with -q the
    image id alone (with --wait once it is active)."""
    if not backup_id and not (instance_id and vault_id):
        raise output.abort("give --backup-id, or --instance-id with --vault-id", code=2)
    body: dict[str, Any] = {"name": name, "whole_image_type": "CBR"}
    optional = {
        "backup_id": backup_id,
        "instance_id": instance_id,
        "vault_id": vault_id,
        "description": description,
        "image_tags": _tags(tag),
        "enterprise_project_id": enterprise_project_id,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    client = ApiClient(target, "ims")
    try:
        job_id = client.call("POST", "/v1/cloudimages/wholeimages/action", body=body)["job_id"]
        if not wait:
            output.print_id(_job_image(client, job_id) if quiet else job_id)
            output.note(f"[dim]job {job_id} accepted; follow it with `imsctl ims job {job_id} --wait`[/]", quiet=quiet)
            return
        image_id = _ended(wait_for_job(client, job_id, timeout_s=timeout, poll_s=poll_interval, quiet=quiet))
        output.print_id(image_id)
        output.note(f"[green]image {image_id} is active[/] (job {job_id})", quiet=quiet)
    finally:
        client.close()


@ims_app.command("job")
@connection_options(api=True)
def ims_job(
    target: Target,
    job_id: Annotated[str, typer.Argument()],
    wait: Annotated[bool, typer.Option("--wait", help="Show the progress until the job ends.")] = False,
    timeout: TimeoutOpt = 300.0,
    poll_interval: PollOpt = 0.5,
) -> None:
    """Show an IMS job (with --wait, follow it until it ends)."""
    client = ApiClient(target, "ims")
    try:
        if wait:
            job = wait_for_job(client, job_id, timeout_s=timeout, poll_s=poll_interval)
        else:
            job = client.call("GET", f"/v1/{client.project_id}/jobs/{job_id}")
        output.print_json(job)
        if wait and job.get("status") == "FAIL":
            raise typer.Exit(1)
    finally:
        client.close()


@ims_app.command("images")
@connection_options(api=True)
def ims_images(
    target: Target,
    name: Annotated[str | None, typer.Option("--name")] = None,
    status: Annotated[str | None, typer.Option("--status", help="queued, saving, active...")] = None,
    backup_id: Annotated[str | None, typer.Option("--backup-id")] = None,
    shared: Annotated[bool, typer.Option("--shared", help="Images shared with this project.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 500,
    json_out: JsonOpt = False,
) -> None:
    """List the project's full-ECS images (ListImages)."""
    query = {
        "limit": limit,
        "name": name,
        "status": status,
        "__backup_id": backup_id,
        "__imagetype": "shared" if shared else None,
    }
    client = ApiClient(target, "ims")
    try:
        answer = client.call("GET", "/v2/cloudimages", query=query)
    finally:
        client.close()
    if json_out:
        output.print_json(answer)
        return
    table = titled_table(
        f"full-ECS images of project {client.project_id} in {target.region}",
        ["id", "name", "status", "backup id", "os", "min disk", "created"],
    )
    for image in answer.get("images", []):
        table.add_row(
            *output.plain(
                image["id"],
                image["name"],
                image.get("status_display") or image["status"],
                image.get("__backup_id", ""),
                image.get("__os_version") or image.get("__os_type") or "",
                f"{image.get('min_disk')} GB",
                image.get("created_at") or "",
            )
        )
    output.stdout().print(table)


@ims_app.command("show")
@connection_options(api=True)
def ims_show(target: Target, image_id: Annotated[str, typer.Argument()]) -> None:
    """Show one image (GlanceShowImage)."""
    client = ApiClient(target, "ims")
    try:
        output.print_json(client.call("GET", f"/v2/images/{image_id}"))
    finally:
        client.close()


@ims_app.command("delete")
@connection_options(api=True)
def ims_delete(
    target: Target,
    image_id: Annotated[str, typer.Argument()],
    delete_backup: Annotated[bool, typer.Option("--delete-backup", help="Also delete the image's CBR backup.")] = False,
    wait: Annotated[
        bool, typer.Option("--wait", help="With --delete-backup: wait until the backup is gone from CBR.")
    ] = False,
    timeout: TimeoutOpt = 60.0,
    poll_interval: PollOpt = 0.5,
) -> None:
    """Delete a full-ECS image (GlanceDeleteImage), and its backup with --delete-backup."""
    client = ApiClient(target, "ims")
    try:
        image = client.call("GET", f"/v2/images/{image_id}")
        client.call("DELETE", f"/v2/images/{image_id}", body={"delete_backup": delete_backup})
    finally:
        client.close()
    backup_id = image.get("__backup_id")
    output.note(f"image {image_id} deleted" + (f"; its backup {backup_id} is being deleted" if delete_backup else ""))
    if not (wait and delete_backup and backup_id):
        return
    cbr = ApiClient(target, "cbr")
    deadline = time.monotonic() + timeout
    try:
        with output.stderr().status(f"waiting for backup {backup_id} to be deleted"):
            while time.monotonic() < deadline:
                response = cbr.request("GET", f"/v3/{cbr.project_id}/backups/{backup_id}")
                if response.status_code == 404:
                    output.note(f"[green]backup {backup_id} deleted[/]")
                    return
                if response.status_code < 400 and response.json()["backup"]["status"] == "error_deleting":
                    raise output.abort(f"backup {backup_id} could not be deleted (error_deleting)")
                time.sleep(poll_interval)
    finally:
        cbr.close()
    raise output.abort(f"backup {backup_id} still exists after {timeout:g} s")


@ims_app.command("share")
@connection_options(api=True)
def ims_share(
    target: Target,
    image_id: Annotated[str, typer.Argument()],
    projects: Annotated[list[str], typer.Argument(help="Projects of other tenants in the same region.")],
) -> None:
    """Share a full-ECS image with other tenants' projects (BatchAddMembers)."""
    client = ApiClient(target, "ims")
    try:
        answer = client.call("POST", "/v1/cloudimages/members", body={"images": [image_id], "projects": projects})
    finally:
        client.close()
    output.print_id(answer["job_id"])


@ims_app.command("members")
@connection_options(api=True)
def ims_members(target: Target, image_id: Annotated[str, typer.Argument()], json_out: JsonOpt = False) -> None:
    """The projects an image is shared with (GlanceListImageMembers)."""
    client = ApiClient(target, "ims")
    try:
        answer = client.call("GET", f"/v2/images/{image_id}/members")
    finally:
        client.close()
    if json_out:
        output.print_json(answer)
        return
    table = titled_table(f"members of image {image_id}", ["member", "status", "created", "updated"])
    for member in answer.get("members", []):
        table.add_row(*output.plain(member["member_id"], member["status"], member["created_at"], member["updated_at"]))
    output.stdout().print(table)


@ims_app.command("accept")
@connection_options(api=True)
def ims_accept(
    target: Target,
    image_id: Annotated[str, typer.Argument()],
    vault_id: Annotated[str | None, typer.Option("--vault-id", help="Vault that receives the shared backup.")] = None,
    reject: Annotated[bool, typer.Option("--reject", help="Reject the shared image instead.")] = False,
) -> None:
    """Accept (or --reject) an image shared with this project (GlanceUpdateImageMember)."""
    body: dict[str, Any] = {"status": "rejected" if reject else "accepted"}
    if vault_id:
        body["vault_id"] = vault_id
    client = ApiClient(target, "ims")
    try:
        output.print_json(client.call("PUT", f"/v2/images/{image_id}/members/{client.project_id}", body=body))
    finally:
        client.close()


@ims_app.command("replicate")
@connection_options(api=True)
def ims_replicate(
    target: Target,
    image_id: Annotated[str, typer.Argument()],
    to: Annotated[str, typer.Option("--to", help="Destination region.")],
    vault_id: Annotated[str, typer.Option("--vault-id", help="CBR vault in the destination region.")],
    name: Annotated[str | None, typer.Option("--name", help="Name of the replica (default: the image's name).")] = None,
    description: Annotated[str | None, typer.Option("--description")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the job; print the replica's image id.")] = False,
    timeout: TimeoutOpt = 300.0,
    poll_interval: PollOpt = 0.5,
    quiet: output.QuietOpt = False,
) -> None:
    """Replicate a full-ECS image to another region (CopyImageCrossRegion). Prints the job id, or with --wait the
    replica's id; with -q the replica's id alone (with --wait once it is active)."""
    client = ApiClient(target, "ims")
    try:
        if name is None:
            name = client.call("GET", f"/v2/images/{image_id}")["name"]
        body = {"name": name, "region": to, "vault_id": vault_id}
        if description is not None:
            body["description"] = description
        job_id = client.call("POST", f"/v1/cloudimages/{image_id}/cross_region_copy", body=body)["job_id"]
        if not wait:
            output.print_id(_job_image(client, job_id) if quiet else job_id)
            return
        replica = _ended(wait_for_job(client, job_id, timeout_s=timeout, poll_s=poll_interval, quiet=quiet))
        output.print_id(replica)
        output.note(f"[green]replica {replica} is active in {to}[/] (job {job_id})", quiet=quiet)
    finally:
        client.close()


# -- imsctl cbr ----------------------------------------------------------------------------------------------------
cbr_app = typer.Typer(help="The CBR API (backup-service) as a tenant.", no_args_is_help=True)


@cbr_app.command("backups")
@connection_options(api=True)
def cbr_backups(
    target: Target,
    status: Annotated[str | None, typer.Option("--status")] = None,
    image_id: Annotated[str | None, typer.Option("--image-id")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 1000,
    json_out: JsonOpt = False,
) -> None:
    """List the project's CBR backups (ListBackups)."""
    client = ApiClient(target, "cbr")
    try:
        answer = client.call(
            "GET", f"/v3/{client.project_id}/backups", query={"limit": limit, "status": status, "image_id": image_id}
        )
    finally:
        client.close()
    if json_out:
        output.print_json(answer)
        return
    table = titled_table(
        f"CBR backups of project {client.project_id} in {target.region}",
        ["id", "name", "status", "ECS", "size", "image", "created"],
    )
    for backup in answer.get("backups", []):
        images = (backup.get("extend_info") or {}).get("os_images_data") or []
        table.add_row(
            *output.plain(
                backup["id"],
                backup["name"],
                backup["status"],
                backup.get("resource_name") or backup.get("resource_id") or "",
                f"{backup.get('resource_size')} GB",
                ", ".join(i["image_id"] for i in images),
                backup.get("created_at") or "",
            )
        )
    output.stdout().print(table)


@cbr_app.command("show")
@connection_options(api=True)
def cbr_show(target: Target, backup_id: Annotated[str, typer.Argument()]) -> None:
    """Show one backup (ShowBackup)."""
    client = ApiClient(target, "cbr")
    try:
        output.print_json(client.call("GET", f"/v3/{client.project_id}/backups/{backup_id}"))
    finally:
        client.close()


@cbr_app.command("delete")
@connection_options(api=True)
def cbr_delete(target: Target, backup_id: Annotated[str, typer.Argument()]) -> None:
    """Delete a backup (DeleteBackup); refused while a full-ECS image uses it."""
    client = ApiClient(target, "cbr")
    try:
        client.call("DELETE", f"/v3/{client.project_id}/backups/{backup_id}")
    finally:
        client.close()
    output.note(f"backup {backup_id} deleted")


@cbr_app.command("checkpoint")
@connection_options(api=True)
def cbr_checkpoint(
    target: Target,
    server_id: Annotated[str, typer.Option("--server-id", help="An ECS known to the inventory (ServerRegistered).")],
    vault_id: Annotated[str, typer.Option("--vault-id")],
    name: Annotated[str | None, typer.Option("--name")] = None,
    quiet: output.QuietOpt = False,
) -> None:
    """Back up an ECS (CreateCheckpoint). Prints the new backup id (alone, with or without -q)."""
    client = ApiClient(target, "cbr")
    body = {"checkpoint": {"vault_id": vault_id, "parameters": {"resources": [server_id], "name": name}}}
    try:
        answer = client.call("POST", f"/v3/{client.project_id}/checkpoints", body=body)
    finally:
        client.close()
    output.print_id(answer["checkpoint"]["vault"]["resources"][0]["backup_id"])


# -- imsctl billing ------------------------------------------------------------------------------------------------
billing_app = typer.Typer(help="The billing API (billing-service) as a tenant.", no_args_is_help=True)


@billing_app.command("account")
@connection_options(api=True)
def billing_account(target: Target, json_out: JsonOpt = False) -> None:
    """The tenant's account: balance and arrears state."""
    client = ApiClient(target, "billing")
    try:
        account = client.call("GET", f"/v1/{client.project_id}/billing/account")["account"]
    finally:
        client.close()
    if json_out:
        output.print_json(account)
        return
    table = titled_table(f"account {account['account_id']}", ["", ""])
    table.show_header = False
    for key, value in account.items():
        if value is not None:
            table.add_row(*output.plain(key, value))
    output.stdout().print(table)


@billing_app.command("top-up")
@connection_options(api=True)
def billing_top_up(
    target: Target,
    amount: Annotated[str, typer.Argument(help="A positive amount, at most two decimal places.")],
    idempotency_key: Annotated[
        str | None, typer.Option("--idempotency-key", help="A retry with the same key credits nothing.")
    ] = None,
    quiet: output.QuietOpt = False,
) -> None:
    """Top up the tenant's account; prints the new balance, or with -q the top-up's id alone."""
    client = ApiClient(target, "billing")
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
    try:
        answer = client.call(
            "POST", f"/v1/{client.project_id}/billing/account/top-ups", body={"amount": amount}, headers=headers
        )
    finally:
        client.close()
    account = answer["account"]
    output.print_id(str(answer["top_up"]["id"]) if quiet else account["balance"])
    output.note(
        f"topped up {answer['top_up']['amount']} {account['currency']}; account is {account['state']}", quiet=quiet
    )


@billing_app.command("lines")
@connection_options(api=True)
def billing_lines(
    target: Target, limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100, json_out: JsonOpt = False
) -> None:
    """The bill: newest lines first."""
    client = ApiClient(target, "billing")
    try:
        answer = client.call("GET", f"/v1/{client.project_id}/billing/lines", query={"limit": limit})
    finally:
        client.close()
    if json_out:
        output.print_json(answer)
        return
    table = titled_table("bill lines", ["period start", "kind", "backup id", "image id", "GB-hours", "amount"])
    for line in answer.get("lines", []):
        table.add_row(
            *output.plain(
                line["period_start"] or "",
                line["kind"],
                line["backup_id"] or "",
                line["image_id"] or "",
                line["quantity_gb_hours"],
                f"{line['amount']} {line['currency']}",
            )
        )
    output.stdout().print(table)


@billing_app.command("prices")
@connection_options(api=True)
def billing_prices(target: Target) -> None:
    """The price catalogue and the rating period."""
    client = ApiClient(target, "billing")
    try:
        output.print_json(client.call("GET", f"/v1/{client.project_id}/billing/prices"))
    finally:
        client.close()


# -- imsctl api ----------------------------------------------------------------------------------------------------
def service_for_path(path: str) -> Service:
    """Which service answers ``path``: billing paths, CBR's /v3/, the ECS and EVS paths, else IMS (whose job path
    compute-service shares: ``--service ecs`` for an ECS job)."""
    if "/billing/" in path or path.endswith("/billing"):
        return "billing"
    if path.startswith("/v3/"):
        return "cbr"
    if "/cloudservers" in path or "/cloudvolumes" in path or path.startswith("/v2.1/"):
        return "ecs"
    return "ims"


def _query_pairs(values: list[str] | None) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise output.abort(f"--query takes KEY=VALUE, not {item!r}", code=2)
        pairs[key] = value
    return pairs


@connection_options(api=True)
def api_call(
    target: Target,
    method: Annotated[str, typer.Argument(help="GET, POST, PUT, PATCH or DELETE.")],
    path: Annotated[str, typer.Argument(help="Path; {project_id} is replaced by the tenant's project.")],
    data: Annotated[str | None, typer.Option("--data", "-d", help="JSON body.")] = None,
    query: Annotated[list[str] | None, typer.Option("--query", "-q", help="KEY=VALUE, repeatable.")] = None,
    service: Annotated[
        str | None,
        typer.Option("--service", "-s", help="ims, cbr, billing, replication or ecs (default: by path)."),
    ] = None,
) -> None:
    """Any signed call, e.g. `imsctl api GET /v2/cloudimages`. Prints the answer; exits 1 on an error status."""
    if service is not None and service not in SERVICE_PROCESS:
        raise output.abort(f"--service must be one of {', '.join(SERVICE_PROCESS)}", code=2)
    try:
        body = json.loads(data) if data else None
    except ValueError as exc:
        raise output.abort(f"--data is not JSON: {exc}", code=2) from exc
    chosen = service or service_for_path(path)
    client = ApiClient(target, chosen)
    try:
        response = client.request(
            method.upper(), path.replace("{project_id}", client.project_id), query=_query_pairs(query), body=body
        )
    finally:
        client.close()
    colour = "green" if response.status_code < 400 else "red"
    output.note(f"[{colour}]{response.status_code} {response.reason_phrase}[/] [dim]{client.base_url}[/]")
    if response.content:
        try:
            output.print_json(response.json())
        except ValueError:
            typer.echo(response.text)
    if response.status_code >= 400:
        raise typer.Exit(1)
