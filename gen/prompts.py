"""The prompt library: versioned Jinja2 templates in prompts/, each with a .toml beside it.

A chat template defines `{% block system %}` and `{% block user %}`; a layout template (the
email HTML) renders whole. Untrusted text goes through the `data` filter, which strips
anything that could close or open the <data> delimiters the system prompts describe.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from pydantic import BaseModel, ConfigDict, Field

from shop.errors import ConfigError, NotFound
from shop.resources import prompts_dir

PROMPTS_DIR = prompts_dir()

_DELIMITER = re.compile(r"</?\s*data\s*>", re.IGNORECASE)


def as_data(value: Any) -> str:
    """Untrusted text as it may appear between <data> tags: no tags, one line per field."""
    text = _DELIMITER.sub(" ", str(value if value is not None else ""))
    return re.sub(r"[ \t]*\n[ \t\n]*", " ", text).strip()


class BrandVoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = "default"
    tone: str = "friendly and clear"
    avoid_words: list[str] = Field(default_factory=list)
    required_disclaimers: list[str] = Field(default_factory=list)
    sms_opt_out: str = "Reply STOP to opt out"
    shop_name: str = ""  # filled from settings when loaded


@dataclass
class PromptTemplate:
    name: str
    task: str
    version: str
    variables: list[str]
    constraints: dict[str, Any]
    template: jinja2.Template
    description: str = ""
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def _check(self, values: dict[str, Any]) -> None:
        missing = [name for name in self.variables if name not in values]
        if missing:
            raise ConfigError(f"prompt {self.ref} needs variables {missing}")

    def render_chat(self, **values: Any) -> tuple[str, str]:
        """(system, user) messages."""
        self._check(values)
        context = self.template.new_context(values)
        blocks = self.template.blocks
        if "system" not in blocks or "user" not in blocks:
            raise ConfigError(f"prompt {self.ref} lacks a system or user block")
        system = "".join(blocks["system"](context)).strip()
        user = "".join(blocks["user"](self.template.new_context(values))).strip()
        return system, user

    def render(self, **values: Any) -> str:
        self._check(values)
        return self.template.render(**values)


class PromptLibrary:
    def __init__(self, folder: Path = PROMPTS_DIR):
        self.folder = folder
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(folder)),
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=False,
            autoescape=jinja2.select_autoescape(enabled_extensions=("html",),
                                                default_for_string=False),
        )
        self.env.filters["data"] = as_data
        self._cache: dict[str, PromptTemplate] = {}

    def names(self) -> list[str]:
        return sorted(path.stem for path in self.folder.glob("*.toml"))

    def get(self, name: str) -> PromptTemplate:
        if name not in self._cache:
            meta_path = self.folder / f"{name}.toml"
            if not meta_path.exists():
                raise NotFound(f"no prompt {name!r} in {self.folder}; have {self.names()}")
            meta = tomllib.loads(meta_path.read_text(encoding="utf-8"))
            for key in ("task", "version"):
                if key not in meta:
                    raise ConfigError(f"{meta_path}: missing '{key}'")
            template_name = meta.get("template", f"{name}.j2")
            if name == "email_layout":
                # HTML layout: escape every value (product titles are shop data)
                template = jinja2.Environment(
                    loader=self.env.loader, undefined=jinja2.StrictUndefined,
                    autoescape=True).get_template(template_name)
            else:
                template = self.env.get_template(template_name)
            self._cache[name] = PromptTemplate(
                name=meta.get("name", name), task=meta["task"], version=str(meta["version"]),
                variables=list(meta.get("variables", [])),
                constraints=dict(meta.get("constraints", {})), template=template,
                description=meta.get("description", ""), meta=meta)
        return self._cache[name]

    def brand(self, shop: str = "default", shop_name: str = "") -> BrandVoice:
        path = self.folder / "brand" / f"{shop}.toml"
        if not path.exists():
            path = self.folder / "brand" / "default.toml"
        voice = BrandVoice(**tomllib.loads(path.read_text(encoding="utf-8")))
        return voice.model_copy(update={"shop_name": shop_name or voice.name})


@lru_cache(maxsize=4)
def default_library(folder: str = str(PROMPTS_DIR)) -> PromptLibrary:
    return PromptLibrary(Path(folder))
