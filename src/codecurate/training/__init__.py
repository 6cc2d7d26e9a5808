"""Supervised fine-tuning: collators (fixed, dynamic, Dynamic Pack, BFD), prompt templates, presets, train loop.

``packing`` and ``templates`` are pure Python; ``collators``, ``train`` and ``tiny`` import torch/transformers.
"""
