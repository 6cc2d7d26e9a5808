"""Supervised fine-tuning: collators (fixed, dynamic, Dynamic Pack, BFD), prompt templates, presets, and
``train``, which runs TRL's ``SFTTrainer`` with those collators.

``packing`` and ``templates`` are pure Python; ``collators``, ``train`` and ``tiny`` import torch/transformers.
"""
