"""The ``imsctl`` command line (console script ``imsctl = imsctl.main:app``)."""

from typing import Annotated

import typer
from rich.table import Table

from ims_shared.events import EVENT_TYPES
from ims_shared.topics import topic_for
from imsctl import api, ecs, follow, output, produce, trail, vaults
from imsctl.target import SERVICE_PROCESS, Target, TargetError, connection_options

app = typer.Typer(
    name="imsctl",
    help=(
        "Operate the full-ECS image system: produce contract events, call the IMS, CBR, ECS and billing APIs as a "
        "development tenant, follow topics, and show the trail of an image or backup across every service.\n\n"
        "Endpoints default to the port map of `make run` (Kafka 127.0.0.1:9092, image-service 8101/8201, "
        "backup-service 8102/8202, compute-service 8104/8204, billing 8300); see the Connection options of each "
        "command. Commands that create something take -q/--quiet to print the new id alone."
    ),
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(produce.app, name="produce")
app.add_typer(api.ims_app, name="ims")
app.add_typer(api.cbr_app, name="cbr")
app.add_typer(vaults.vault_app, name="vault")
app.add_typer(api.billing_app, name="billing")
app.add_typer(ecs.ecs_app, name="ecs")
app.command("api")(api.api_call)
app.command("follow")(follow.follow_command)
app.command("trail")(trail.trail_command)


@app.command("events")
@connection_options(tenant=False)
def events(target: Target) -> None:
    """The event types of the contract, their topic in the region and their Kafka key."""
    table = Table(title=f"event types (topics of {target.region})", title_justify="left", header_style="bold")
    for column in ("produce command", "event type", "topic", "key", "summary"):
        table.add_column(column)
    for name in sorted(EVENT_TYPES, key=lambda n: (EVENT_TYPES[n].topic_kind.value, n)):
        model = EVENT_TYPES[name]
        summary = produce.summary_of(name)
        table.add_row(
            *output.plain(
                produce.command_name(name),
                name,
                topic_for(model.topic_kind, target.region),
                model.key_field,
                "" if summary == name else summary,
            )
        )
    output.stdout().print(table)


@app.command("endpoints")
@connection_options(kafka=True, api=True)
def endpoints(
    target: Target,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Where the other commands would connect, and as whom (after options and environment)."""
    try:
        found = {
            "region": target.region,
            "tenant": target.tenant.name,
            "project_id": target.project_id,
            "kafka": target.bootstrap,
            **{SERVICE_PROCESS[s]: target.url(s) for s in ("ims", "cbr", "billing", "replication", "ecs")},
        }
    except TargetError as exc:
        raise output.abort(str(exc), code=2) from exc
    if json_out:
        output.print_json(found)
        return
    table = Table(show_header=False)
    for key, value in found.items():
        table.add_row(*output.plain(key, value))
    output.stdout().print(table)
