"""IFD engine parity with the CodeACT per-sample procedure, on real Code Alpaca records and a tiny causal LM
(built here, saved to tmp_path and loaded back through from_pretrained like a user's model)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from codecurate.models.ifd import CODEACT_TEMPLATE, IFDScorer

DATA = Path(__file__).parent / "data" / "code_alpaca_300.json"


def alpaca_pairs(n: int) -> list[tuple[str, str]]:
    rows = json.loads(DATA.read_text())[:n]
    return [(r["instruction"] + ("\n" + r["input"] if r["input"] else ""), r["output"]) for r in rows]


def build_tokenizer(path: Path, with_bos: bool):
    """A byte-level BPE trained on the fixture text; Llama-like (adds BOS) or Qwen/GPT-2-like (no BOS)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    rows = json.loads(DATA.read_text())
    text = [r["instruction"] + "\n" + r["input"] + "\n" + r["output"] for r in rows]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, special_tokens=["<pad>", "<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(text, trainer)
    if with_bos:
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    fast.save_pretrained(path)
    return fast


def build_model(tmp_path: Path, with_bos: bool, arch: str = "llama", max_pos: int = 512) -> Path:
    path = tmp_path / f"{arch}_{'bos' if with_bos else 'nobos'}"
    tok = build_tokenizer(path, with_bos)
    torch.manual_seed(0)
    common = {"vocab_size": len(tok), "hidden_size": 48, "intermediate_size": 96, "num_hidden_layers": 2,
                  "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": max_pos,
                  "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
    if arch == "llama":
        cfg = transformers.LlamaConfig(**common)
        model = transformers.LlamaForCausalLM(cfg)
    else:
        cfg = transformers.Qwen2Config(**common, tie_word_embeddings=True)
        model = transformers.Qwen2ForCausalLM(cfg)
    # random init is near-uniform; sharpen it so losses differ between records and passes
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(8.0) if p.dim() == 2 else None
    model.save_pretrained(path)
    return path


def reference_codeact(tokenizer, model, question: str, answer: str, max_length: int, template: str):
    """CodeACT CDAS/calculate_ifd.py, one sample at a time, plain full-logits forward with HF's loss
    (written from the paper's procedure; returns PPLs and losses instead of the IFD=0 sentinel)."""
    prompt = template.replace("{question}", question)
    end_index = len(tokenizer.encode(prompt, truncation=True, max_length=max_length))
    answer_ids = tokenizer.encode(answer, return_tensors="pt", truncation=True, max_length=max_length - end_index + 1)
    with torch.no_grad():
        loss_d = model(answer_ids, labels=answer_ids.contiguous()).loss.item()
    input_ids = tokenizer.encode(prompt + answer, return_tensors="pt", truncation=True, max_length=max_length)
    labels = input_ids.clone()
    labels[0, :end_index] = -100
    with torch.no_grad():
        loss_c = model(input_ids, labels=labels).loss.item()
    return loss_c, loss_d


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("ifd_models")
    return {"llama_bos": build_model(root, True, "llama"), "qwen_nobos": build_model(root, False, "qwen2")}


def load_ref(path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.eval()
    return AutoTokenizer.from_pretrained(path), model


def rel_close(a: float, b: float, tol: float = 1e-4) -> bool:
    return abs(a - b) <= tol * max(abs(a), abs(b), 1e-12)


@pytest.mark.parametrize("name", ["llama_bos", "qwen_nobos"])
@pytest.mark.parametrize("max_length", [512, 96])
def test_parity_with_codeact_per_sample(models, name, max_length):
    pairs = alpaca_pairs(50)
    tok, ref_model = load_ref(models[name])
    scorers = {f: IFDScorer(str(models[name]), formula=f, max_length=max_length, batch_size=8)
               for f in ("ppl_ratio", "loss_ratio")}
    results = {f: s.score(pairs) for f, s in scorers.items()}
    n_trunc = 0
    for i, (q, a) in enumerate(pairs):
        loss_c, loss_d = reference_codeact(tok, ref_model, q, a, max_length, CODEACT_TEMPLATE)
        for f, res in results.items():
            r = res[i]
            if math.isnan(loss_c) or math.isnan(loss_d):  # the reference's IFD=0 sentinel cases
                assert r.ifd is None and r.error, (i, r)
                continue
            assert r.error is None, (i, r.error)
            assert rel_close(r.loss_cond, loss_c) and rel_close(r.loss_uncond, loss_d), (i, r, loss_c, loss_d)
            want = math.exp(loss_c) / math.exp(loss_d) if f == "ppl_ratio" else loss_c / loss_d
            assert rel_close(r.ifd, want), (f, i, r.ifd, want)
        n_trunc += results["ppl_ratio"][i].answer_truncated
    if max_length == 96:
        assert n_trunc > 0  # the short budget really exercises the truncation rules
    # both formulas agree on the IFD < 1 set (selection_algorithms.md §7.1 test vector)
    below = [(r1.ifd < 1) for r1 in results["ppl_ratio"] if r1.ifd is not None]
    below2 = [(r2.ifd < 1) for r2 in results["loss_ratio"] if r2.ifd is not None]
    assert below == below2 and 0 < len(below)


def test_batch_size_does_not_change_scores(models):
    pairs = alpaca_pairs(30)
    path = str(models["qwen_nobos"])
    one = IFDScorer(path, batch_size=1, logit_chunk=7).score(pairs)
    many = IFDScorer(path, batch_size=16, max_batch_tokens=100000).score(pairs)
    for a, b in zip(one, many):
        assert rel_close(a.ifd, b.ifd, 1e-5)
        assert a.n_answer_tokens == b.n_answer_tokens > 0


def test_failures_have_reasons_never_zero(models):
    path = str(models["llama_bos"])
    long_q = " ".join(["Write a function that sorts a list"] * 40)
    pairs = [
        ("Write a function.", ""),                      # empty answer
        ("", "def f():\n    return 1"),                 # empty instruction (CodeACT drops it)
        (long_q, "def f():\n    return 1"),             # prompt alone fills max_length
        ("Add two numbers.", "def add(a, b):\n    return a + b"),
    ]
    res = IFDScorer(path, max_length=64).score(pairs)
    assert res[0].ifd is None and res[0].error == "empty answer"
    assert res[1].ifd is None and res[1].error == "empty instruction"
    assert res[2].ifd is None and res[2].error.startswith("answer truncated away")
    assert res[3].error is None and res[3].ifd is not None and res[3].ifd > 0
    stats = res[2].as_stats()
    assert stats["ifd"] is None and "ifd_error" in stats
    assert "ifd_error" not in res[3].as_stats()


def test_drop_truncated_and_direct_prefix(models):
    path = str(models["llama_bos"])
    pairs = alpaca_pairs(40)
    plain = IFDScorer(path, max_length=80).score(pairs)
    strict = IFDScorer(path, max_length=80, drop_truncated=True).score(pairs)
    for p, s in zip(plain, strict):
        if p.answer_truncated and p.error is None:
            assert s.ifd is None and s.error.startswith("answer truncated")
        else:
            assert s.error == p.error and (s.ifd is None or rel_close(s.ifd, p.ifd, 1e-5))
    assert any(p.answer_truncated for p in plain)
    # Cherry's direct context "### Response:" changes the direct loss, not the conditional one
    cherry = IFDScorer(path, formula="loss_ratio", template="wiz", direct_prefix="### Response:").score(pairs[:10])
    wiz = IFDScorer(path, formula="loss_ratio", template="wiz").score(pairs[:10])
    assert all(rel_close(c.loss_cond, w.loss_cond) for c, w in zip(cherry, wiz))
    assert any(not rel_close(c.loss_uncond, w.loss_uncond) for c, w in zip(cherry, wiz))


def test_bad_parameters_are_explained(models):
    with pytest.raises(ValueError, match="formula"):
        IFDScorer(str(models["llama_bos"]), formula="ratio")
    with pytest.raises(ValueError, match="placeholder"):
        IFDScorer(str(models["llama_bos"]), template="no slot here")
    with pytest.raises(ValueError, match="linear_kernel"):
        IFDScorer(str(models["llama_bos"]), linear_kernel="mkl")


def test_onednn_linear_kernel_matches_stock_and_is_undone(models):
    """The CPU oneDNN routing changes no score beyond fp32 rounding, patches only while scoring, and leaves
    grad-mode calls on the stock path."""
    from codecurate.models.hf_common import _onednn_linear_op, cpu_linear_kernel

    if _onednn_linear_op() is None:
        pytest.skip("this torch build has no oneDNN")
    path = str(models["llama_bos"])
    pairs = alpaca_pairs(20)
    fast = IFDScorer(path, linear_kernel="onednn")
    stock = IFDScorer(path, linear_kernel="default")
    for a, b in zip(fast.score(pairs), stock.score(pairs)):
        assert a.error is None and rel_close(a.ifd, b.ifd, 1e-5)
    lm = fast.lm
    linears = [m for m in lm.modules() if type(m) is torch.nn.Linear]
    assert linears and all("forward" not in vars(m) for m in linears)
    x = torch.randint(3, 500, (2, 17))
    with torch.inference_mode():
        ref = lm(input_ids=x).logits
        with cpu_linear_kernel(lm, "onednn"):
            assert all("forward" in vars(m) for m in linears)
            got = lm(input_ids=x).logits
    assert all("forward" not in vars(m) for m in linears)
    assert torch.allclose(got, ref, rtol=1e-4, atol=1e-4)
    with cpu_linear_kernel(lm, "onednn"):  # with gradients the stock F.linear runs, so backward works
        loss = lm(input_ids=x, labels=x).loss
        loss.backward()
    assert linears[0].weight.grad is not None
    lm.zero_grad(set_to_none=True)
    with pytest.raises(ValueError, match="linear kernel"):
        with cpu_linear_kernel(lm, "fast"):
            pass
