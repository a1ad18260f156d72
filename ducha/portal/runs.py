"""Runs of ducha's Prefect deployments started from the dashboard, through Prefect's REST API
(the server in PREFECT_API_URL, or the active Prefect profile's): the same deployments and
parameters as in the Prefect UI (prefect.yaml: ducha-monthly/monthly, ducha-step/step), and the
state of the runs started, each with its page in the Prefect UI."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from ducha.errors import UserError
from ducha.periods import Period
from ducha.vocabulary import Step

# what a supervisor may start: key → (flow name, deployment name, label)
DEPLOYMENTS = {
    "monthly": ("ducha-monthly", "monthly", "整月督查（接收 → 研判 → 通报 → 通知）"),
    "step": ("ducha-step", "step", "单个步骤"),
}
STATES_ZH = {
    "SCHEDULED": "已排队", "PENDING": "等待执行", "RUNNING": "运行中", "COMPLETED": "已完成",
    "FAILED": "失败", "CRASHED": "异常中止", "CANCELLED": "已取消", "CANCELLING": "正在取消",
    "PAUSED": "已暂停",
}  # fmt: skip
TIMEOUT = 10.0


@dataclass(frozen=True)
class Prefect:
    api: str  # …/api
    ui: str  # the Prefect UI's address, for links

    @classmethod
    def configured(cls) -> Prefect | None:
        """The Prefect server of this process's configuration (None: none configured)."""
        from ducha.notices.secrets import prefect_api_url

        api = prefect_api_url()
        if not api:
            return None
        ui = os.environ.get("PREFECT_UI_URL") or api.rstrip("/").removesuffix("/api")
        return cls(api.rstrip("/"), ui.rstrip("/"))

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        import httpx

        try:
            reply = httpx.request(method, self.api + path, json=body, timeout=TIMEOUT)
        except httpx.HTTPError as exc:
            raise UserError(f"无法连接 Prefect 服务器 {self.api}：{type(exc).__name__}") from exc
        if reply.status_code >= 400:
            raise UserError(
                f"Prefect 服务器拒绝了请求（HTTP {reply.status_code}）：{reply.text[:200]}"
            )
        return reply.json()

    def start(self, which: str, step: str | None, period: Period, workspace: str,
              by: str) -> dict[str, Any]:  # fmt: skip
        """A run of the deployment with the parameters a supervisor chose; the run as listed."""
        if which not in DEPLOYMENTS:
            raise UserError("请选择要运行的流程")
        flow, name, _ = DEPLOYMENTS[which]
        parameters: dict[str, Any] = {"period": str(period), "workspace": workspace}
        if which == "step":
            if step not in {s.value for s in Step}:
                raise UserError("请选择要运行的步骤")
            parameters["step"] = step
        deployment = self._call("GET", f"/deployments/name/{flow}/{name}")
        run = self._call("POST", f"/deployments/{deployment['id']}/create_flow_run", {
            "parameters": parameters, "tags": ["驾驶舱", f"账号:{by}"],
        })  # fmt: skip
        return self.listed(run)

    def recent(self, limit: int = 15) -> list[dict[str, Any]]:
        """The latest runs of ducha's deployments, newest first."""
        ids = []
        for flow, name, _ in DEPLOYMENTS.values():
            ids.append(self._call("GET", f"/deployments/name/{flow}/{name}")["id"])
        runs = self._call("POST", "/flow_runs/filter", {
            "flow_runs": {"deployment_id": {"any_": ids}}, "sort": "EXPECTED_START_TIME_DESC",
            "limit": limit,
        })  # fmt: skip
        return [self.listed(r) for r in runs]

    def listed(self, run: dict[str, Any]) -> dict[str, Any]:
        state = (run.get("state") or {}).get("type") or "SCHEDULED"
        return {
            "id": run["id"], "name": run.get("name") or "", "state": state,
            "state_zh": STATES_ZH.get(state, state), "parameters": run.get("parameters") or {},
            "created": (run.get("created") or "")[:19].replace("T", " "),
            "link": f"{self.ui}/runs/flow-run/{run['id']}",
        }  # fmt: skip
