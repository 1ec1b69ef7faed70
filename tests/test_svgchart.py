"""render/svgchart: inline SVG charts without plotly — valid XML, every user string escaped,
bounded size whatever the input, gaps and NaN/Inf drawn as such."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

from jaxinspect.render import svgchart
from jaxinspect.render.doc import Markup

NS = "{http://www.w3.org/2000/svg}"
HOSTILE = "<img src=x onerror=alert(1)>&\"'\x00\x07"


def parse(svg: str) -> ET.Element:
    assert isinstance(svg, Markup) and svg.startswith("<svg")
    return ET.fromstring(svg)  # raises on invalid XML


def series_of(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-name"): g for g in root.iter(f"{NS}g") if g.get("class") == "ji-series"}


def subpaths(g: ET.Element) -> list[list[tuple[float, float]]]:
    """The drawn line of a series as its M-started runs of points."""
    line = [p for p in g.findall(f"{NS}path") if p.get("data-value") is None]
    if not line:
        return []
    runs: list[list[tuple[float, float]]] = []
    d = line[0].get("d").replace("h0", "")
    for cmd, x, y in re.findall(r"([ML])(-?[\d.]+) (-?[\d.]+)", d):
        if cmd == "M":
            runs.append([])
        runs[-1].append((float(x), float(y)))
    return runs


def test_a_line_chart_is_valid_svg_with_one_group_per_series_and_axis_labels():
    svg = svgchart.line_chart(
        {
            "loss": [(i, 1.0 / (i + 1)) for i in range(50)],
            "acc": [(i, 0.5 + i / 100) for i in range(50)],
        },
        title="training",
        x_label="step",
    )
    root = parse(svg)
    assert root.tag == f"{NS}svg" and root.get("role") == "img" and root.get("data-series") == "2"
    groups = series_of(root)
    assert set(groups) == {"loss", "acc"} and groups["loss"].get("data-points") == "50"
    assert len(subpaths(groups["loss"])) == 1 and len(subpaths(groups["loss"])[0]) == 50
    texts = ["".join(t.itertext()) for t in root.iter(f"{NS}text")]
    assert "training" in texts and "step" in texts and "0" in texts and "49" in texts  # x range
    assert "1" in texts and "0.02000" in texts  # y range from the data (units.human_value)
    assert "loss: 50 points, last 0.02000 at step 49" in svg
    # themeable: no hard-coded text colour, series colours through CSS variables with fallbacks
    assert 'fill="currentColor"' in svg and "var(--jp-brand-color1, #1976d2)" in svg
    assert "#000" not in svg and "black" not in svg and "plotly" not in svg


def test_every_user_string_is_escaped_and_xml_invalid_characters_are_dropped():
    svg = svgchart.line_chart({HOSTILE: [(0, 1.0), (1, float("nan"))], "b": [(0, 2.0)]}, title=HOSTILE,
                              x_label=HOSTILE)  # fmt: skip
    root = parse(svg)
    assert "<img" not in svg and "onerror=alert(1)>" not in svg and "\x00" not in svg
    assert any(
        g.get("data-name") == "<img src=x onerror=alert(1)>&\"'" for g in series_of(root).values()
    )
    assert not list(root.iter("{http://www.w3.org/2000/svg}img")) and not list(root.iter("img"))
    timeline = svgchart.bars([(HOSTILE, 0.0, 1.0, HOSTILE)], title=HOSTILE)
    troot = parse(timeline)
    assert "<img" not in timeline and troot.find(f"{NS}title").text.startswith("<img src=x")


def test_gaps_break_the_line_and_nan_inf_are_marked_at_their_step():
    pts = [(0, 1.0), (1, 2.0), (2, None), (3, 3.0), (4, 4.0), (5, "NaN"), (6, 5.0), (7, float("inf")),
           (8, 6.0), (9, float("-inf")), (10, 7.0)]  # fmt: skip
    root = parse(svgchart.line_chart({"loss": pts}))
    g = series_of(root)["loss"]
    runs = subpaths(g)
    assert [len(r) for r in runs] == [2, 2, 1, 1, 1]  # broken at the gap, the NaN, the Infs
    marks = [p for p in g.findall(f"{NS}path") if p.get("data-value")]
    assert [m.get("data-value") for m in marks] == ["NaN", "Inf", "-Inf"]
    assert [m.find(f"{NS}title").text for m in marks] == [
        "loss: NaN at step 5", "loss: Inf at step 7", "loss: -Inf at step 9",
    ]  # fmt: skip
    # the y range comes from the finite values only: the marks sit on the frame's edges
    ys = [y for r in runs for _x, y in r]
    assert max(ys) - min(ys) > 50


def test_long_series_are_downsampled_keeping_extremes_and_markers():
    n = 100_000
    pts = [(i, math.sin(i / 500)) for i in range(n)]
    pts[41_234] = (41_234, 50.0)  # a spike
    pts[77_000] = (77_000, float("nan"))  # the step it diverged
    pts[90_000] = (90_000, None)  # a gap
    svg = svgchart.line_chart({"loss": pts, "lr": [(i, 0.1) for i in range(n)]})
    root = parse(svg)
    g = series_of(root)["loss"]
    assert int(g.get("data-points")) <= svgchart.MAX_POINTS
    assert "loss: 100000 points" in svg
    nan = [p for p in g.findall(f"{NS}path") if p.get("data-value") == "NaN"]
    assert len(nan) == 1 and nan[0].find(f"{NS}title").text == "loss: NaN at step 77,000"
    assert len(subpaths(g)) >= 3  # broken at the NaN and at the gap
    texts = ["".join(t.itertext()) for t in root.iter(f"{NS}text")]
    assert "50" in texts  # the spike survived as the y maximum
    assert len(svg) < 30_000, len(svg)
    kept = svgchart.downsample([(float(i), float(i % 7)) for i in range(10_000)])
    assert len(kept) <= svgchart.MAX_POINTS and [p[0] for p in kept] == sorted(p[0] for p in kept)
    assert svgchart.downsample([(0.0, 1.0), (1.0, None)]) == [(0.0, 1.0), (1.0, None)]


def test_many_series_and_odd_input_stay_bounded_and_never_raise():
    many = {f"metric_{i}": [(s, float(s * i)) for s in range(2000)] for i in range(40)}
    svg = svgchart.line_chart(many)
    root = parse(svg)
    assert len(series_of(root)) == svgchart.MAX_SERIES and "+32 more" in svg
    assert len(svg) < 8 * 20_000
    empty = parse(svgchart.line_chart({}))
    assert "no data yet" in "".join(empty.itertext())
    odd = svgchart.line_chart(
        {"x": [(None, 1.0), ("a", 2.0), (3,), (4, object()), (5, True), (6, 2.0)]}
    )
    parse(odd)
    flat = parse(svgchart.line_chart({"c": [(0, 3.0), (1, 3.0)]}))  # zero y range
    assert len(subpaths(series_of(flat)["c"])[0]) == 2
    logged = parse(svgchart.line_chart({"l": [(0, 100.0), (1, 0.0), (2, 1.0)]}, log_y=True))
    assert [len(r) for r in subpaths(series_of(logged)["l"])] == [1, 1]  # 0 is a gap on a log axis
    assert "log" in "".join(logged.itertext())


def test_bars_draw_one_lane_per_label_merge_crowded_bars_and_stay_bounded():
    rows = [
        ("train_step", 0.0, 0.5, "trace"),
        ("train_step", 0.5, 1.0, "compile"),
        ("eval", 2.0, 0.25),
    ]
    root = parse(svgchart.bars(rows, title="compiles"))
    rects = [r for r in root.iter(f"{NS}rect") if r.find(f"{NS}title") is not None]
    assert [r.find(f"{NS}title").text for r in rects] == [
        "train_step trace: 500.0 ms", "train_step compile: 1.00 s", "eval: 250.0 ms",
    ]  # fmt: skip
    widths = [float(r.get("width")) for r in rects]
    assert abs(widths[1] - 2 * widths[0]) <= 0.2
    assert root.get("data-lanes") == "2" and "2.25 s" in "".join(root.itertext())
    # 50 000 tiny compiles in 100 functions: bounded lanes, merged bars, small output
    crowd = [(f"fn_{i % 100}", i * 0.001, 0.0005) for i in range(50_000)] + [("bad", math.nan, 1.0)]
    svg = svgchart.bars(crowd, width=400)
    croot = parse(svg)
    assert (
        croot.get("data-lanes") == "100"
        and "+76 more" in svg
        and "1 rows without a time left out" in svg
    )
    lanes = len(list(croot.iter(f"{NS}rect")))
    assert lanes <= svgchart.MAX_LANES * (svgchart.LANE_MERGE + 2), lanes
    assert "bars, " in svg and len(svg) < 200_000, len(svg)
    assert "nothing recorded yet" in "".join(parse(svgchart.bars([])).itertext())


def test_a_run_of_nan_is_one_mark_with_a_bar_to_its_end_and_bytes_get_a_readable_unit():
    pts = [(i, 1.0 / (i + 1)) for i in range(30)] + [(i, math.nan) for i in range(30, 50)]
    root = parse(svgchart.line_chart({"loss": pts}))
    (mark,) = [p for p in series_of(root)["loss"].findall(f"{NS}path") if p.get("data-value")]
    assert mark.get("data-count") == "20" and "H" in mark.get("d")
    assert mark.find(f"{NS}title").text == "loss: NaN from step 30 to 49 (20 points)"
    assert svgchart.byte_scale([512, 1024]) == (1024.0, "KiB")
    assert svgchart.byte_scale([1.5 * 2**30, None, math.nan]) == (2.0**30, "GiB")
    assert svgchart.byte_scale([]) == (1.0, "B")
