"""The reviewed metrics file: export, confirm, survive re-import, reject bad files whole."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import pytest
import yaml

from tests.helpers import (
    REVIEW_2026,
    SEED_TABLE,
    Workspace,
    assert_user_error,
    by_id,
    corrected_table,
    metric_tuples,
    show,
)

LABELS = Path(__file__).parent / "data" / "metric_labels.yaml"


def test_shipped_review_matches_the_hand_labels(imported: Workspace) -> None:
    out = imported.ok("targets", "confirm", str(REVIEW_2026))
    assert "已确认 2026 年任务 94 项" in out
    tasks = by_id(show(imported))
    labels = {
        item["ref"]: [(m["value"], m["unit"], m["kind"], m["bound"]) for m in item["metrics"]]
        for item in yaml.safe_load(LABELS.read_text(encoding="utf-8"))
        if item["source"] == "seed-table"
    }
    assert len(labels) == 94
    for task_id, expected in labels.items():
        assert metric_tuples(tasks[task_id]) == expected, task_id
        assert all(m["confirmed"] for m in tasks[task_id]["metrics"])


def test_shipped_allocations_add_up_to_the_target(imported: Workspace) -> None:
    imported.ok("targets", "confirm", str(REVIEW_2026))
    state = imported.state()
    parking = [r for r in state["metric_allocations"] if r[0] == "2026-061"]
    assert len(parking) == 12 and sum(r[3] for r in parking) == 1500
    assert sorted((r[2], r[3]) for r in state["metric_schedule"] if r[0] == "2026-080") == [
        (3, 0.2),
        (6, 0.5),
        (9, 0.8),
        (12, 1.0),
    ]


def test_reimport_never_overwrites_confirmed_metrics(imported: Workspace, tmp_path: Path) -> None:
    review = yaml.safe_load(REVIEW_2026.read_text(encoding="utf-8"))
    task = next(t for t in review["tasks"] if t["id"] == "2026-006")
    task["metrics"][0]["label"] = "招引科技型中小微企业（人工确认）"
    edited = tmp_path / "review.yaml"
    edited.write_text(yaml.safe_dump(review, allow_unicode=True), encoding="utf-8")
    imported.ok("targets", "confirm", str(edited))
    result = json.loads(
        imported.ok(
            "targets",
            "import",
            str(corrected_table(tmp_path)),
            "--year",
            "2026",
            "--format",
            "json",
        )
    )
    # 2026-006 now says 350 in the table, but its confirmed metric stays until people re-confirm.
    assert result["needs_review"] == ["2026-006"]
    t = by_id(show(imported))
    assert t["2026-006"]["metrics"] == [
        {
            "label": "招引科技型中小微企业（人工确认）",
            "value": 330,
            "unit": "家",
            "kind": "cumulative",
            "bound": "at_least",
            "confirmed": True,
        },
    ]
    # the new task was never reviewed: it gets proposals
    assert [m["confirmed"] for m in t["2026-095"]["metrics"]] == [False]
    text = imported.ok("targets", "show", "--year", "2026")
    assert "2026-006" in text and "内容已改动，指标待重新确认" in text


def test_yaml_round_trip(imported: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "确认.yaml"
    imported.ok("targets", "review", "--year", "2026", "--out", str(path))
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert len(data["tasks"]) == 94 and not any(t["confirmed"] for t in data["tasks"])
    task = next(t for t in data["tasks"] if t["id"] == "2026-057")
    task["metrics"] = [task["metrics"][1]]  # people keep only the 188 plots
    task["confirmed"] = True
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    out = imported.ok("targets", "confirm", str(path))
    assert "已确认 2026 年任务 1 项、指标 1 个；未确认 93 项" in out
    t = by_id(show(imported))
    assert metric_tuples(t["2026-057"]) == [(188, "个", "cumulative", "at_least")]
    assert t["2026-057"]["metrics"][0]["confirmed"] is True
    assert t["2026-007"]["metrics"][0]["confirmed"] is False


def test_xlsx_round_trip_edited_with_openpyxl(imported: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "确认.xlsx"
    imported.ok("targets", "review", "--year", "2026", "--out", str(path))
    book = openpyxl.load_workbook(path)
    sheet = book["指标确认"]
    header = [c.value for c in sheet[1]]
    col = {name: header.index(name) + 1 for name in header}
    rows = {}
    for r in range(2, sheet.max_row + 1):
        rows.setdefault(sheet.cell(r, col["任务编号"]).value, []).append(r)
    r7 = rows["2026-007"]
    sheet.cell(r7[0], col["目标值"]).value = 200  # corrected
    sheet.cell(r7[2], col["界限"]).value = "不低于"
    for r in r7:
        sheet.cell(r, col["确认"]).value = "是"
    r61 = rows["2026-061"][0]
    sheet.cell(r61, col["分解到单位"]).value = "湖塘镇:700；高新区:800"
    sheet.cell(r61, col["序时安排"]).value = "6月:40%；12月:100%"
    sheet.cell(r61, col["确认"]).value = "是"
    sheet.cell(rows["2026-066"][0], col["确认"]).value = "是"  # confirmed: no metric
    book.save(path)
    imported.ok("targets", "confirm", str(path))
    t = by_id(show(imported))
    assert metric_tuples(t["2026-007"]) == [
        (200, "个", "cumulative", "at_least"),
        (31, "个", "cumulative", "at_least"),
        (5, "%", "growth", "at_least"),
    ]
    state = imported.state()
    assert sorted(r[2:] for r in state["metric_allocations"]) == [
        ("湖塘镇", 700.0),
        ("高新区", 800.0),
    ]
    assert sorted(r[2:] for r in state["metric_schedule"]) == [(6, 0.4), (12, 1.0)]
    reviewed = {r[0] for r in state["tasks"] if r[11] is not None}
    assert reviewed == {"2026-007", "2026-061", "2026-066"}


def write_review(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load(REVIEW_2026.read_text(encoding="utf-8"))
    mutate({t["id"]: t for t in data["tasks"]}, data)
    path = tmp_path / "review.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda t, d: t["2026-007"]["metrics"][0].update(kind="total"), "类型“total”无效"),
        (lambda t, d: t["2026-007"]["metrics"][0].update(value="约三十"), "“约三十”不是有效数字"),
        (lambda t, d: t["2026-007"]["metrics"][0].update(value=-5), "不是有效的非负数"),
        (lambda t, d: t["2026-007"].update(id="2026-999"), "任务编号 2026-999 不在 2026 年"),
        (
            lambda t, d: t["2026-061"]["metrics"][0]["allocations"].update({"商务局": 5}),
            "分解单位“商务局”不是该任务的责任单位",
        ),
        (lambda t, d: t["2026-080"]["metrics"][0].update(schedule={6: 60, 9: 40}), "逐月不减"),
        (lambda t, d: t["2026-080"]["metrics"][0].update(schedule={13: 60}), "月份“13”"),
        (lambda t, d: t["2026-007"]["metrics"][2].update(schedule={6: 50}), "只有累计类指标"),
        (lambda t, d: t["2026-007"].update(confirmed="yes"), "confirmed 应为 true 或 false"),
    ],
)
def test_bad_review_file_writes_nothing(
    imported: Workspace, tmp_path: Path, mutate, needle: str
) -> None:
    path = write_review(tmp_path, mutate)
    assert_user_error(imported, ["targets", "confirm", str(path)], "review.yaml", needle)


def test_bad_review_files_of_every_shape(imported: Workspace, tmp_path: Path) -> None:
    empty = tmp_path / "空.yaml"
    empty.write_text("", encoding="utf-8")
    assert_user_error(imported, ["targets", "confirm", str(empty)], "空.yaml", "空")
    broken = tmp_path / "坏.yaml"
    broken.write_text("year: 2026\ntasks: [\n  - id: 1", encoding="utf-8")
    assert_user_error(imported, ["targets", "confirm", str(broken)], "坏.yaml", "YAML")
    wrong = tmp_path / "确认.xlsx"
    book = openpyxl.Workbook()
    book.active.title = "指标确认"
    book.active.append(["任务编号", "指标名称", "目标值"])
    book.save(wrong)
    assert_user_error(imported, ["targets", "confirm", str(wrong)], "确认.xlsx", "缺少列", "类型")
    other_year = write_review(tmp_path, lambda t, d: d.update(year=2025))
    assert_user_error(imported, ["targets", "confirm", str(other_year)], "没有 2025 年的目标任务")


def test_review_before_import_is_a_user_error(ws: Workspace, tmp_path: Path) -> None:
    assert_user_error(
        ws, ["targets", "review", "--year", "2026", "--out", str(tmp_path / "r.yaml")], "不存在"
    )
    ws.ok("targets", "import", str(SEED_TABLE), "--year", "2026")
    assert_user_error(
        ws, ["targets", "review", "--year", "2025", "--out", str(tmp_path / "r.yaml")], "2025"
    )
    assert_user_error(
        ws,
        ["targets", "review", "--year", "2026", "--out", str(tmp_path / "r.csv")],
        ".yaml 或 .xlsx",
    )
