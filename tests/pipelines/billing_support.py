"""Billing fixtures and helpers for pipeline tests: the emulator, resources, usage."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from pipelines.billing.resources import StripeResource
from pipelines.definitions import ASSETS, BILLING_ASSETS
from tenancy.devstack.stripe_emulator import StripeEmulator
from tenancy.usage.events import api_call
from tests.pipelines.conftest import REPLAY_WINDOW, Pipeline

FEB = date(2024, 2, 1)  # a leap February
MAR = date(2024, 3, 1)


@pytest.fixture
def emulator() -> Iterator[StripeEmulator]:
    server = StripeEmulator().serve()
    yield server
    server.close()


@pytest.fixture
def resources(pipeline: Pipeline, emulator: StripeEmulator) -> dict[str, object]:
    stripe = StripeResource(
        api_key="sk_test_emulator", api_base=emulator.url, requests_per_second=500
    )
    return {**pipeline.resources, "stripe": stripe}


def materialize(
    resources: dict[str, object],
    assets: list[str],
    partition: str | None = None,
    tags: dict[str, str] | None = None,
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    run_config = None
    if "usage_events" in assets:
        run_config = {"ops": {"usage_events": {"config": REPLAY_WINDOW}}}
        partition = partition or "0"  # the only shard of a default install
    return dg.materialize(
        [*ASSETS, *BILLING_ASSETS],
        selection=assets,
        partition_key=partition,
        resources=resources,
        tags=tags,
        run_config=run_config,
        raise_on_error=raise_on_error,
    )


def record_calls(pipeline: Pipeline, tenant: uuid.UUID, month: date, count: int, days: int) -> None:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    pipeline.recorder.record_many(
        api_call(
            tenant,
            "/v1/agents",
            "GET",
            200,
            start + timedelta(seconds=(days * 86400 - 10) * i / count),
        )
        for i in range(count)
    )


def roll_up(resources: dict[str, object], month: date, days: int) -> None:
    materialize(resources, ["usage_events"])
    materialize(
        resources,
        ["daily_tenant_usage"],
        tags={
            "dagster/asset_partition_range_start": month.isoformat(),
            "dagster/asset_partition_range_end": (month + timedelta(days=days - 1)).isoformat(),
        },
    )
    materialize(resources, ["monthly_tenant_usage"], month.isoformat())
