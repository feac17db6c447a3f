"""`shopwright triggers run`: emails from behaviour rules (campaigns/triggers.py)."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Annotated

import typer

from ui.context import ShopContext, default_context

log = logging.getLogger(__name__)

app = typer.Typer(help="Event-triggered emails: abandoned carts, restocks, cross-sell, "
                       "win-back.", no_args_is_help=True)


@app.command("run")
def run(
    file: Annotated[Path | None, typer.Option(help="The rules file (YAML) "
                                              "[default: SHOPWRIGHT_TRIGGERS_FILE]")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Count firings; write and send "
                                          "nothing")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Find whose rules fired, record each firing once, and write their emails through the
    campaign job (consent and the frequency cap respected). Safe to run as often as you
    like: a firing is sent at most once."""
    from shop.errors import ConfigError

    context = default_context()
    path = file or context.settings.triggers_file
    if path is None:
        raise ConfigError("give --file RULES.yaml or set SHOPWRIGHT_TRIGGERS_FILE")
    report = run_once(context, path, dry_run=dry_run)
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    typer.secho(f"triggers at {report['now']}" + (" (dry run)" if dry_run else ""), bold=True)
    for rule, counts in report["rules"].items():
        typer.echo(f"  {rule:<24} " + (", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
                                       or "nothing fired"))
    for campaign, states in report["campaigns"].items():
        typer.echo(f"  campaign {campaign}: " + ", ".join(f"{k} {v}" for k, v in states.items()))


def run_once(context: ShopContext, path: Path, dry_run: bool = False) -> dict:
    from campaigns.trigger_run import run_triggers
    from campaigns.triggers import load_rules
    from ui.cli.campaign import build_job

    settings_values = context.settings.model_dump(exclude_unset=True)
    return run_triggers(context.store, load_rules(path),
                        lambda spec: build_job(settings_values, spec.model_dump(mode="json")),
                        dry_run=dry_run)


def start_loop(context: ShopContext, path: Path, every_s: float) -> threading.Event:
    """`serve`'s periodic run (SHOPWRIGHT_TRIGGERS_EVERY_MINUTES): a daemon thread that runs
    the rules every `every_s` seconds; a failing run is logged and the next one tried. Set the
    returned event to stop it."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(every_s):
            try:
                report = run_once(context, path)
                log.info("triggers ran: %s", {r: c for r, c in report["rules"].items() if c})
            except Exception:
                log.exception("triggers run failed; retrying in %.0f s", every_s)

    threading.Thread(target=loop, name="shopwright-triggers", daemon=True).start()
    return stop
