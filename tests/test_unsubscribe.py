"""Signed one-click unsubscribe links (RFC 8058): tokens, the endpoint, and the email's header."""

from __future__ import annotations

import email
import email.policy
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from gen.engines import FakeEngine
from gen.service import GenService
from shop.errors import BadToken, InvalidInput, NotFound
from shop.schema import Customer
from shop.unsubscribe import make_token, read_token, unsubscribe, unsubscribe_url
from ui.app import create_app
from ui.context import ShopContext

ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@pytest.fixture
def customer(store) -> str:
    with store.session() as session:
        session.add(Customer(id="C1", first_name="Ada", email="a@x.example",
                             marketing_consent=True))
    return "C1"


@pytest.fixture
def client(settings) -> TestClient:
    return TestClient(create_app(ShopContext(settings), with_studio=False))


def unsubscribed_at(store, customer_id):
    with store.session() as session:
        return session.get(Customer, customer_id).unsubscribed_at


def test_token_round_trip_hides_nothing_guessable(settings):
    for customer_id in ("C1", "cust-ä/?&=.", "x" * 64):
        token = make_token(settings, customer_id)
        assert read_token(settings, token) == customer_id
        id_part, signature = token.split(".")
        # the signature is random bytes and may spell anything; the id part must not show the id
        assert customer_id not in id_part and "=" not in token
    assert make_token(settings, "C1") == make_token(settings, "C1")  # the key persists
    assert unsubscribe_url(settings, "C1") == \
        f"{settings.base_url}/v1/unsubscribe?token={make_token(settings, 'C1')}"
    assert issubclass(BadToken, InvalidInput) and BadToken.status_code == 400


def test_forged_tokens_are_rejected(settings):
    token = make_token(settings, "C1")
    id_part, signature = token.split(".")
    flipped = signature[:5] + ("A" if signature[5] != "A" else "B") + signature[6:]
    other_key = settings.model_copy(update={"secret_key": SecretStr("another key")})
    forged = [
        f"{id_part}.{flipped}",  # one character of the signature changed
        make_token(other_key, "C1"),  # signed with another key
        f"{make_token(settings, 'C2').split('.')[0]}.{signature}",  # another customer's id
        f"{id_part}.{signature[:-4]}",  # signature cut short
        f"{id_part}.{signature}A",
    ]
    for bad in forged:
        with pytest.raises(BadToken):
            read_token(settings, bad)


@pytest.mark.parametrize("garbage", [
    None, "", ".", "abc", "a.b.c", "QzE.", ".abc", "Qz!E.abc", "Q.abcd", "QzE=.abc",
    "ü.ä", "QzE.\x00", "A" * 600 + "." + "B" * 30, "__8.AAAA", 12345, b"QzE.abc",
])
def test_garbage_tokens_raise_bad_token_only(settings, garbage):
    with pytest.raises(BadToken):
        read_token(settings, garbage)


def test_unsubscribe_sets_the_time_once(store, customer):
    assert unsubscribe(store, customer) is True
    first = unsubscribed_at(store, customer)
    assert first is not None
    assert unsubscribe(store, customer) is False
    assert unsubscribed_at(store, customer) == first
    with pytest.raises(NotFound):
        unsubscribe(store, "nobody")


def test_get_shows_a_form_and_does_not_unsubscribe(client, settings, store, customer):
    response = client.get("/v1/unsubscribe", params={"token": make_token(settings, customer)})
    assert response.status_code == 200
    assert "text/html" in response.headers["content-type"]
    assert settings.shop_name in response.text and 'method="post"' in response.text
    assert 'name="List-Unsubscribe" value="One-Click"' in response.text
    assert unsubscribed_at(store, customer) is None


def test_one_click_post_unsubscribes_and_is_idempotent(client, settings, store, customer):
    url = f"/v1/unsubscribe?token={make_token(settings, customer)}"
    response = client.post(url, data=ONE_CLICK)
    assert response.status_code == 200 and "You are unsubscribed" in response.text
    first = unsubscribed_at(store, customer)
    assert first is not None
    again = client.post(url, data=ONE_CLICK, headers={"Accept": "application/json"})
    assert again.status_code == 200 and again.json() == {"status": "You are unsubscribed"}
    assert unsubscribed_at(store, customer) == first
    assert "You are unsubscribed" in client.get(url).text  # GET now says so, without a form


def test_multipart_body_is_accepted(client, settings, store, customer):
    response = client.post("/v1/unsubscribe", params={"token": make_token(settings, customer)},
                           files={"List-Unsubscribe": (None, "One-Click")})
    assert response.status_code == 200 and unsubscribed_at(store, customer) is not None


def test_post_without_the_one_click_body_changes_nothing(client, settings, store, customer):
    url = f"/v1/unsubscribe?token={make_token(settings, customer)}"
    for kwargs in ({}, {"data": {"List-Unsubscribe": "yes"}}, {"json": ONE_CLICK},
                   {"content": b"\xff\xfe", "headers": {"Content-Type": "multipart/form-data"}}):
        assert client.post(url, **kwargs).status_code == 400
    assert unsubscribed_at(store, customer) is None


@pytest.mark.parametrize("token", [None, "", "garbage", "QzE.AAAAAAAAAAAAAAAAAAAAAAAA",
                                   "<script>alert(1)</script>", "x" * 5000])
def test_bad_or_missing_token_is_400(client, store, customer, token):
    params = {} if token is None else {"token": token}
    for method in ("get", "post"):
        response = client.request(method.upper(), "/v1/unsubscribe", params=params,
                                  data=ONE_CLICK if method == "post" else None)
        assert response.status_code == 400, response.text
        assert "token" in response.text and "<script>" not in response.text
    json = client.post("/v1/unsubscribe", params=params, data=ONE_CLICK,
                       headers={"Accept": "application/json"})
    assert json.status_code == 400 and "token" in json.json()["detail"]
    assert unsubscribed_at(store, customer) is None


def test_valid_token_for_a_deleted_customer_is_404(client, settings):
    url = f"/v1/unsubscribe?token={make_token(settings, 'gone')}"
    assert client.get(url).status_code == 404
    response = client.post(url, data=ONE_CLICK, headers={"Accept": "application/json"})
    assert response.status_code == 404 and "gone" in response.json()["detail"]


def test_the_email_header_link_unsubscribes_its_customer(client, settings, store, customer,
                                                         demo_files):
    from shop.ingest import ingest_file

    ingest_file(store, "catalog", demo_files["catalog"], progress=False)
    engine = FakeEngine(default="SUBJECT: New gear\nINTRO: nothing")
    draft = GenService(settings, store, engine=engine).emails([customer], save=False)[0]
    message = email.message_from_bytes(bytes(draft.to_message(settings)),
                                       policy=email.policy.default)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = urlsplit(message["List-Unsubscribe"].strip().strip("<>"))  # may be folded
    assert f"{link.scheme}://{link.netloc}" == settings.base_url
    assert draft.unsubscribe_url in draft.text  # the footer carries the same link
    response = client.post(f"{link.path}?{link.query}", data=ONE_CLICK)
    assert response.status_code == 200 and unsubscribed_at(store, customer) is not None
