"""``ifd_select``: keep the records with the highest IFD below 1 (top-k or a ratio).

Papers: Cherry LLM (Li et al., NAACL'24; ``tianyi-lab/Cherry_LLM@01fac8d2febb:cherry_seletion/data_by_IFD.py``)
and Superfiltering (Li et al., ACL'24; ``tianyi-lab/Superfiltering@f0764afa536e:code_ifd/select_data.py``);
the `< 1` filter is also CodeACT's. Procedure:

1. IFD per record: ``stats.ifd`` when an earlier ``ifd_score`` wrote it (``use_existing``), else computed here
   with the same engine and parameters as ``ifd_score`` (the model is loaded only if some record needs it).
2. Drop failures (no IFD; the reason is in the ledger) and IFD >= ``max_ifd`` = 1 (Superfiltering/CodeACT;
   ``drop_equal: false`` gives Cherry's strict ``> 1``).
3. Sort by IFD descending, ties by dataset order (deterministic), keep ``k`` records, or
   ``int(ratio * base)`` where base is the number of eligible records (``ratio_of: eligible``, Cherry) or of
   input records (``ratio_of: input``, Superfiltering's intent; its script hard-codes Alpaca's 52002, available
   as ``ratio_base: 52002``). With neither ``k`` nor ``ratio``, every eligible record is kept (filter only).

Kept records keep every field; their output order is the dataset order; ``stats.ifd_rank`` (0 = highest)
is added. Deviations: failures are never scored 0 (CodeACT/Superfiltering let such records through the `< 1`
filter; ``failed_ifd: as_zero`` restores that), and a budget of 0 keeps nothing (Cherry's ``[-0:]`` slice
keeps everything).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal, TypeVar, cast

from pydantic import model_validator

from codecurate.ops.score.ifd_score import IFDModelConfig, failure_key, ifd_pairs, make_ifd_scorer
from codecurate.pipeline.op import Decision, GlobalOp
from codecurate.pipeline.registry import register


class IFDSelectConfig(IFDModelConfig):
    k: int | None = None
    ratio: float | None = None
    ratio_of: Literal["eligible", "input"] = "eligible"
    ratio_base: int | None = None  # Superfiltering's hard-coded 52002 (Alpaca's size), if wanted
    max_ifd: float = 1.0
    drop_equal: bool = True  # drop IFD == max_ifd too (Superfiltering/CodeACT); False: Cherry's strict > 1
    use_existing: bool = True  # reuse stats.ifd from an earlier ifd_score
    failed_ifd: Literal["drop", "as_zero"] = "drop"  # as_zero: the references' IFD=0 sentinel (faithful, unsafe)

    @model_validator(mode="after")
    def _one_budget(self):
        if self.k is not None and self.ratio is not None:
            if "ratio" in self.model_fields_set:
                raise ValueError("give either k or ratio, not both")
            self.ratio = None  # an explicit k replaces a preset's default ratio
        if self.k is not None and self.k < 0:
            raise ValueError(f"k must be >= 0, got {self.k}")
        if self.ratio is not None and not 0 <= self.ratio <= 1:
            raise ValueError(f"ratio must be in [0, 1], got {self.ratio}")
        return self


def select_by_ifd(ifds: list[float | None], errors: list[str | None], *, k: int | None = None,
                  ratio: float | None = None, ratio_of: str = "eligible", ratio_base: int | None = None,
                  max_ifd: float = 1.0, drop_equal: bool = True, failed_ifd: str = "drop",
                  op: str = "ifd_select") -> list[Decision]:
    """One Decision per record (dataset order): failures and IFD >= max_ifd dropped, then the budget.
    ``failed_ifd="as_zero"`` scores failures 0 as CodeACT/Superfiltering do (they then pass the < 1 filter)."""
    decisions: list[Decision] = [Decision() for _ in ifds]
    if failed_ifd == "as_zero":
        ifds = [0.0 if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in ifds]
    eligible = []
    for i, (v, err) in enumerate(zip(ifds, errors)):
        if v is None or not isinstance(v, (int, float)) or math.isnan(v):
            decisions[i] = Decision(False, f"{op}: no IFD ({err or 'missing'})")
        elif v > max_ifd or (drop_equal and v == max_ifd):
            decisions[i] = Decision(False, f"{op}: IFD {v:.4g} {'>=' if drop_equal else '>'} {max_ifd:g}")
        else:
            eligible.append(i)
    eligible.sort(key=lambda i: (-cast(float, ifds[i]), i))  # eligible: a number
    if k is not None:
        budget = k
    elif ratio is not None:
        base = ratio_base or (len(ifds) if ratio_of == "input" else len(eligible))
        budget = int(base * ratio)
    else:
        budget = len(eligible)
    for rank, i in enumerate(eligible):
        if rank < budget:
            decisions[i] = Decision(True, stats={"ifd_rank": rank})
        else:
            decisions[i] = Decision(False, f"{op}: not in the top {budget} by IFD (rank {rank + 1}, "
                                           f"IFD {ifds[i]:.4g})")
    return decisions


_I = TypeVar("_I", bound=IFDSelectConfig)


class IFDSelectBase(GlobalOp[_I]):
    """Scores (or reads) IFD per record in ``map_batch``; selects in ``reduce``."""

    needs: ClassVar[tuple[str, ...]] = ("cpu", "model")
    _scorer: Any = None

    def _scorer_for(self):
        # loaded on first need: a chain that already ran ifd_score never loads the model here
        if self._scorer is None:
            self._scorer = make_ifd_scorer(self.config)
        return self._scorer

    def map_batch(self, records: list[dict]) -> list[Any]:
        cfg = self.config
        payloads: list[Any] = [None] * len(records)
        todo = []
        for i, rec in enumerate(records):
            st = rec.get("stats") or {}
            if cfg.use_existing and "ifd" in st:
                payloads[i] = (st["ifd"], st.get("ifd_error"), None)
            else:
                todo.append(i)
        if todo:
            results = self._scorer_for().score(ifd_pairs([records[i] for i in todo], cfg))
            for i, res in zip(todo, results):
                payloads[i] = (res.ifd, res.error, res.as_stats("ifd"))
                self.count("ifd_scored")
        return payloads

    def reduce(self, payloads: list[Any]) -> list[Decision]:
        cfg = self.config
        ifds = [p[0] for p in payloads]
        errors = [p[1] for p in payloads]
        decisions = select_by_ifd(ifds, errors, k=cfg.k, ratio=cfg.ratio, ratio_of=cfg.ratio_of,
                                  ratio_base=cfg.ratio_base, max_ifd=cfg.max_ifd, drop_equal=cfg.drop_equal,
                                  failed_ifd=cfg.failed_ifd, op=self.name)
        for d, (v, err, stats) in zip(decisions, payloads):
            if stats:
                d.stats = {**stats, **(d.stats or {})}
            if err is not None or v is None:
                self.count("ifd_failed")
                self.count(f"ifd_failed:{failure_key(err or 'missing')}")
            elif not d.keep and "IFD" in d.reason and ">" in d.reason:
                self.count("ifd_over_threshold")
            self.count("kept" if d.keep else "dropped")
        return decisions


@register
class IFDSelect(IFDSelectBase[IFDSelectConfig]):
    """Top-k / ratio by IFD after the IFD < 1 filter (Cherry, Superfiltering, CodeACT without clusters)."""

    name: ClassVar[str] = "ifd_select"
    Config = IFDSelectConfig
    paper: ClassVar[str] = "Cherry LLM (NAACL'24) data_by_IFD.py; Superfiltering (ACL'24) select_data.py"
