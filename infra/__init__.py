"""The Pulumi program: one stack per tenant. Imports `tenancy`, never the other way round."""
