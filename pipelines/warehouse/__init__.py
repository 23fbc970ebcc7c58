"""Warehouse upkeep: keep the lakehouse's data files compact and its snapshot history bounded."""
