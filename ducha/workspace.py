"""Workspace: one government's config/ directory plus its DuckDB file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import core_schema

from ducha.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = PROJECT_ROOT / "sql"
TEMPLATES_DIR = PROJECT_ROOT / "templates"


# libyaml's safe loader reads the register ten times faster than the pure-Python one (PyYAML
# wheels ship it); the same documents, the same errors with line and column.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """Read a YAML file, turning syntax errors into a user error naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UserError(f"找不到配置文件 {path}") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"配置文件 {path} 不是 UTF-8 编码") from exc
    try:
        return yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第 {mark.line + 1} 行" if mark is not None else ""
        raise UserError(f"配置文件 {path} {where}格式有误，不是有效的 YAML") from exc


@dataclass(frozen=True)
class Workspace:
    config_dir: Path
    db_path: Path

    @classmethod
    def from_options(cls, db: str | None, config: str | None) -> Workspace:
        config_dir = Path(config or os.environ.get("DUCHA_CONFIG") or "config")
        db_path = Path(db or os.environ.get("DUCHA_DB") or "data/ducha.duckdb")
        if not config_dir.is_dir():
            raise UserError(
                f"配置目录 {config_dir} 不存在（用 --config 或环境变量 DUCHA_CONFIG 指定）"
            )
        return cls(config_dir=config_dir, db_path=db_path)

    @classmethod
    def from_dir(cls, root: Path) -> Workspace:
        """A workspace directory: root/config/ and root/data/ducha.duckdb."""
        config_dir = root / "config"
        if not config_dir.is_dir():
            raise UserError(f"工作区 {root} 下没有 config/ 目录")
        return cls(config_dir=config_dir, db_path=root / "data" / "ducha.duckdb")

    @property
    def data_dir(self) -> Path:
        """Archive, inbox and outputs live next to the database."""
        return self.db_path.parent

    def code(self) -> str:
        return str(self.settings().get("code") or "default")

    def settings(self) -> dict[str, Any]:
        path = self.config_dir / "workspace.yaml"
        data = read_yaml(path) if path.exists() else {}
        if not isinstance(data, dict):
            raise UserError(f"配置文件 {path} 应为键值表")
        return data

    def related_units(self, year: int) -> dict[str, list[str]]:
        """Per-task lists for 相关单位, keyed by task id."""
        path = self.config_dir / "related_units.yaml"
        if not path.exists():
            return {}
        data = read_yaml(path) or {}
        if not isinstance(data, dict):
            raise UserError(f"配置文件 {path} 应为“年份: {{任务编号: [单位…]}}”的格式")
        year_map = data.get(year) or data.get(str(year)) or {}
        if not isinstance(year_map, dict) or not all(
            isinstance(v, list) for v in year_map.values()
        ):
            raise UserError(f"配置文件 {path} 中 {year} 年的内容应为“任务编号: [单位…]”")
        return {str(k): [str(u) for u in v] for k, v in year_map.items()}


# ------------------------------------------------------------------ configured workspaces

WORKSPACES_DIR = PROJECT_ROOT / "workspaces"


def configured_workspaces() -> dict[str, Path]:
    """The workspaces this installation runs, code → directory: the project root, every folder
    under workspaces/ that has a config/, and the folders listed in DUCHA_WORKSPACES (separated
    by ':'). A listed folder wins over a found one of the same code; two folders of one code
    otherwise are a mistake. Read afresh on each call: a new workspace needs no restart of the
    workers (the choices offered in the Prefect UI change when the deployments are made again)."""
    found: dict[str, Path] = {}
    candidates = [PROJECT_ROOT] + (
        sorted(p for p in WORKSPACES_DIR.iterdir() if (p / "config").is_dir())
        if WORKSPACES_DIR.is_dir()
        else []
    )
    for root in candidates:
        if (root / "config").is_dir():
            _add_workspace(found, root, explicit=False)
    listed: dict[str, Path] = {}
    for entry in os.environ.get("DUCHA_WORKSPACES", "").split(os.pathsep):
        if entry.strip():
            root = Path(entry.strip()).expanduser().resolve()
            if not (root / "config").is_dir():
                raise UserError(f"环境变量 DUCHA_WORKSPACES 中的 {root} 下没有 config/ 目录")
            _add_workspace(listed, root, explicit=True)
    return {**found, **listed}


def _add_workspace(into: dict[str, Path], root: Path, explicit: bool) -> None:
    code = Workspace.from_dir(root).code()
    other = into.get(code)
    if other is not None and other.resolve() != root.resolve():
        where = "环境变量 DUCHA_WORKSPACES 中" if explicit else ""
        raise UserError(
            f"{where}工作区 {other} 与 {root} 的代码都是“{code}”，请在 workspace.yaml 中改用不同的 code"
        )
    into[code] = root.resolve()


def workspace_by_code(code: str | None) -> Workspace:
    """The workspace a run is for: a configured workspace's code (None: the project root)."""
    if code is None:
        return Workspace.from_dir(PROJECT_ROOT)
    known = configured_workspaces()
    if code not in known:
        raise UserError(f"工作区“{code}”未配置，应为 {'、'.join(known) or '（无）'} 之一")
    return Workspace.from_dir(known[code])


class WorkspaceCode(str):
    """A configured workspace's code: a choice in the Prefect UI (the list as it was when the
    deployments were made), checked against the configured workspaces when a run starts."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(cls._known, core_schema.str_schema())

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return {"type": "string", "enum": sorted(configured_workspaces())}

    @staticmethod
    def _known(code: str) -> str:
        known = configured_workspaces()
        if code not in known:
            raise ValueError(f"工作区“{code}”未配置，应为 {'、'.join(sorted(known))} 之一")
        return code
