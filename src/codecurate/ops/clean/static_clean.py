"""``static_clean``: drop records whose code has static-analysis findings.

Technique: "Quality In, Quality Out" (Improta et al., arXiv 2503.11402), as run in the study
(``Techniques/Cle``): every sample's code is analysed and a sample with **any** finding, of any severity, is
removed, never fixed; a sample the analyzer cannot parse is removed as a syntax-error sample. See
``shared/reference/seed0_techniques.md`` §2 and §9 choice 2.

Deviations from the study, and why:
- The study ran Semgrep with registry packs (``p/bandit``, ``p/python``, ... plus ~90 ``r/`` rules), which need
  the network and an account. Here the default backends are offline: **Bandit** (the ``p/bandit`` part,
  through Bandit itself) and **Ruff's error classes** (``E9,F63,F7,F82``: syntax errors, invalid
  comparisons, misplaced statements, undefined names). ``pylint`` (error/fatal categories) and ``semgrep``
  with local rule files are optional backends. The Semgrep CLI is not a dependency (its pins clash with
  common packages); when missing, the backend raises an error that says how to install it.
- Code that does not parse is reported as finding ``E0001`` (backend ``syntax``, as Pylint names it) before
  any backend runs, so every backend sees only parsable code.
- Inline suppressions in the data (``# nosec``, ``# noqa``, ``# nosemgrep``) are ignored by default
  (``honor_suppressions: false``): a record must not be able to exempt itself from the check.
- An analyzer that crashes, times out or skips a record never stops the run and never silently passes the
  record: ``on_analyzer_error: drop`` (default) drops it with reason ``analyzer error: ...``; ``keep`` keeps
  it (the error stays in ``stats.static_errors``).
- Pylint and Bandit analyse each record in a worker process with limits (``analysis_memory_mb``,
  ``analysis_cpu_s``, ``analysis_wall_s``; Ruff gets the memory limit): pylint's inference can take gigabytes
  or hours on a few hundred bytes of code. A record over a limit is an analyzer error, ledgered as
  ``static_clean: analyzer error: pylint: limit exceeded: memory`` (or ``time``).

Policy: a finding counts when its normalized severity (info < low < medium < high) is at least
``min_severity`` and its rule id matches ``include_rules`` (when given) and not ``exclude_rules``; rules
match by exact id or prefix (``B3`` matches ``B307``; ``F8`` matches ``F821``). Bandit's confidence is not
used (the study's policy has no confidence either). The record's ``stats.static`` is the list of
all findings (counted or not); the ledger reason lists the counted ones:
``static_clean: bandit B307 (line 3), ruff F821 (line 5)``.
"""

from __future__ import annotations

import ast
import os
import warnings
from typing import ClassVar, Literal

from pydantic import field_validator

from codecurate.ops.clean._analyzers import SEVERITY_RANK, AnalyzerUnavailable, Finding, run_backend, semgrep_bin
from codecurate.pipeline.op import Filter, OpConfig
from codecurate.pipeline.registry import register
from codecurate.records import field_text

BACKENDS = ("bandit", "ruff", "pylint", "semgrep")


class StaticCleanConfig(OpConfig):
    field: str = "code"
    backends: list[str] = ["bandit", "ruff"]
    min_severity: Literal["info", "low", "medium", "high"] = "info"  # study: any severity
    include_rules: list[str] = []  # empty = every rule counts
    exclude_rules: list[str] = []
    on_analyzer_error: Literal["drop", "keep"] = "drop"
    on_empty: Literal["drop", "keep"] = "drop"
    honor_suppressions: bool = False
    timeout_s: float = 120.0  # ruff/semgrep: per backend process, per batch
    # pylint and bandit analyse each program in a limited worker (ruff: the memory limit, per batch); a program
    # over a limit gets the analyzer error "limit exceeded: memory|time" (see on_analyzer_error)
    analysis_memory_mb: int = 1024  # address space (RLIMIT_AS)
    analysis_cpu_s: float = 30.0  # CPU seconds per program
    analysis_wall_s: float = 60.0  # wall-clock seconds per program
    ruff_select: list[str] | None = None  # None = RUFF_ERROR_SELECT
    pylint_enable: list[str] | None = None  # None = E,F
    pylint_disable: list[str] | None = None  # None = E0401,E0611 (environment-dependent import errors)
    semgrep_rules: list[str] = []
    semgrep_bin: str | None = None

    @field_validator("backends")
    @classmethod
    def _known_backends(cls, v: list[str]) -> list[str]:
        bad = [b for b in v if b not in BACKENDS]
        if bad:
            raise ValueError(f"unknown backend(s) {bad}; valid: {', '.join(BACKENDS)}")
        if not v:
            raise ValueError(f"backends must name at least one of: {', '.join(BACKENDS)}")
        return v


def _matches(rule: str, patterns: list[str]) -> bool:
    return any(rule == p or rule.startswith(p) for p in patterns)


def syntax_finding(code: str) -> Finding | None:
    try:
        with warnings.catch_warnings():  # invalid escape sequences etc. are the data's business, not ours
            warnings.simplefilter("ignore", SyntaxWarning)
            ast.parse(code)
    except SyntaxError as e:
        return Finding("syntax", "E0001", int(e.lineno or 0), "high", f"syntax error: {e.msg}")
    except (ValueError, MemoryError, RecursionError) as e:  # null bytes, too deeply nested code
        return Finding("syntax", "E0001", 0, "high", f"unparsable: {type(e).__name__}: {e}")
    return None


@register
class StaticClean(Filter[StaticCleanConfig]):
    """Drop records whose code has static-analysis findings (Bandit, Ruff/Pylint errors, Semgrep)."""

    name = "static_clean"
    Config = StaticCleanConfig
    paper: ClassVar[str] = ("Improta et al., Quality In, Quality Out: Investigating Training Data's Role in AI "
                            "Code Generation, arXiv 2503.11402 (Semgrep cleaning; offline Bandit+Ruff here)")
    needs = ("cpu",)

    def setup(self) -> None:
        # A missing analyzer is a configuration error: say so before the first batch, not per record.
        if "semgrep" in self.config.backends:
            if not self.config.semgrep_rules:
                raise AnalyzerUnavailable("static_clean backend 'semgrep' needs `semgrep_rules`: local rule "
                                          "files or folders (registry packs such as p/python need the network)")
            missing = [r for r in self.config.semgrep_rules if not os.path.exists(os.path.expanduser(r))]
            if missing:
                raise AnalyzerUnavailable(f"static_clean: semgrep_rules not found: {missing}")
            semgrep_bin(os.path.expanduser(self.config.semgrep_bin) if self.config.semgrep_bin else None)

    def counts(self, f: Finding) -> bool:
        c = self.config
        if SEVERITY_RANK.get(f.severity, 0) < SEVERITY_RANK[c.min_severity]:
            return False
        if c.include_rules and not _matches(f.rule, c.include_rules):
            return False
        return not _matches(f.rule, c.exclude_rules)

    def compute(self, records: list[dict]) -> None:
        c = self.config
        codes = [field_text(r, c.field) for r in records]
        findings: list[list[Finding]] = [[] for _ in records]
        errors: list[list[str]] = [[] for _ in records]
        to_analyse: list[int] = []
        for i, code in enumerate(codes):
            if not code.strip():
                continue
            bad = syntax_finding(code)
            if bad is not None:
                findings[i].append(bad)
                self.count("syntax_error")
            else:
                to_analyse.append(i)
        opts = dict(timeout_s=c.timeout_s, honor_suppressions=c.honor_suppressions, ruff_select=c.ruff_select,
                    pylint_enable=c.pylint_enable, pylint_disable=c.pylint_disable,
                    semgrep_rules=c.semgrep_rules, semgrep_bin_path=c.semgrep_bin,
                    analysis_memory_mb=c.analysis_memory_mb, analysis_cpu_s=c.analysis_cpu_s,
                    analysis_wall_s=c.analysis_wall_s)
        sub = [codes[i] for i in to_analyse]
        for backend in c.backends:
            results = run_backend(backend, sub, **opts)
            for i, (fs, err) in zip(to_analyse, results):
                findings[i].extend(fs)
                if err:
                    errors[i].append(f"{backend}: {err}")
                    self.count(f"analyzer_error.{backend}")
        for rec, fs, errs in zip(records, findings, errors):
            fs.sort(key=lambda f: (f.line, f.backend, f.rule))
            rec.setdefault("stats", {})["static"] = [f.as_dict() for f in fs]
            if errs:
                rec["stats"]["static_errors"] = errs
            else:
                rec["stats"].pop("static_errors", None)

    def decide(self, record: dict) -> str | None:
        c = self.config
        if not field_text(record, c.field).strip():
            if c.on_empty == "drop":
                self.count("empty")
                return f"static_clean: empty {c.field}"
            return None
        errs = record["stats"].get("static_errors") or []
        if errs and c.on_analyzer_error == "drop":
            self.count("dropped.analyzer_error")
            return "static_clean: analyzer error: " + "; ".join(errs)
        counted = [f for f in record["stats"].get("static", []) if self.counts(Finding(**f))]
        if not counted:
            return None
        for f in counted:
            self.count(f"rule.{f['backend']}.{f['rule']}")
        self.count("dropped.findings")
        return "static_clean: " + ", ".join(f"{f['backend']} {f['rule']} (line {f['line']})" for f in counted)
