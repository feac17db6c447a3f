"""The `shopwright` command line. Each command group lives in its own module.

An error a user can fix (a wrong option value, an unknown id, a busy model or store) ends the
command with one line on stderr, `error: <what is wrong>; <what to do>`, and the error's exit
code (shop/errors.py; 2 for invalid input). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shop.errors import InvalidInput, ShopwrightError
from shop.store import as_busy
from ui.cli import (
    campaign,
    customers,
    data,
    evaluate,
    evaluate_chat,
    experiment,
    init,
    keys,
    models,
    offers,
    serve,
    triggers,
)
from ui.cli import generate as generate_cli
from ui.cli import recsys as recsys_cli
from ui.cli import search as search_cli

app = typer.Typer(
    name="shopwright",
    help="Self-hosted personalization and content service for online shops.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("init")(init.init)
app.add_typer(data.ingest_app, name="ingest")
app.add_typer(data.demo_app, name="demo")
app.add_typer(models.app, name="models")
app.command("serve")(serve.serve)
app.command("studio")(serve.studio)
app.command("copy")(generate_cli.copy)
app.add_typer(generate_cli.email_app, name="email")
app.command("chat")(generate_cli.chat)
evaluate.app.command("gen")(generate_cli.eval_gen)
evaluate.app.command("chat")(evaluate_chat.eval_chat)
evaluate.app.command("picker")(evaluate_chat.eval_picker)
app.command("search")(search_cli.search)
app.add_typer(search_cli.index_app, name="index")
app.add_typer(evaluate.app, name="eval")
app.add_typer(recsys_cli.app, name="recsys")
app.command("segments")(recsys_cli.segments)
app.add_typer(campaign.app, name="campaign")
app.add_typer(customers.app, name="customers")
app.add_typer(offers.app, name="offers")
app.add_typer(experiment.app, name="experiment")
app.add_typer(triggers.app, name="triggers")
app.add_typer(keys.app, name="keys")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    try:
        app(args, prog_name="shopwright")
    except ShopwrightError as exc:  # errors become exit codes only here, at the edge
        _fail(str(exc), exc.exit_code)
    except ValidationError as exc:  # typed options (pydantic) refused what an option said
        _fail(describe(exc, args), InvalidInput.exit_code)
    except (OperationalError, PoolTimeout) as exc:
        busy = as_busy(exc)
        if busy is None:
            raise
        _fail(str(busy), busy.exit_code)


def _fail(message: str, code: int) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    sys.exit(code)


def describe(error: ValidationError, args: list[str]) -> str:
    """One line: each invalid value, what it should be (pydantic's words), what it was, and
    where to read more (the command's --help; for settings, where they are set)."""
    settings = error.title == "Settings"
    path, command = command_path(args)
    options = {param.name: param.opts[0] for param in getattr(command, "params", [])
               if getattr(param, "opts", None)}
    problems = []
    for item in error.errors(include_url=False):
        name = ".".join(str(part) for part in item["loc"]) or "value"
        if settings:
            name = "SHOPWRIGHT_" + name.upper()
        else:  # the option that set the field: --channel for channel, --product for product_ids
            field = str(item["loc"][0]) if item["loc"] else ""
            for candidate in (field, field.removesuffix("_ids"), field.removesuffix("_id")):
                if candidate in options:
                    name = options[candidate]
                    break
        given = item.get("input")
        shown = f" (got {given!r})" if isinstance(given, (str, int, float)) \
            and not isinstance(given, bool) and len(repr(given)) <= 60 else ""
        problems.append(f"{name}: {item['msg']}{shown}")
    hint = ("set it in the environment or the config file" if settings
            else f"see `{' '.join(['shopwright', *path])} --help`")
    return " ".join(f"{'; '.join(problems)}; {hint}".split())


def command_path(args: list[str]) -> tuple[list[str], object]:
    """The (sub)command names at the start of `args` (["email", "preview"]) and the click
    command they name."""
    command, path = typer.main.get_command(app), []
    for word in args:
        subcommands = getattr(command, "commands", None) or {}  # a group's
        if word not in subcommands:
            break
        command = subcommands[word]
        path.append(word)
    return path, command
