"""What every studio tab shares: service errors as gr.Error, the signed-in user, downloads."""

from __future__ import annotations

import functools
import inspect
import tempfile
from contextlib import contextmanager
from pathlib import Path

import gradio as gr
from pydantic import ValidationError

from shop.errors import ShopwrightError

# LLM actions run one at a time per group, the rest queue: copy, email preview and campaigns
# share the LLM_QUEUE group (one model on 2 cores serves them in turn); the chat playground
# has its own (gr.ChatInterface takes no concurrency_id)
LLM_CONCURRENCY = 1
LLM_QUEUE = "llm"
# gradio finds a handler's progress tracker by its default value (one shared instance is
# what a `progress=gr.Progress()` default is too); TQDM_PROGRESS also shows tqdm bars
PROGRESS = gr.Progress()
TQDM_PROGRESS = gr.Progress(track_tqdm=True)


def edge(fn):
    """Turn a service error into a gr.Error the marketer can act on (pydantic errors name
    the field and what it accepts). Anything else is a bug and surfaces as one."""

    if inspect.isgeneratorfunction(fn):  # gradio streams a generator function's updates
        @functools.wraps(fn)
        def streamed(*args, **kwargs):
            with _as_gr_error():
                yield from fn(*args, **kwargs)

        return streamed

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with _as_gr_error():
            return fn(*args, **kwargs)

    return wrapped


@contextmanager
def _as_gr_error():
    try:
        yield
    except ShopwrightError as exc:
        raise gr.Error(str(exc)) from None
    except ValidationError as exc:
        raise gr.Error(validation_text(exc)) from None


def validation_text(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}"
                     for e in exc.errors())


def actor(request: gr.Request | None) -> str:
    """Who is signed in (ui/studio/auth.py's studio_user, passed by gradio as the username)."""
    name = getattr(request, "username", None) if request is not None else None
    if not name:
        raise gr.Error("no signed-in studio user; sign in again at /studio-login")
    return str(name)


def download(name: str, content: str | bytes) -> str:
    """Write a file for a gr.File download in its own temporary folder; return its path."""
    path = Path(tempfile.mkdtemp(prefix="shopwright-studio-")) / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return str(path)


def needed(value: str | None, what: str, example: str) -> str:
    """The stripped value, or a gr.Error that says what to enter."""
    value = (value or "").strip()
    if not value:
        raise gr.Error(f"enter {what}, e.g. {example}")
    return value
