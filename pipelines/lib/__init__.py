"""Pure SQL and maths of the pipeline; nothing here imports Dagster."""
