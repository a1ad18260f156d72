"""What the Prefect flows in flows/ are made of: the steps as Prefect tasks (tasks: retries,
artifacts, one run of a workspace at a time) and the deployments declared in prefect.yaml,
served and listed (deployments). The flows themselves only wire these steps."""
