"""The local profile's Stripe: a small HTTP server on loopback speaking the slice of Stripe's
API the billing code uses, with Stripe's documented idempotency rules and injectable faults.

Stripe test mode is unreachable from the development machines and localstripe has no
finalize and ignores idempotency keys, so tests, the demo and the benchmark point the real
`stripe` library at this server through its base-address setting. Faithful to Stripe where the
project depends on it:

- Objects: customers (create, retrieve, list by email, search), invoices (create, retrieve,
  list by customer/status, search, add_lines, lines, finalize, pay, void, mark_uncollectible,
  delete a draft), events (list by type and creation time). Lists are newest first with
  `starting_after` pagination. Search sees an object only `search_delay` seconds after it was
  written (Stripe's search is eventually consistent); lists are consistent.
- Idempotency: once a request has begun executing, its response (errors included) is stored
  under its `Idempotency-Key` and replayed, with `Idempotent-Replayed: true`, for the same key;
  the same key with other parameters is a 400 `idempotency_error`; a key still executing is a
  409; keys expire after 24 h on the emulator's clock (`advance()` moves it). The global rate
  limiter answers before that layer: its 429 is never stored.
- A request whose body is cut short (its client died while sending) is dropped unexecuted,
  its key not stored, as any HTTP server drops it.
- Faults, by probability per kind or queued for the next matching request: `lock_timeout` (a
  stored 429 without executing), `error_after_commit` (executes, stores and returns a 500),
  `drop_after_commit` (executes, stores, closes the connection unanswered) and `slow`
  (executes, stores, answers after `slow_seconds`).

Run standalone with `python -m tenancy.devstack.stripe_emulator --port N`.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import secrets
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tenancy.devstack.stripe_params import decode_params
from tenancy.devstack.stripe_routes import ApiError, route

KEY_TTL_SECONDS = 24 * 3600
FAULT_KINDS = ("lock_timeout", "error_after_commit", "drop_after_commit", "slow")
Json = dict[str, Any]


@dataclass
class Stored:
    fingerprint: str
    at: float
    done: bool = False
    status: int = 0
    body: Json = field(default_factory=dict)
    dropped: bool = False


@dataclass
class Faults:
    """Fault probabilities per kind (mutating requests), and faults queued for the next requests
    whose path matches (`inject`)."""

    rates: dict[str, float] = field(default_factory=dict)
    queued: list[tuple[str, str]] = field(default_factory=list)  # (kind, path regex)
    slow_seconds: float = 1.0
    seed: int = 0
    rng: random.Random = field(default_factory=random.Random)
    counts: dict[str, int] = field(default_factory=dict)


class StripeEmulator:
    """State and behaviour; `serve()` starts the HTTP server in a background thread."""

    def __init__(
        self, rate_limit: float | None = None, search_delay: float = 0.0, seed: int = 0
    ) -> None:
        self.rate_limit = rate_limit
        self.search_delay = search_delay
        self.faults = Faults(rng=random.Random(seed))  # noqa: S311 - fault dice, not secrets
        self.clock_offset = 0.0
        self.lock = threading.RLock()
        self.customers: dict[str, Json] = {}
        self.invoices: dict[str, Json] = {}
        self.lines: dict[str, list[Json]] = {}
        self.events: list[Json] = []
        self.keys: dict[str, Stored] = {}
        self.order: dict[str, int] = {}
        self.written_at: dict[str, float] = {}
        self._seq = itertools.count(1)
        self._window: deque[float] = deque()
        self.requests = 0
        self.mutating = 0  # mutating requests that reached the idempotency layer
        self.rate_limited = 0
        self.server: ThreadingHTTPServer | None = None

    # -- controls for tests -------------------------------------------------------------
    def now(self) -> float:
        return time.time() + self.clock_offset

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock (idempotency key expiry, search indexing, timestamps)."""
        with self.lock:
            self.clock_offset += seconds

    def set_faults(self, rates: dict[str, float], slow_seconds: float = 1.0) -> None:
        unknown = set(rates) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"fault kinds {sorted(unknown)}; expected some of {FAULT_KINDS}")
        with self.lock:
            self.faults.rates = dict(rates)
            self.faults.slow_seconds = slow_seconds

    def inject(self, kind: str, path: str = ".*") -> None:
        """The next mutating request whose path matches `path` (a regex) meets `kind`."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault kind {kind!r}; expected one of {FAULT_KINDS}")
        with self.lock:
            self.faults.queued.append((kind, path))

    def tamper_line(self, invoice_id: str, index: int, amount: int) -> None:
        """Change a line's amount behind the billing code's back (a mismatch to detect)."""
        with self.lock:
            self.lines[invoice_id][index]["amount"] = amount
            self._totals(self.invoices[invoice_id])

    def fail_payment(self, invoice_id: str) -> None:
        with self.lock:
            self._event("invoice.payment_failed", self.invoices[invoice_id])

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def serve(self, port: int = 0) -> StripeEmulator:
        emulator = self

        class Handler(_Handler):
            pass

        Handler.emulator = emulator
        self.server = _Server(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(
            target=self.server.serve_forever, name="stripe-emulator", daemon=True
        ).start()
        return self

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    # -- the request pipeline -----------------------------------------------------------
    def over_rate(self) -> bool:
        if self.rate_limit is None:
            return False
        with self.lock:
            now = time.monotonic()
            while self._window and now - self._window[0] >= 1.0:
                self._window.popleft()
            if len(self._window) >= self.rate_limit:
                self.rate_limited += 1
                return True
            self._window.append(now)
            return False

    def pick_fault(self, method: str, path: str) -> str | None:
        if method == "GET":
            return None
        with self.lock:
            self.mutating += 1
            for i, (kind, pattern) in enumerate(self.faults.queued):
                if re.search(pattern, path):
                    del self.faults.queued[i]
                    return self._count(kind)
            roll = self.faults.rng.random()
            for kind, rate in self.faults.rates.items():
                if roll < rate:
                    return self._count(kind)
                roll -= rate
        return None

    def _count(self, kind: str) -> str:
        self.faults.counts[kind] = self.faults.counts.get(kind, 0) + 1
        return kind

    def handle(self, method: str, path: str, params: Json) -> tuple[int, Json]:
        found = route(method, path)
        if found is None:
            raise ApiError(
                404, "invalid_request_error", f"Unrecognized request URL ({method}: {path})"
            )
        handler, args = found
        with self.lock:
            return 200, handler(self, params, *args)

    # -- helpers used by the routes -----------------------------------------------------
    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{secrets.token_hex(12)}"

    def remember(self, obj: Json) -> Json:
        self.order[obj["id"]] = next(self._seq)
        self.written_at[obj["id"]] = self.now()
        return obj

    def _event(self, kind: str, invoice: Json) -> None:
        event = {
            "id": self.new_id("evt"),
            "object": "event",
            "type": kind,
            "created": int(self.now()),
            "data": {"object": self.invoice_view(invoice)},
            "livemode": False,
        }
        self.events.append(self.remember(event))

    def _totals(self, invoice: Json) -> None:
        total = sum(line["amount"] for line in self.lines[invoice["id"]])
        invoice.update(
            subtotal=total, total=total, amount_due=total if invoice["status"] != "paid" else 0
        )

    def invoice_view(self, invoice: Json) -> Json:
        lines = self.lines[invoice["id"]]
        view = dict(invoice)
        view["lines"] = {
            "object": "list",
            "data": [dict(line) for line in lines[:10]],
            "has_more": len(lines) > 10,
            "total_count": len(lines),
            "url": f"/v1/invoices/{invoice['id']}/lines",
        }
        return view


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hung up (its timeout, or a killed process) is normal here.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    emulator: StripeEmulator

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def _serve(self, method: str) -> None:
        em = self.emulator
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        sent = self.rfile.read(length) if length else b""
        if len(sent) < length:
            # The client went away in the middle of its body (a killed process sends the
            # headers and the body in separate writes). An HTTP server never hands a short body
            # to the application, so Stripe neither executes it nor stores its key.
            self.close_connection = True
            return None
        raw = sent.decode()
        query = raw if method == "POST" else split.query
        em.requests += 1
        if not (self.headers.get("Authorization") or "").startswith("Bearer sk_"):
            return self._send(
                401, ApiError(401, "invalid_request_error", "Invalid API Key provided").body
            )
        if em.over_rate():
            return self._send(
                429,
                ApiError(
                    429, "invalid_request_error", "Request rate limit exceeded.", "rate_limit"
                ).body,
            )
        params = decode_params(parse_qsl(query, keep_blank_values=True))
        key = self.headers.get("Idempotency-Key") if method != "GET" else None
        stored: Stored | None = None
        if key:
            fingerprint = json.dumps(
                [method, split.path, sorted(parse_qsl(query, keep_blank_values=True))]
            )
            with em.lock:
                stored = em.keys.get(key)
                if stored is not None and em.now() - stored.at > KEY_TTL_SECONDS:
                    stored = None
                if stored is not None:
                    if stored.fingerprint != fingerprint:
                        return self._send(
                            400,
                            ApiError(
                                400,
                                "idempotency_error",
                                f"Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request.",
                            ).body,
                        )
                    if not stored.done:
                        return self._send(
                            409,
                            ApiError(
                                409,
                                "invalid_request_error",
                                "There is currently another in-progress request using this Stripe API Key.",
                                "idempotency_key_in_use",
                            ).body,
                        )
                    return self._send(stored.status, stored.body, replayed=True)
                stored = Stored(fingerprint, em.now())
                em.keys[key] = stored
        fault = em.pick_fault(method, split.path)
        if fault == "lock_timeout":
            status, body = (
                429,
                ApiError(
                    429,
                    "invalid_request_error",
                    "This object cannot be accessed right now because another API request or Stripe process is currently accessing it.",
                    "lock_timeout",
                ).body,
            )
        else:
            try:
                status, body = em.handle(method, split.path, params)
            except ApiError as exc:
                status, body = exc.status, exc.body
            if fault == "error_after_commit":
                status, body = 500, ApiError(500, "api_error", "An unknown error occurred").body
        if stored is not None:
            with em.lock:
                stored.status, stored.body, stored.done = status, body, True
        if fault == "drop_after_commit":
            self.close_connection = True
            return None
        if fault == "slow":
            time.sleep(em.faults.slow_seconds)
        return self._send(status, body)

    def _send(self, status: int, body: Json, replayed: bool = False) -> None:
        data = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Request-Id", f"req_{secrets.token_hex(7)}")
            if replayed:
                self.send_header("Idempotent-Replayed", "true")
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def main(argv: list[str] | None = None, ready: Callable[[str], None] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The local profile's Stripe emulator.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate-limit", type=float, default=None)
    args = parser.parse_args(argv)
    emulator = StripeEmulator(rate_limit=args.rate_limit).serve(args.port)
    print(emulator.url, flush=True)
    if ready:
        ready(emulator.url)
    threading.Event().wait()


if __name__ == "__main__":
    main()
