"""A real browser opens the reports: headless Chromium (Debian package ``chromium``; ``.ci/run`` installs it
when missing) loads the HTML of a real run and of a two-dataset analysis from disk, with the network off,
takes a screenshot, and dumps the DOM after layout. Checks: no console message at all (errors, warnings,
exceptions, blocked loads), every panel has its caption and laid out a visible plot with marks (the report's
inline script marks ``data-rendered`` only when the SVG has a non-zero box and at least one mark), nothing in
the page refers to another resource (every src/href is an in-page anchor or data: URI), and the screenshot is
not blank."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        p = shutil.which(name)
        if p:
            return p
    if os.environ.get("CI"):
        pytest.fail("headless Chromium is required in CI (.ci/run installs the Debian package `chromium`)")
    pytest.skip("no chromium on this machine: `apt-get install chromium` (CI installs it in .ci/run)")


def _open(html: Path, tmp: Path) -> tuple[str, str, Path]:
    """(DOM after scripts and layout, browser log, screenshot path) of ``html`` opened from disk."""
    exe = _chromium()
    common = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
              "--enable-logging=stderr", "--v=0", f"--user-data-dir={tmp / 'profile'}",
              "--proxy-server=127.0.0.1:9",  # any network request would fail (and be logged)
              "--window-size=1366,3000", "--virtual-time-budget=5000"]
    shot = tmp / f"{html.stem}.png"
    url = html.resolve().as_uri()
    d = subprocess.run(common + ["--dump-dom", url], capture_output=True, text=True, timeout=120)
    s = subprocess.run(common + [f"--screenshot={shot}", url], capture_output=True, text=True, timeout=120)
    assert d.returncode == 0, d.stderr[-2000:]
    assert s.returncode == 0, s.stderr[-2000:]
    return d.stdout, d.stderr + s.stderr, shot


def _check_log(log: str) -> None:
    console = [ln for ln in log.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console


def _check_self_contained(html: str) -> None:
    """Nothing to fetch: every src/href is an in-page anchor or a data: URI; no CSS import or url()."""
    refs = re.findall(r"""\b(?:src|href)\s*=\s*["']?([^"' >]*)""", html, re.I)
    bad = [r for r in refs if not (r.startswith("#") or r.startswith("data:"))]
    assert not bad, bad
    assert not re.search(r"@import|url\(", html, re.I)


def _check_dom(dom: str, min_panels: int, must_have: list[str]) -> None:
    m = re.search(r'<body data-panels="(\d+)" data-rendered="(\d+)"', dom)
    assert m, "the report's layout check did not run"
    panels, rendered = int(m.group(1)), int(m.group(2))
    assert panels >= min_panels and rendered == panels, (panels, rendered)
    sections = re.findall(r'<section class="panel[^"]*" id="([^"]+)"( data-rendered="1")?>(.*?)</section>', dom, re.S)
    assert len(sections) == panels
    for pid, ok, body in sections:
        assert ok, f"panel {pid} has no visible plot"
        assert re.search(r'<p class="caption">[^<]{20,}</p>', body), f"panel {pid} has no caption"
        svgs = re.findall(r'<svg class="plot".*?</svg>', body, re.S)
        assert svgs and all('class="mark' in s for s in svgs), f"panel {pid}: empty plot"
    ids = [s[0] for s in sections]
    for want in must_have:
        assert want in ids, (want, ids)


def _check_shot(shot: Path) -> None:
    from PIL import Image

    im = Image.open(shot).convert("RGB")
    assert im.size == (1366, 3000)
    import numpy as np

    px = np.asarray(im.resize((273, 600))).reshape(-1, 3).astype(int)
    colors = len({tuple(p) for p in px})
    non_white = float((px.sum(axis=1) < 720).mean())
    assert colors > 40 and non_white > 0.05, (colors, non_white)


def _check(dom: str, log: str, shot: Path, min_panels: int, must_have: list[str]) -> None:
    _check_self_contained(dom)
    _check_log(log)
    _check_dom(dom, min_panels, must_have)
    _check_shot(shot)


def test_run_report_renders_in_chromium(tmp_path):
    _chromium()
    import codecurate as cc
    from codecurate.pipeline.recipe import Recipe

    rec = Recipe.from_dict({"name": "browser", "input": {"path": str(DATA / "code_alpaca_300.json")},
                            "report": "full",
                            "stages": [{"op": "extract_code"}, {"op": "length", "field": "code", "min": 40},
                                       {"op": "exact_dedup", "fields": ["instruction"]},
                                       {"op": "random_select", "fraction": 0.7}]})
    run = cc.run_recipe(rec, output=tmp_path / "run", workers=1)
    assert run.report_path is not None
    dom, log, shot = _open(run.report_path, tmp_path)
    _check(dom, log, shot, 15, ["funnel", "drops", "costs", "selection-map", "ba-len_code", "overview", "domain",
                                "diversity", "task-types", "contamination", "quality", "complexity-cc"])


def test_analysis_comparison_renders_in_chromium(tmp_path):
    _chromium()
    from codecurate.analysis import AnalyzeOptions, analyze, write_analysis

    res = analyze([str(DATA / "gsm8k_train_30.json"), str(DATA / "alpaca_seed_tasks_40.json"),
                   str(DATA / "sanitized_mbpp_60.json")],
                  options=AnalyzeOptions(contamination=False, near_dup=False))
    _, hp = write_analysis(res, tmp_path / "a")
    dom, log, shot = _open(hp, tmp_path)
    _check(dom, log, shot, 10, ["overview", "len-instruction", "languages", "domain", "diversity", "task-types",
                                "alg-practical", "map"])
    # the comparison view: every dataset is a series in the shared plots
    for name in ("gsm8k_train_30", "alpaca_seed_tasks_40", "sanitized_mbpp_60"):
        assert dom.count(name) >= 5


def test_the_checks_catch_a_broken_page(tmp_path):
    """Not vacuous: a console error fails the log check, an external image the self-contained check, an empty
    plot the DOM check, a near-blank page fails the screenshot check; the good page passes the log and DOM checks."""
    _chromium()
    from codecurate.analysis.report_html import page, panel
    from codecurate.analysis.svg import bar_chart

    good = panel("a", "A", "A caption that says what the plot shows.", bar_chart(["x"], {"s": [1]}, title="t"))
    empty = panel("b", "B", "A caption that says what the plot shows.", '<svg class="plot" viewBox="0 0 10 10"></svg>')
    pages = {"good": page("t", [], [good]),
             "console": page("t", [], [good]).replace("</body>", "<script>console.error('boom')</script></body>"),
             "network": page("t", [], [good]).replace("</main>", '<img src="http://example.invalid/x.png"></main>'),
             "empty": page("t", [], [good, empty])}
    seen = {}
    for name, html in pages.items():
        p = tmp_path / f"{name}.html"
        p.write_text(html)
        seen[name] = _open(p, tmp_path)
    dom, log, shot = seen["good"]
    _check_log(log)
    _check_dom(dom, 1, ["a"])
    with pytest.raises(AssertionError):
        _check_shot(shot)  # one small bar on a white page
    _check_self_contained(pages["good"])
    _check_dom(seen["console"][0], 1, ["a"])
    with pytest.raises(AssertionError, match="boom"):
        _check_log(seen["console"][1])
    with pytest.raises(AssertionError, match="example.invalid"):
        _check_self_contained(seen["network"][0])
    _check_log(seen["empty"][1])
    with pytest.raises(AssertionError, match=r"\(2, 1\)"):  # 2 panels, 1 rendered
        _check_dom(seen["empty"][0], 1, ["a"])
