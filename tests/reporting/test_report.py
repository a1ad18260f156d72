"""The monthly briefing: offline HTML with inline SVG, a coloured .xlsx, figures from the database."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import duckdb
import openpyxl
import pytest

from tests.helpers import Workspace, assert_user_error


def report(ws: Workspace, out: Path, period: str = "2026-03") -> tuple[Path, Path]:
    ws.ok("evaluate", "--period", period)
    paths = json.loads(ws.ok("report", "--period", period, "--out", str(out), "--format", "json"))
    return Path(paths["html"]), Path(paths["xlsx"])


def test_html_is_self_contained_and_states_the_database_figures(
    sample_months: Workspace, tmp_path: Path
) -> None:
    html, _ = report(sample_months, tmp_path)
    text = html.read_text(encoding="utf-8")
    assert html.name == "武进区-2026-03-目标任务推进情况通报.html"
    for heading in (
        "一、总体情况",
        "二、分类推进情况",
        "三、全年走势",
        "四、滞后任务",
        "五、报送单位排名",
    ):
        assert heading in text
    # four charts, and one per ranking table (towns, zones, streets; departments, companies)
    assert text.count("<svg") == 6
    assert "（一）镇、开发区、街道" in text and "（二）部门、国有企业" in text
    # nothing to fetch: no scripts, stylesheets or images from elsewhere
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<script" not in text
    con = duckdb.connect(str(sample_months.db), read_only=True)
    counts = dict(
        con.sql(
            "SELECT status, count(*) FROM eval_tasks WHERE period = '2026-03' GROUP BY ALL"
        ).fetchall()
    )
    subs = dict(
        con.sql(
            "SELECT submission, count(*) FROM eval_units WHERE period = '2026-03' GROUP BY ALL"
        ).fetchall()
    )
    assert f"本期纳入督查的目标任务 {sum(counts.values())} 项" in text
    assert f"滞后 {counts.get('lagging', 0)} 项、严重滞后 {counts.get('critical', 0)} 项" in text
    assert f"未报送 {subs.get('missing', 0)} 个" in text
    lagging_rows = re.findall(r'<tr class="s-(lagging|critical)">\s*<td>(\d{4}-\d{3})</td>', text)
    bad = {t for (t,) in con.sql(
        "SELECT task_id FROM eval_tasks WHERE period = '2026-03' AND status IN ('lagging', 'critical')"
    ).fetchall()}  # fmt: skip
    assert {t for _, t in lagging_rows} == bad
    # one lagging metric's figures as stored: actual / expected / target
    task_id, label, actual, expected, target = con.sql(
        "SELECT task_id, label, actual, expected, target FROM eval_metrics WHERE period = '2026-03' "
        "AND status = 'lagging' ORDER BY task_id LIMIT 1"
    ).fetchall()[0]
    from ducha.presentation import number

    assert f"{label}：{number(actual)} / {number(expected)} / {number(target)}" in text


def test_text_from_units_is_escaped_and_safe_in_excel(
    sample_months: Workspace, tmp_path: Path
) -> None:
    con = duckdb.connect(str(sample_months.db))
    task_id = con.sql(
        "SELECT p.task_id FROM progress_tasks p JOIN latest_submissions s USING (submission_id) "
        "WHERE p.period = '2026-02' LIMIT 1"
    ).fetchall()[0][0]
    con.execute(
        "UPDATE progress_tasks SET issues = '<script>alert(1)</script>=HYPERLINK(\"http://x\")' "
        "WHERE period = '2026-03' AND task_id = ?", [task_id],
    )  # fmt: skip
    con.execute("UPDATE tasks SET content = '=1+1 <b>粗体</b>' WHERE task_id = ?", [task_id])
    con.close()
    html, xlsx = report(sample_months, tmp_path)
    text = html.read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in text and "<b>粗体</b>" not in text
    assert "=1+1 &lt;b&gt;粗体&lt;/b&gt;" in text
    book = openpyxl.load_workbook(xlsx)
    cells = [
        c for sheet in book for row in sheet.iter_rows() for c in row if isinstance(c.value, str)
    ]
    injected = [c for c in cells if c.value.startswith("=")]
    assert injected and all(c.data_type == "s" for c in injected)  # text, never a formula


def test_xlsx_has_the_same_tables_coloured_by_status(
    sample_months: Workspace, tmp_path: Path
) -> None:
    _, xlsx = report(sample_months, tmp_path)
    book = openpyxl.load_workbook(xlsx)
    assert book.sheetnames == ["滞后任务", "指标", "单位排名", "全部任务"]
    con = duckdb.connect(str(sample_months.db), read_only=True)
    metrics = book["指标"]
    rows = list(metrics.iter_rows(min_row=4, values_only=True))
    assert len(rows) == 46
    colour = {
        "序时推进": "FFC6EFCE",
        "已完成": "FFC6EFCE",
        "滞后": "FFFFEB9C",
        "严重滞后": "FFFFC7CE",
    }
    for r in range(4, metrics.max_row + 1):
        status = metrics.cell(r, 11).value
        assert metrics.cell(r, 1).fill.fgColor.rgb == colour[status]
    stored = con.sql(
        "SELECT task_id, target, actual FROM eval_metrics WHERE period = '2026-03' ORDER BY task_id, position"
    ).fetchall()
    assert sorted((r[0], r[5], r[6]) for r in rows) == sorted(stored)
    ranking = list(book["单位排名"].iter_rows(min_row=4, values_only=True))
    assert len(ranking) == 50 and ranking[0][:2] == ("镇、开发区、街道", 1)
    tables = [r[0] for r in ranking]
    assert tables == sorted(tables, key=lambda t: t != "镇、开发区、街道")  # towns first
    assert {r[0] for r in ranking if r[1] == 1} == {"镇、开发区、街道", "部门、国有企业"}


def test_report_needs_an_evaluation(sample_months: Workspace, tmp_path: Path) -> None:
    assert_user_error(
        sample_months, ["report", "--period", "2026-03", "--out", str(tmp_path)], "尚未研判"
    )


def test_a_briefing_that_cannot_be_written_is_one_line_and_keeps_the_last_one(
    sample_months: Workspace, tmp_path: Path
) -> None:
    """Both files are written under temporary names and renamed together: when the .xlsx cannot
    be written (its temporary name taken by a folder, which stops root too), the HTML written
    before it is dropped, the previous briefing stays as it was, and the command says why in
    one line. A file where the reports folder should be: the same."""
    out = tmp_path / "reports"
    html, xlsx = report(sample_months, out)
    before = html.read_bytes(), xlsx.read_bytes()
    (out / (xlsx.name + ".partial")).mkdir()
    args = ["report", "--period", "2026-03", "--out", str(out)]
    assert_user_error(sample_months, args, "无法写入通报", "同名的是目录而不是文件")
    assert (html.read_bytes(), xlsx.read_bytes()) == before
    pdf = [html.with_suffix(".pdf").name] if html.with_suffix(".pdf").exists() else []
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [html.name, xlsx.name, xlsx.name + ".partial", *pdf]
    )
    taken = tmp_path / "占位"
    taken.write_text("一个文件，不是目录", encoding="utf-8")
    args = ["report", "--period", "2026-03", "--out", str(taken)]
    assert_user_error(sample_months, args, "无法写入通报", "已有同名文件")


def _png_pixels(path: Path) -> tuple[int, int, bytes]:
    """Width, height and the decompressed scanlines of a PNG (enough to tell blank from not)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    return width, height, zlib.decompress(idat)


@pytest.mark.skipif(
    shutil.which("chromium") is None and not os.environ.get("CI"), reason="Chromium not installed"
)
def test_briefing_renders_in_headless_chromium(sample_months: Workspace, tmp_path: Path) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "Chromium is required: .ci/run installs it"
    fonts = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True).stdout
    assert fonts.strip(), "a CJK font is required (Debian fonts-noto-cjk): .ci/run installs it"
    html, _ = report(sample_months, tmp_path)
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chrome'}", "--window-size=1200,2400",
    ]  # fmt: skip
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, *flags, f"--screenshot={shot}", html.as_uri()], check=True, capture_output=True,
                   timeout=120)  # fmt: skip
    width, height, pixels = _png_pixels(shot)
    assert (width, height) == (1200, 2400)
    assert len(set(pixels[::7])) > 50  # a blank page has a handful of byte values, a drawn one many
    dom = subprocess.run([chromium, *flags, "--dump-dom", html.as_uri()], check=True, capture_output=True,
                         text=True, timeout=120).stdout  # fmt: skip
    assert dom.count("<svg") == 6 and dom.count("<rect") > 100
    assert "武进区《政府工作报告》目标任务推进情况通报" in dom and "五、报送单位排名" in dom
