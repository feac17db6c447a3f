"""`shopwright serve`: one process with the API, the chat widget and the Gradio studio."""

from __future__ import annotations

from typing import Annotated

import typer


def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
    demo: Annotated[bool, typer.Option(help="Load the demo shop first if not loaded.")] = False,
) -> None:
    """Start the HTTP server: REST API under /v1, health at /healthz and /readyz, studio at /studio."""
    import uvicorn

    from shop.settings import PLACEHOLDER_ADMIN_KEY
    from ui.app import create_app
    from ui.cli.init import identity_hint
    from ui.context import default_context

    context = default_context()
    if demo:
        from ui.demo import load_demo

        for line in load_demo(context, progress=True):
            typer.echo(line)
    settings = context.settings
    app = create_app(context)
    if settings.triggers_every_minutes and settings.triggers_file:
        from ui.cli.triggers import start_loop

        start_loop(context, settings.triggers_file, settings.triggers_every_minutes * 60)
        typer.echo(f"triggers from {settings.triggers_file} every "
                   f"{settings.triggers_every_minutes:g} minutes")
    typer.echo(f"shopwright on http://{host or settings.host}:{port or settings.port} "
               "(studio at /studio, API docs at /docs, chat widget demo at /widget/demo)")
    if hint := identity_hint(settings):
        typer.echo(hint)
    if settings.admin_key.get_secret_value() == PLACEHOLDER_ADMIN_KEY:
        typer.echo(f"studio sign-in: the admin key {PLACEHOLDER_ADMIN_KEY!r} (a placeholder: set "
                   "SHOPWRIGHT_ADMIN_KEY, or create keys with `shopwright keys create`)")
    uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level="info")


def studio(
    host: Annotated[str | None, typer.Option(help="Bind address (default from settings).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from settings).")] = None,
) -> None:
    """Start the marketers' studio alone (no API), at /studio, behind the admin-key login."""
    import uvicorn

    from ui.app import create_studio_app
    from ui.context import default_context

    context = default_context()
    settings = context.settings
    app = create_studio_app(context)
    typer.echo(f"shopwright studio on http://{host or settings.host}:{port or settings.port}"
               "/studio (sign in with an admin key)")
    uvicorn.run(app, host=host or settings.host, port=port or settings.port, log_level="info")
