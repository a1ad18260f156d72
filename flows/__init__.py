"""The Prefect flows, thin: daily (the 09:00 round), monthly (one period end to end), step (any
single step by hand). Their steps as Prefect tasks and the deployments are in
ducha.orchestration."""
