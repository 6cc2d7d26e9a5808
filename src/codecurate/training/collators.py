"""Causal-LM SFT collators: fixed padding, dynamic padding, CodeACT's Dynamic Pack, and TRL-style BFD.

Input features are dicts ``{"input_ids": [...], "labels": [...]}`` with prompt tokens already at -100
(``templates.encode_record``). Every collator returns a dict of tensors for ``model(**batch)`` plus one
``"stats"`` entry the trainer (``train.CodecurateSFTTrainer``) pops before the forward pass: real tokens, tensor cells, rows, samples,
label tokens and the ``layout`` (feature indices per row; every index appears exactly once).

Strategies (reference ``training_eval.md`` §0, §1, §7.1; ``selection_algorithms.md`` §1.5):

``fixed``          every sample in its own row, padded to ``max_length``.
``dynamic``        every sample in its own row, padded to the longest sample of the batch.
``dynamic_pack``   CodeACT's Dynamic Pack: the batch's samples are packed into rows of at most ``max_length``
                   and rows are padded to the longest row. The number of samples per optimizer step is
                   unchanged, so the number of steps is too.
                   ``row_filling``: ``next_fit`` (CodeACT: ascending sort, sequential) or ``balanced``
                   (default: fewest rows, longest-first to the least-loaded row; see ``packing.py``).
                   ``isolation``:
                     ``faithful``  CodeACT exactly: the row's attention mask is all ones over its samples and
                                   position ids run across the whole row, so packed samples attend to each other.
                     ``isolated``  (default) no cross-sample attention. ``attention`` picks how:
                                   ``position_ids`` position ids restart at 0 per sample, no attention_mask and
                                                  ``use_cache=False`` (transformers >= 4.54 then builds a
                                                  block-diagonal causal mask for sdpa/eager/flex). The batch
                                                  carries ``use_cache: False`` because with a KV cache object
                                                  the detection is skipped and rows leak (measured 0.23-0.28
                                                  logit error, reference §1.5).
                                   ``mask4d``     position ids as above plus an explicit 4D float additive mask
                                                  [rows, 1, S, S] (0 allowed / dtype-min masked; a bool mask is
                                                  wrong under eager). Pad query rows attend to themselves so no
                                                  softmax row is fully masked.
                                   ``flash_varlen`` rows flattened to one [1, T] row with ``cu_seq_lens_q/k`` and
                                                  ``max_length_q/k`` for FlashAttention-2 varlen (FA2 detects
                                                  packing from position ids only when batch size is 1).
                                   In isolated mode each sample's first label is -100, as TRL does, so no token
                                   is trained to predict across a boundary.
``bfd``            TRL's offline packing for comparison: ``pack_bfd`` bins samples best-fit-decreasing over a
                   window (default 1,000) into rows of ``max_length``; ``BFDCollator`` flattens a batch of those
                   rows into one padding-free [1, T] row with restarting position ids (TRL
                   ``DataCollatorForLanguageModeling(padding_free=True)``), or pads rows when ``flatten=False``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from codecurate.training.packing import pack_rows, pack_windows
from codecurate.training.templates import IGNORE_INDEX

STRATEGIES = ("fixed", "dynamic", "dynamic_pack", "bfd")
ISOLATION = ("isolated", "faithful")
ATTENTION = ("position_ids", "mask4d", "flash_varlen")


def _round_up(n: int, multiple: int | None) -> int:
    return n if not multiple else -(-n // multiple) * multiple


def _fit(feature: dict, max_length: int) -> tuple[list[int], list[int]]:
    """Defensive truncation (CodeACT truncates every feature to max_seq_len in its collator)."""
    ids, labels = list(feature["input_ids"]), list(feature["labels"])
    if len(ids) != len(labels):
        raise ValueError(f"feature {feature.get('id', '?')!r}: input_ids and labels differ in length")
    if not ids:
        raise ValueError(f"feature {feature.get('id', '?')!r} is empty")
    return ids[:max_length], labels[:max_length]


def _stats(rows: list[list[int]], lengths: Sequence[int], cells: int, labels: torch.Tensor) -> dict:
    real = sum(lengths)
    return {
        "real_tokens": real,
        "cells": cells,
        "rows": len(rows),
        "samples": sum(len(r) for r in rows),
        "label_tokens": int((labels[..., 1:] != IGNORE_INDEX).sum()),  # tokens the shifted loss counts
        "layout": rows,
    }


class SFTCollator:
    """One collator for all strategies; ``strategy`` picks the row layout (see module docstring)."""

    def __init__(
        self,
        strategy: str = "dynamic_pack",
        max_length: int = 1024,
        pad_token_id: int = 0,
        row_filling: str = "balanced",
        isolation: str = "isolated",
        attention: str = "position_ids",
        mask_dtype: torch.dtype = torch.float32,
        pad_to_multiple_of: int | None = None,
        flatten: bool = True,
    ):
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown collator {strategy!r}; valid: {list(STRATEGIES)}")
        if isolation not in ISOLATION:
            raise ValueError(f"unknown isolation {isolation!r}; valid: {list(ISOLATION)}")
        if attention not in ATTENTION:
            raise ValueError(f"unknown attention {attention!r}; valid: {list(ATTENTION)}")
        if row_filling not in ("next_fit", "balanced"):
            raise ValueError(f"unknown row_filling {row_filling!r}; valid: ['next_fit', 'balanced']")
        self.strategy = strategy
        self.max_length = max_length
        self.pad_token_id = pad_token_id
        self.row_filling = row_filling
        self.isolation = isolation
        self.attention = attention
        self.mask_dtype = mask_dtype
        self.pad_to_multiple_of = pad_to_multiple_of
        self.flatten = flatten

    def describe(self) -> dict:
        d = {"strategy": self.strategy, "max_length": self.max_length}
        if self.strategy == "dynamic_pack":
            d.update(row_filling=self.row_filling, isolation=self.isolation)
            if self.isolation == "isolated":
                d["attention"] = self.attention
        if self.strategy == "bfd":
            d["flatten"] = self.flatten
        return d

    def __call__(self, features: list[dict]) -> dict:
        if not features:
            raise ValueError("empty batch")
        if self.strategy == "bfd":
            return self._bfd(features)
        pairs = [_fit(f, self.max_length) for f in features]
        lengths = [len(ids) for ids, _ in pairs]
        if self.strategy == "fixed":
            return self._one_per_row(pairs, lengths, _round_up(self.max_length, self.pad_to_multiple_of))
        if self.strategy == "dynamic":
            return self._one_per_row(pairs, lengths, _round_up(max(lengths), self.pad_to_multiple_of))
        rows = pack_rows(lengths, self.max_length, self.row_filling)
        return self._packed(pairs, lengths, rows)

    # -- layouts ---------------------------------------------------------------------------------------------

    def _one_per_row(self, pairs, lengths, width: int) -> dict:
        n = len(pairs)
        input_ids = torch.full((n, width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((n, width), IGNORE_INDEX, dtype=torch.long)
        attention_mask = torch.zeros((n, width), dtype=torch.long)
        for r, (ids, lab) in enumerate(pairs):
            input_ids[r, : len(ids)] = torch.tensor(ids)
            labels[r, : len(ids)] = torch.tensor(lab)
            attention_mask[r, : len(ids)] = 1
        rows = [[i] for i in range(n)]
        return {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "labels": labels,
            "stats": _stats(rows, lengths, n * width, labels),
        }

    def _packed(self, pairs, lengths, rows: list[list[int]]) -> dict:
        isolated = self.isolation == "isolated"
        if isolated and self.attention == "flash_varlen":
            return self._flatten(pairs, lengths, rows)
        width = _round_up(max(sum(lengths[i] for i in row) for row in rows), self.pad_to_multiple_of)
        k = len(rows)
        input_ids = torch.full((k, width), self.pad_token_id, dtype=torch.long)
        labels = torch.full((k, width), IGNORE_INDEX, dtype=torch.long)
        position_ids = torch.zeros((k, width), dtype=torch.long)
        attention_mask = torch.zeros((k, width), dtype=torch.long)
        segments = torch.zeros((k, width), dtype=torch.long)  # 0 = padding, s >= 1 = s-th sample of the row
        for r, row in enumerate(rows):
            start = 0
            for s, i in enumerate(row, start=1):
                ids, lab = pairs[i]
                end = start + len(ids)
                input_ids[r, start:end] = torch.tensor(ids)
                labels[r, start:end] = torch.tensor(lab)
                position_ids[r, start:end] = torch.arange(len(ids))
                segments[r, start:end] = s
                if isolated:
                    labels[r, start] = IGNORE_INDEX
                start = end
            attention_mask[r, :start] = 1
        batch: dict = {"input_ids": input_ids, "labels": labels}
        if not isolated:
            # CodeACT: concatenated all-ones masks, no position ids (the model counts 0..S-1 across the row).
            batch["attention_mask"] = attention_mask
        else:
            batch["position_ids"] = position_ids
            batch["use_cache"] = False
            if self.attention == "mask4d":
                batch["attention_mask"] = self._mask4d(segments)
        batch["stats"] = _stats(rows, lengths, k * width, labels)
        return batch

    def _mask4d(self, segments: torch.Tensor) -> torch.Tensor:
        """Float additive block-diagonal causal mask [rows, 1, S, S] (LLaMA-Factory's ``neat_packing`` form)."""
        k, width = segments.shape
        causal = torch.tril(torch.ones((width, width), dtype=torch.bool))
        same = segments[:, :, None] == segments[:, None, :]
        real = (segments != 0)[:, :, None] & (segments != 0)[:, None, :]
        allowed = same & real & causal
        allowed |= torch.eye(width, dtype=torch.bool)  # pad queries see themselves: no all-masked softmax row
        mask = torch.zeros((k, 1, width, width), dtype=self.mask_dtype)
        mask.masked_fill_(~allowed[:, None], torch.finfo(self.mask_dtype).min)
        return mask

    def _flatten(self, pairs, lengths, rows: list[list[int]]) -> dict:
        """All samples in one [1, T] row with restarting position ids (padding-free, as TRL / HF flattening)."""
        order = [i for row in rows for i in row]
        ids = [t for i in order for t in pairs[i][0]]
        labs: list[int] = []
        pos: list[int] = []
        cu = [0]
        for i in order:
            lab = list(pairs[i][1])
            lab[0] = IGNORE_INDEX
            labs.extend(lab)
            pos.extend(range(lengths[i]))
            cu.append(cu[-1] + lengths[i])
        labels = torch.tensor([labs], dtype=torch.long)
        batch: dict = {
            "input_ids": torch.tensor([ids], dtype=torch.long),
            "labels": labels,
            "position_ids": torch.tensor([pos], dtype=torch.long),
            "use_cache": False,
        }
        if self.attention == "flash_varlen":
            cu_t = torch.tensor(cu, dtype=torch.int32)
            longest = max(lengths[i] for i in order)
            batch.update(cu_seq_lens_q=cu_t, cu_seq_lens_k=cu_t, max_length_q=longest, max_length_k=longest)
        batch["stats"] = _stats(rows, lengths, len(ids), labels)
        return batch

    def _bfd(self, features: list[dict]) -> dict:
        """A batch of BFD-packed rows (from ``pack_bfd``): flattened padding-free, or padded rows."""
        pairs: list[tuple[list[int], list[int]]] = []
        rows: list[list[int]] = []
        for f in features:
            seq_lengths = f.get("seq_lengths")
            if seq_lengths is None:
                raise ValueError("collator 'bfd' expects rows from pack_bfd (with 'seq_lengths')")
            start, row = 0, []
            for n in seq_lengths:
                row.append(len(pairs))
                pairs.append((f["input_ids"][start : start + n], f["labels"][start : start + n]))
                start += n
            rows.append(row)
        lengths = [len(ids) for ids, _ in pairs]
        if self.flatten:
            batch = self._flatten(pairs, lengths, rows)
        else:
            saved = self.isolation, self.attention
            self.isolation, self.attention = "isolated", "position_ids"
            batch = self._packed(pairs, lengths, rows)
            self.isolation, self.attention = saved
        # report the original sample indices carried by the packed rows
        batch["stats"]["layout"] = [[f["sample_index"][j] for j in range(len(f["seq_lengths"]))] for f in features]
        return batch


def pack_bfd(features: list[dict], max_length: int, window: int = 1000) -> list[dict]:
    """TRL-style offline packing: best-fit-decreasing rows of ``max_length`` over windows of samples.

    Each output row has ``input_ids``, ``labels``, ``seq_lengths`` and ``sample_index`` (input positions).
    Over-long samples must be handled before (``templates.encode_records``); TRL's ``bfd`` truncates them.
    """
    pairs = [_fit(f, max_length) for f in features]
    lengths = [len(ids) for ids, _ in pairs]
    packed = []
    for row in pack_windows(lengths, max_length, window):
        packed.append(
            {
                "input_ids": [t for i in row for t in pairs[i][0]],
                "labels": [t for i in row for t in pairs[i][1]],
                "seq_lengths": [lengths[i] for i in row],
                "sample_index": list(row),
            }
        )
    return packed


def make_collator(strategy: str = "dynamic_pack", **kwargs) -> SFTCollator:
    return SFTCollator(strategy=strategy, **kwargs)
