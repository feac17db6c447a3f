"""One router per resource; `ROUTERS` is what the app includes."""

from ui.api import health
from ui.api import search

ROUTERS = [health.router, search.router]
