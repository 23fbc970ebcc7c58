"""Payment state flowing back from Stripe into the ledger."""

import dagster as dg

from pipelines.billing.resources import StripeResource
from pipelines.resources import RegistryResource
from tenancy.billing.payments import EventCursor, poll
from tenancy.plans import default_catalog


@dg.sensor(
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Reads Stripe's invoice events (paid, payment_failed, voided, "
    "marked_uncollectible) after its stored cursor and records them on the ledger; a failed "
    "payment puts the tenant past due for its plan's grace period.",
)
def stripe_payment_events_sensor(
    context: dg.SensorEvaluationContext, registry: RegistryResource, stripe: StripeResource
) -> dg.SkipReason:
    """Apply new Stripe payment events to the ledger and advance the cursor past them."""
    cursor = EventCursor.parse(context.cursor)
    with registry.database() as db:
        result = poll(stripe.gateway(), db, default_catalog(), cursor)
    context.update_cursor(result.cursor.dump())
    for kind, invoice in result.applied:
        context.log.info(f"{kind} for {invoice}")
    return dg.SkipReason(
        f"applied {len(result.applied)} payment event(s), ignored {result.ignored} not in the ledger"
    )
