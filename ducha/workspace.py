"""Workspace: one government's config/ directory plus its DuckDB file."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    Strict,
)
from pydantic.dataclasses import dataclass as section
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

    @property
    def inbox(self) -> Path:
        return self.data_dir / "inbox"

    @property
    def archive_dir(self) -> Path:
        return self.data_dir / "archive"


FILE_SECTION = ConfigDict(extra="forbid")  # config files: unknown keys are mistakes
# numbers and yes/no as YAML writes them: `true` is not 1, "30" (quoted) is not 30
Int = Annotated[int, Strict()]
Number = Annotated[float, Strict()]
Flag = Annotated[bool, Strict()]


def _file_name(value: str) -> str:
    if re.search(r"[/\\\x00-\x1f\x7f]", value) or value.strip(" .") == "":
        raise ValueError("不能为空，也不能含有 / \\ 或控制字符（它是文件名的一部分）")
    return value.strip()


@section(frozen=True, config=FILE_SECTION)
class WorkspaceSettings:
    """workspace.yaml: the workspace."""

    name: Annotated[str, AfterValidator(_file_name)] = Field(
        "default", max_length=40, description="名称：通报抬头和文件名中的政府名，如“武进区”"
    )
    code: str = Field(
        "default", pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$",
        description="代码（字母、数字、连字符）：写入模板以防报错工作区，也是流程参数 workspace 的取值",
        json_schema_extra={"should": "由字母、数字、连字符组成（如 wujin）"},
    )  # fmt: skip
    task_match_threshold: Number = Field(
        80, ge=0, le=100, description="复导分解表时，内容相似度不低于此值（0–100）的任务视为同一任务的修订",
        json_schema_extra={"should": "0 到 100 之间的数"},
    )  # fmt: skip
    backup_keep: Int = Field(
        30, ge=1, description="数据库备份（data/backups/）保留最近几份",
        json_schema_extra={"should": "正整数（保留的备份份数）"},
    )  # fmt: skip
    base_url: str | None = Field(
        None, pattern=r"^https?://[^\s/]+[^\s]*$",
        description="门户网址：Prefect 中的通报链接指向这里；不设时写明通报文件在服务器上的路径",
        json_schema_extra={"should": "以 http:// 或 https:// 开头的网址"},
    )  # fmt: skip


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
    from ducha.config import read_section

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
