"""Metric extraction (DESIGN.md §3): measured on a hand-labelled set, plus the known traps."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest
import yaml

from ducha.targets.metrics import Metric, extract_metrics

LABELS = Path(__file__).parent / "data" / "metric_labels.yaml"
FLOORS = {"seed-table": 0.95, "wujin-report": 0.85, "changzhou-key-work": 0.85}

Key = tuple[float, str, str, str]


def _key(m: dict) -> Key:
    return (float(m["value"]), m["unit"], m["kind"], m["bound"])


def _matched(predicted: list[Key], labelled: list[Key]) -> int:
    """Multiset matching: value (abs diff < 1e-9), unit, kind and bound must agree."""
    left = list(labelled)
    hits = 0
    for v, unit, kind, bound in predicted:
        for i, (lv, lunit, lkind, lbound) in enumerate(left):
            if abs(v - lv) < 1e-9 and (unit, kind, bound) == (lunit, lkind, lbound):
                del left[i]
                hits += 1
                break
    return hits


@pytest.fixture(scope="module")
def labelled() -> list[dict]:
    return yaml.safe_load(LABELS.read_text(encoding="utf-8"))


def _entry(labelled: list[dict], source: str, ref: str) -> dict:
    (entry,) = [e for e in labelled if e["source"] == source and str(e["ref"]) == ref]
    return entry


def test_labelled_set_shape(labelled: list[dict]) -> None:
    counts = Counter(e["source"] for e in labelled)
    assert counts["seed-table"] == 94
    assert [e["ref"] for e in labelled if e["source"] == "seed-table"] == [
        f"2026-{i:03d}" for i in range(1, 95)
    ]
    assert counts["wujin-report"] + counts["changzhou-key-work"] >= 60
    for e in labelled:
        for m in e["metrics"]:
            assert set(m) == {"label", "value", "unit", "kind", "bound"}, e["ref"]
            assert m["kind"] in ("cumulative", "growth", "level")
            assert m["bound"] in ("at_least", "about", "at_most")


def test_precision_recall_per_source(labelled: list[dict]) -> None:
    tp: Counter[str] = Counter()
    n_pred: Counter[str] = Counter()
    n_gold: Counter[str] = Counter()
    for e in labelled:
        predicted = [_key(m.to_dict()) for m in extract_metrics(e["text"])]
        gold = [_key(m) for m in e["metrics"]]
        tp[e["source"]] += _matched(predicted, gold)
        n_pred[e["source"]] += len(predicted)
        n_gold[e["source"]] += len(gold)
    for source, floor in FLOORS.items():
        precision = tp[source] / n_pred[source] if n_pred[source] else 1.0
        recall = tp[source] / n_gold[source] if n_gold[source] else 1.0
        print(
            f"{source} precision={precision:.3f} recall={recall:.3f} "
            f"(matched {tp[source]}, predicted {n_pred[source]}, labelled {n_gold[source]})"
        )
        assert precision >= floor, source
        assert recall >= floor, source


def _tuples(text: str) -> list[tuple]:
    return [(m.value, m.unit, m.kind, m.bound) for m in extract_metrics(text)]


def test_money_is_part_of_the_label() -> None:
    text = (
        "坚决打好招大引强、招新引优攻坚战，招引总投资超百亿元或10亿美元项目3个以上、"
        "超50亿元或5亿美元项目5个以上、超10亿元或1亿美元项目24个以上、超1亿元项目119个以上。"
    )
    assert _tuples(text) == [
        (3.0, "个", "cumulative", "at_least"),
        (5.0, "个", "cumulative", "at_least"),
        (24.0, "个", "cumulative", "at_least"),
        (119.0, "个", "cumulative", "at_least"),
    ]
    assert "超百亿元或10亿美元项目" in extract_metrics(text)[0].label
    assert _tuples("新增经营性收入超500万元村10个。") == [(10.0, "个", "cumulative", "at_least")]


def test_baseline_is_not_a_target() -> None:
    text = "深化城中村更新工作，在3个试点项目基础上，启动15个城中村改造项目、其中自主更新类4个。"
    assert _tuples(text) == [
        (15.0, "个", "cumulative", "at_least"),
        (4.0, "个", "cumulative", "at_least"),
    ]


def test_several_metrics_in_one_sentence() -> None:
    text = "支持存量企业扩产上量、稳产满产，实施工业技改投资项目超180个、其中超亿元项目31个以上，工业投资增长5%左右。"
    metrics = extract_metrics(text)
    assert [(m.value, m.unit, m.kind, m.bound) for m in metrics] == [
        (180.0, "个", "cumulative", "at_least"),
        (31.0, "个", "cumulative", "at_least"),
        (5.0, "%", "growth", "about"),
    ]
    assert [m.label for m in metrics] == ["工业技改投资项目", "其中超亿元项目", "工业投资增长"]


@pytest.mark.parametrize(
    ("text", "bound"),
    [
        ("新增公共停车泊位1500个以上。", "at_least"),
        ("焕新用地面积超1200亩。", "at_least"),
        ("新增上市企业不少于5家。", "at_least"),
        ("力争实施农民自建区建设6个以上。", "at_least"),
        ("共建省级以上联合创新中心3个。", "at_least"),
        ("实施支流支浜水质提升工程10条左右。", "about"),
        ("培育约20家示范企业。", "about"),
        ("新增建设用地控制在300亩以内。", "at_most"),
        ("新增债务不超过5亿元。", "at_most"),
    ],
)
def test_bounds(text: str, bound: str) -> None:
    (metric,) = extract_metrics(text)
    assert metric.bound == bound


def test_units_are_normalised() -> None:
    assert _tuples("新增城镇就业2.2万人以上。") == [(22000.0, "人", "cumulative", "at_least")]
    assert _tuples("完成公积金扩面4.3万人以上。") == [(43000.0, "人", "cumulative", "at_least")]
    assert _tuples("确保粮食播种面积稳定在10万亩以上。") == [(100000.0, "亩", "level", "at_least")]
    assert _tuples("开展职业技能培训8万人次以上。") == [(80000.0, "人次", "cumulative", "at_least")]
    assert _tuples("新增公共停车泊位１５００个以上，帮扶率９０％以上。") == [
        (1500.0, "个", "cumulative", "at_least"),
        (90.0, "%", "level", "at_least"),
    ]
    assert _tuples("新开工保障性租赁住房150套（间）以上。") == [
        (150.0, "套", "cumulative", "at_least")
    ]


def test_money_keeps_its_written_unit() -> None:
    assert _tuples("三大集群力争完成产值4000亿元。") == [(4000.0, "亿元", "cumulative", "at_least")]
    assert _tuples("实际使用外资7.2亿美元左右。") == [(7.2, "亿美元", "cumulative", "about")]
    assert _tuples("人均GDP超25万元。") == [(25.0, "万元", "level", "at_least")]


def test_kinds() -> None:
    text = "新增城镇就业2.2万人以上，确保武进籍离校未就业高校毕业生帮扶率90%以上、困难群体就业帮扶260人以上。"
    assert _tuples(text) == [
        (22000.0, "人", "cumulative", "at_least"),
        (90.0, "%", "level", "at_least"),
        (260.0, "人", "cumulative", "at_least"),
    ]
    assert _tuples("规上服务业营收增长10%以上。") == [(10.0, "%", "growth", "at_least")]
    assert _tuples("研发经费占GDP比重3.65%左右。") == [(3.65, "%", "level", "about")]
    assert _tuples("余额分别增长16.5%、14.4%。") == [
        (16.5, "%", "growth", "at_least"),
        (14.4, "%", "growth", "at_least"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "抓好餐饮油烟、秸秆焚烧等关键环节管控，构建全域“走航溯源”机制，实现PM2.5和臭氧浓度“双降双控”。",
        "优化“15分钟医保服务圈”内涵，持续规范医保基金使用。",
        "全面启动“九五”普法。",
        "纵深推进治本攻坚三年行动，推进安全生产“六化”建设，持续压降事故起数和死亡人数。",
        "2026年是“十五五”开局之年。",
        "做优做精“一高三新”产业，提升四大基础底座及“原点空间”质效。",
        "开展外经贸十大护航行动，重点抓好八个方面工作。",
        "投用武进第二高中新校舍，奋力在第21届省运会中争创佳绩。",
        "建成沪武高速扩建武进段、花海大道二期，加快312国道快速化。",
        "新增省级以上绿色工厂。",
        "遴选了44个民生实事候选项目。",
    ],
)
def test_names_are_not_metrics(text: str) -> None:
    assert extract_metrics(text) == []


def test_chinese_numerals_after_an_action_verb() -> None:
    assert _tuples("新建三个社区食堂。") == [(3.0, "个", "cumulative", "at_least")]


@pytest.mark.parametrize("ref", ["2026-066", "2026-077"])
def test_pm25_and_medical_circle_tasks_have_no_metric(labelled: list[dict], ref: str) -> None:
    entry = _entry(labelled, "seed-table", ref)
    assert entry["metrics"] == []
    assert extract_metrics(entry["text"]) == []


def test_to_dict() -> None:
    assert Metric("新增城镇就业", 22000.0, "人", "cumulative", "at_least").to_dict() == {
        "label": "新增城镇就业",
        "value": 22000,
        "unit": "人",
        "kind": "cumulative",
        "bound": "at_least",
    }
    value = Metric("增长", 5.5, "%", "growth", "about").to_dict()["value"]
    assert value == 5.5 and isinstance(value, float)
    assert isinstance(Metric("x", 3.0, "个", "cumulative", "at_least").to_dict()["value"], int)


@pytest.mark.parametrize(
    ("pasted", "typed"),
    [
        ("认定高企 1200 家以上", "认定高企1200家以上"),
        ("新建5G基站\n300个", "新建5G基站300个"),
        ("实现地区生产总值增长 6% 左右", "实现地区生产总值增长6%左右"),
        ("完成固定资产投资 320 亿元", "完成固定资产投资320亿元"),
    ],
)
def test_text_copied_from_a_pdf_gives_the_metrics_of_the_text_as_typed(
    pasted: str, typed: str
) -> None:
    """A PDF's copied text has spaces and line breaks between characters (issue 17)."""
    assert extract_metrics(typed)
    assert extract_metrics(pasted) == extract_metrics(typed)


# ------------------------------------------------- other governments' tables (issue 17)
REAL_LABELS = sorted((Path(__file__).parent / "data").glob("metric_labels_[a-z].yaml"))


def held_out(entry: dict) -> bool:
    """A third of the other governments' sentences, fixed by a hash of where they come from, was
    kept aside and never looked at while the extractor was changed."""
    digest = hashlib.sha256(f"{entry['source']}|{entry['ref']}".encode()).hexdigest()
    return int(digest, 16) % 3 == 0


@pytest.fixture(scope="module")
def real_labelled() -> list[dict]:
    entries: list[dict] = []
    for path in REAL_LABELS:
        entries += yaml.safe_load(path.read_text(encoding="utf-8"))
    return entries


def test_real_labelled_set_shape(real_labelled: list[dict]) -> None:
    """At least 150 sentences of at least ten governments, labelled by the seed's conventions,
    each found word for word in the table it comes from."""
    from tests.targets.real_tables import DATA

    assert len(real_labelled) >= 150
    assert len({e["source"].split("-")[1] for e in real_labelled}) >= 10
    for e in real_labelled:
        rows = yaml.safe_load((DATA / f"{e['source']}.yaml").read_text(encoding="utf-8"))["rows"]
        assert any(e["text"] in str(cell) for row in rows for cell in row), e["ref"]
        for m in e["metrics"]:
            assert set(m) == {"label", "value", "unit", "kind", "bound"}, e["ref"]


@pytest.mark.parametrize(("part", "floor"), [("tuning", 0.97), ("held-out", 0.97)])
def test_precision_recall_on_other_governments(
    real_labelled: list[dict], part: str, floor: float
) -> None:
    entries = [e for e in real_labelled if held_out(e) == (part == "held-out")]
    tp = n_pred = n_gold = 0
    for e in entries:
        predicted = [_key(m.to_dict()) for m in extract_metrics(e["text"])]
        gold = [_key(m) for m in e["metrics"]]
        tp += _matched(predicted, gold)
        n_pred += len(predicted)
        n_gold += len(gold)
    precision, recall = tp / n_pred, tp / n_gold
    print(
        f"other governments, {part}: {len(entries)} sentences, precision={precision:.3f} "
        f"recall={recall:.3f} (matched {tp}, predicted {n_pred}, labelled {n_gold})"
    )
    assert precision >= floor and recall >= floor


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("新增高新技术企业 1 1 00 家以上", [(1100, "家", "cumulative", "at_least")]),
        ("新增就业１２００人", [(1200, "人", "cumulative", "at_least")]),
        ("新建两所学校、改造三处公园", [(2, "所", "cumulative", "at_least"), (3, "处", "cumulative", "at_least")]),
        ("建成二十个驿站", [(20, "个", "cumulative", "at_least")]),
        ("培育百余家企业", [(100, "家", "cumulative", "at_least")]),
        ("新增1万多个停车位", [(10000, "个", "cumulative", "at_least")]),
        ("PM2.5平均浓度控制在30微克/立方米以内", [(30, "微克/立方米", "level", "at_most")]),
        ("每千人拥有3岁以下婴幼儿托位4.5个，幼儿园2所/万人", [(4.5, "个", "cumulative", "at_least"), (2, "所/万人", "level", "at_least")]),
        ("筹集80亿元", [(80, "亿元", "cumulative", "at_least")]),
        ("集装箱吞吐量达到50万标箱", [(500000, "标箱", "cumulative", "at_least")]),
        ("接待游客300万人次", [(3000000, "人次", "cumulative", "at_least")]),
        ("研发投入强度提高0.2个百分点", [(0.2, "个百分点", "growth", "at_least")]),
        ("规上工业增加值、固定资产投资分别增长8%、10%", [(8, "%", "growth", "at_least"), (10, "%", "growth", "at_least")]),
        ("森林覆盖率从60%提高到70%", [(70, "%", "level", "at_least")]),
        ("改造107国道", []),
        ("由全市12个区县共同推进", []),
        ("打造第三个中心", []),
        ("近3000户", [(3000, "户", "cumulative", "about")]),
    ],
)  # fmt: skip
def test_text_as_it_comes(text: str, expected: list[tuple]) -> None:
    """Issue 17's list: numbers broken by spaces, full-width digits, Chinese numerals, 多/余,
    compound units, money as an action, 分别 lists, 从…提高到…, numbers that are no targets."""
    assert _tuples(text) == [(float(v), u, k, b) for v, u, k, b in expected]


def test_labels_are_the_noun_counted() -> None:
    labels = [m.label for m in extract_metrics("森林覆盖率从60%提高到70%，新增1万多个停车位")]
    assert labels == ["森林覆盖率", "停车位"]
    assert "分别" not in extract_metrics("投资分别增长8%、10%")[0].label
