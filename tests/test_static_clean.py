"""static_clean on real code: MBPP (package data) and real insecure answers from Code Alpaca / Evol-Instruct."""

import json
import os
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from codecurate.ops.clean import _analyzers
from codecurate.ops.clean._analyzers import AnalyzerUnavailable
from codecurate.ops.clean.static_clean import StaticClean
from codecurate.records import make_record

DATA = Path(__file__).parent / "data"
MBPP = Path(__file__).parents[1] / "src" / "codecurate" / "data" / "benchmarks" / "mbpp.jsonl"


def mbpp_records(n=None):
    out = []
    with open(MBPP) as f:
        for line in f:
            d = json.loads(line)
            out.append(make_record(d["task_id"], d["text"], d["code"], d["code"], source="mbpp",
                                   tests={"kind": "assert", "setup": d["test_setup_code"],
                                          "cases": d["test_list"]}))
            if n and len(out) == n:
                break
    return out


def insecure_records():
    return {d["id"]: make_record(d["id"], d["instruction"], d["code"], d["code"], source=d["taken_from"])
            for d in json.loads((DATA / "insecure_code_samples.json").read_text())}


def run(records, **cfg):
    return StaticClean(cfg).process(records)


def test_bandit_flags_real_insecure_code_with_rule_ids_and_lines():
    recs = insecure_records()
    res = run(list(recs.values()), backends=["bandit"])
    reasons = {d.record["id"]: d.reason for d in res.dropped}
    assert not res.kept
    # eval(input_str) on line 7 of the Code Alpaca answer
    assert "bandit B307 (line 7)" in reasons["alpaca-1401-eval"]
    # SQL built with % formatting
    assert "bandit B608 (line 2)" in reasons["alpaca-895-sql"]
    # md5 and pickle.load in the Evol-Instruct answer
    assert "bandit B324 (line 3)" in reasons["evol2-1348-pickle"]
    assert "bandit B301 (line 14)" in reasons["evol2-1348-pickle"]
    stats = recs["evol2-1348-pickle"]["stats"]["static"]
    assert {f["rule"] for f in stats} >= {"B324", "B301"}
    assert all(set(f) == {"backend", "rule", "line", "severity", "message"} for f in stats)


def test_bandit_flags_subprocess_shell_true():
    # No answer in our real datasets shells out, so this one snippet is written here.
    code = "import subprocess\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n"
    res = run([make_record("shell", code=code)], backends=["bandit"])
    assert res.dropped and "bandit B602 (line 4)" in res.dropped[0].reason


def test_clean_mbpp_code_passes_and_undefined_names_are_caught():
    recs = mbpp_records(300)
    res = run(recs, backends=["bandit", "ruff"])
    assert len(res.kept) >= 290  # MBPP reference solutions are overwhelmingly clean
    for rec in res.kept:
        assert rec["stats"]["static"] == []
    # task 218 uses an undefined name (`math` is never imported): ruff F821
    dropped = {d.record["id"]: d.reason for d in res.dropped}
    assert dropped["218"].startswith("static_clean: ruff F821 (line")
    assert res.counters["rule.ruff.F821"] >= 1


def test_include_exclude_and_severity_policy():
    recs = insecure_records()
    codes = list(recs.values())

    res = run([dict(r, stats={}) for r in codes], backends=["bandit", "ruff"], include_rules=["B307"])
    assert [d.record["id"] for d in res.dropped] == ["alpaca-1401-eval"]

    res = run([dict(r, stats={}) for r in codes], backends=["bandit"], exclude_rules=["B1", "B3", "B6"])
    assert {r["id"] for r in res.kept} == set(recs)
    # excluded findings are still reported in stats, only not counted
    kept = {r["id"]: r for r in res.kept}
    assert [f["rule"] for f in kept["alpaca-1401-eval"]["stats"]["static"]] == ["B307"]

    res = run([dict(r, stats={}) for r in codes], backends=["bandit"], min_severity="high")
    assert [d.record["id"] for d in res.dropped] == ["evol2-1348-pickle"]  # B324 md5 is HIGH
    assert "B301" not in res.dropped[0].reason  # medium: not counted

    # ruff sees the Evol-Instruct snippet's missing imports (hashlib, os, pickle, requests)
    res = run([dict(recs["evol2-1348-pickle"], stats={})], backends=["ruff"])
    assert res.dropped[0].reason.startswith("static_clean: ruff F821 (line 3), ruff F821 (line 7)")
    undefined = {f["message"].split("`")[1] for f in res.dropped[0].record["stats"]["static"]}
    assert undefined == {"hashlib", "os", "pickle", "requests"}


def test_syntax_error_and_empty_code():
    recs = [make_record("bad", code="def f(:\n    return 1\n"), make_record("empty", code="  \n"),
            make_record("ok", code="def f(x):\n    return x + 1\n")]
    res = run(recs)
    reasons = {d.record["id"]: d.reason for d in res.dropped}
    assert reasons["bad"] == "static_clean: syntax E0001 (line 1)"
    assert reasons["empty"] == "static_clean: empty code"
    assert [r["id"] for r in res.kept] == ["ok"]
    res = run([make_record("empty", code="")], on_empty="keep")
    assert len(res.kept) == 1


def test_analyzer_crash_drops_only_the_culprit_by_default(monkeypatch):
    real = _analyzers._bandit

    def flaky(codes, **kw):
        if any("CRASH_ME" in c for c in codes):
            raise RuntimeError("bandit blew up")
        return real(codes, **kw)

    monkeypatch.setattr(_analyzers, "_bandit", flaky)
    recs = mbpp_records(5) + [make_record("crash", code="x = 1  # CRASH_ME\n")]
    res = run([dict(r, stats={}) for r in recs], backends=["bandit"])
    assert [d.record["id"] for d in res.dropped] == ["crash"]
    assert res.dropped[0].reason == "static_clean: analyzer error: bandit: RuntimeError: bandit blew up"
    assert len(res.kept) == 5 and res.counters["analyzer_error.bandit"] == 1

    res = run([dict(r, stats={}) for r in recs], backends=["bandit"], on_analyzer_error="keep")
    assert len(res.kept) == 6
    assert res.kept[-1]["stats"]["static_errors"] == ["bandit: RuntimeError: bandit blew up"]


def test_analyzer_timeout_never_passes_records_silently():
    recs = mbpp_records(3)
    res = run(recs, backends=["ruff"], timeout_s=1e-4)
    assert len(res.dropped) == 3
    assert all("analyzer error: ruff: TimeoutExpired" in d.reason for d in res.dropped)


def test_pylint_backend_reports_error_classes():
    recs = [r for r in mbpp_records(300) if r["id"] in {"2", "218"}]
    res = run(recs, backends=["pylint"])
    dropped = {d.record["id"]: d.reason for d in res.dropped}
    assert "pylint E0602" in dropped["218"]  # undefined-variable
    assert [r["id"] for r in res.kept] == ["2"]


def test_config_errors_name_valid_values():
    with pytest.raises(ValidationError, match="valid: bandit, ruff, pylint, semgrep"):
        StaticClean({"backends": ["flake9"]})
    with pytest.raises(ValidationError):
        StaticClean({"on_analyzer_error": "ignore"})
    op = StaticClean({"backends": ["semgrep"]})
    with pytest.raises(AnalyzerUnavailable, match="semgrep_rules"):
        op.ensure_setup()


RULE = """rules:
  - id: no-eval
    languages: [python]
    severity: WARNING
    message: eval on dynamic input
    pattern: eval(...)
"""


def _semgrep_available():
    return bool(os.environ.get("CODECURATE_SEMGREP_BIN") or shutil.which("semgrep"))


@pytest.mark.skipif(_semgrep_available(), reason="semgrep is installed: the real run below covers it")
def test_semgrep_missing_says_how_to_install(tmp_path):
    rule = tmp_path / "rules.yaml"
    rule.write_text(RULE)
    with pytest.raises(AnalyzerUnavailable, match="pip install semgrep"):
        StaticClean({"backends": ["semgrep"], "semgrep_rules": [str(rule)]}).ensure_setup()


@pytest.mark.skipif(not _semgrep_available(), reason="semgrep CLI not installed (optional backend)")
def test_semgrep_with_local_rules(tmp_path):
    rule = tmp_path / "rules.yaml"
    rule.write_text(RULE)
    recs = insecure_records()
    cfg = {"backends": ["semgrep"], "semgrep_rules": [str(rule)]}
    if os.environ.get("CODECURATE_SEMGREP_BIN"):
        cfg["semgrep_bin"] = os.environ["CODECURATE_SEMGREP_BIN"]
    res = StaticClean(cfg).process(list(recs.values()))
    assert [d.record["id"] for d in res.dropped] == ["alpaca-1401-eval"]
    assert "no-eval (line 7)" in res.dropped[0].reason
