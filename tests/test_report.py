"""``botmm report``: self-contained HTML for a run and for a sweep (with the fill-model filter on and off side by
side), Markdown to styled HTML, and a headless-Chromium screenshot of a report where Chromium is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from jobs import backtest_strategy, cli, compose_job

from botmm.ml.predictor import FEATURES, FillPredictor
from botmm.ml.training import generate_training_data, read_training_data
from botmm.report.html import report, sweep_rows
from botmm.report.markdown import render_markdown

IMG = re.compile(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')
CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)


def self_contained(page: str) -> None:
    assert "<script" not in page and "<link" not in page
    assert not re.search(r'(src|href)="(https?:|file:|/)', page)


@pytest.fixture(scope="module")
def run_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    backtest_strategy(folder, "feed.bars=1500", "backtest.split=0.6", "quoter.num_levels=2")
    return report(folder)


def test_run_report_has_every_plot_and_the_figures(run_report: Path) -> None:
    page = run_report.read_text()
    self_contained(page)
    captions = [alt for alt, _ in IMG.findall(page)]
    assert len(captions) == 5 and all(len(data) > 2000 for _, data in IMG.findall(page))
    for heading in ("Equity and drawdown", "Inventory", "Fills on price", "Spread", "PnL by hour"):
        assert f"<h2>{heading}</h2>" in page
    assert "<th>in-sample</th>" in page and "<th>out-of-sample</th>" in page
    fills = pq.read_table(run_report.parent / "fills.parquet").num_rows
    assert f"mid and our fills ({fills:,} fills)" in page
    assert re.search(rf'<td>fills</td><td class="n">{fills}</td>', page)


def test_sweep_with_and_without_the_fill_model_filter(tmp_path: Path) -> None:
    cfg = compose_job("fill_model=candle", "feed=synthetic", "feed.bars=1500", "quoter.num_levels=3",
                      "quoter.spread_bps=3", name="train")
    data = generate_training_data(cfg, tmp_path / "train" / "training.parquet", "3m", "3m")
    columns, info = read_training_data(data.path)
    model = FillPredictor(info=info).train(columns, columns).save(tmp_path / "m.bmm")
    proc = cli(tmp_path, "-m", "backtest", "feed.bars=1500", "seed=11", "quoter.num_levels=3",
               "quoter.fill_model_filter=false,true", "quoter.spread_bps=3,6", "quoter.max_adverse_risk=0.5",
               f"quoter.model_path={model}", "quoter.model_horizon=3m", "quoter.force_model=true",
               "hydra.sweep.dir=sweep")
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = cli(tmp_path, "report", "sweep")
    assert out.returncode == 0 and out.stdout.strip() == f"wrote {Path('sweep') / 'report.html'}"
    page = (tmp_path / "sweep" / "report.html").read_text()
    self_contained(page)
    assert "<h2>Score heatmap</h2>" in page and "<h2>Equity of each job</h2>" in page
    assert "score over quoter.fill_model_filter and quoter.spread_bps" in page or \
           "score over quoter.spread_bps and quoter.fill_model_filter" in page
    rows = sweep_rows(tmp_path / "sweep")
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    assert [r["score"] for r in rows] == sorted((r["score"] for r in rows), reverse=True)
    for r in rows:
        assert f"<td>{r['overrides']}</td>" in page
    fills = {(r["params"]["quoter.fill_model_filter"].lower(), r["params"]["quoter.spread_bps"]): r["fills"]
             for r in rows}
    for spread in ("3", "6"):  # the filter skips the levels it rates adverse: fewer fills than the same run without
        assert fills[("true", spread)] < fills[("false", spread)]


def test_report_refuses_other_folders_in_one_line(tmp_path: Path) -> None:
    proc = cli(tmp_path, "report", str(tmp_path))
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1
    assert "neither a run (result.json, equity.parquet) nor a multirun" in lines[0]


def test_markdown_to_styled_html(tmp_path: Path) -> None:
    source = tmp_path / "notes.md"
    source.write_text("# Nightly notes\n\nSome *text* and `code`.\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
                      "<script>alert(1)</script>\n\n```\nbotmm reoptimize\n```\n")
    proc = cli(tmp_path, "report", str(source))
    assert proc.returncode == 0, proc.stderr
    page = (tmp_path / "notes.html").read_text()
    assert "<title>Nightly notes</title>" in page and "<h1>Nightly notes</h1>" in page
    assert "<td>1</td>" in page and "<em>text</em>" in page and "<code>code</code>" in page
    assert "<script>" not in page and "&lt;script&gt;" in page  # raw HTML is escaped
    assert "<style>" in page
    assert render_markdown("no heading", title="fallback").count("<title>fallback</title>") == 1


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (.ci/run installs the Debian package)")
def test_report_renders_in_headless_chromium(run_report: Path, tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    shot = tmp_path / "shot.png"
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--window-size=1200,1800", f"--screenshot={shot}", run_report.resolve().as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.is_file(), proc.stderr[-2000:]
    pixels = mpimg.imread(shot)
    assert pixels.shape[:2] == (1800, 1200)
    # a rendered page: not blank, the heading's dark text and the plots' colours are there
    assert pixels[..., :3].std() > 0.05
    assert (pixels[..., :3].max(axis=-1) < 0.3).mean() > 0.001
