"""What the synthesis ops share: the LLM from the op's config, per-record seeds, token/call accounting into the
stage counters, parsing of replies (code blocks, assert tests, sections) and running code and tests in the
sandbox.

Accounting. A synthesis op is an expander: every input record ends as kept (possibly changed) or ledgered, and
every *generated* record ends as kept or ledgered with its reason (unparsable, failed k/n tests, duplicate,
eliminated, ...). ``SynthExpander.process`` counts ``created = kept + ledgered - 1`` per input, so the runner's
check ``in + created = out + ledger`` holds by construction and a rejected generation is visible in the ledger
with its prompt hash and raw reply (``detail``), never dropped silently.

Seeds. ``record_seed(op seed, op name, record id, salt...)``: every random choice an op makes for a record (a
snippet span, an evolution method, a category) and every sampled LLM call uses a seed derived from the recipe
seed and the record id, so a record's synthesis does not depend on its shard, its batch neighbours or the number
of workers. Greedy calls share one seed per stage (the seed does not change a greedy reply, and one seed lets the
backend batch them). ``seed_scope: stage`` makes sampled calls share one seed per round too (batched on HF/vLLM;
still reproducible, as a prompt's samples depend on the prompt and the seed only).

Counters (merged into the stage's ``stats.json``): ``llm_calls`` (completions the backend produced, structured
retries included), ``llm_cache_hits``, ``llm_errors``, ``llm_prompt_tokens``, ``llm_completion_tokens``,
``llm_ms`` (wall milliseconds inside ``generate``).
"""

from __future__ import annotations

import abc
import ast
import hashlib
import json
import os
import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from codecurate.pipeline.op import BatchResult, C, Dropped, Op, OpConfig, OpError, OpKind
from codecurate.records import make_record


# ------------------------------------------------------------------------------------------- configuration
class LLMOpConfig(OpConfig):
    """Which model answers and how it is called (see README "LLM layer")."""

    model: str = "smollm2-135m"  # an alias, a local path or hub id (hf, vllm), or the server's model name (openai)
    backend: Literal["hf", "openai", "vllm"] = "hf"
    base_url: str | None = None  # openai backend: e.g. http://localhost:8000/v1 (default: $OPENAI_BASE_URL)
    api_key_env: str = "OPENAI_API_KEY"  # the environment variable holding the key (never the key itself)
    cache: str | None = "default"  # SQLite call cache: "default" ($CODECURATE_CACHE/llm_cache.sqlite), a path, or null
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 1024
    concurrency: int = 8  # openai backend: requests in flight
    timeout: float = 120.0  # openai backend: seconds per request
    max_retries: int = 5  # openai backend
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    batch_size: int = 8  # hf backend: prompts per generate() call
    threads: int | None = None  # hf backend: torch CPU threads (1 is several times faster on an oversubscribed CPU)
    seed_scope: Literal["record", "stage"] = "record"


class SandboxOpConfig(OpConfig):
    """How generated code runs (``codecurate.sandbox``; APPS's limits by default)."""

    workers: int = 2
    timeout_per_test: float = 4.0
    timeout_total: float = 10.0
    memory_mb: int = 2048
    allow_unisolated: bool = False  # only for trusted code on machines without namespaces/root


def cache_path(cache: str | None) -> str | None:
    if cache in (None, "", "none", "off"):
        return None
    if cache == "default":
        from codecurate.models.llm import default_cache_dir

        return str(default_cache_dir() / "llm_cache.sqlite")
    return os.path.expanduser(cache)


_LLMS: dict[tuple, Any] = {}
_CACHES: dict[str, Any] = {}


def get_llm(cfg: LLMOpConfig):
    """The op's LLM with the op's cache. A model is loaded once per process for equal settings (several stages,
    or ops with different cache files, share one model; the cache is attached per call)."""
    from codecurate.models.llm import LLMCache, load_llm

    key = (cfg.model, cfg.backend, cfg.base_url, cfg.concurrency, cfg.timeout, cfg.max_retries,
           cfg.requests_per_minute, cfg.tokens_per_minute, cfg.batch_size, cfg.api_key_env, cfg.threads)
    llm = _LLMS.get(key)
    if llm is None:
        kw: dict[str, Any] = {"cache": None}
        if cfg.backend == "openai":
            kw.update(base_url=cfg.base_url, api_key=os.environ.get(cfg.api_key_env), concurrency=cfg.concurrency,
                      timeout=cfg.timeout, max_retries=cfg.max_retries, requests_per_minute=cfg.requests_per_minute,
                      tokens_per_minute=cfg.tokens_per_minute)
        elif cfg.backend == "hf":
            kw.update(batch_size=cfg.batch_size, threads=cfg.threads)
        llm = _LLMS[key] = load_llm(cfg.model, cfg.backend, **kw)
    path = cache_path(cfg.cache)
    if path is None:
        llm.cache = None
    else:
        if path not in _CACHES:
            _CACHES[path] = LLMCache(path)
        llm.cache = _CACHES[path]
    return llm


# ------------------------------------------------------------------------------------------- seeds, hashes
def record_seed(seed: int, *parts: Any) -> int:
    """A 31-bit seed from the recipe seed and ``parts`` (op name, record id, round...)."""
    h = hashlib.sha256(json.dumps([seed, *parts], default=str, ensure_ascii=False).encode()).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


def record_rng(seed: int, *parts: Any) -> random.Random:
    return random.Random(record_seed(seed, *parts))


def prompt_hash(prompt: Any) -> str:
    return hashlib.sha256(json.dumps(prompt, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def user(content: str) -> list[dict]:
    return [{"role": "user", "content": content}]


# ------------------------------------------------------------------------------------------- parsing replies
def extract_python(text: str) -> str:
    """The primary Python code of a reply: the first python-tagged (else longest) fenced block; a reply that is
    bare code; or, as the study's Syn does, the text with a leading ```python and trailing ``` stripped."""
    from codecurate.code.extract import extract_code, parses_as_python

    code, _ = extract_code(text or "")
    if code:
        return code
    t = (text or "").strip()
    if t.startswith("```"):  # an unclosed fence (the reply hit max_tokens): drop the opening line
        t = t.split("\n", 1)[1] if "\n" in t else ""
        t = t.rstrip("`").rstrip()
        if parses_as_python(t):
            return t
    return ""


def split_asserts(code: str) -> tuple[str, list[str], str]:
    """(code without its top-level asserts, the assert statements, the imports they may need) of a block.
    A block that does not parse as a whole is read line by line (each top-level ``assert`` line that parses)."""
    try:
        mod = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        asserts = []
        for line in code.splitlines():
            s = line.strip()
            if line.startswith("assert ") and _parses(s):
                asserts.append(s)
        return code, asserts, ""
    lines = code.splitlines()
    asserts, keep_spans, imports = [], [], []
    for node in mod.body:
        seg = "\n".join(lines[node.lineno - 1:node.end_lineno])
        if isinstance(node, ast.Assert):
            asserts.append(seg.strip())
        else:
            keep_spans.append(seg)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imports.append(seg.strip())
    return "\n".join(keep_spans).strip(), asserts, "\n".join(imports)


def _parses(src: str) -> bool:
    try:
        ast.parse(src)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


def parse_assert_tests(text: str, fn_name: str | None = None, max_tests: int | None = None) -> tuple[list[str], str, int]:
    """Assert statements in a reply (every code block, else the bare text): (unique asserts, import setup, number
    rejected). With ``fn_name``, an assert that does not call it is rejected (it tests nothing of the solution)."""
    from codecurate.code.extract import code_blocks

    blocks = [b[0] for b in code_blocks(text or "")] or [text or ""]
    seen, out, setup, rejected = set(), [], [], 0
    for b in blocks:
        _, asserts, imports = split_asserts(b)
        if imports:
            setup.append(imports)
        for a in asserts:
            if a in seen:
                rejected += 1
                continue
            seen.add(a)
            if fn_name and not re.search(rf"\b{re.escape(fn_name)}\s*\(", a):
                rejected += 1
                continue
            if _has_ellipsis(a):  # the prompt's template echoed back ("assert f(...) == ..."): tests nothing
                rejected += 1
                continue
            out.append(a)
    if max_tests is not None and len(out) > max_tests:
        out = out[:max_tests]
    return out, "\n".join(dict.fromkeys("\n".join(setup).splitlines())), rejected


def _has_ellipsis(src: str) -> bool:
    try:
        return any(isinstance(n, ast.Constant) and n.value is Ellipsis for n in ast.walk(ast.parse(src)))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def entry_function(code: str) -> str | None:
    """The name of the last top-level function defined in ``code`` (the usual entry point), else None."""
    try:
        mod = ast.parse(code or "")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        m = re.findall(r"^def\s+([A-Za-z_]\w*)\s*\(", code or "", re.MULTILINE)
        return m[-1] if m else None
    names = [n.name for n in mod.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return names[-1] if names else None


def function_names(code: str) -> frozenset[str]:
    try:
        mod = ast.parse(code or "")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return frozenset()
    return frozenset(n.name for n in mod.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))


_SECTION = re.compile(
    r"^[ \t]*(?:#{1,4}[ \t]*)?(?:\*\*)?(?:\[(?P<b>[^\]\n]{1,40})\](?:\*\*)?[ \t]*:?"
    r"|(?P<p>[A-Za-z][A-Za-z ]{1,40}?)[ \t]*:?[ \t]*(?:\*\*)?[ \t]*:?[ \t]*$)", re.MULTILINE)


def sections(text: str, names: list[str]) -> dict[str, str]:
    """Split a reply on section headers into {lowercased name: body}. A header is ``[Name]`` at the start of a line
    (text may follow it on the line) or a line holding only the name (``### Tests``, ``Solution:``,
    ``**Solution**``); only the wanted ``names`` (case-insensitive) count."""
    want = {n.lower() for n in names}
    marks = []
    for m in _SECTION.finditer(text or ""):
        name = (m.group("b") or m.group("p") or "").strip().lower()
        if name in want:
            marks.append((m.start(), m.end(), name))
    out: dict[str, str] = {}
    for k, (s, e, name) in enumerate(marks):
        end = marks[k + 1][0] if k + 1 < len(marks) else len(text)
        if name not in out:
            out[name] = text[e:end].strip()
    return out


def norm_text(s: str) -> str:
    return " ".join((s or "").lower().split())


# ------------------------------------------------------------------------------------------- the op base
_L = TypeVar("_L", bound=LLMOpConfig)
_S = TypeVar("_S", bound=SandboxOpConfig)


class SynthMixin(Generic[C]):
    """LLM calls with accounting, and sandbox runs, for ops whose config includes LLMOpConfig/SandboxOpConfig
    (the LLM methods need the first, the sandbox methods the second: their ``self`` types say which)."""

    name: ClassVar[str]
    seed: int
    config: C

    if TYPE_CHECKING:  # Op's, which comes after the mixin in every op's MRO
        def count(self, key: str, n: int = 1) -> None: ...

    @property
    def llm(self: SynthMixin[_L]):
        return get_llm(self.config)

    def gen_params(self: SynthMixin[_L], **over: Any):
        from codecurate.models.llm import GenParams

        c = self.config
        kw: dict[str, Any] = {"temperature": c.temperature, "top_p": c.top_p, "max_tokens": c.max_tokens,
                              "seed": self.seed}
        kw.update(over)
        return GenParams(**kw)

    def generate(self: SynthMixin[_L], prompts: list, seeds: list[int], params, round_key: Any = 0) -> list:
        """One LLMResult per prompt. Greedy calls (or ``seed_scope: stage``) run as one batch under one stage
        seed; sampled calls use each record's own seed (grouped by seed; on the openai backend the groups run
        concurrently)."""
        from dataclasses import replace

        if not prompts:
            return []
        t0 = time.perf_counter()
        llm = self.llm
        if params.greedy or self.config.seed_scope == "stage":
            stage_seed = record_seed(self.seed, self.name, "stage", "greedy" if params.greedy else round_key)
            results = llm.generate(prompts, replace(params, seed=stage_seed))
        else:
            groups: dict[int, list[int]] = {}
            for i, s in enumerate(seeds):
                groups.setdefault(s, []).append(i)
            results = [None] * len(prompts)

            def run(item):
                s, idx = item
                return idx, llm.generate([prompts[i] for i in idx], replace(params, seed=s))

            items = list(groups.items())
            if self.config.backend == "openai" and len(items) > 1:
                with ThreadPoolExecutor(max_workers=max(1, min(self.config.concurrency, len(items)))) as ex:
                    done = list(ex.map(run, items))
            else:
                done = [run(it) for it in items]
            for idx, res in done:
                for i, r in zip(idx, res):
                    r.index = i
                    results[i] = r
        self.count("llm_ms", round((time.perf_counter() - t0) * 1000))
        for r in results:
            if any(not c.cached and c.text for c in r.completions):  # tokens paid for now (cache hits are free)
                self.count("llm_prompt_tokens", r.prompt_tokens)
            for c in r.completions:
                if c.cached:
                    self.count("llm_cache_hits")
                elif c.error and not c.text:
                    self.count("llm_errors")
                else:
                    self.count("llm_calls", c.attempts)
                    self.count("llm_completion_tokens", c.completion_tokens)
        return results

    # -- sandbox
    def sandbox_config(self: SynthMixin[_S]):
        from codecurate.sandbox import SandboxConfig

        c = self.config
        return SandboxConfig(timeout_per_test=c.timeout_per_test, timeout_total=c.timeout_total,
                             memory_mb=c.memory_mb, allow_unisolated=c.allow_unisolated)

    def run_tests(self: SynthMixin[_S], items: list[tuple[str, dict]]) -> list:
        """TestOutcome per (code, tests) item, in order."""
        if not items:
            return []
        from codecurate.sandbox import run_tests_many

        outs = run_tests_many(items, self.sandbox_config(), workers=self.config.workers)
        self.count("sandbox_programs", len(items))
        return outs

    def run_programs(self: SynthMixin[_S], codes: list[str]) -> list:
        """ProgramResult per code (run as a script with no input): did it load and run without error?"""
        if not codes:
            return []
        from codecurate.sandbox import run_program

        cfg = self.sandbox_config()
        with ThreadPoolExecutor(max_workers=max(1, self.config.workers)) as ex:
            outs = list(ex.map(lambda c: run_program(c, "", cfg), codes))
        self.count("sandbox_programs", len(codes))
        return outs


def outcome_reason(out) -> str:
    """'2/3 tests passed (case 2: wrong answer)' for a TestOutcome."""
    from codecurate.ops.clean.execution_filter import _first_failure

    if out.total == 0:
        return f"no test result ({out.status}{': ' + str(out.error)[:120] if out.error else ''})"
    ff = _first_failure(list(out.results), list(out.per_case))
    return f"{out.passed}/{out.total} tests passed" + (f" ({ff})" if ff else "")


def program_reason(p) -> str | None:
    """None when a program ran cleanly, else why not."""
    if p.error:
        return str(p.error)[:160]
    if p.timed_out:
        return "timed out"
    if p.returncode != 0:
        tail = (p.stderr or "").strip().splitlines()[-1:] or [""]
        return f"exit code {p.returncode}: {tail[0][:160]}"
    return None


def new_record(seed_rec: dict, new_id: str, *, instruction: str, response: str, code: str,
               tests: dict | None, stats: dict) -> dict:
    """A generated record: the seed's source format (so ``format: same`` writes it in the seed's shape), no original
    fields (``meta`` is empty: nothing to write back), provenance in ``stats``."""
    return make_record(id=new_id, instruction=instruction, response=response, code=code, language="python",
                       tests=tests, source=seed_rec.get("source", ""), meta={}, stats=stats)


def assert_tests(cases: list[str], setup: str = "") -> dict:
    return {"kind": "assert", "setup": setup or "", "fn_name": None, "cases": list(cases)}


class SynthExpander(SynthMixin[C], Op[C]):
    """Base of the synthesis expanders: ``synthesize(records)`` returns, per input record in order, (records to
    keep, Dropped entries for the ledger). The input itself must appear once in one of the two (kept as is,
    changed, or ledgered); generated records are the rest."""

    kind: ClassVar[OpKind] = "expander"
    needs: ClassVar[tuple[str, ...]] = ("cpu", "model", "sandbox")

    @abc.abstractmethod
    def synthesize(self, records: list[dict]) -> list[tuple[list[dict], list[Dropped]]]:
        """Per input record: (records to keep, ledger entries); each op implements it."""

    def process(self, records: list[dict]) -> BatchResult:
        self.ensure_setup()
        res = BatchResult()
        try:
            outs = self.synthesize(records)
        except Exception as e:  # LLM replies of a rerun come from the cache
            return self.isolate_failure(records, e, res)
        if len(outs) != len(records):
            raise OpError(f"op {self.name!r}: synthesize returned {len(outs)} results for {len(records)} records")
        for kept, dropped in outs:
            res.kept.extend(kept)
            res.dropped.extend(dropped)
            res.created += len(kept) + len(dropped) - 1
        res.counters = self.take_counters()
        return res
