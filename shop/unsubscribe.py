"""Signed one-click unsubscribe links (RFC 8058, CAN-SPAM).

Every marketing email carries `List-Unsubscribe: <{base_url}/v1/unsubscribe?token=...>` and
`List-Unsubscribe-Post: List-Unsubscribe=One-Click`; mail clients POST that body to the URL
and the customer is out at once, no login. The token is the customer id plus an HMAC of it
under `settings.signing_key()`, so a link can neither be guessed from an id nor edited to
unsubscribe someone else. GET never unsubscribes (mail scanners prefetch links): see
ui/api/unsubscribe.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime

from shop.errors import BadToken, NotFound
from shop.schema import Customer, utcnow
from shop.settings import Settings
from shop.store import Store

PURPOSE = "unsubscribe:v1:"  # bumping the version invalidates every link already sent
SIGNATURE_BYTES = 18  # of HMAC-SHA256; 144 bits, 24 base64 characters without padding
MAX_TOKEN_CHARS = 512
TOKEN = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _signature(settings: Settings, customer_id: str) -> str:
    digest = hmac.new(settings.signing_key(), (PURPOSE + customer_id).encode(), hashlib.sha256)
    return _b64(digest.digest()[:SIGNATURE_BYTES])


def make_token(settings: Settings, customer_id: str) -> str:
    return f"{_b64(customer_id.encode())}.{_signature(settings, customer_id)}"


def read_token(settings: Settings, token: object) -> str:
    """The customer id a token was made for; BadToken for anything else, never another error."""
    if not isinstance(token, str) or not token:
        raise BadToken("missing unsubscribe token; use the link from the email")
    if len(token) > MAX_TOKEN_CHARS or not TOKEN.fullmatch(token):
        raise BadToken("malformed unsubscribe token; use the link from the email")
    id_part, signature = token.split(".")
    try:
        customer_id = base64.urlsafe_b64decode(id_part + "=" * (-len(id_part) % 4)).decode()
    except (ValueError, UnicodeDecodeError):  # binascii.Error is a ValueError
        raise BadToken("malformed unsubscribe token; use the link from the email") from None
    # the canonical encoding only: one id has exactly one valid token
    if not customer_id or _b64(customer_id.encode()) != id_part or \
            not hmac.compare_digest(signature, _signature(settings, customer_id)):
        raise BadToken("invalid unsubscribe token; use the link from the email")
    return customer_id


def unsubscribe(store: Store, customer_id: str, when: datetime | None = None) -> bool:
    """Marks the customer unsubscribed; False if they already were (the first time stays)."""
    with store.session() as session:
        customer = session.get(Customer, customer_id)
        if customer is None:
            raise NotFound(f"customer {customer_id!r} not found; they may have been deleted")
        if customer.unsubscribed_at is not None:
            return False
        customer.unsubscribed_at = when or utcnow()
        return True


def unsubscribe_url(settings: Settings, customer_id: str) -> str:
    return f"{settings.base_url}/v1/unsubscribe?token={make_token(settings, customer_id)}"
