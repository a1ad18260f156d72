"""One configuration: a workspace's config/ files and the DUCHA_* environment, read and checked
once per run, then handed to every step as a `Config`.

Each file's settings are declared once, as a section next to the code that uses them (with a
default and a Chinese description for every setting): workspace.yaml → WorkspaceSettings,
schedule.yaml → Schedule, calendar.yaml → CalendarYear per year, evaluation.yaml →
EvaluationSettings, channels.yaml → ChannelConfig, units.yaml → UnitRegister, related_units.yaml
→ RELATED_UNITS; the environment → Environment below. This module is the one place that reads
them. A mistake is one Chinese line naming the file (or variable) and the key, raised as a
UserError (exit code 2) before any step has written anything. The README's configuration table
is written from the same declarations (`python -m ducha.config`), and a test keeps them equal.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import AfterValidator, Field, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass as section

from ducha.environment import Environment
from ducha.errors import UserError
from ducha.evaluation.inputs import EvaluationSettings
from ducha.notices.channels import ChannelConfig, check_channels
from ducha.sections import FILE_SECTION, Int, Number
from ducha.units import UnitRegister
from ducha.workdays import CalendarYear, Schedule, WorkCalendar
from ducha.workspace import Workspace, read_yaml

Warn = Callable[[str], None]
Year = Annotated[int, Field(ge=2000, le=2100)]
# related_units.yaml: 年份 → 任务编号 → [单位…] (who reports a task whose 责任单位 says 相关单位)
RELATED_UNITS = dict[Year, dict[str, list[str]]]
CALENDAR = dict[Year, CalendarYear]


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
        description="门户网址：各单位的填报链接和 Prefect 中的通报链接指向这里；不设时填报链接为 "
        "http://127.0.0.1:8000，通报写明文件在服务器上的路径",
        json_schema_extra={"should": "以 http:// 或 https:// 开头的网址"},
    )  # fmt: skip
    briefing_number: str = Field(
        "督通〔{year}〕{month}号", min_length=1, max_length=40, pattern=r"^[^{}]*(\{(year|month)\}[^{}]*)*$",
        description="月度通报的文号，{year} 为年份、{month} 为报送期月份，如“武督通〔{year}〕{month}号”",
        json_schema_extra={"should": "含 {year}、{month} 的文号格式，如 武督通〔{year}〕{month}号"},
    )  # fmt: skip
    briefing_to: str = Field(
        "各镇人民政府、街道办事处，各开发区管委会，区各有关部门和单位", min_length=1, max_length=120,
        description="月度通报的主送机关（落款取 channels.yaml 的 sender，日期取研判日）",
    )  # fmt: skip
    session_idle_minutes: Number = Field(
        30, gt=0, le=24 * 60, description="驾驶舱登录后多少分钟无操作即须重新登录",
        json_schema_extra={"should": "大于 0、不超过 1440 的分钟数"},
    )  # fmt: skip
    session_hours: Number = Field(
        10, gt=0, le=24 * 7, description="驾驶舱一次登录最长有效几小时（无论是否有操作）",
        json_schema_extra={"should": "大于 0、不超过 168 的小时数"},
    )  # fmt: skip
    trusted_user_header: str | None = Field(
        None, pattern=r"^[A-Za-z][A-Za-z0-9-]{0,63}$",
        description="由单位的反向代理完成登录时，代理传递账号名的请求头（如 X-Remote-User，值为账号名，"
        "中文可按 UTF-8 原样或百分号编码）；只认来自 trusted_proxies 的请求，账号须已用 ducha users add "
        "建立；不设则不使用",
        json_schema_extra={"should": "请求头名称（字母、数字、连字符），如 X-Remote-User"},
    )  # fmt: skip
    trusted_proxies: list[str] = Field(
        ["127.0.0.1"], description="trusted_user_header 只认来自这些地址（反向代理）的请求",
        json_schema_extra={"should": "IP 地址的列表，如 [127.0.0.1]"},
    )  # fmt: skip


@dataclass(frozen=True)
class Config:
    """Everything a run needs to know about its workspace, checked."""

    workspace: Workspace
    settings: WorkspaceSettings
    units: UnitRegister
    schedule: Schedule
    evaluation: EvaluationSettings
    channels: ChannelConfig
    calendar_years: dict[int, CalendarYear] = field(default_factory=dict)
    related: dict[int, dict[str, list[str]]] = field(default_factory=dict)
    env: Environment = field(default_factory=Environment)

    @property
    def code(self) -> str:
        return self.settings.code

    @property
    def name(self) -> str:
        return self.settings.name

    def calendar(self, warn: Warn | None = None) -> WorkCalendar:
        """Chinese working days with this workspace's additions; `warn` hears about a year that
        neither chinesecalendar nor calendar.yaml knows."""
        return WorkCalendar.from_years(self.calendar_years, warn)

    def related_units(self, year: int) -> dict[str, list[str]]:
        return self.related.get(year, {})


# The files of config/, what each holds, and whether a workspace must have it.
FILES: dict[str, tuple[Any, str, bool]] = {
    "workspace.yaml": (WorkspaceSettings, "工作区", False),
    "schedule.yaml": (Schedule, "日程（报送期次月的第几个工作日）", False),
    "evaluation.yaml": (EvaluationSettings, "研判阈值（DESIGN §5）", False),
    "channels.yaml": (ChannelConfig, "通知渠道", False),
    "calendar.yaml": (
        CALENDAR,
        "chinesecalendar 未收录年份的法定节假日和调休上班日：年份 → {holidays, workdays}",
        False,
    ),
    "related_units.yaml": (
        RELATED_UNITS,
        "“相关单位”按任务明确的单位：年份 → 任务编号 → [单位…]",
        False,
    ),
    "units.yaml": (UnitRegister, "单位名册：units（名称、类别、别名）和 groups（集合词）", True),
}


def load_config(source: Workspace | Path) -> Config:
    """Read and check every file of the workspace's config/ and the DUCHA_* environment.
    `source`: a Workspace, or a config/ folder (its database then beside it, in data/)."""
    ws = (
        source
        if isinstance(source, Workspace)
        else Workspace(Path(source), Path(source).parent / "data" / "ducha.duckdb")
    )
    d = ws.config_dir
    units = UnitRegister.from_data(read_yaml(d / "units.yaml"), d / "units.yaml")
    channels = read_section(d / "channels.yaml", ChannelConfig)
    check_channels(channels, {u.name for u in units.units}, d / "channels.yaml")
    return Config(
        workspace=ws,
        settings=read_section(d / "workspace.yaml", WorkspaceSettings),
        units=units,
        schedule=read_section(d / "schedule.yaml", Schedule),
        evaluation=read_section(d / "evaluation.yaml", EvaluationSettings),
        channels=channels,
        calendar_years=read_section(d / "calendar.yaml", CALENDAR),
        related=read_section(d / "related_units.yaml", RELATED_UNITS),
        env=Environment.read(),
    )


def read_section(path: Path, kind: Any) -> Any:
    """One config file checked against its declaration; a missing or empty file is the defaults."""
    data = read_yaml(path) if path.exists() else None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"配置文件 {path} 应为键值表（“设置: 值”），而不是 {type(data).__name__}")
    try:
        return _adapter(kind).validate_python(data)
    except ValidationError as exc:
        errors = _plain_errors(exc)
        problems = list(dict.fromkeys(_reason(e, _key(e["loc"])) for e in errors))
        more = len(problems) - 3
        raise UserError(
            f"配置文件 {path} 中 "
            + "；".join(problems[:3])
            + (f"（另有 {more} 处）" if more > 0 else "")
        ) from None


def _plain_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """The errors as a person reads the file: a channel is written as a {url, …} entry (the
    Channel objects it becomes are not written by anyone), so only the entry's errors count."""
    out = []
    for error in exc.errors():
        loc = tuple(error["loc"])
        if "Channel" in loc:
            continue
        error = {**error, "loc": tuple(x for x in loc if x != "ChannelEntry")}
        out.append(error)
    return out or exc.errors()


@cache
def _adapter(kind: Any) -> TypeAdapter:
    return TypeAdapter(kind)


def _key(loc: tuple[Any, ...]) -> str:
    parts = []
    for item in loc:
        if item == "[key]":
            continue
        # a list's position (第 1 项); a number key (a year: 2027) as it is written
        parts.append(f"第 {item + 1} 项" if isinstance(item, int) and item < 1000 else str(item))
    return ".".join(parts)


_REASONS = {
    "missing": "缺少 {key}",
    "extra_forbidden": "不认识的设置 {key}",
    "unexpected_keyword_argument": "不认识的设置 {key}",
    "int_parsing": "{key} 应为整数，而不是“{input}”",
    "int_type": "{key} 应为整数，而不是“{input}”",
    "int_from_float": "{key} 应为整数，而不是“{input}”",
    "float_parsing": "{key} 应为数字，而不是“{input}”",
    "float_type": "{key} 应为数字，而不是“{input}”",
    "bool_parsing": "{key} 应为 true 或 false，而不是“{input}”",
    "bool_type": "{key} 应为 true 或 false，而不是“{input}”",
    "string_type": "{key} 应为文字，而不是“{input}”",
    "greater_than_equal": "{key} 应不小于 {ge}，而不是“{input}”",
    "greater_than": "{key} 应大于 {gt}，而不是“{input}”",
    "less_than_equal": "{key} 应不大于 {le}，而不是“{input}”",
    "less_than": "{key} 应小于 {lt}，而不是“{input}”",
    "literal_error": "{key} 应为 {expected}，而不是“{input}”",
    "enum": "{key} 应为 {expected}，而不是“{input}”",
    "date_parsing": "{key} 中的“{input}”不是有效的日期（应写如 2027-01-01）",
    "date_from_datetime_parsing": "{key} 中的“{input}”不是有效的日期（应写如 2027-01-01）",
    "date_type": "{key} 中的“{input}”不是日期（应写如 2027-01-01）",
    "dict_type": "{key} 应为键值表，而不是“{input}”",
    "dataclass_type": "{key} 应为键值表，而不是“{input}”",
    "list_type": "{key} 应为列表（如 [a, b]），而不是“{input}”",
    "string_pattern_mismatch": "{key} 的值“{input}”格式不对",
    "string_too_long": "{key} 不能超过 {max_length} 个字符",
    "string_too_short": "{key} 不能为空",
    "url_parsing": "{key} 的值“{input}”不是有效的网址",
}
_SHOULD_KINDS = {
    "int_parsing", "int_type", "int_from_float", "float_parsing", "float_type", "bool_parsing", "bool_type",
    "greater_than_equal", "greater_than", "less_than_equal", "less_than", "string_pattern_mismatch",
}  # fmt: skip


@cache
def _should() -> dict[str, str]:
    """setting name → what its value should be, as declared (json_schema_extra "should")."""
    found: dict[str, str] = {}

    def walk(kind: Any) -> None:
        for name, info in getattr(kind, "__pydantic_fields__", {}).items():
            extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
            if "should" in extra:
                found.setdefault(name, str(extra["should"]))
            if info.default_factory is not None and dataclasses.is_dataclass(info.default_factory):
                walk(info.default_factory)

    for kind, _, _ in FILES.values():
        walk(kind)
    walk(Environment)
    return found


def _reason(error: dict[str, Any], key: str) -> str:  # noqa: C901 - one table of cases
    kind = error["type"]
    names = [x for x in error.get("loc") or () if isinstance(x, str)]
    should = _should().get(names[-1]) if names else None
    if should and kind in _SHOULD_KINDS:
        shown = error.get("input")
        gap = " " if should[:1].isascii() else ""
        return f"{key} 应为{gap}{should}，而不是“{'空' if shown is None else str(shown)[:40]}”".lstrip()
    if kind in ("extra_forbidden", "unexpected_keyword_argument") and key in _groups():
        return f"{key} 应写为 {{{'、'.join(_groups()[key])}}}"
    ctx = {k: v for k, v in (error.get("ctx") or {}).items()}
    shown = error.get("input")
    shown = "空" if shown is None else str(shown)[:40]
    loc = tuple(error.get("loc") or ())
    if "[key]" in loc and kind in (
        "int_parsing",
        "int_type",
        "greater_than_equal",
        "less_than_equal",
    ):
        return f"年份“{shown}”应为四位数字（2000–2100）"
    if kind in ("value_error", "assertion_error"):
        message = str(ctx.get("error") or error.get("msg", "")).removeprefix("Value error, ")
        return f"{key}：{message}" if key else message
    if kind in ("enum", "literal_error") and "expected" in ctx:
        ctx["expected"] = str(ctx["expected"]).replace("' or '", "'、'").replace("', '", "'、'")
    template = _REASONS.get(kind, "{key} 的值“{input}”无效")
    try:
        return template.format(key=key, input=shown, **ctx).lstrip()
    except (KeyError, IndexError):
        return f"{key} 的值“{shown}”无效"


@cache
def _groups() -> dict[str, list[str]]:
    """Settings written inside a group in the file (retry: {max_attempts, backoff_seconds})."""
    found: dict[str, list[str]] = {}
    for kind, _, _ in FILES.values():
        for name, info in getattr(kind, "__pydantic_fields__", {}).items():
            key = _yaml_key(info, name)
            if "." in key:
                group, _, sub = key.partition(".")
                found.setdefault(group, []).append(sub)
    return found


# ------------------------------------------------------------------ the README's table


def settings_table() -> str:
    """Every setting as a Markdown table: file, setting, default, what it does (the README's
    configuration table is this text)."""
    rows = ["| 文件 | 设置 | 默认值 | 说明 |", "|---|---|---|---|"]
    for file, (kind, what, required) in FILES.items():
        if hasattr(kind, "__pydantic_fields__"):
            for key, default, description in _fields(kind):
                rows.append(f"| `{file}` | `{key}` | {default} | {description} |")
        else:
            rows.append(f"| `{file}` | — | {'（必需）' if required else '（无）'} | {what} |")
    for key, default, description in _fields(Environment):
        rows.append(f"| 环境变量 | `DUCHA_{key.upper()}` | {default} | {description} |")
    return "\n".join(rows)


def _fields(kind: Any, prefix: str = "") -> list[tuple[str, str, str]]:
    out = []
    for f in dataclasses.fields(kind):
        info = kind.__pydantic_fields__[f.name]
        key = prefix + _yaml_key(info, f.name)
        if info.default_factory is not None and dataclasses.is_dataclass(info.default_factory):
            out += _fields(info.default_factory, key + ".")
            continue
        default = info.get_default(call_default_factory=True)
        shown = (
            "—"
            if default in (None, "", {}, [])
            else f"`{str(default).lower() if isinstance(default, bool) else default}`"
        )
        out.append((key, shown, info.description or ""))
    return out


def _yaml_key(info: Any, name: str) -> str:
    """The key as written in the file (a setting may sit inside a group: retry.max_attempts)."""
    alias = info.validation_alias
    choices = getattr(alias, "choices", None) or []
    for choice in choices:
        path = getattr(choice, "path", None)
        if path:
            return ".".join(map(str, path))
    return name


if __name__ == "__main__":  # pragma: no cover - prints the README's table
    sys.stdout.write(settings_table() + "\n")
