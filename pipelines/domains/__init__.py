"""Custom domains: the scheduled re-check of every pending and proven domain's DNS record."""
