"""``test_quality``: run each candidate solution against the generated unit tests, store pass fractions.

XCoder (arXiv 2409.03810 §3.2): "the number of passed test cases is considered as the quality score". The tests
are ``stats.gen_tests`` (from ``generate_tests``); the candidates are the record's ``code`` and, with
``candidates_field``, every code string in that field (a list, or a JSON string holding one, as APPS's
``meta.solutions``). Each runs in the sandbox (``codecurate.sandbox``; assert cases, per-case verdicts).

Stats: ``gen_pass_ratio`` (passed / total for the record's code), ``gen_tests_passed``, ``gen_tests_total``,
``gen_tests_status``, and with candidates ``gen_candidates`` = [pass ratio per candidate] and
``gen_best_pass_ratio``. The fraction, not a bit: relaxed thresholds train better than 100%-pass filters
(arXiv 2509.20837), so the default ``min_pass_ratio: 0`` keeps every record and only scores it; ``xcoder`` reads
the fraction as its quality signal with ``quality_source: generated_tests``. A record below ``min_pass_ratio``
goes to the ledger (``test_quality: 3/12 generated tests passed (case 1: wrong answer) < 0.5``). Records without
generated tests are kept (``no_tests: keep``, counted) or set aside (``drop``).
"""

from __future__ import annotations

import json
from typing import ClassVar, Literal

from codecurate.ops.synth._common import SandboxOpConfig, SynthMixin, outcome_reason
from codecurate.pipeline.op import Filter
from codecurate.pipeline.registry import register
from codecurate.records import get_field


class TestQualityConfig(SandboxOpConfig):
    tests_field: str = "stats.gen_tests"
    candidates_field: str | None = None  # e.g. meta.solutions: more candidate solutions to score
    max_candidates: int = 20
    min_pass_ratio: float = 0.0
    no_tests: Literal["keep", "drop"] = "keep"


def _candidates(v) -> list[str]:
    if isinstance(v, str):
        try:
            v = json.loads(v)
        except ValueError:
            return [v] if v.strip() else []
    if isinstance(v, list):
        return [c for c in v if isinstance(c, str) and c.strip()]
    return []


@register
class TestQuality(SynthMixin[TestQualityConfig], Filter[TestQualityConfig]):
    """Pass fraction of each candidate solution on the generated unit tests (XCoder's quality score)."""

    __test__ = False  # not a pytest class
    name = "test_quality"
    Config = TestQualityConfig
    needs: ClassVar[tuple[str, ...]] = ("cpu", "sandbox")
    paper = "XCoder (arXiv 2409.03810) §3.2: passed generated test cases as response quality"

    def _tests(self, rec: dict) -> dict | None:
        t = get_field(rec, self.config.tests_field)
        if isinstance(t, dict) and t.get("cases") and t.get("kind"):
            return {k: t[k] for k in ("kind", "setup", "cases", "fn_name") if k in t}
        return None

    def compute(self, records: list[dict]) -> None:
        cfg = self.config
        items, owners = [], []
        for k, r in enumerate(records):
            t = self._tests(r)
            if t is None:
                continue
            codes = [r.get("code") or ""]
            if cfg.candidates_field:
                codes += _candidates(get_field(r, cfg.candidates_field))[:cfg.max_candidates]
            for j, c in enumerate(codes):
                items.append((c, t))
                owners.append((k, j))
        outs = self.run_tests(items)
        per: dict[int, list] = {}
        for (k, j), o in zip(owners, outs):
            per.setdefault(k, []).append(o)
        for k, r in enumerate(records):
            st = r.setdefault("stats", {})
            if k not in per:
                st["gen_pass_ratio"] = None
                self.count("quality_no_tests")
                continue
            own, *cands = per[k]
            st.update(gen_pass_ratio=float(own.pass_ratio), gen_tests_passed=int(own.passed),
                      gen_tests_total=int(own.total), gen_tests_status=str(own.status))
            st["gen_tests_result"] = outcome_reason(own)
            if cands:
                ratios = [float(o.pass_ratio) for o in cands]
                st["gen_candidates"] = ratios
                st["gen_best_pass_ratio"] = max([float(own.pass_ratio)] + ratios)
            self.count(f"quality_{own.status}")

    def decide(self, record: dict) -> str | None:
        st = record.get("stats") or {}
        q = st.get("gen_pass_ratio")
        if q is None:
            return "test_quality: no generated tests (no_tests: drop)" if self.config.no_tests == "drop" else None
        if q + 1e-12 >= self.config.min_pass_ratio:
            return None
        return (f"test_quality: {st['gen_tests_result'].replace('tests', 'generated tests', 1)} < "
                f"{self.config.min_pass_ratio:g}")
