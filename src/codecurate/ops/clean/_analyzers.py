"""Static-analysis backends for ``static_clean``, each run once per batch (never one process per record).

Every backend takes a list of code strings and returns, per code, ``(findings, error)``: the findings as
``Finding`` objects and an analyzer error message (``None`` when the analyzer ran fine on that code). A
backend that crashes or times out on a whole batch is retried one record at a time, so one bad record
cannot hide the findings of the others, and the record that really makes it fail gets the error.

Backends:
- ``bandit``: Bandit's Python API (``BanditManager``) over a temp dir of files, in process.
- ``ruff``: one ``ruff check --output-format json`` process per batch over a temp dir.
- ``pylint``: one ``pylint --output-format json`` process per batch over a temp dir.
- ``semgrep``: one ``semgrep scan --json`` process per batch with local rule files (optional dependency).

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


# -- bandit ------------------------------------------------------------------------------------------------
def _bandit(codes: list[str], *, honor_suppressions: bool = False, **_) -> list[Result]:
    import logging

    from bandit.core import config as b_config
    from bandit.core import manager as b_manager

    logging.getLogger("bandit").setLevel(logging.ERROR)
    out: list[Result] = [([], None) for _ in codes]
    with tempfile.TemporaryDirectory(prefix="cc-bandit-") as tmp:
        paths = _write_batch(codes, tmp)
        mgr = b_manager.BanditManager(b_config.BanditConfig(), "file", quiet=True,
                                      ignore_nosec=not honor_suppressions)
        mgr.discover_files(paths)
        mgr.run_tests()
        for issue in mgr.get_issue_list():
            i = _index_of(issue.fname)
            if i is None:
                continue
            out[i][0].append(Finding("bandit", issue.test_id, int(issue.lineno or 0),
                                     str(issue.severity).lower(), issue.text))
        for fname, reason in mgr.skipped:
            i = _index_of(fname)
            if i is not None:
                out[i] = (out[i][0], f"bandit skipped the code: {reason}")
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
          honor_suppressions: bool = False, **_) -> list[Result]:
    select = ruff_select or RUFF_ERROR_SELECT
    out: list[Result] = [([], None) for _ in codes]
    with tempfile.TemporaryDirectory(prefix="cc-ruff-") as tmp:
        _write_batch(codes, tmp)
        cmd = [_ruff_bin(), "check", "--isolated", "--no-cache", "--exit-zero", "--output-format", "json",
               "--select", ",".join(select)]
        if not honor_suppressions:
            cmd.append("--ignore-noqa")
        cmd.append(tmp)
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=tmp)
        if proc.returncode != 0:
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


def _pylint(codes: list[str], *, pylint_enable: list[str] | None = None,
            pylint_disable: list[str] | None = None, timeout_s: float = 120, **_) -> list[Result]:
    enable = pylint_enable or PYLINT_ENABLE
    disable = PYLINT_DISABLE if pylint_disable is None else pylint_disable
    out: list[Result] = [([], None) for _ in codes]
    with tempfile.TemporaryDirectory(prefix="cc-pylint-") as tmp:
        paths = _write_batch(codes, tmp)
        # -m pylint with the running interpreter: the pylint that the package depends on, not a random one.
        cmd = [sys.executable, "-m", "pylint", "--output-format=json", "--score=n", "--persistent=n",
               "--rcfile", os.devnull, "--disable=all", f"--enable={','.join(enable)}"]
        if disable:
            cmd.append(f"--disable={','.join(disable)}")
        cmd += [os.path.basename(p) for p in paths]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, cwd=tmp)
        # pylint's exit status is a bit mask of message categories; 32 means a usage error / crash.
        if proc.returncode & 32 or not proc.stdout.strip().startswith("["):
            raise RuntimeError(f"pylint exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[:300]}")
        for item in json.loads(proc.stdout):
            i = _index_of(item.get("path", ""))
            if i is None:
                continue
            rule = item.get("message-id", "")
            if rule == "F0002":  # astroid crashed on this file: an analyzer error, not a code finding
                out[i] = (out[i][0], f"pylint crashed: {item.get('message', '')[:200]}")
                continue
            sev = _PYLINT_SEVERITY.get(item.get("type", ""), "medium")
            out[i][0].append(Finding("pylint", rule, int(item.get("line") or 0), sev, item.get("message", "")))
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
