"""Static-analysis backends for ``static_clean``; none starts a fresh process per record.

Every backend takes a list of code strings and returns, per code, ``(findings, error)``: the findings as
``Finding`` objects and an analyzer error message (``None`` when the analyzer ran fine on that code). A
backend that crashes or times out on a whole batch is retried one record at a time, so one bad record
cannot hide the findings of the others, and the record that really makes it fail gets the error.

Backends:
- ``bandit``: Bandit's Python API (``BanditManager``), one program at a time in a limited worker process
  (``codecurate.evaluation._pylint_worker``: address space, CPU time and wall-clock limits per program).
- ``ruff``: one ``ruff check --output-format json`` process per batch over a temp dir, under the same address
  space limit, killed with its parent (``PR_SET_PDEATHSIG``) and after ``timeout_s``.
- ``pylint``: each program linted on its own in a limited worker process (pylint's inference can take
  gigabytes or hours on a few hundred bytes of code), with the error/fatal categories.
- ``semgrep``: one ``semgrep scan --json`` process per batch with local rule files (optional dependency).

A program whose analysis exceeds the limits gets the error ``limit exceeded: memory`` or ``limit exceeded:
time`` (an analyzer error: the op drops or keeps it by ``on_analyzer_error``); the other programs of the
batch are analysed as usual.

Severities are normalized to ``info < low < medium < high`` so one policy covers every backend.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

SEVERITIES = ("info", "low", "medium", "high")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}

# Ruff rules that are errors, not style: the classic flake8 "stop the build" selection (syntax errors,
# invalid comparisons/prints, statement-level errors such as `return` outside a function, undefined names).
RUFF_ERROR_SELECT = ["E9", "F63", "F7", "F82"]
# Pylint's error and fatal categories, minus the two messages that judge the analysis environment (is the
# imported module installed here?) rather than the code.
PYLINT_ENABLE = ["E", "F"]
PYLINT_DISABLE = ["E0401", "E0611"]


@dataclass
class Finding:
    backend: str
    rule: str
    line: int
    severity: str  # one of SEVERITIES
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


class AnalyzerUnavailable(RuntimeError):
    """A configured backend is not installed; the message says how to install it."""


Result = tuple[list[Finding], "str | None"]


def _write_batch(codes: list[str], tmp: str) -> list[str]:
    paths = []
    for i, code in enumerate(codes):
        p = os.path.join(tmp, f"r{i}.py")
        with open(p, "w", encoding="utf-8") as f:
            f.write(code)
        paths.append(p)
    return paths


def _index_of(path: str) -> int | None:
    name = Path(path).name
    if name.startswith("r") and name.endswith(".py") and name[1:-3].isdigit():
        return int(name[1:-3])
    return None


def _per_record_fallback(run_batch, codes: list[str], exc: BaseException) -> list[Result]:
    """The batch failed as a whole: run each record alone so only the culprit gets the error."""
    if len(codes) == 1:
        return [([], f"{type(exc).__name__}: {exc}")]
    out: list[Result] = []
    for code in codes:
        try:
            out.extend(run_batch([code]))
        except Exception as e:  # noqa: BLE001 - becomes the record's analyzer error
            out.append(([], f"{type(e).__name__}: {e}"))
    return out


def run_backend(name: str, codes: list[str], **opts) -> list[Result]:
    """Run backend ``name`` on ``codes``; never raises for a per-record problem (AnalyzerUnavailable does)."""
    runners = {"bandit": _bandit, "ruff": _ruff, "pylint": _pylint, "semgrep": _semgrep}
    if name not in runners:
        raise ValueError(f"unknown static_clean backend {name!r}; valid: {', '.join(runners)}")
    fn = runners[name]

    def batch(cs):
        return fn(cs, **opts)

    if not codes:
        return []
    try:
        return batch(codes)
    except AnalyzerUnavailable:
        raise
    except Exception as e:  # noqa: BLE001
        return _per_record_fallback(batch, codes, e)


# -- limits ------------------------------------------------------------------------------------------------
def _limits(analysis_memory_mb: int | None = None, analysis_cpu_s: float | None = None,
            analysis_wall_s: float | None = None):
    from codecurate.evaluation._pylint_worker import Limits

    base = Limits()
    return Limits(memory_mb=int(analysis_memory_mb or base.memory_mb), cpu_s=float(analysis_cpu_s or base.cpu_s),
                  wall_s=float(analysis_wall_s or base.wall_s))


def _analyse(kind: str, codes: list[str], options: dict, **opts) -> list[dict]:
    from codecurate.evaluation._pylint_worker import analyse

    limits = _limits(opts.get("analysis_memory_mb"), opts.get("analysis_cpu_s"), opts.get("analysis_wall_s"))
    return analyse(kind, codes, options=options, limits=limits)


# -- bandit ------------------------------------------------------------------------------------------------
def _bandit(codes: list[str], *, honor_suppressions: bool = False, **opts) -> list[Result]:
    import importlib.util

    if importlib.util.find_spec("bandit") is None:
        raise AnalyzerUnavailable("static_clean backend 'bandit' needs bandit: pip install bandit")
    out: list[Result] = []
    for res in _analyse("bandit", codes, {"ignore_nosec": not honor_suppressions}, **opts):
        if "error" in res:
            out.append(([], res["error"]))
            continue
        value = res["value"]
        findings = [Finding("bandit", test_id, line, severity, text)
                    for test_id, line, severity, text in value["issues"]]
        skipped = value.get("skipped") or []
        out.append((findings, f"bandit skipped the code: {skipped[0]}" if skipped else None))
    return out


# -- ruff --------------------------------------------------------------------------------------------------
def _ruff_bin() -> str:
    cand = Path(sys.executable).with_name("ruff")
    if cand.exists():
        return str(cand)
    found = shutil.which("ruff")
    if not found:
        raise AnalyzerUnavailable("static_clean backend 'ruff' needs the ruff CLI: pip install ruff")
    return found


def _ruff_severity(code: str) -> str:
    if any(code.startswith(p) for p in RUFF_ERROR_SELECT):
        return "high"
    return "medium" if code.startswith(("F", "E")) else "low"


def _ruff(codes: list[str], *, ruff_select: list[str] | None = None, timeout_s: float = 120,
          honor_suppressions: bool = False, **opts) -> list[Result]:
    select = ruff_select or RUFF_ERROR_SELECT
    out: list[Result] = [([], None) for _ in codes]
    with tempfile.TemporaryDirectory(prefix="cc-ruff-") as tmp:
        _write_batch(codes, tmp)
        cmd = [_ruff_bin(), "check", "--isolated", "--no-cache", "--exit-zero", "--output-format", "json",
               "--select", ",".join(select)]
        if not honor_suppressions:
            cmd.append("--ignore-noqa")
        cmd.append(tmp)
        from codecurate.evaluation._pylint_worker import LIMIT_MEMORY, limited_command

        limits = _limits(opts.get("analysis_memory_mb"))
        proc = subprocess.run(limited_command(cmd, limits.memory_mb), capture_output=True, text=True,
                              timeout=timeout_s, cwd=tmp, check=False)
        if proc.returncode != 0:
            if "memory allocation" in proc.stderr or "MemoryError" in proc.stderr:
                raise RuntimeError(f"{LIMIT_MEMORY} (ruff exited {proc.returncode}: {proc.stderr.strip()[:200]})")
            raise RuntimeError(f"ruff exited {proc.returncode}: {proc.stderr.strip()[:300]}")
        for item in json.loads(proc.stdout or "[]"):
            i = _index_of(item.get("filename", ""))
            if i is None:
                continue
            code = item.get("code") or "syntax"
            line = int((item.get("location") or {}).get("row") or 0)
            out[i][0].append(Finding("ruff", code, line, _ruff_severity(code), item.get("message", "")))
    return out


# -- pylint ------------------------------------------------------------------------------------------------
_PYLINT_SEVERITY = {"fatal": "high", "error": "high", "warning": "medium", "refactor": "low",
                    "convention": "low", "info": "info"}


def pylint_args(pylint_enable: list[str] | None = None, pylint_disable: list[str] | None = None) -> list[str]:
    enable = pylint_enable or PYLINT_ENABLE
    disable = PYLINT_DISABLE if pylint_disable is None else pylint_disable
    args = ["--rcfile=" + os.devnull, "--persistent=n", "--score=n", "--disable=all", f"--enable={','.join(enable)}"]
    if disable:
        args.append(f"--disable={','.join(disable)}")
    return args


def _pylint(codes: list[str], *, pylint_enable: list[str] | None = None,
            pylint_disable: list[str] | None = None, **opts) -> list[Result]:
    out: list[Result] = []
    for res in _analyse("pylint", codes, {"args": pylint_args(pylint_enable, pylint_disable)}, **opts):
        if "error" in res:
            out.append(([], res["error"]))
            continue
        findings, error = [], None
        for msg_id, _symbol, category, line, text in res["value"]["messages"]:
            if msg_id == "F0002":  # astroid crashed on this file: an analyzer error, not a code finding
                error = f"pylint crashed: {text[:200]}"
                continue
            findings.append(Finding("pylint", msg_id, int(line or 0), _PYLINT_SEVERITY.get(category, "medium"), text))
        out.append((findings, error))
    return out


# -- semgrep -----------------------------------------------------------------------------------------------
_SEMGREP_SEVERITY = {"ERROR": "high", "WARNING": "medium", "INFO": "low", "INVENTORY": "info",
                     "EXPERIMENT": "info", "CRITICAL": "high", "HIGH": "high", "MEDIUM": "medium", "LOW": "low"}


def semgrep_bin(configured: str | None = None) -> str:
    if configured:
        if not Path(configured).exists():
            raise AnalyzerUnavailable(f"semgrep_bin {configured!r} does not exist")
        return configured
    cand = Path(sys.executable).with_name("semgrep")
    if cand.exists():
        return str(cand)
    found = shutil.which("semgrep")
    if not found:
        raise AnalyzerUnavailable(
            "static_clean backend 'semgrep' needs the semgrep CLI, which is not installed. Install it with "
            "`pip install semgrep` (its pins can clash with other packages: a separate venv works, e.g. "
            "`python -m venv ~/.semgrep && ~/.semgrep/bin/pip install semgrep`, then set "
            "`semgrep_bin: ~/.semgrep/bin/semgrep` on the stage) and give local rule files in `semgrep_rules` "
            "(registry packs such as p/python need the network)")
    return found


def _semgrep(codes: list[str], *, semgrep_rules: list[str] | None = None, semgrep_bin_path: str | None = None,
             timeout_s: float = 120, honor_suppressions: bool = False, **_) -> list[Result]:
    if not semgrep_rules:
        raise AnalyzerUnavailable("static_clean backend 'semgrep' needs `semgrep_rules`: local rule files or "
                                  "folders (registry packs need the network)")
    exe = semgrep_bin(os.path.expanduser(semgrep_bin_path) if semgrep_bin_path else None)
    out: list[Result] = [([], None) for _ in codes]
    with tempfile.TemporaryDirectory(prefix="cc-semgrep-") as tmp:
        _write_batch(codes, tmp)
        cmd = [exe, "scan", "--json", "--metrics=off", "--disable-version-check", "--quiet",
               "--timeout", "10", "--timeout-threshold", "2"]
        if not honor_suppressions:
            cmd.append("--disable-nosem")
        for r in semgrep_rules:
            cmd += ["--config", os.path.abspath(os.path.expanduser(r))]
        cmd.append(tmp)
        env = dict(os.environ, SEMGREP_SEND_METRICS="off", SEMGREP_ENABLE_VERSION_CHECK="0")
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=tmp, env=env)
        try:
            data = json.loads(proc.stdout)
        except json.JSONDecodeError as e:
            raise RuntimeError(f"semgrep exited {proc.returncode} without JSON: {proc.stderr.strip()[:300]}") from e
        for r in data.get("results", []):
            i = _index_of(r.get("path", ""))
            if i is None:
                continue
            extra = r.get("extra") or {}
            sev = _SEMGREP_SEVERITY.get(str(extra.get("severity", "")).upper(), "medium")
            out[i][0].append(Finding("semgrep", r.get("check_id", ""), int((r.get("start") or {}).get("line") or 0),
                                     sev, extra.get("message", "")))
        # As in the study (process_results.py): an entry in `errors` makes the sample unanalysable.
        for err in data.get("errors", []):
            i = _index_of(err.get("path", "") or "")
            if i is not None:
                out[i] = (out[i][0], f"semgrep error: {err.get('type', '')} {str(err.get('message', ''))[:200]}")
    return out
