"""`shopwright models info`: what the model settings resolve to, and how fast they load."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ui.context import default_context

app = typer.Typer(help="Inspect the LLM and embedding models.", no_args_is_help=True)


@app.command("info")
def info(
    load: Annotated[bool, typer.Option(help="Load both models and time it.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the resolved LLM and embedder, their device, dtype and load time."""
    from gen.engines.transformers.llm import converted_dir, load_llm, pick_dtype
    from retrieval.models import load_embedder
    from shop.embedded import resolve, resolve_device

    settings = default_context().settings
    device = resolve_device(settings.device)
    llm = resolve(settings.llm_model)
    embedder = resolve(settings.embed_model)
    rows = {
        "llm": {"name": settings.llm_model, "path": llm.path, "gguf_file": llm.gguf_file,
                "converted_cache": str(converted_dir(settings, llm)) if llm.gguf_file else None,
                "device": device, "dtype": pick_dtype(settings.llm_dtype, device)},
        "embedder": {"name": settings.embed_model, "path": embedder.path, "device": device},
    }
    if load:
        loaded = load_llm(settings)
        rows["llm"].update(source=loaded.source, load_seconds=round(loaded.load_seconds, 3),
                           parameters=sum(p.numel() for p in loaded.model.parameters()))
        emb = load_embedder(settings)
        rows["embedder"].update(dimension=emb.dimension, max_seq_length=emb.max_seq_length,
                                load_seconds=round(emb.load_seconds, 3))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    for role, row in rows.items():
        typer.secho(role, bold=True)
        for key, value in row.items():
            if value is not None:
                typer.echo(f"  {key:16} {value}")
