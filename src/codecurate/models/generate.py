"""Text generation for evaluation: one interface, three backends, and the prompt formats of the study and peers.

Backends (reference/training_eval.md §5):
- ``hf``: transformers ``generate`` on CPU or GPU, batched with left padding, ``pad_token_id`` set (eos when the
  tokenizer has no pad token), greedy by default, ``stop_strings`` passed to ``generate`` and the text cut at the
  first stop string afterwards.
- ``vllm``: optional (GPU; not installed by default): ``LLM(model).generate(prompts, SamplingParams(...))``, as in
  evalplus' vllm provider.
- ``openai``: any OpenAI-compatible server (vLLM/TGI/llama.cpp/OpenAI): ``/v1/completions`` for text prompts,
  ``/v1/chat/completions`` for chat prompts, over plain HTTP (stdlib ``urllib``; no client package needed).

Decoding defaults: greedy, n = 1 (codecurate's choice 6; the EvalPlus leaderboard and CodeACT convention). With
``temperature > 0`` n samples are drawn with ``top_p`` (the study used T = 0.1, top-p 0.95 with vLLM).

Prompt presets (``build_prompt``):
- ``completion``: base models; the benchmark's completion prompt (HumanEval: signature + docstring), stop
  sequences of the benchmark; the program is ``program_prefix + completion``.
- ``study``: the study's fine-tuning prompt, as plain text (its models were fine-tuned on exactly this text):
  "You are an AI programming assistant, please generate Python code according to the following
  instruction.\\n### Instruction:\\n{question}\\n### Response:\\n" (seed0_techniques.md §6.4); code is extracted
  from the answer.
- ``chat``: instruct models through the tokenizer's chat template (or the server's chat endpoint), with the
  evalplus instruction "Please provide a self-contained Python script that solves the following problem in a
  markdown code block:"; code is extracted from the answer.
- ``study-chat``: the study's prompt text as the user turn of the chat template.
"""

from __future__ import annotations

import abc
import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Chat = list[dict[str, str]]
Prompt = str | Chat

STUDY_PROMPT = (
    "You are an AI programming assistant, please generate Python code according to the following instruction.\n"
    "### Instruction:\n{question}\n### Response:\n"
)
EVALPLUS_INSTRUCTION = (
    "Please provide a self-contained Python script that solves the following problem in a markdown code block:"
)
PROMPT_PRESETS = ("completion", "study", "chat", "study-chat")


@dataclass
class GenerationConfig:
    n: int = 1
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    max_new_tokens: int = 1024  # CodeACT and the study: 1024 (evalplus: 768)
    stop: list[str] = field(default_factory=list)
    batch_size: int = 8
    seed: int | None = 0

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if self.n > 1 and self.temperature == 0:
            raise ValueError("n > 1 samples need temperature > 0 (greedy decoding gives n identical samples)")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


def truncate_at_stop(text: str, stop: Sequence[str]) -> str:
    """Cut ``text`` at the earliest occurrence of any stop string (the LLM layer's rule)."""
    from codecurate.models.llm.base import truncate_at_stop as cut_at_stop

    return cut_at_stop(text, stop)[0]


class Generator(abc.ABC):
    """Backend interface: ``generate(prompts, config)`` -> for each prompt, ``config.n`` completions (text only,
    the prompt not included, cut at stop strings)."""

    name = "base"
    supports_chat_template = True

    @abc.abstractmethod
    def generate(self, prompts: Sequence[Prompt], config: GenerationConfig) -> list[list[str]]:
        """Completions for each prompt."""

    def render_chat(self, messages: Chat) -> str:
        """A chat as the model's raw prompt text (the tokenizer's chat template)."""
        tok = getattr(self, "tokenizer", None)
        if tok is None or not getattr(tok, "chat_template", None):
            raise ValueError(f"{self.name}: the tokenizer has no chat template; use --prompt completion or study")
        return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def close(self) -> None:
        """Release model memory (optional)."""


class HFGenerator(Generator):
    """transformers backend: batched, left-padded ``generate``."""

    name = "hf"

    def __init__(self, model: str, *, device: str | None = None, dtype: str = "auto", trust_remote_code: bool = False):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model, trust_remote_code=trust_remote_code)
        self.tokenizer.padding_side = "left"  # decoder-only batching: pad on the left so generation continues text
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        import transformers

        # transformers >= 4.56 names the argument `dtype`; older releases only know `torch_dtype`
        major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
        dtype_kw = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"
        self.model = AutoModelForCausalLM.from_pretrained(model, trust_remote_code=trust_remote_code,
                                                          **{dtype_kw: dtype})
        self.model.to(self.device)
        self.model.eval()

    def _texts(self, prompts: Sequence[Prompt]) -> list[str]:
        return [p if isinstance(p, str) else self.render_chat(p) for p in prompts]

    def generate(self, prompts: Sequence[Prompt], config: GenerationConfig) -> list[list[str]]:
        texts = self._texts(prompts)
        out: list[list[str]] = []
        if config.seed is not None:
            self.torch.manual_seed(config.seed)
        for start in range(0, len(texts), max(1, config.batch_size)):
            batch = texts[start:start + config.batch_size]
            enc = self.tokenizer(batch, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
            kwargs: dict[str, Any] = dict(
                max_new_tokens=config.max_new_tokens, num_return_sequences=config.n,
                pad_token_id=self.tokenizer.pad_token_id, do_sample=not config.greedy,
            )
            if not config.greedy:
                kwargs.update(temperature=config.temperature, top_p=config.top_p)
            else:
                kwargs.update(temperature=None, top_p=None, top_k=None)
            if config.stop:
                kwargs.update(stop_strings=list(config.stop), tokenizer=self.tokenizer)
            with self.torch.no_grad():
                seqs = self.model.generate(**enc, **kwargs)
            new = seqs[:, enc["input_ids"].shape[1]:]
            decoded = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            for i in range(len(batch)):
                out.append([truncate_at_stop(t, config.stop) for t in decoded[i * config.n:(i + 1) * config.n]])
        return out

    def close(self) -> None:
        del self.model
        if self.torch.cuda.is_available():
            self.torch.cuda.empty_cache()


class VLLMGenerator(Generator):
    """vLLM offline backend (optional dependency, GPU)."""

    name = "vllm"

    def __init__(self, model: str, *, max_model_len: int | None = None, dtype: str = "auto",
                 tensor_parallel_size: int = 1, trust_remote_code: bool = False):
        try:
            from vllm import LLM
        except ImportError as e:
            raise ImportError("the vllm backend needs `pip install vllm` (GPU); use --backend hf on CPU") from e
        kw: dict[str, Any] = dict(model=model, dtype=dtype, tensor_parallel_size=tensor_parallel_size,
                                  trust_remote_code=trust_remote_code)
        if max_model_len:
            kw["max_model_len"] = max_model_len
        self.llm = LLM(**kw)
        self.tokenizer = self.llm.get_tokenizer()

    def generate(self, prompts: Sequence[Prompt], config: GenerationConfig) -> list[list[str]]:
        from vllm import SamplingParams

        texts = [p if isinstance(p, str) else self.render_chat(p) for p in prompts]
        params = SamplingParams(n=config.n, temperature=config.temperature, top_p=config.top_p if not config.greedy else 1.0,
                                max_tokens=config.max_new_tokens, stop=list(config.stop) or None, seed=config.seed)
        results = self.llm.generate(texts, params)
        return [[truncate_at_stop(o.text, config.stop) for o in r.outputs] for r in results]


class OpenAIGenerator(Generator):
    """Any OpenAI-compatible HTTP server. Text prompts -> /completions, chats -> /chat/completions."""

    name = "openai"
    supports_chat_template = False

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None, timeout: float = 600.0):
        self.model = model
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or "http://localhost:8000/v1").rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY", "EMPTY")
        self.timeout = timeout

    def render_chat(self, messages: Chat) -> str:
        raise ValueError("the openai backend sends chats to /chat/completions; it has no local chat template")

    def _post(self, route: str, body: dict) -> dict:
        req = urllib.request.Request(
            f"{self.base_url}/{route}", data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read().decode())
        except urllib.error.HTTPError as e:
            detail = e.read().decode(errors="replace")[:500]
            raise RuntimeError(f"{self.base_url}/{route} answered HTTP {e.code}: {detail}") from e
        except urllib.error.URLError as e:
            raise RuntimeError(f"cannot reach the OpenAI-compatible server at {self.base_url}: {e.reason}") from e

    def generate(self, prompts: Sequence[Prompt], config: GenerationConfig) -> list[list[str]]:
        out = []
        for p in prompts:
            body: dict[str, Any] = dict(model=self.model, n=config.n, temperature=config.temperature,
                                        top_p=config.top_p if not config.greedy else 1.0, max_tokens=config.max_new_tokens)
            if config.stop:
                body["stop"] = list(config.stop)[:4]  # the OpenAI API accepts at most 4; the rest are cut locally
            if config.seed is not None:
                body["seed"] = config.seed
            if isinstance(p, str):
                data = self._post("completions", {**body, "prompt": p})
                texts = [c.get("text", "") for c in sorted(data["choices"], key=lambda c: c.get("index", 0))]
            else:
                data = self._post("chat/completions", {**body, "messages": p})
                texts = [c["message"].get("content") or "" for c in sorted(data["choices"], key=lambda c: c.get("index", 0))]
            out.append([truncate_at_stop(t, config.stop) for t in texts])
        return out


BACKENDS = {"hf": HFGenerator, "vllm": VLLMGenerator, "openai": OpenAIGenerator}


def make_generator(backend: str, model: str, **kwargs: Any) -> Generator:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    return BACKENDS[backend](model, **kwargs)


# ---------------------------------------------------------------- prompts and code extraction
def build_prompt(record: dict, preset: str) -> tuple[Prompt, list[str]]:
    """(prompt, stop sequences) for a benchmark record under a prompt preset."""
    meta = record.get("meta", {})
    if preset == "completion":
        prompt = meta.get("completion_prompt") or record["instruction"]
        return prompt, list(meta.get("stop") or [])
    if preset == "study":
        return STUDY_PROMPT.format(question=(record["instruction"] or "").strip()), []  # the study strips it
    if preset == "study-chat":
        return [{"role": "user", "content": STUDY_PROMPT.format(question=(record["instruction"] or "").strip())}], []
    if preset == "chat":
        if meta.get("chat_messages"):  # the benchmark's own chat prompt (LiveCodeBench, BigCodeBench instruct)
            return [dict(m) for m in meta["chat_messages"]], []
        content = f"{EVALPLUS_INSTRUCTION}\n```\n{record['instruction'].strip()}\n```"
        return [{"role": "user", "content": content}], []
    raise ValueError(f"unknown prompt preset {preset!r}; valid: {', '.join(PROMPT_PRESETS)}")


def study_extract(text: str) -> str:
    """The study's extraction (SFT/evaluation.py): between the first ```python and the last ```, cut at </s>.

    Faithful including its quirk: with only a bare ``` fence it keeps the text *before* that fence.
    """
    start = text.find("```python")
    if start != -1:
        body = text[start + len("```python"):]
        end = body.rfind("```")
        text = body[:end] if end != -1 else body
    elif "```" in text:
        text = text[:text.find("```")]
    return text.split("</s>")[0].strip()


def program_from_output(record: dict, output: str, preset: str, extract: str = "auto") -> str:
    """The program to execute for one model output.

    ``completion``: ``program_prefix`` (e.g. the HumanEval prompt) + completion. Other presets: code extracted
    from the answer (``extract="auto"``: ``codecurate.code.extract.extract_code``; ``"study"``: the study's rule).
    """
    if preset == "completion":
        return (record.get("meta", {}).get("program_prefix") or "") + output
    if extract == "study":
        return study_extract(output)
    from codecurate.code.extract import extract_code

    code, _lang = extract_code(output)
    return code if code else output.strip()
