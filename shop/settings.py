"""One settings class for the whole service.

Values come from (highest first): constructor arguments, `SHOPWRIGHT_*` environment variables,
a TOML file named by `SHOPWRIGHT_CONFIG` (or `shopwright.toml` in the working directory),
then the defaults below. The shop's identity (name, url, postal address) has no default: what
those leave empty comes from `identity.toml` in the data dir (shop/identity.py).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from shop.errors import ConfigError
from shop.identity import IDENTITY_FIELDS, UNSET, read_identity

PLACEHOLDER_ADMIN_KEY = "change-me"

# Embedded defaults resolve offline from installed PyPI packages (see shop/embedded.py).
EMBEDDED_LLM = "embedded:smollm2-135m-instruct"
EMBEDDED_EMBEDDER = "embedded:all-minilm-l6-v2"


def _origin(url: str) -> str:
    """'https://Shop.example/help' -> 'https://shop.example', the form browsers send."""
    url = url.strip()
    parts = urlsplit(url)
    if url != "*" and (parts.scheme not in ("http", "https") or not parts.netloc):
        raise ValueError(f"{url!r} is not an http(s) origin")
    return url if url == "*" else f"{parts.scheme}://{parts.netloc}".lower()


def _config_file() -> Path:
    return Path(os.environ.get("SHOPWRIGHT_CONFIG", "shopwright.toml"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPWRIGHT_", extra="forbid")

    mode: Literal["dev", "prod"] = "dev"
    data_dir: Path = Path("var")
    database_url: str | None = None  # default: SQLite file inside data_dir
    model_cache_dir: Path | None = None  # converted model copies; default: data_dir/models

    llm_model: str = EMBEDDED_LLM  # "embedded:..." | Hugging Face id | local folder
    embed_model: str = EMBEDDED_EMBEDDER
    # Languages the embedding model places well (ISO 639-1); the embedded MiniLM: en. For help
    # pages in another language the answer picker weighs words, not vectors (gen/tasks/picker.py).
    embed_languages: Annotated[list[str], NoDecode] = ["en"]
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    llm_dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    # How chat answers support questions: quote the shop's pages (extractive), let the model
    # write and verify each sentence (generative), or what `eval chat` measured best (auto).
    chat_mode: Literal["auto", "extractive", "generative"] = "auto"
    # A question at least this close to a vetted answer (the mean cosine with its question
    # and its answer; gen/tasks/vetted.py) is answered with it. 0.52: the highest recall at
    # 90% precision on the tuning halves of two shops' held-back tickets (`shopwright eval
    # vetted`); on the other halves, 92% precision, 80% recall.
    vetted_threshold: float = Field(default=0.52, gt=0, le=1)
    # Who runs the LLM: in-process transformers, or an OpenAI-compatible server (vLLM) at
    # llm_base_url, asked for `llm_model` with `llm_api_key`.
    llm_engine: Literal["transformers", "openai"] = "transformers"
    llm_base_url: str | None = None
    llm_api_key: SecretStr = SecretStr("not-needed")
    llm_concurrency: int = Field(default=32, ge=1, le=1024)  # requests in flight to a server
    llm_timeout_s: float = Field(default=120.0, gt=0)  # one request to the server
    # A request to the server that cannot connect, times out, or gets 408/409/429/5xx is
    # tried again up to llm_retries times, after llm_retry_backoff_s, then twice that, ...
    llm_retries: int = Field(default=2, ge=0, le=10)
    llm_retry_backoff_s: float = Field(default=0.5, gt=0, le=60)
    # /readyz asks the server for its models, waiting at most this long
    llm_health_timeout_s: float = Field(default=2.0, gt=0, le=60)

    # Start-up loads the models, indexes and the KB's answer units, and answers one chat, in
    # the background; /readyz is 503 (saying what is still loading) until that is done.
    warm_up: bool = True

    host: str = "127.0.0.1"
    port: int = 8000
    admin_key: SecretStr = SecretStr(PLACEHOLDER_ADMIN_KEY)
    max_request_bytes: int = 1_000_000
    # Where customers' mail clients reach this server (unsubscribe links); default host:port.
    public_url: str | None = None
    # Signs unsubscribe tokens; default: a random key created once in data_dir/secret_key.
    secret_key: SecretStr | None = None
    # Chat, chat completions and search answer requests without a key (limited per client
    # address). Off: they need a widget or admin key (`shopwright keys create`).
    public_api: bool = True
    # How long a chat session (POST /v1/sessions) lives.
    session_ttl_hours: float = Field(default=168.0, gt=0)

    # Who the shop is (shop/identity.py): empty here, filled from data_dir/identity.toml;
    # `prod` refuses to start without all three, `dev` shows shop.identity.UNSET for a gap.
    # shop_url is where help-page links point and the widget's default allowed origin; the
    # postal address ends every marketing email.
    shop_name: str = ""
    shop_url: str = ""
    shop_postal_address: str = ""
    # The language the shop's catalog and help pages are written in (shop/lexicon: stems,
    # stopwords, number words for search, answers and checks); one of shop.lexicon.LANGUAGES.
    shop_language: str = "en"
    # Languages the configured LLM writes well (ISO 639-1); for a customer in another language
    # the localized template text stands instead of model-written text. The embedded 135M: en.
    llm_languages: Annotated[list[str], NoDecode] = ["en"]
    # Sites whose pages may call /v1/chat from the chat widget (CORS), as origins
    # ("https://shop.example"), comma-separated in the environment; empty: shop_url's origin.
    widget_origins: Annotated[list[str], NoDecode] = []
    # Per-client rate limits (the `limits` notation: "30/minute", "5/second", "1000/day") for
    # /v1/chat and /v1/chat/completions together, /v1/search and /v1/copy; past one: 429.
    rate_limit_enabled: bool = True
    rate_limit_chat: str = "30/minute"
    rate_limit_search: str = "120/minute"
    rate_limit_copy: str = "20/minute"
    # Wrong keys at /studio-login per client address; past it every try is 429 until it frees.
    rate_limit_studio_login: str = "20/minute"
    # Admission control in front of the local model: requests generating at once (rows of the
    # continuous batch; 1 turns batching off), shoppers' requests waiting for a row, and how
    # long one may wait before it is refused with 503 and Retry-After. Batch work (campaigns,
    # triggers, CLI, studio) is never refused: it waits, and holds at most
    # llm_max_running - llm_interactive_reserved rows (default reserve: a quarter, at least 1).
    llm_max_running: int = Field(default=16, ge=1, le=512)
    llm_max_waiting: int = Field(default=64, ge=0, le=10_000)
    llm_queue_deadline_s: float = Field(default=10.0, gt=0)
    llm_interactive_reserved: int | None = Field(default=None, ge=0, le=511)
    # On a GPU: static KV cache and torch.compile for padded batch generation (no effect on CPU).
    llm_compile: bool = False

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources = [init_settings, env_settings]
        path = _config_file()
        if path.is_file():
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

    @field_validator("widget_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value):
        if isinstance(value, str):
            value = value.split(",")
        return [_origin(o) for o in value if o.strip()]

    @field_validator("llm_languages", "embed_languages", mode="before")
    @classmethod
    def _parse_languages(cls, value):
        if isinstance(value, str):
            value = value.split(",")
        return [v.strip().lower() for v in value if v.strip()]

    @field_validator("shop_language")
    @classmethod
    def _check_language(cls, value: str) -> str:
        from shop.lexicon import LANGUAGES

        if value not in LANGUAGES:
            raise ValueError(f"{value!r} is not one of the supported languages {LANGUAGES}")
        return value

    @field_validator("shop_url")
    @classmethod
    def _check_shop_url(cls, value: str) -> str:
        if value.strip():
            _origin(value)  # an http(s) address, or a clear error now rather than at start-up
        return value.strip()

    @field_validator("rate_limit_chat", "rate_limit_search", "rate_limit_copy",
                     "rate_limit_studio_login")
    @classmethod
    def _check_rate(cls, value: str) -> str:
        from limits import parse_many

        try:
            rates = parse_many(value)
        except ValueError:
            rates = []
        if len(rates) != 1:
            raise ValueError(f"{value!r} is not one rate such as '30/minute' or '5/second'")
        return value.strip()

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> "Settings":
        if self.mode == "prod" and self.admin_key.get_secret_value() == PLACEHOLDER_ADMIN_KEY:
            raise ConfigError(
                "SHOPWRIGHT_ADMIN_KEY is still the placeholder; set a real secret "
                "or run with SHOPWRIGHT_MODE=dev"
            )
        reserved = self.llm_interactive_reserved
        if reserved is not None and self.llm_max_running > 1 and reserved >= self.llm_max_running:
            raise ConfigError(f"SHOPWRIGHT_LLM_INTERACTIVE_RESERVED={reserved} leaves no row of "
                              f"SHOPWRIGHT_LLM_MAX_RUNNING={self.llm_max_running} for batch "
                              f"work; use 0 to {self.llm_max_running - 1}")
        if self.llm_engine == "openai" and not self.llm_base_url:
            raise ConfigError("SHOPWRIGHT_LLM_ENGINE=openai needs SHOPWRIGHT_LLM_BASE_URL "
                              "(e.g. http://localhost:8001/v1 for `vllm serve`)")
        return self

    @model_validator(mode="after")
    def _shop_identity(self) -> Settings:
        self.adopt_identity(read_identity(self.data_dir))
        missing = self.missing_identity()
        if missing and self.mode == "prod":
            names = ", ".join(f"SHOPWRIGHT_{name.upper()}" for name in missing)
            raise ConfigError(f"the shop's identity is incomplete: set {names} (run `shopwright "
                              "init`, or set them in the environment or shopwright.toml), or "
                              "run with SHOPWRIGHT_MODE=dev")
        for name in missing:
            setattr(self, name, UNSET[name])
        return self

    def missing_identity(self) -> list[str]:
        """The identity fields that are empty or still the dev placeholder."""
        return [name for name in IDENTITY_FIELDS
                if getattr(self, name).strip() in ("", UNSET[name])]

    def adopt_identity(self, identity: dict[str, str]) -> list[str]:
        """Fill the missing identity fields from `identity` (what is set stays); the names
        filled."""
        filled = [name for name in self.missing_identity() if identity.get(name, "").strip()]
        for name in filled:
            setattr(self, name, identity[name].strip())
        return filled

    @property
    def db_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'shop.db').resolve()}"

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def campaigns_dir(self) -> Path:
        return self.data_dir / "campaigns"

    def signing_key(self) -> bytes:
        """The secret for signed links: SHOPWRIGHT_SECRET_KEY, else one made once per data dir
        (so links in sent emails keep working across restarts)."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / "secret_key"
        if not path.is_file():
            import secrets

            self.data_dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(secrets.token_hex(32))
            tmp.chmod(0o600)
            try:  # two processes racing: the first link wins, both read the same key
                os.link(tmp, path)
            except FileExistsError:
                pass
            finally:
                tmp.unlink()
        return path.read_text().strip().encode()

    @property
    def cors_origins(self) -> list[str]:
        named = self.shop_url and "shop_url" not in self.missing_identity()
        return self.widget_origins or ([_origin(self.shop_url)] if named else [])

    @property
    def models_dir(self) -> Path:
        return self.model_cache_dir or self.data_dir / "models"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    def ensure_dirs(self) -> None:
        for path in (self.data_dir, self.models_dir, self.index_dir):
            path.mkdir(parents=True, exist_ok=True)

    # Experiments (experiments/): a thompson experiment promotes a variant whose probability to
    # be best passes `experiment_threshold` once it has `experiment_min_impressions` impressions
    # (and the experiment that many per variant on average); an ab experiment promotes when
    # its always-valid p-value falls below `experiment_alpha`.
    # Thompson keeps every variant's chance of being shown at least `experiment_propensity_floor`
    # so other policies can still be evaluated off-policy from its logs.
    experiment_threshold: float = Field(default=0.95, gt=0.5, lt=1)
    experiment_min_impressions: int = Field(default=100, ge=1)
    experiment_alpha: float = Field(default=0.05, gt=0, lt=0.5)
    experiment_propensity_floor: float = Field(default=0.01, ge=0, le=0.1)

    # Triggered emails (campaigns/triggers.py): the rules file `shopwright triggers run` reads,
    # and the frequency cap over all marketing email, campaigns and triggers alike: at most
    # `marketing_cap_emails` per customer in any `marketing_cap_days` days.
    triggers_file: Path | None = None
    # `serve` runs the rules every this many minutes (0: never; run `triggers run` from cron)
    triggers_every_minutes: float = Field(default=0.0, ge=0)
    marketing_cap_emails: int = Field(default=3, ge=1)
    marketing_cap_days: float = Field(default=7.0, gt=0)
    # The global control group (campaigns/control.py): this share of customers never gets a
    # campaign or trigger email, the same customers for every one, so what the emails earn
    # can be measured against them (`campaign status`). 0: no control group. Who is in it is
    # a hash of `control_salt` and the customer id; empty salt: one derived from the signing
    # key (secret_key, else data_dir/secret_key, made once), so the group stays as long as
    # that key does. Set a salt to keep the same group across a key change or data dir.
    control_share: float = Field(default=0.05, ge=0, lt=1)
    control_salt: str = ""

    # Customer value (recsys/value/): the horizon the stored scores look ahead, in days. They
    # are refreshed after `ingest events|orders` and `recsys retrain`.
    score_horizon_days: int = Field(default=90, ge=7, le=730)

    # Personal offers (campaigns/offers.py): what one free delivery costs the shop, in its
    # currency, counted as the discount cost of a redeemed free-shipping code (shop/coupons.py;
    # the value in force when the code was issued). 0: not counted.
    free_shipping_cost: float = Field(default=0.0, ge=0)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests build their own `Settings(...)` instead)."""
    return Settings()
