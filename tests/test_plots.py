"""Plots of results: the generic PNG writers (shared.eval.plots) and the report's papers/<paper>/plots.py hook."""
import json

import pytest

from papers.qlora import plots as qlora_plots
from scripts import report as report_cli
from shared.eval.plots import Interval, interval_plot, stacked_bars
from shared.eval.report import collect, render

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    data = path.read_bytes()
    return len(data) > len(PNG_SIGNATURE) and data.startswith(PNG_SIGNATURE)


def test_interval_plot_writes_a_png(tmp_path):
    panels = {"A": [Interval("x", 1020.0, 930.0, 1110.0, reference=1000), Interval("y", 900.0, 850.0, 960.0)],
              "B": [Interval("x", 1.0, 0.5, 1.5)]}
    path = interval_plot(tmp_path / "sub" / "iv.png", panels, xlabel="Elo", title="t", note="n")
    assert path == tmp_path / "sub" / "iv.png" and _is_png(path)
    with pytest.raises(ValueError, match="no panels"):
        interval_plot(tmp_path / "none.png", {})


def test_stacked_bars_writes_a_png(tmp_path):
    stacks = {"weights": [3.9, 7.2, 17.4], "adapters": [0.6, 1.0, 2.0], "optimizer": [1.3, 2.0, 3.9]}
    path = stacked_bars(tmp_path / "m.png", ["7B", "13B", "33B"], stacks, separate=["optimizer"],
                        references=[6.9, None, 24.7], hlines=[(48.0, "limit")], ylabel="GB", title="t", note="n")
    assert _is_png(path)
    assert _is_png(stacked_bars(tmp_path / "plain.png", ["a"], {"only": [1.0]}))
    with pytest.raises(ValueError, match="2 values for 3 groups"):
        stacked_bars(tmp_path / "bad.png", ["a", "b", "c"], {"w": [1.0, 2.0]})


def test_qlora_plots_skip_missing_results(tmp_path, capsys):
    assert qlora_plots.make_plots(tmp_path) == []
    assert "claim3.json is missing" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.png"))


def test_qlora_plots_from_result_files(tmp_path):
    """The committed claim3/claim4 results (when present), copied into a temporary results folder."""
    results = report_cli.PAPERS / "qlora" / "results"
    if not (results / "claim3.json").is_file() or not (results / "claim4.json").is_file():
        pytest.skip("qlora's claim3.json / claim4.json not committed")
    for name in ("claim3.json", "claim4.json"):
        (tmp_path / name).write_text((results / name).read_text())
    out = tmp_path / "out"
    paths = qlora_plots.make_plots(tmp_path, out)
    assert [p.name for p in paths] == ["elo_intervals.png", "memory_breakdown.png"]
    assert all(p.parent == out and _is_png(p) for p in paths)


def _papers(tmp_path):
    """A papers folder with one paper without results (its hook skips its plots) and one with a broken hook."""
    papers = tmp_path / "papers"
    for paper in ("p", "q"):
        (papers / paper).mkdir(parents=True)
        (papers / paper / "reported.json").write_text(json.dumps({"paper": paper, "title": "t", "claims": {
            "1": {"title": "c", "values": [{"quantity": "x", "value": 1, "where": "Table 1"}]}}}))
    (papers / "p" / "plots.py").write_text(
        "from papers.qlora.plots import make_plots\n")  # the real hook, on a results folder that does not exist
    (papers / "q" / "plots.py").write_text("def make_plots(results_dir, out_dir=None):\n"
                                           "    raise RuntimeError('boom')\n")
    return papers


def test_report_hook_never_fails(tmp_path, capsys):
    papers = _papers(tmp_path)
    assert report_cli.make_plots(papers) == {"p": []}
    err = capsys.readouterr().err
    assert "q/plots.py: no plots (RuntimeError: boom)" in err
    text = render(collect(papers), {}, report_cli.links(report_cli.make_plots(papers), tmp_path / "R.md"))
    assert "## Plots" not in text and "| p | 1. c |" in text


def test_report_links_plots_under_the_table(tmp_path):
    papers = tmp_path / "papers"
    png = papers / "p" / "results" / "a_plot.png"
    text = render([], {}, report_cli.links({"p": [png]}, tmp_path / "R.md"))
    assert "p: [a_plot.png](papers/p/results/a_plot.png)" in text
    assert "![p: a_plot.png](papers/p/results/a_plot.png)" in text
