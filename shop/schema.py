"""SQL tables (SQLAlchemy 2 declarative). Ids of shop entities are strings chosen by the shop."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

EVENT_TYPES = ("view", "add_to_cart", "purchase", "search", "click")
ORDER_STATUSES = ("placed", "paid", "packed", "shipped", "delivered", "cancelled", "returned")


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(moment: datetime | None) -> datetime | None:
    """A stored moment as an aware UTC datetime (SQLite hands back naive ones; they were
    stored as UTC)."""
    if moment is None or moment.tzinfo:
        return moment
    return moment.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    pass


class Product(Base):
    __tablename__ = "products"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(100), index=True)
    price: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    stock: Mapped[int] = mapped_column(Integer, default=0)
    brand: Mapped[str] = mapped_column(String(100), default="")
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)
    url: Mapped[str] = mapped_column(String(500), default="")
    image_url: Mapped[str] = mapped_column(String(1000), default="")  # "": a placeholder
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # set when the product left the catalog (`ingest catalog --prune`): it keeps its history
    # (events point at it) but leaves search, recommendations and generated text
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    first_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(254), default="")
    locale: Mapped[str] = mapped_column(String(16), default="en-GB")
    marketing_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Event(Base):
    """One behaviour event. `idempotency_key` makes re-ingestion and API retries safe."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_customer_ts", "customer_id", "ts"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"), index=True)
    type: Mapped[str] = mapped_column(String(16))
    product_id: Mapped[str | None] = mapped_column(ForeignKey("products.id"), index=True)
    query: Mapped[str | None] = mapped_column(String(500))
    session_id: Mapped[str | None] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class KBDocument(Base):
    __tablename__ = "kb_documents"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)  # slug of the file name
    title: Mapped[str] = mapped_column(String(300))
    topic: Mapped[str] = mapped_column(String(100), default="")
    body: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(500), default="")
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(32), default="email")
    discount_code: Mapped[str | None] = mapped_column(String(64))
    discount_percent: Mapped[float | None] = mapped_column(Float)
    starts_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ends_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # the campaign file it was last run from (campaigns/spec.py), and that file's hash
    spec: Mapped[dict | None] = mapped_column(JSON, default=None)
    spec_hash: Mapped[str | None] = mapped_column(String(64), default=None)


ROW_STATES = ("pending", "generated", "failed", "skipped")


class CampaignRow(Base):
    """One customer's piece of a campaign: exactly one per (campaign, customer, template
    version), so a job killed at any moment and run again neither repeats nor skips anyone."""

    __tablename__ = "campaign_rows"
    __table_args__ = (
        UniqueConstraint("campaign_id", "customer_id", "template_version",
                         name="uq_campaign_rows_key"),
        Index("ix_campaign_rows_campaign_state", "campaign_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    customer_id: Mapped[str] = mapped_column(String(64))
    template_version: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(16), default="pending")  # ROW_STATES
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    output: Mapped[dict | None] = mapped_column(JSON, default=None)
    source: Mapped[str | None] = mapped_column(String(16), default=None)  # model|repaired|fallback
    tokens: Mapped[int] = mapped_column(Integer, default=0)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)  # its share of its batch's time
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GeneratedContent(Base):
    """Every generated piece, with what produced it, so any output can be traced and reproduced."""

    __tablename__ = "generated_content"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    task: Mapped[str] = mapped_column(String(32), index=True)  # copy | email | chat
    prompt_name: Mapped[str] = mapped_column(String(100))
    prompt_version: Mapped[str] = mapped_column(String(32))
    model: Mapped[str] = mapped_column(String(300))
    inputs_hash: Mapped[str] = mapped_column(String(64), index=True)
    output: Mapped[dict] = mapped_column(JSON)
    customer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    product_id: Mapped[str | None] = mapped_column(String(64))
    campaign_id: Mapped[str | None] = mapped_column(ForeignKey("campaigns.id"))
    status: Mapped[str] = mapped_column(String(16), default="draft")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Job(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


AUDIT_ACTIONS = ("export", "view", "erase")  # view: a person read it on screen (studio)


class AuditLog(Base):
    """Who exported or erased whose personal data, and when (GDPR art. 5(2) accountability).
    `detail` holds counts only, never the data itself; `actor` names the key, never holds it."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(16))  # AUDIT_ACTIONS
    subject: Mapped[str] = mapped_column(String(64), index=True)  # the customer id
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


KEY_SCOPES = ("widget", "admin")


class ApiKey(Base):
    """An API key, kept as the SHA-256 of its secret (keys are 256-bit random tokens, so a
    plain hash cannot be brute-forced the way a password could). `prefix` (the key's first
    characters) lets a person tell keys apart in `shopwright keys list`."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100))
    scope: Mapped[str] = mapped_column(String(16))  # KEY_SCOPES
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    origins: Mapped[list] = mapped_column(JSON, default=list)  # widget keys: allowed origins
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ChatSession(Base):
    """A shopper's chat session. A widget key reaches the recommendations and events of its
    own session's customer only; the session id is a bearer secret, kept hashed like keys.
    Its conversation is in `chat_turns`."""

    __tablename__ = "chat_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id"))
    customer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    handoff: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class ChatTurn(Base):
    """One turn of a chat session, a row of its own so that concurrent requests of one session
    each insert theirs (a JSON list rewritten per request lost all but one writer's turns).
    `id` orders a session's turns; `extra` keeps the rest of the turn as the chat gave it
    (citations, products, handoff, `at`)."""

    __tablename__ = "chat_turns"
    __table_args__ = (Index("ix_chat_turns_session", "session_hash", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_hash: Mapped[str] = mapped_column(
        ForeignKey("chat_sessions.id_hash", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[str] = mapped_column(Text, default="")
    extra: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


EXPERIMENT_POLICIES = ("ab", "thompson")
EXPERIMENT_STATES = ("running", "promoted", "stopped")
FEEDBACK_EVENTS = ("impression", "click", "conversion")


class Experiment(Base):
    """A test between variants of generated content (experiments/service.py). Once `promoted`
    or `stopped` it serves `winner` (or, with none, `control`) to everyone."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    policy: Mapped[str] = mapped_column(String(16))  # EXPERIMENT_POLICIES
    control: Mapped[str] = mapped_column(String(32))
    per_segment: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default="running")  # EXPERIMENT_STATES
    winner: Mapped[str | None] = mapped_column(String(32), default=None)
    decided_by: Mapped[str | None] = mapped_column(Text, default=None)  # why it ended
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)


class ExperimentVariant(Base):
    __tablename__ = "experiment_variants"
    __table_args__ = (UniqueConstraint("experiment_id", "key", name="uq_experiment_variant"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"))
    key: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)  # order given at creation
    content_id: Mapped[int | None] = mapped_column(Integer, default=None)  # generated_content.id
    text: Mapped[str | None] = mapped_column(Text, default=None)


class Assignment(Base):
    """Which variant a customer was shown, and the probability the policy chose it with (the
    propensity off-policy evaluation divides by). One per customer: a customer keeps seeing
    the same variant."""

    __tablename__ = "experiment_assignments"
    __table_args__ = (
        UniqueConstraint("experiment_id", "customer_id", name="uq_assignment_customer"),
        Index("ix_assignments_experiment_ts", "experiment_id", "ts"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"))
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    variant: Mapped[str] = mapped_column(String(32))
    propensity: Mapped[float] = mapped_column(Float)
    segment: Mapped[str] = mapped_column(String(32))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Feedback(Base):
    """An impression, click or conversion: once per (experiment, customer, variant, event), so
    a retried post counts once."""

    __tablename__ = "experiment_feedback"
    __table_args__ = (
        UniqueConstraint("experiment_id", "customer_id", "variant", "event",
                         name="uq_feedback_key"),
        Index("ix_feedback_experiment_variant", "experiment_id", "variant", "event"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id"))
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    variant: Mapped[str] = mapped_column(String(32))
    event: Mapped[str] = mapped_column(String(16))  # FEEDBACK_EVENTS
    segment: Mapped[str] = mapped_column(String(32))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


FIRING_STATES = ("enqueued", "no_consent", "capped", "control")  # control: campaigns/control.py


class TriggerFiring(Base):
    """A trigger rule firing for a customer (campaigns/triggers.py): exactly one per (rule,
    customer, firing time), so a rerun never sends twice. `state` says whether an email was
    enqueued (into campaign `campaign_id`) or why not."""

    __tablename__ = "trigger_firings"
    __table_args__ = (UniqueConstraint("rule", "customer_id", "fired_at",
                                       name="uq_trigger_firing"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[str] = mapped_column(String(64), index=True)
    fired_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    state: Mapped[str] = mapped_column(String(16))  # FIRING_STATES
    campaign_id: Mapped[str | None] = mapped_column(String(64), index=True)
    product_ids: Mapped[list] = mapped_column(JSON, default=list)  # what it fired about
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StockWatch(Base):
    """Products seen out of stock by a trigger run, and when a later run saw them back: the
    "back in stock" trigger's memory (the catalog keeps only current stock)."""

    __tablename__ = "stock_watch"

    product_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    out_since: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    restocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)


# the support tables (orders, order requests, vetted answers, chat outcomes) live in
# shop/support_tables.py, reviews in shop/review_tables.py, scores, coupons and offer arms in
# shop/value_tables.py; importing them here puts them on Base.metadata with the rest
from shop import review_tables, support_tables, value_tables  # noqa: F401
