"""Usage: drain the usage stream into DuckDB and roll it up per tenant and day."""
