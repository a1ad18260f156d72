"""The Prefect flows, thin: daily (the 09:00 round), monthly (one period end to end), step (any
single step by hand), their tasks (the operations as Prefect tasks, one run per workspace, the
artifacts), and deployments (prefect.yaml served by `ducha serve`; what is scheduled next)."""
