"""Workspace: one government's config/ directory plus its DuckDB file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ducha.errors import UserError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SQL_DIR = PROJECT_ROOT / "sql"
TEMPLATES_DIR = PROJECT_ROOT / "templates"
# libyaml's safe loader reads the register ten times faster than the pure-Python one (PyYAML
# wheels ship it); the same documents, the same errors with line and column.
_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BASE_LOADER):  # type: ignore[misc, valid-type]
    """The safe loader, with an impossible date (2027-02-30) a mistake at its line, not a crash."""


def _timestamp(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except ValueError:
        raise yaml.constructor.ConstructorError(
            None, None, f"“{node.value}”不是有效的日期", node.start_mark
        ) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)


def read_yaml(path: Path) -> Any:
    """Read a YAML file, turning syntax errors into a user error naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise UserError(f"找不到配置文件 {path}") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"配置文件 {path} 不是 UTF-8 编码") from exc
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"第 {mark.line + 1} 行" if mark is not None else ""
        problem = getattr(exc, "problem", None)
        detail = (
            problem if isinstance(problem, str) and "“" in problem else "格式有误，不是有效的 YAML"
        )
        raise UserError(
            f"配置文件 {path} {where}{'：' if where and '“' in detail else ''}{detail}"
        ) from exc


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

    @property
    def inbox(self) -> Path:
        return self.data_dir / "inbox"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"


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


def workspace_code(root: Path) -> str:
    """A workspace folder's code (config/workspace.yaml), checked."""
    from ducha.config import WorkspaceSettings, read_section

    return read_section(root / "config" / "workspace.yaml", WorkspaceSettings).code


def _add_workspace(into: dict[str, Path], root: Path, explicit: bool) -> None:
    code = workspace_code(root)
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
