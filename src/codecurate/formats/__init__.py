"""Format adapters: detect a source format and convert raw dicts <-> canonical records."""

from __future__ import annotations

from codecurate.formats.alpaca import Alpaca
from codecurate.formats.apps import Apps
from codecurate.formats.base import Format
from codecurate.formats.bigcodebench import BigCodeBench
from codecurate.formats.canonical import Canonical
from codecurate.formats.codecontests import CodeContests
from codecurate.formats.humaneval import EvalPlus, HumanEval
from codecurate.formats.leetcode import Codeforces, LeetCode
from codecurate.formats.livecodebench import LiveCodeBench
from codecurate.formats.mbpp import Mbpp
from codecurate.formats.messages import Messages, ShareGPT
from codecurate.formats.study import Study

FORMATS: dict[str, Format] = {f.name: f for f in (
    Canonical(), Messages(), ShareGPT(), Alpaca(), Apps(), Study(), Mbpp(), HumanEval(), EvalPlus(), CodeContests(),
    LeetCode(), Codeforces(), LiveCodeBench(), BigCodeBench())}
_BY_PRIORITY = sorted(FORMATS.values(), key=lambda f: -f.priority)


class FormatError(ValueError):
    pass


def get_format(name: str) -> Format:
    if name not in FORMATS:
        raise FormatError(f"unknown format {name!r}; valid formats: {', '.join(FORMATS)}")
    return FORMATS[name]


def detect_format(raws: list[dict], where: str = "") -> Format:
    """The format matching most of the first records (ties broken by specificity)."""
    if not raws:
        raise FormatError(f"{where}: no records to detect the format from (empty input)")
    votes: dict[str, int] = {}
    for raw in raws:
        if not isinstance(raw, dict):
            continue
        for f in _BY_PRIORITY:
            if f.matches(raw):
                votes[f.name] = votes.get(f.name, 0) + 1
                break
    if not votes:
        keys = sorted(raws[0].keys()) if isinstance(raws[0], dict) else type(raws[0]).__name__
        raise FormatError(f"{where}: cannot detect the format of records with keys {keys}; pass `format:` "
                          f"with one of: {', '.join(FORMATS)}")
    return FORMATS[max(votes, key=lambda n: (votes[n], FORMATS[n].priority))]


__all__ = ["FORMATS", "Format", "FormatError", "detect_format", "get_format"]
