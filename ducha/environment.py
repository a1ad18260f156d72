"""The DUCHA_* environment variables, declared once (ducha.config hands them to a run with the
rest of the configuration). Read where they are needed by modules that must stay light (the
ingest workers, the database connection): this module imports nothing heavier than pydantic."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from pydantic import ConfigDict, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass as section

from ducha.errors import UserError


@section(frozen=True, config=ConfigDict(extra="forbid"))
class Environment:
    """Environment variables (DUCHA_*)."""

    db: Path | None = Field(
        None, description="数据库文件（默认 data/ducha.duckdb；等同全局选项 --db）"
    )
    config: Path | None = Field(None, description="配置目录（默认 config/；等同全局选项 --config）")
    lock_wait: float = Field(30.0, ge=0, description="另一个 ducha 进程占用数据库时最多等待的秒数")
    ingest_workers: int | None = Field(
        None,
        ge=0,
        description="接收报表的工作进程数（默认按文件数和 CPU 数决定；0 为不用工作进程）",
    )
    read_memory_mb: int = Field(
        1024,
        ge=64,
        description="读取一个报送文件时可使用的内存（MB）；超出的文件不予接收，其他文件照常处理",
    )
    workspaces: str = Field(
        "", description="项目以外的工作区目录，以 : 分隔；可作为流程参数 workspace 选用"
    )
    template_cache: Path | None = Field(
        None, description="jinja2 模板编译缓存目录（默认在系统临时目录下）"
    )
    home: Path | None = Field(
        None, description="各主机上的项目目录（prefect.yaml 的部署在这里运行）"
    )

    @classmethod
    def read(cls, environ: dict[str, str] | None = None) -> Environment:
        """The DUCHA_* variables of `environ` (default: this process's), checked."""
        environ = os.environ if environ is None else environ
        names = {f.name: f"DUCHA_{f.name.upper()}" for f in dataclasses.fields(cls)}
        given = {k: environ[v] for k, v in names.items() if environ.get(v, "").strip() != ""}
        try:
            return TypeAdapter(cls).validate_python(given)
        except ValidationError as exc:
            first = exc.errors()[0]
            name = names.get(str(first["loc"][0]), str(first["loc"][0]))
            raise UserError(f"环境变量 {name} {field_reason(first)}") from None


def current() -> Environment:
    """This process's DUCHA_* variables, checked (read again each time: tests and `ducha run`
    set them)."""
    return Environment.read()


def field_reason(error: dict[str, Any]) -> str:
    """What is wrong with an environment variable's value, in Chinese."""
    kind, shown = error["type"], str(error.get("input"))[:40]
    if kind.startswith(("int_", "float_")):
        return f"应为数字{'（整数）' if kind.startswith('int_') else ''}，而不是“{shown}”"
    if kind.startswith(("greater_than", "less_than")):
        return f"应不小于 {(error.get('ctx') or {}).get('ge', 0)}，而不是“{shown}”"
    return f"的值“{shown}”无效"
