"""Rules the platform enforces: guardrail policies, retention policy and alert rules."""
