"""One router per resource; `ROUTERS` is what the app includes."""

from ui.api import health
from ui.api import search
from ui.api import events, recommendations
from ui.api import generate
from ui.api import widget
from ui.api import openai_compat
from ui.api import unsubscribe
from ui.api import customers
from ui.api import metrics
from ui.api import experiments
from ui.api import sessions

ROUTERS = [health.router, search.router, recommendations.router, events.router, generate.router,
           openai_compat.router, widget.router, unsubscribe.router, metrics.router,
           customers.router, sessions.router, experiments.router]
