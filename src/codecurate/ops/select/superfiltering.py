"""``superfiltering``: Superfiltering's weak-to-strong IFD selection with a small scorer (GPT-2).

Paper: Li et al., "Superfiltering: Weak-to-Strong Data Filtering for Fast Instruction-Tuning", ACL'24.
Defaults from ``tianyi-lab/Superfiltering@f0764afa536e``: scorer ``gpt2`` (124M) with ``max_length`` 1024
(``code_ifd/data_analysis.py``); prompt ``"{instruction}\\n"`` followed directly by the output (prompt
``none``; put a record's Alpaca ``input`` into its instruction, as the canonical record does, to get
``"{instruction}\\n{input}\\n"``); IFD = PPL ratio (``put_analysis_to_data.py`` ``ifd_ppl``); keep IFD < 1,
sort descending, keep ``int(N * 0.1)`` (``scripts/step3_select_data.sh`` ``--sample_rate 0.1``).

Semantics are ``ifd_select``'s; only the defaults differ. Deviations: ``N`` is the input size
(``ratio_of: input``) instead of the hard-coded 52002 (Alpaca's size; set ``ratio_base: 52002`` to reproduce
it); failures are dropped with their reason instead of becoming 0 (ZeroDivisionError) or NaN; kept records
stay in dataset order (the script writes them in IFD order; ``stats.ifd_rank`` gives that order).
The optional diversity step (Superfiltering.D, facility location) is not part of this op.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from codecurate.ops.select.ifd_select import IFDSelectBase, IFDSelectConfig
from codecurate.pipeline.registry import register


class SuperfilteringConfig(IFDSelectConfig):
    model: str = "gpt2"
    template: str = "superfiltering"
    formula: Literal["ppl_ratio", "loss_ratio"] = "ppl_ratio"
    max_length: int | None = 1024
    ratio: float | None = 0.1
    ratio_of: Literal["eligible", "input"] = "input"


@register
class Superfiltering(IFDSelectBase[SuperfilteringConfig]):
    """IFD < 1 then the top 10% of the input by IFD, scored with GPT-2 (Superfiltering's defaults)."""

    name: ClassVar[str] = "superfiltering"
    Config = SuperfilteringConfig
    paper: ClassVar[str] = "Superfiltering (Li et al., ACL'24), tianyi-lab/Superfiltering code_ifd/*"
