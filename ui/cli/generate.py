"""`shopwright copy`, `shopwright email preview`, `shopwright chat`, `shopwright eval gen`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ui.context import default_context

email_app = typer.Typer(help="Personalized marketing emails.", no_args_is_help=True)


def copy(
    product: Annotated[list[str], typer.Option("--product", "-p", help="Product id (repeatable)")],
    channel: Annotated[str, typer.Option(help="search | social | sms | display")] = "search",
    variants: Annotated[int, typer.Option(help="How many distinct variants")] = 3,
    audience: Annotated[str, typer.Option(help="Audience segment, in words")] = "",
    tone: Annotated[str | None, typer.Option(help="Override the brand tone")] = None,
    campaign: Annotated[str | None, typer.Option(help="Campaign id (discount, code)")] = None,
    seed: Annotated[int, typer.Option(help="Sampling seed")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Write ad copy variants for products; each is stored as a draft."""
    from gen.tasks.ad_copy import CopyOptions

    options = CopyOptions(product_ids=product, channel=channel, variants=variants,
                          audience=audience, tone=tone, campaign_id=campaign, seed=seed)
    result = default_context().generation.copy(options)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.secho(f"{result['channel']} copy  (prompt {result['prompt']}, model {result['model']})",
                bold=True)
    for item in result["products"]:
        typer.secho(f"\n{item['product_id']}  {item['title']}", bold=True)
        for number, variant in enumerate(item["variants"], start=1):
            fields = "  |  ".join(f"{k}: {v} ({len(v)})" for k, v in variant["fields"].items())
            flag = "" if not variant["problems"] else f"  PROBLEMS: {variant['problems']}"
            typer.echo(f"  {number}. [{variant['source']}] {fields}{flag}")


@email_app.command("preview")
def email_preview(
    customer: Annotated[str, typer.Option(help="Customer id")],
    campaign: Annotated[str | None, typer.Option(help="Campaign id")] = None,
    eml: Annotated[Path | None, typer.Option(help="Also write the .eml file here")] = None,
    html: Annotated[Path | None, typer.Option(help="Also write the HTML part here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Generate one customer's email and show its text part."""
    context = default_context()
    draft = context.generation.email_preview(customer, campaign)
    if eml:
        eml.write_bytes(bytes(draft.to_message(context.settings)))
    if html:
        html.write_text(draft.html, encoding="utf-8")
    if as_json:
        typer.echo(json.dumps(draft.as_dict(), indent=2))
        return
    typer.secho(f"To: {draft.to}\nSubject: {draft.subject}\nPreheader: {draft.preheader}",
                bold=True)
    typer.echo(f"(source: {draft.source}; products: {draft.recommendation_source}"
               + ("" if draft.eligible else "; NOT ELIGIBLE: no consent or unsubscribed") + ")\n")
    typer.echo(draft.text)
    if eml:
        typer.echo(f"wrote {eml}")


def chat(
    message: Annotated[str | None, typer.Option(help="Ask one question and exit")] = None,
) -> None:
    """Talk to the shop assistant (streams its answer; empty line or Ctrl-D to quit)."""
    from gen.tasks.chat_messages import ChatReply, ChatRequest, ChatTurn

    service = default_context().generation
    history: list[ChatTurn] = []
    while True:
        question = message
        if question is None:
            try:
                question = input("you> ").strip()
            except EOFError:
                break
        if not question:
            break
        typer.echo("shop> ", nl=False)
        reply = None
        for item in service.chat_stream(ChatRequest(message=question, history=history)):
            if isinstance(item, ChatReply):
                reply = item
            else:
                typer.echo(item, nl=False)
        typer.echo("")
        if reply and reply.handoff:
            typer.secho(f"  [handoff: {reply.handoff_reason}]", fg=typer.colors.YELLOW)
        history += [ChatTurn(role="user", content=question),
                    ChatTurn(role="assistant", content=reply.answer if reply else "")]
        if message is not None:
            break


def eval_gen(
    cases: Annotated[Path | None, typer.Option(help="Cases (JSONL)")] = None,
    candidates: Annotated[int | None, typer.Option(
        help="Drafts sampled per copy variant and per email (best-of-N); default: the tasks'")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Per task: model/repaired/fallback shares, grounding and attribute violations before and
    after the guards, constraint pass rate, distinct variants."""
    from gen.engines import create_engine
    from gen.evaluation.gen import DEFAULT_CASES, evaluate, format_report, load_cases

    context = default_context()
    # a batch run: the engine directly, without the API's scheduler and its per-request timeout
    service = context.generation_service(create_engine("transformers",
                                                            settings=context.settings))
    report = evaluate(service, load_cases(cases or DEFAULT_CASES), candidates)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        typer.echo(format_report(report))
