"""Quotas: monthly usage against plan limits, enforced through the quota gate."""
