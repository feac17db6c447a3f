"""One router per resource; `ROUTERS` is what the app includes."""

from ui.api import health

ROUTERS = [health.router]
