"""Dashboards as code: the PromQL every panel runs, and the Grafana dashboards built from it."""
