"""The Dagster code location: usage, quotas, retention and billing. Imports `tenancy`."""
