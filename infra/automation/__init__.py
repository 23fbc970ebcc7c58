"""Driving many tenant stacks with the Pulumi Automation API."""
