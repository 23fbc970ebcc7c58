"""Stripe settings: a missing key is an error naming the variable outside the local profile."""

from __future__ import annotations

import pytest

from tenancy.billing.settings import LOCAL_KEY, StripeSettings
from tenancy.errors import ConfigurationError


def test_missing_key_names_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="no Stripe API key: set TENANCY_STRIPE_API_KEY"):
        StripeSettings.from_env({})


def test_the_local_profile_uses_the_emulator() -> None:
    settings = StripeSettings.from_env({}, local_api_base="http://127.0.0.1:1")
    assert (settings.api_key, settings.api_base) == (LOCAL_KEY, "http://127.0.0.1:1")


def test_rates_default_to_stripes_documented_limits() -> None:
    assert StripeSettings.from_env({"STRIPE_API_KEY": "sk_test_x"}).requests_per_second == 25
    live = StripeSettings.from_env({"TENANCY_STRIPE_API_KEY": "sk_live_x"})
    assert live.requests_per_second == 100 and live.api_base is None
    tuned = {"TENANCY_STRIPE_API_KEY": "sk_live_x", "TENANCY_STRIPE_REQUESTS_PER_SECOND": "40"}
    assert StripeSettings.from_env(tuned).requests_per_second == 40


def test_bad_values_are_named() -> None:
    with pytest.raises(ConfigurationError, match="TENANCY_STRIPE_API_KEY starts with 'pk_'"):
        StripeSettings.from_env({"TENANCY_STRIPE_API_KEY": "pk_live_x"})
    with pytest.raises(ConfigurationError, match="TENANCY_STRIPE_REQUESTS_PER_SECOND is 'fast'"):
        StripeSettings.from_env(
            {"STRIPE_API_KEY": "sk_test_x", "TENANCY_STRIPE_REQUESTS_PER_SECOND": "fast"}
        )
