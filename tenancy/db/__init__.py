"""The tenant registry in PostgreSQL: roles, migrations and tenant-scoped connections."""
