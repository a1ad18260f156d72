"""The small commands, and the command line's own words: usage mistakes told in Chinese."""

from __future__ import annotations

import json

import pytest

from tests.helpers import Workspace, assert_user_error


def test_units_show(ws: Workspace) -> None:
    data = json.loads(ws.ok("units", "show", "--format", "json"))
    units = {u["name"]: u for u in data["units"]}
    assert {u["kind"] for u in data["units"]} == {
        "town",
        "zone",
        "street",
        "dept",
        "company",
        "leader",
    }
    assert units["高新区"]["kind"] == "zone" and "武高新" in units["高新区"]["aliases"]
    assert "西太湖科技产业园" in units["西太湖"]["aliases"]
    assert "中以常州创新园" in units["中以园"]["aliases"]
    assert data["groups"]["开发区"] == ["高新区", "西太湖"]
    assert len(data["groups"]["镇"]) == 8
    text = ws.ok("units", "show")
    assert "高新区（又称 武高新" in text and "集合词：" in text


def test_units_register_errors_name_the_file(ws: Workspace) -> None:
    path = ws.config / "units.yaml"
    text = path.read_text(encoding="utf-8").replace(
        "units:\n", "units:\n  - {name: 湖塘, kind: town}\n", 1
    )
    path.write_text(text, encoding="utf-8")
    assert_user_error(ws, ["units", "show"], "units.yaml", "湖塘")
    path.write_text("units:\n  - {name: 某局, kind: bureau}\n", encoding="utf-8")
    assert_user_error(ws, ["units", "show"], "units.yaml", "bureau")


def test_extract_reads_lines_from_stdin(ws: Workspace) -> None:
    lines = [
        "实施工业技改投资项目超180个、其中超亿元项目31个以上，工业投资增长5%左右。",
        "优化“15分钟医保服务圈”内涵，持续规范医保基金使用。",
        "新增城镇就业2.2万人以上。",
    ]
    out = json.loads(ws.ok("targets", "extract", "--format", "json", stdin="\n".join(lines) + "\n"))
    assert [[(m["value"], m["unit"], m["kind"], m["bound"]) for m in ms] for ms in out] == [
        [
            (180, "个", "cumulative", "at_least"),
            (31, "个", "cumulative", "at_least"),
            (5, "%", "growth", "about"),
        ],
        [],
        [(22000, "人", "cumulative", "at_least")],
    ]
    text = ws.ok("targets", "extract", stdin="\n".join(lines))
    assert "无量化指标" in text.splitlines()[1]


def test_run_stops_before_prefect_starts_when_there_is_no_database(ws: Workspace) -> None:
    assert_user_error(ws, ["run", "--period", "2026-03"], "不存在", "ducha targets import")
    assert not ws.db.exists()


def test_run_stops_before_any_step_on_a_config_mistake(imported: Workspace) -> None:
    """A broken config file stops the monthly run before anything is received or written."""
    path = imported.config / "channels.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "\nrecipients: 5\n", encoding="utf-8")
    assert_user_error(imported, ["run", "--period", "2026-03"], "channels.yaml", "recipients")
    assert not (imported.db.parent / "inbox").exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["notify", "--period", "2026-03", "--dry-run", "true"], "错误：多余的参数：true"),
        (["notify", "--period", "2026-03", "a (1).xlsx", "b?: c"], "错误：多余的参数：a (1).xlsx b?: c"),
        (["notify", "--period", "2026-03", "--dryrun"], "错误：没有这个选项：--dryrun（可用的选项：--dry-run）"),
        (["templates", "--period", "2026-03", "--xyz"], "错误：没有这个选项：--xyz"),
        (["evaluat"], "错误：没有这个命令 'evaluat'（是否应为 'evaluate'？）"),
        (["evaluat?"], "错误：没有这个命令 'evaluat?'（是否应为 'evaluate'？）"),
        (["evaluate"], "错误：缺少选项 '--period'"),
        (["evaluate", "--period"], "错误：选项 '--period' 后面需要一个值"),
        (["backup", "--keep", "x"], "错误：选项 '--keep' 的值应为整数"),
        (["units", "show", "--format", "xml"], "错误：选项 '--format' 的值 'xml' 无效，应为 'text'、'json' 之一"),
        (["units", "show", "--format", "a', 'b"], """错误：选项 '--format' 的值 "a', 'b" 无效，应为 'text'、'json' 之一"""),
    ],
)  # fmt: skip
def test_command_line_mistakes_are_told_in_chinese(
    ws: Workspace, args: list[str], expected: str
) -> None:
    result = ws.run(*args)
    assert result.code == 2 and result.out == ""
    assert result.err.strip() == expected + "（用 --help 查看用法）"
