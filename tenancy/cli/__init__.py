"""The `tenancy` command line."""
