"""The Gradio studio for marketers, mounted at /studio behind the admin login
(ui/studio/auth.py). Each tab is a function in STUDIO_TABS, in its own module; tabs call the
same services as the API and the CLI and hold no logic of their own.

Queue: LLM actions run one at a time (studio_common.LLM_QUEUE; the chat playground in its
own slot), store-only ones up to DEFAULT_CONCURRENCY at once, and the queue holds at most
QUEUE_SIZE waiting events before it tells the next caller to retry.
"""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from ui.context import ShopContext
from ui.studio.campaigns import campaigns_tab
from ui.studio.chat import chat_tab
from ui.studio.copy import copy_tab
from ui.studio.customers import customers_tab
from ui.studio.experiments import experiments_tab
from ui.studio.overview import overview_tab
from ui.studio.recsys import recsys_tab
from ui.studio.reviews import reviews_tab
from ui.studio.search import search_tab
from ui.studio.support import support_tab

QUEUE_SIZE = 32
DEFAULT_CONCURRENCY = 4  # store-only actions (lookups, plots, exports)

STUDIO_TABS: list[Callable[[ShopContext], None]] = [
    overview_tab, copy_tab, campaigns_tab, chat_tab, support_tab, customers_tab,
    experiments_tab, search_tab, recsys_tab, reviews_tab]


def build_studio(context: ShopContext) -> gr.Blocks:
    with gr.Blocks(title="shopwright studio") as studio:
        gr.Markdown("# shopwright studio  \n[sign out](/studio-logout)")
        for add_tab in STUDIO_TABS:
            add_tab(context)
    studio.queue(max_size=QUEUE_SIZE, default_concurrency_limit=DEFAULT_CONCURRENCY)
    return studio
