"""The shop's identity is the shop's (shop/identity.py): no code default names a shop, `prod`
refuses to start without one, `demo init` names the data dir after the demo, `shopwright init`
after any shop, and emails carry the configured shop's name and address only."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gen.checks.guardrails import Facts, ProductFact
from gen.engines import FakeEngine
from gen.prompts import default_library
from gen.tasks.email import EmailJob, EmailWriter
from shop.demo import DEMO_IDENTITY
from shop.errors import ConfigError
from shop.identity import IDENTITY_FIELDS, UNSET, ShopIdentity, identity_path, write_identity
from shop.settings import Settings, get_settings
from ui import context as ui_context
from ui.cli import main
from ui.context import ShopContext
from ui.demo import load_demo

TEA = ShopIdentity(shop_name="Teahouse Marlow", shop_url="https://teahouse.example",
                   shop_postal_address="Teahouse Marlow, 4 Mill Lane, Marlow SL7 1AA, UK")
DEMO_WORDS = [DEMO_IDENTITY["shop_name"].split()[0], DEMO_IDENTITY["shop_postal_address"]]


def identity_of(settings: Settings) -> dict[str, str]:
    return {name: getattr(settings, name) for name in IDENTITY_FIELDS}


# ---- settings -------------------------------------------------------------------------------

def test_no_code_default_names_a_shop(tmp_path):
    assert {name: Settings.model_fields[name].default for name in IDENTITY_FIELDS} == dict.fromkeys(
        IDENTITY_FIELDS, "")
    settings = Settings(data_dir=tmp_path)  # dev: placeholders that say they are placeholders
    assert identity_of(settings) == UNSET
    assert settings.missing_identity() == list(IDENTITY_FIELDS)
    assert settings.cors_origins == []  # no shop site, so no allowed origin by default


def test_prod_refuses_to_start_without_an_identity(tmp_path):
    with pytest.raises(ConfigError) as refused:
        Settings(mode="prod", admin_key="s3cret-enough", data_dir=tmp_path,
                 shop_name="Teahouse Marlow")
    message = str(refused.value)
    assert "\n" not in message
    assert "SHOPWRIGHT_SHOP_URL, SHOPWRIGHT_SHOP_POSTAL_ADDRESS" in message
    assert "SHOPWRIGHT_SHOP_NAME" not in message  # only what is missing
    assert "shopwright init" in message
    complete = Settings(mode="prod", admin_key="s3cret-enough", data_dir=tmp_path,
                        **TEA.model_dump())
    assert identity_of(complete) == TEA.model_dump() and complete.missing_identity() == []


def test_the_identity_file_in_the_data_dir_names_the_shop_and_settings_win(tmp_path,
                                                                           monkeypatch):
    write_identity(tmp_path, TEA)
    settings = Settings(mode="prod", admin_key="s3cret-enough", data_dir=tmp_path)
    assert identity_of(settings) == TEA.model_dump()
    assert settings.cors_origins == ["https://teahouse.example"]
    monkeypatch.setenv("SHOPWRIGHT_SHOP_NAME", "Teahouse Marlow (Henley)")
    assert Settings(data_dir=tmp_path).shop_name == "Teahouse Marlow (Henley)"
    assert Settings(data_dir=tmp_path, shop_name="Other").shop_name == "Other"


def test_a_broken_identity_file_is_a_clear_config_error(tmp_path):
    identity_path(tmp_path).write_text('shop_name = "A"\nshop_colour = "red"\n')
    with pytest.raises(ConfigError, match="unknown keys \\['shop_colour'\\]"):
        Settings(data_dir=tmp_path)
    identity_path(tmp_path).write_text('shop_url = "teahouse.example"\n')
    with pytest.raises(ConfigError, match="not an http"):
        Settings(data_dir=tmp_path)


# ---- demo init and shopwright init ----------------------------------------------------------

def test_demo_init_writes_the_demo_identity_and_the_settings_read_it(tmp_path):
    context = ShopContext(Settings(data_dir=tmp_path / "data"))
    first = next(load_demo(context))  # the first step, before any data is generated
    assert DEMO_IDENTITY["shop_name"] in first
    assert identity_of(context.settings) == DEMO_IDENTITY  # this process's settings too
    assert identity_of(Settings(data_dir=tmp_path / "data")) == DEMO_IDENTITY  # the next ones


def test_demo_init_keeps_an_identity_the_shop_already_has(tmp_path):
    write_identity(tmp_path / "data", TEA)
    context = ShopContext(Settings(data_dir=tmp_path / "data"))
    assert "kept" in next(load_demo(context))
    assert identity_of(context.settings) == TEA.model_dump()


@pytest.fixture
def cli_data_dir(tmp_path, monkeypatch):
    """The CLI in this process over a data dir of its own; the process-wide settings it reads
    are forgotten before and after, so no other test sees them."""
    monkeypatch.setenv("SHOPWRIGHT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(ui_context, "_DEFAULT", None)
    get_settings.cache_clear()
    yield tmp_path / "data"
    get_settings.cache_clear()


def run(capsys, *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return exited.value.code or 0, out, err


INIT = ("init", "--name", TEA.shop_name, "--url", TEA.shop_url + "/",
        "--postal-address", TEA.shop_postal_address)


def test_shopwright_init_names_the_shop_once(capsys, cli_data_dir, monkeypatch):
    monkeypatch.setenv("SHOPWRIGHT_MODE", "prod")  # a prod data dir can be named before it starts
    monkeypatch.setenv("SHOPWRIGHT_ADMIN_KEY", "s3cret-enough")
    code, out, _ = run(capsys, *INIT)
    assert code == 0 and TEA.shop_name in out
    assert identity_of(Settings()) == TEA.model_dump()  # and now prod starts
    code, _, err = run(capsys, *INIT)
    assert code == 2 and err.count("\n") == 1 and "--replace" in err
    code, _, _ = run(capsys, *INIT[:2], "Teahouse Henley", *INIT[3:], "--replace")
    assert code == 0 and Settings().shop_name == "Teahouse Henley"


def test_shopwright_init_refuses_a_url_that_is_no_website(capsys, cli_data_dir):
    code, _, err = run(capsys, *INIT[:4], "teahouse.example", *INIT[5:])
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: --url: Value error, should be the shop's http(s) address")
    assert not identity_path(cli_data_dir).exists()


def test_serve_in_prod_without_an_identity_stops_with_one_line(capsys, cli_data_dir, monkeypatch):
    monkeypatch.setenv("SHOPWRIGHT_MODE", "prod")
    monkeypatch.setenv("SHOPWRIGHT_ADMIN_KEY", "s3cret-enough")
    code, out, err = run(capsys, "serve")
    assert code == ConfigError.exit_code and out == ""
    assert err.count("\n") == 1 and err.startswith("error: the shop's identity is incomplete: "
                                                   "set SHOPWRIGHT_SHOP_NAME, ")


def test_ingest_without_an_identity_says_how_to_name_the_shop(capsys, cli_data_dir, tmp_path,
                                                              monkeypatch):
    monkeypatch.setattr(ui_context, "AFTER_INGEST", [])  # no search index: not what is tested
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "returns.md").write_text("# Returns\n\nSend it back within 14 days.\n")
    code, out, err = run(capsys, "ingest", "kb", str(kb))
    assert code == 0 and "1 written" in out
    assert "shopwright init" in err and "name, url, postal address" in err


# ---- emails ---------------------------------------------------------------------------------

def email_for(settings: Settings):
    product = SimpleNamespace(id="T1", title="Assam Breakfast Tea", category="black-tea",
                              attributes={}, price=9.5, currency="GBP", stock=20,
                              description="A malty black tea.", url=f"{settings.shop_url}/p/t1")
    customer = SimpleNamespace(id="C1", first_name="Anna", email="anna@example.com",
                               locale="en-GB", marketing_consent=True, unsubscribed_at=None)
    facts = Facts([ProductFact("T1", product.title, 9.5, "GBP", 20, product.url, "")])
    library = default_library()
    writer = EmailWriter(FakeEngine(default="SUBJECT: Tea for you\nINTRO: A few picks."),
                         library, library.brand("default", settings.shop_name), settings,
                         candidates=1)
    draft = writer.write_many([EmailJob(customer, [product, product], [], facts, None)])[0]
    return draft, draft.to_message(settings)


def test_an_email_carries_its_own_shops_name_and_address_never_the_demos(tmp_path):
    write_identity(tmp_path, TEA)
    draft, message = email_for(Settings(data_dir=tmp_path))
    assert TEA.shop_postal_address in draft.text and TEA.shop_postal_address in draft.html
    assert TEA.shop_name in draft.text and 'href="https://teahouse.example"' in draft.html
    assert message["From"] == "Teahouse Marlow <news@teahouse.example>"
    everything = draft.text + draft.html + draft.subject + str(message)
    assert not [word for word in DEMO_WORDS if word in everything]


def test_an_email_in_dev_without_an_identity_says_so_and_invents_no_shop(tmp_path):
    draft, message = email_for(Settings(data_dir=tmp_path))
    assert UNSET["shop_postal_address"] in draft.text
    assert UNSET["shop_name"] in str(message["From"]) and ".invalid>" in str(message["From"])
    everything = draft.text + draft.html + draft.subject + str(message)
    assert not [word for word in DEMO_WORDS if word in everything]
