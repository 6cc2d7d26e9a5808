"""A tiny random causal LM with a byte-level BPE tokenizer trained on given texts, saved like a hub model.

Used for smoke tests, CPU benchmarks and offline checks of the training path: the result loads through the
same ``AutoModelForCausalLM`` / ``AutoTokenizer.from_pretrained`` calls as a real checkpoint, and nothing
is downloaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|pad|>", "<|bos|>"]


def build_tokenizer(texts: Iterable[str], vocab_size: int = 512):
    """Byte-level BPE trained on ``texts``; EOS ``<|endoftext|>``, PAD ``<|pad|>``, BOS ``<|bos|>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|endoftext|>", pad_token="<|pad|>", bos_token="<|bos|>"
    )


def build_tiny_model(
    out_dir: str | Path,
    texts: Iterable[str],
    arch: str = "qwen2",
    hidden_size: int = 64,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    vocab_size: int = 512,
    max_positions: int = 4096,
    seed: int = 0,
    attn_implementation: str = "sdpa",
) -> Path:
    """Save a random ``arch`` ("qwen2" or "llama") model and its tokenizer to ``out_dir``; return the path."""
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

    out = Path(out_dir)
    tokenizer = build_tokenizer(texts, vocab_size)
    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    config: Qwen2Config | LlamaConfig
    if arch == "qwen2":
        config = Qwen2Config(**common)
    elif arch == "llama":
        config = LlamaConfig(**common)
    else:
        raise ValueError(f"unknown tiny arch {arch!r}; valid: ['qwen2', 'llama']")
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, attn_implementation=attn_implementation)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out
