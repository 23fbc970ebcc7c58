"""The Stripe endpoints the emulator implements: customers, invoices and their lines, events.

Each route takes the emulator (holding its lock), the decoded parameters and the path's ids,
and returns the response object or raises `ApiError` the way Stripe answers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tenancy.devstack.stripe_emulator import StripeEmulator

Json = dict[str, Any]
MAX_LINES_PER_REQUEST = 50
_SEARCH_TERM = re.compile(r"metadata\[['\"]([^'\"]+)['\"]\]:['\"]([^'\"]*)['\"]")


class ApiError(Exception):
    """An error answer: HTTP status and Stripe's error body."""

    def __init__(
        self,
        status: int,
        kind: str,
        message: str,
        code: str | None = None,
        param: str | None = None,
    ) -> None:
        self.status = status
        error: Json = {"type": kind, "message": message}
        if code:
            error["code"] = code
        if param:
            error["param"] = param
        self.body: Json = {"error": error}
        super().__init__(message)


def _missing(kind: str, object_id: str) -> ApiError:
    return ApiError(
        404, "invalid_request_error", f"No such {kind}: '{object_id}'", "resource_missing"
    )


def _invalid(message: str, param: str) -> ApiError:
    return ApiError(400, "invalid_request_error", message, "parameter_invalid", param)


def _int(params: Json, name: str, default: int | None = None) -> int:
    raw = params.get(name)
    if raw is None:
        if default is None:
            raise ApiError(
                400,
                "invalid_request_error",
                f"Missing required param: {name}.",
                "parameter_missing",
                name,
            )
        return default
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise _invalid(f"Invalid integer: {raw}", name) from None


def _page(em: StripeEmulator, objects: list[Json], params: Json, url: str) -> Json:
    """Newest first, `limit` (1-100, default 10), `starting_after` an id of the previous page."""
    limit = _int(params, "limit", 10)
    if not 1 <= limit <= 100:
        raise _invalid("limit must be between 1 and 100", "limit")
    ordered = sorted(objects, key=lambda o: em.order[o["id"]], reverse=True)
    after = params.get("starting_after")
    if after:
        ids = [o["id"] for o in ordered]
        if after not in ids:
            raise _invalid(f"No such object: '{after}'", "starting_after")
        ordered = ordered[ids.index(after) + 1 :]
    return {"object": "list", "data": ordered[:limit], "has_more": len(ordered) > limit, "url": url}


def _search(em: StripeEmulator, objects: list[Json], params: Json, url: str) -> Json:
    query = str(params.get("query") or "")
    terms = _SEARCH_TERM.findall(query)
    if not terms:
        raise _invalid(f"Unsupported query: {query}", "query")
    visible = [o for o in objects if em.now() - em.written_at[o["id"]] >= em.search_delay]
    hits = [o for o in visible if all(o.get("metadata", {}).get(k) == v for k, v in terms)]
    hits.sort(key=lambda o: em.order[o["id"]], reverse=True)
    return {
        "object": "search_result",
        "data": hits[:100],
        "has_more": False,
        "next_page": None,
        "url": url,
    }


def _metadata(params: Json) -> dict[str, str]:
    raw = params.get("metadata") or {}
    if not isinstance(raw, dict):
        raise _invalid("Invalid metadata: expected a hash", "metadata")
    return {str(k): str(v) for k, v in raw.items()}


# -- customers ---------------------------------------------------------------------------
def create_customer(em: StripeEmulator, params: Json) -> Json:
    customer: Json = {
        "id": em.new_id("cus"),
        "object": "customer",
        "email": params.get("email"),
        "name": params.get("name"),
        "metadata": _metadata(params),
        "created": int(em.now()),
        "livemode": False,
    }
    em.customers[customer["id"]] = em.remember(customer)
    return customer


def list_customers(em: StripeEmulator, params: Json) -> Json:
    found = [
        c for c in em.customers.values() if not params.get("email") or c["email"] == params["email"]
    ]
    return _page(em, found, params, "/v1/customers")


def search_customers(em: StripeEmulator, params: Json) -> Json:
    return _search(em, list(em.customers.values()), params, "/v1/customers/search")


def get_customer(em: StripeEmulator, params: Json, customer_id: str) -> Json:
    if customer_id not in em.customers:
        raise _missing("customer", customer_id)
    return dict(em.customers[customer_id])


# -- invoices ----------------------------------------------------------------------------
def _invoice(em: StripeEmulator, invoice_id: str) -> Json:
    if invoice_id not in em.invoices:
        raise _missing("invoice", invoice_id)
    return dict(em.invoices[invoice_id])


def create_invoice(em: StripeEmulator, params: Json) -> Json:
    customer = params.get("customer")
    if customer not in em.customers:
        raise _missing("customer", str(customer))
    invoice = {
        "id": em.new_id("in"),
        "object": "invoice",
        "customer": customer,
        "status": "draft",
        "auto_advance": str(params.get("auto_advance", "true")) == "true",
        "collection_method": params.get("collection_method", "charge_automatically"),
        "currency": params.get("currency", "usd"),
        "description": params.get("description"),
        "metadata": _metadata(params),
        "created": int(em.now()),
        "number": None,
        "subtotal": 0,
        "total": 0,
        "amount_due": 0,
        "amount_paid": 0,
        "livemode": False,
    }
    em.invoices[invoice["id"]] = em.remember(invoice)
    em.lines[invoice["id"]] = []
    return em.invoice_view(invoice)


def list_invoices(em: StripeEmulator, params: Json) -> Json:
    found = [
        i
        for i in em.invoices.values()
        if (not params.get("customer") or i["customer"] == params["customer"])
        and (not params.get("status") or i["status"] == params["status"])
    ]
    page = _page(em, found, params, "/v1/invoices")
    page["data"] = [em.invoice_view(i) for i in page["data"]]
    return page


def search_invoices(em: StripeEmulator, params: Json) -> Json:
    page = _search(em, list(em.invoices.values()), params, "/v1/invoices/search")
    page["data"] = [em.invoice_view(i) for i in page["data"]]
    return page


def get_invoice(em: StripeEmulator, params: Json, invoice_id: str) -> Json:
    return em.invoice_view(_invoice(em, invoice_id))


def delete_invoice(em: StripeEmulator, params: Json, invoice_id: str) -> Json:
    invoice = _invoice(em, invoice_id)
    if invoice["status"] != "draft":
        raise _invalid("You can only delete draft invoices.", "invoice")
    del em.invoices[invoice_id]
    del em.lines[invoice_id]
    return {"id": invoice_id, "object": "invoice", "deleted": True}


def add_lines(em: StripeEmulator, params: Json, invoice_id: str) -> Json:
    invoice = em.invoices.get(invoice_id)
    if invoice is None:
        raise _missing("invoice", invoice_id)
    lines = params.get("lines")
    if not isinstance(lines, list) or not lines:
        raise _invalid("lines must be a non-empty array", "lines")
    if len(lines) > MAX_LINES_PER_REQUEST:
        raise _invalid(f"You can add at most {MAX_LINES_PER_REQUEST} lines per request.", "lines")
    if invoice["status"] != "draft":
        raise _invalid("Lines can only be added to a draft invoice.", "invoice")
    for i, raw in enumerate(lines):
        period = raw.get("period") or {}
        em.lines[invoice_id].append(
            {
                "id": em.new_id("il"),
                "object": "line_item",
                "amount": _int(raw, "amount"),
                "currency": invoice["currency"],
                "description": raw.get("description"),
                "metadata": _metadata(raw),
                "invoice": invoice_id,
                "quantity": 1,
                "period": {"start": _int(period, "start", 0), "end": _int(period, "end", 0)},
                "parent": {
                    "type": "invoice_item_details",
                    "invoice_item_details": {"invoice_item": em.new_id("ii")},
                },
                "position": i,
            }
        )
    em._totals(invoice)
    return em.invoice_view(invoice)


def invoice_lines(em: StripeEmulator, params: Json, invoice_id: str) -> Json:
    _invoice(em, invoice_id)
    lines = em.lines[invoice_id]
    # Stripe lists an invoice's lines in invoice order, not newest first.
    limit = _int(params, "limit", 10)
    start = 0
    after = params.get("starting_after")
    if after:
        ids = [line["id"] for line in lines]
        if after not in ids:
            raise _invalid(f"No such line: '{after}'", "starting_after")
        start = ids.index(after) + 1
    page = lines[start : start + limit]
    return {
        "object": "list",
        "data": [dict(x) for x in page],
        "has_more": start + limit < len(lines),
        "url": f"/v1/invoices/{invoice_id}/lines",
    }


def finalize(em: StripeEmulator, params: Json, invoice_id: str) -> Json:
    invoice = em.invoices.get(invoice_id)
    if invoice is None:
        raise _missing("invoice", invoice_id)
    if invoice["status"] != "draft":
        raise _invalid(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
            "invoice",
        )
    invoice["status"] = "open"
    invoice["number"] = f"EMU-{len([i for i in em.invoices.values() if i['number']]) + 1:06d}"
    em._totals(invoice)
    em._event("invoice.finalized", invoice)
    if invoice["total"] == 0:  # Stripe marks a zero invoice paid when it is finalized
        invoice.update(status="paid", amount_due=0)
        em._event("invoice.paid", invoice)
    return em.invoice_view(invoice)


def _transition(
    em: StripeEmulator, invoice_id: str, allowed: tuple[str, ...], status: str, event: str
) -> Json:
    invoice = em.invoices.get(invoice_id)
    if invoice is None:
        raise _missing("invoice", invoice_id)
    if invoice["status"] not in allowed:
        raise _invalid(f"Invoice is {invoice['status']}; expected one of {allowed}", "invoice")
    invoice["status"] = status
    if status == "paid":
        invoice.update(amount_paid=invoice["total"], amount_due=0)
    em._event(event, invoice)
    return em.invoice_view(invoice)


def pay(em: StripeEmulator, params: Json, invoice_id: str) -> Json:
    return _transition(em, invoice_id, ("open",), "paid", "invoice.paid")


def void(em: StripeEmulator, params: Json, invoice_id: str) -> Json:
    return _transition(em, invoice_id, ("open",), "void", "invoice.voided")


def mark_uncollectible(em: StripeEmulator, params: Json, invoice_id: str) -> Json:
    return _transition(em, invoice_id, ("open",), "uncollectible", "invoice.marked_uncollectible")


# -- events ------------------------------------------------------------------------------
def list_events(em: StripeEmulator, params: Json) -> Json:
    types = set(params.get("types") or ([params["type"]] if params.get("type") else []))
    created = params.get("created") or {}
    gte = _int(created, "gte", 0) if isinstance(created, dict) else 0
    found = [e for e in em.events if (not types or e["type"] in types) and e["created"] >= gte]
    return _page(em, found, params, "/v1/events")


Route = Callable[..., Json]
ROUTES: list[tuple[str, re.Pattern[str], Route]] = [
    ("POST", re.compile(r"/v1/customers"), create_customer),
    ("GET", re.compile(r"/v1/customers"), list_customers),
    ("GET", re.compile(r"/v1/customers/search"), search_customers),
    ("GET", re.compile(r"/v1/customers/(cus_\w+)"), get_customer),
    ("POST", re.compile(r"/v1/invoices"), create_invoice),
    ("GET", re.compile(r"/v1/invoices"), list_invoices),
    ("GET", re.compile(r"/v1/invoices/search"), search_invoices),
    ("GET", re.compile(r"/v1/invoices/(in_\w+)"), get_invoice),
    ("DELETE", re.compile(r"/v1/invoices/(in_\w+)"), delete_invoice),
    ("POST", re.compile(r"/v1/invoices/(in_\w+)/add_lines"), add_lines),
    ("GET", re.compile(r"/v1/invoices/(in_\w+)/lines"), invoice_lines),
    ("POST", re.compile(r"/v1/invoices/(in_\w+)/finalize"), finalize),
    ("POST", re.compile(r"/v1/invoices/(in_\w+)/pay"), pay),
    ("POST", re.compile(r"/v1/invoices/(in_\w+)/void"), void),
    ("POST", re.compile(r"/v1/invoices/(in_\w+)/mark_uncollectible"), mark_uncollectible),
    ("GET", re.compile(r"/v1/events"), list_events),
]


def route(method: str, path: str) -> tuple[Route, tuple[str, ...]] | None:
    for verb, pattern, handler in ROUTES:
        match = pattern.fullmatch(path)
        if verb == method and match:
            return handler, match.groups()
    return None
