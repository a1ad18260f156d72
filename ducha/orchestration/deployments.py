"""Deployments: read from prefect.yaml, the one declaration (`prefect deploy --all` reads it too),
served from this process by `ducha serve`; and what the server has scheduled (`ducha upcoming`)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ducha.errors import UserError
from ducha.workspace import PROJECT_ROOT, read_yaml

PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"


def deployments_from_yaml(path: Path = PREFECT_YAML) -> list[Any]:
    """The deployments of prefect.yaml, to be served from this process (`ducha serve`): the
    same names, flows, parameters, descriptions and schedules that `prefect deploy --all`
    registers, read from the one declaration."""
    from prefect.schedules import Cron, Interval

    data = read_yaml(path) or {}
    made = []
    for d in data.get("deployments") or []:
        flow_obj = _flow_at(path.parent, str(d["entrypoint"]))
        schedules = []
        for s in d.get("schedules") or []:
            extra = {k: s[k] for k in ("timezone", "parameters", "active") if k in s}
            if "cron" in s:
                schedules.append(Cron(s["cron"], **extra))
            elif "interval" in s:
                schedules.append(Interval(s["interval"], **extra))
            else:
                raise UserError(f"{path}：部署 {d['name']} 的 schedules 只支持 cron 和 interval")
        made.append(flow_obj.to_deployment(
            name=d["name"], description=d.get("description"), parameters=d.get("parameters") or {},
            schedules=schedules, tags=d.get("tags"), concurrency_limit=d.get("concurrency_limit"),
        ))  # fmt: skip
    return made


def _flow_at(root: Path, entrypoint: str) -> Any:
    """The flow an entrypoint names: a module of this project is imported as such (the same flow
    objects the other flows call), anything else loaded from its file as Prefect does."""
    from prefect.flows import load_flow_from_entrypoint

    file, _, function = entrypoint.partition(":")
    path = (root / file).resolve()
    if path.suffix == ".py" and path.is_relative_to(PROJECT_ROOT):
        module = ".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
        return getattr(importlib.import_module(module), function)
    return load_flow_from_entrypoint(str(root / entrypoint))


def serve_deployments(path: Path = PREFECT_YAML) -> None:
    """Serve prefect.yaml's deployments from this process (`ducha serve`). Stopping it leaves the
    schedules as they are (Prefect would pause them through the server, which may be gone
    already, and an unattended installation must not come back with its schedule paused)."""
    from prefect import serve

    serve(*deployments_from_yaml(path), pause_on_shutdown=False)


def upcoming_runs(limit: int = 10, timezone: str = "Asia/Shanghai") -> list[dict[str, Any]]:
    """The next runs the server has scheduled (what `ducha upcoming` shows): when, in local
    time, which deployment, for which workspace."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    from ducha.clock import zone

    scheduled = FlowRunFilter(
        state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))
    )
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=scheduled, sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=limit
        )
        names: dict[Any, str] = {}
        for run in runs:
            if run.deployment_id and run.deployment_id not in names:
                deployment = client.read_deployment(run.deployment_id)
                flow_name = client.read_flow(deployment.flow_id).name
                names[run.deployment_id] = f"{flow_name}/{deployment.name}"
    return [
        {
            "at": run.expected_start_time.astimezone(zone(timezone)).replace(tzinfo=None),
            "deployment": names.get(run.deployment_id, "—"),
            "workspace": (run.parameters or {}).get("workspace") or "默认工作区",
            "auto": run.auto_scheduled,
        }
        for run in runs
    ]
