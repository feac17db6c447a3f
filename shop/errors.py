"""The small error hierarchy. Edges (HTTP, Gradio, CLI) map these to statuses and exit codes."""


class ShopwrightError(Exception):
    """Base class: anything shopwright raises on purpose."""

    status_code = 500
    exit_code = 1
    headers: dict[str, str] | None = None  # extra HTTP response headers (e.g. Retry-After)


class ConfigError(ShopwrightError):
    """Settings are missing, unsafe or contradictory."""

    status_code = 500
    exit_code = 2


class InvalidInput(ShopwrightError):
    """The caller sent something we cannot use; the message says what and how to fix it."""

    status_code = 422
    exit_code = 2


class NotFound(ShopwrightError):
    status_code = 404
    exit_code = 3


class Unauthorized(ShopwrightError):
    status_code = 401
    exit_code = 4


class Forbidden(ShopwrightError):
    """A valid key, but its scope does not reach this."""

    status_code = 403
    exit_code = 4


class ModelUnavailable(ShopwrightError):
    """A model could not be resolved or loaded (missing package, bad path, offline hub)."""

    status_code = 503
    exit_code = 5


class BadToken(InvalidInput):
    """A signed link's token is missing, malformed or forged."""

    status_code = 400


class Busy(ShopwrightError):
    """At capacity right now: the caller should retry after `retry_after` seconds (the HTTP
    edge answers 503 with a `Retry-After` header)."""

    status_code = 503
    exit_code = 6

    def __init__(self, message: str, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = max(1, int(retry_after))

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class GenerationFailed(ShopwrightError):
    """One generation request failed on its own (its chat template raised, its row broke);
    the other requests sharing the model are unaffected."""

    status_code = 500
    exit_code = 7


class EngineRestarting(Busy):
    """The model's decode loop failed while this request ran and is restarting: retry."""
