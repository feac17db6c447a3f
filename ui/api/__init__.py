"""One router per resource; `ROUTERS` is what the app includes."""

from ui.api import (
           chat_sessions,
           customers,
           events,
           experiments,
           generate,
           health,
           metrics,
           offers,
           openai_compat,
           orders,
           recommendations,
           reviews,
           search,
           sessions,
           support,
           unsubscribe,
           widget,
)

ROUTERS = [health.router, search.router, recommendations.router, events.router, generate.router,
           openai_compat.router, widget.router, unsubscribe.router, metrics.router,
           customers.router, sessions.router, chat_sessions.router, experiments.router,
           orders.router, support.router, reviews.router, offers.router]
