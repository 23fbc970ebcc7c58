"""CodexOS tenancy: the domain core shared by the Pulumi program and the Dagster pipeline.

This package imports neither Pulumi nor Dagster; `infra`, `pipelines` and `policies` import it.
"""
