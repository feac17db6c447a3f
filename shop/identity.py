"""Who the shop is: its name, its site, and the postal address every marketing email ends with.

No code default names a shop. Like any setting the identity comes from the constructor,
`SHOPWRIGHT_SHOP_NAME` / `_SHOP_URL` / `_SHOP_POSTAL_ADDRESS` or shopwright.toml, and for the
parts those leave empty from `identity.toml` in the data dir, which `shopwright init` writes
(and `shopwright demo init` for the demo shop). The sender of emails follows from it
(`name <news@host of the url>`). In `prod` a missing part stops the service from starting
(shop/settings.py); in `dev` it reads as an obvious placeholder (UNSET), so nothing a
developer sends or shows can pass for some shop's real name or address.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shop.errors import ConfigError

IDENTITY_FILE = "identity.toml"  # in the data dir
IDENTITY_FIELDS = ("shop_name", "shop_url", "shop_postal_address")
# What a dev setup without an identity says instead; `.invalid` is a reserved top-level
# domain (RFC 2606), so links and the sender's host built from it go nowhere.
UNSET = {
    "shop_name": "[shop name not set]",
    "shop_url": "https://shop-url-not-set.invalid",
    "shop_postal_address": "[postal address not set]",
}


class ShopIdentity(BaseModel):
    """A whole identity, as `shopwright init` takes it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    shop_name: str = Field(min_length=1, max_length=200)
    shop_url: str = Field(min_length=1, max_length=500)
    shop_postal_address: str = Field(min_length=1, max_length=500)

    @field_validator("*")
    @classmethod
    def _one_line(cls, value: str) -> str:
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise ValueError("should be one line without control characters")
        return value

    @field_validator("shop_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("should be the shop's http(s) address, such as https://shop.example")
        return value.rstrip("/")


def identity_path(data_dir: Path) -> Path:
    return Path(data_dir) / IDENTITY_FILE


def read_identity(data_dir: Path) -> dict[str, str]:
    """The parts data_dir/identity.toml holds ({} without the file)."""
    path = identity_path(data_dir)
    if not path.is_file():
        return {}
    try:
        values = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not TOML ({exc}); write it again with "
                          "`shopwright init --replace`") from None
    unknown = sorted(set(values) - set(IDENTITY_FIELDS))
    if unknown:
        raise ConfigError(f"{path}: unknown keys {unknown}; it holds only "
                          f"{', '.join(IDENTITY_FIELDS)}")
    values = {name: str(value) for name, value in values.items()}
    if values.get("shop_url") and urlsplit(values["shop_url"]).scheme not in ("http", "https"):
        raise ConfigError(f"{path}: shop_url {values['shop_url']!r} is not an http(s) address")
    return values


def write_identity(data_dir: Path, identity: ShopIdentity, replace: bool = False) -> Path | None:
    """Write data_dir/identity.toml; None (nothing written) where one exists and not `replace`."""
    path = identity_path(data_dir)
    if path.exists() and not replace:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    # a JSON string is a TOML basic string (same quotes and escapes)
    body = "".join(f"{name} = {json.dumps(getattr(identity, name), ensure_ascii=False)}\n"
                   for name in IDENTITY_FIELDS)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(path)
    return path
