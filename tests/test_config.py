"""One configuration: every setting declared once, read and checked once, described in the
README exactly as declared; every mistake one Chinese line naming the file and the key."""

from __future__ import annotations

import re

import pytest

from ducha.config import load_config, settings_table
from tests.helpers import ROOT, Workspace, assert_user_error


def test_the_readme_table_is_the_declaration() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- 配置表：[^\n]*-->\n(.*?)\n<!-- /配置表 -->", readme, flags=re.S)
    assert found, "README has no configuration table between its markers"
    assert found.group(1).strip() == settings_table().strip()


def test_the_sample_workspaces_are_valid() -> None:
    for config in (ROOT / "config", ROOT / "workspaces" / "changzhou" / "config"):
        cfg = load_config(config)
        assert cfg.code and cfg.units.units and cfg.schedule.deadline_workday == 5


@pytest.mark.parametrize(
    ("file", "text", "needles"),
    [
        ("channels.yaml", "reply_workdays: 五\n", ("channels.yaml", "reply_workdays", "整数", "五")),
        ("channels.yaml", "rate_limit: {count: 0}\n", ("rate_limit.count", "正整数")),
        ("channels.yaml", "retry: {max_attempts: 0}\n", ("retry.max_attempts", "正整数")),
        ("channels.yaml", "retry: 5\n", ("retry", "max_attempts")),
        ("channels.yaml", "concurrency: true\n", ("concurrency", "整数")),
        ("channels.yaml", "recipients: {湖塘镇: [{name: 群}]}\n", ("recipients.湖塘镇.第 1 项.url",)),
        ("calendar.yaml", "2027:\n  holidays: [2027-02-30]\n", ("calendar.yaml", "2027-02-30", "日期")),
        ("calendar.yaml", "2027:\n  holidays: 2027-01-01\n", ("holidays", "列表")),
        ("calendar.yaml", "明年:\n  holidays: [2027-01-01]\n", ("年份“明年”",)),
        ("evaluation.yaml", "red_threshold: abc\n", ("evaluation.yaml", "red_threshold", "abc")),
        ("evaluation.yaml", "not_started_critical_month: 七月\n", ("not_started_critical_month", "月份")),
        ("evaluation.yaml", "unit_share: half\n", ("unit_share", "'equal'", "'none'")),
        ("evaluation.yaml", "speed: 1\n", ("不认识的设置 speed",)),
        ("workspace.yaml", "task_match_threshold: 八十\n", ("task_match_threshold", "0 到 100")),
        ("workspace.yaml", "name: ../../x\n", ("workspace.yaml", "name", "/")),
        ("workspace.yaml", "code: 武进\n", ("code", "字母")),
        ("workspace.yaml", "backup_keep: true\n", ("backup_keep", "正整数")),
        ("schedule.yaml", "timezone: Asia/Beijing\n", ("timezone", "Asia/Beijing")),
        ("schedule.yaml", "reminder_workday: 6\n", ("reminder_workday", "deadline_workday")),
        ("schedule.yaml", "overdue_reminders: 是\n", ("overdue_reminders", "true 或 false")),
        ("schedule.yaml", "- 1\n- 2\n", ("schedule.yaml", "键值表")),
    ],
)  # fmt: skip
def test_a_config_mistake_is_one_line_naming_file_and_key(
    ws: Workspace, file: str, text: str, needles: tuple[str, ...]
) -> None:
    path = ws.config / file
    kept = {k: v for k, v in ((k, path.read_text(encoding="utf-8")) for k in [0]) if path.exists()}
    if (
        file in ("workspace.yaml", "schedule.yaml", "evaluation.yaml")
        and kept
        and not text.startswith("-")
    ):
        text = (
            kept[0] + "\n" + text
            if not any(text.split(":")[0] + ":" in line for line in kept[0].splitlines())
            else text
        )
    path.write_text(text, encoding="utf-8")
    assert_user_error(ws, ["units", "show"], *needles)


def test_an_environment_mistake_is_one_line(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DUCHA_LOCK_WAIT", "半分钟")
    assert_user_error(ws, ["units", "show"], "DUCHA_LOCK_WAIT", "半分钟")
