"""The emulator keeps Stripe's documented idempotency rules (the billing code relies on them)."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
import stripe

from tenancy.devstack.stripe_emulator import StripeEmulator


def client(emulator: StripeEmulator) -> stripe.StripeClient:
    return stripe.StripeClient(
        "sk_test_emulator", base_addresses={"api": emulator.url}, max_network_retries=0
    )


def test_same_key_replays_the_stored_response(emulator: StripeEmulator) -> None:
    v1 = client(emulator).v1
    a = v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "k1"})
    b = v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "k1"})
    assert a.id == b.id and len(emulator.customers) == 1


def test_same_key_with_other_parameters_is_an_idempotency_error(emulator: StripeEmulator) -> None:
    v1 = client(emulator).v1
    v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "k1"})
    with pytest.raises(stripe.IdempotencyError, match="same parameters"):
        v1.customers.create({"email": "b@example.com"}, {"idempotency_key": "k1"})


def test_a_stored_error_is_replayed_with_the_replay_header(emulator: StripeEmulator) -> None:
    v1 = client(emulator).v1
    emulator.inject("error_after_commit", "/v1/customers$")
    with pytest.raises(stripe.APIError) as first:
        v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "k1"})
    with pytest.raises(stripe.APIError) as second:
        v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "k1"})
    assert "Idempotent-Replayed" not in (first.value.headers or {})
    assert (second.value.headers or {}).get("Idempotent-Replayed") == "true"
    assert len(emulator.customers) == 1  # it did execute, once


def test_a_body_cut_short_by_a_dying_client_is_neither_executed_nor_stored(
    emulator: StripeEmulator,
) -> None:
    # A killed process can leave the headers sent and the body not: the key must stay free,
    # or the full request retried with it meets "same parameters" forever.
    body = b"email=a%40example.com"
    split = urlsplit(emulator.url)
    with socket.create_connection((split.hostname, split.port)) as sock:
        sock.sendall(
            b"POST /v1/customers HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer sk_test_emulator\r\nIdempotency-Key: k1\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        sock.sendall(body[:9])
        sock.shutdown(socket.SHUT_WR)  # dies in the middle of the body
        assert sock.recv(1024) == b""  # no answer: the server dropped it
    assert emulator.customers == {} and "k1" not in emulator.keys
    created = client(emulator).v1.customers.create(
        {"email": "a@example.com"}, {"idempotency_key": "k1"}
    )
    assert created.email == "a@example.com" and len(emulator.customers) == 1


def test_keys_expire_after_24_hours_on_the_emulator_clock(emulator: StripeEmulator) -> None:
    v1 = client(emulator).v1
    v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "k1"})
    emulator.advance(24 * 3600 + 1)
    v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "k1"})
    assert len(emulator.customers) == 2


def test_the_global_rate_limit_answers_before_idempotency_and_is_not_stored(
    emulator: StripeEmulator,
) -> None:
    v1 = client(emulator).v1
    emulator.rate_limit = 1
    v1.customers.list()
    with pytest.raises(stripe.RateLimitError):
        v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "k1"})
    emulator.rate_limit = None
    created = v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "k1"})
    assert created.id in emulator.customers


def test_search_lags_behind_writes_and_lists_do_not(emulator: StripeEmulator) -> None:
    v1 = client(emulator).v1
    emulator.search_delay = 60
    created = v1.customers.create({"email": "a@example.com", "metadata": {"tenant_id": "t1"}})
    assert v1.customers.search({"query": "metadata['tenant_id']:'t1'"}).data == []
    assert [c.id for c in v1.customers.list({"email": "a@example.com"}).data] == [created.id]
    emulator.advance(61)
    assert [c.id for c in v1.customers.search({"query": "metadata['tenant_id']:'t1'"}).data] == [
        created.id
    ]
