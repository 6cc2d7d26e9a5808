"""``spat_augment``: the study's augmentation (Aug), SPAT program transformations validated by execution.

Technique: SPAT (Yu, Wang, Wang, "Data Augmentation by Program Transformation", JSS 2022,
Santiago-Yu/SPAT) as run in the study (``Techniques/Aug/run.py``: 12 transforms ported to Python). See
``shared/reference/seed0_techniques.md`` §1 and §9 choice 1. The procedure is the study's:

1. every original record is kept;
2. each selected transform is applied independently to the original code (all matching sites at once, as
   SPAT rewrites every site of a rule), giving at most one variant per transform;
3. a variant is kept only if it parses (``compile``), differs from the original as a program (syntax
   trees compared, so formatting does not count), is not a duplicate of the original or of an earlier
   variant, and passes at least ``min_pass_ratio`` (default 1.0, the study's 100 %) of the record's tests
   in the sandbox;
4. the output (originals and variants) is shuffled with the recipe seed.

Differences from the study, and why:
- The transforms are correct (semantics-preserving by construction, see each module's docstring), not the
  study's buggy ports (renaming of builtins, an if-split that changes the else, a while->for deleting the
  wrong statement, merging without a dependency check, for->while without ``StopIteration``).
- Code is rewritten with libcst, so comments, quotes and formatting outside the rewritten sites are kept;
  the study regenerated every variant with astor (comments lost, everything reformatted).
- The shuffle is per shard (the runner keeps shard order); a shard holds ``batch_size`` records (default
  1000), so MBPP's 374 training problems are shuffled as one, like the study's global shuffle.
- Records without tests get variants only with ``require_tests: false``, and then only from the transforms
  equivalent for every input (``BY_CONSTRUCTION``; not While2For or AddAssignment2EqualAssignment, which
  rely on value types); the study had tests for every record.
- ``faithful`` (the study's port, bugs included) is not offered: it would be a second implementation of
  every transform. ``benchmarks/bench_augment.py`` carries a re-implementation of the port for comparison.
- Options the study did not have: ``transforms`` (subset; SPAT rule names or the study's keys),
  ``max_variants`` (a seeded sample of the passing variants per record), ``chain`` (one more variant per
  record made by ``chain`` randomly chosen applicable transforms applied in sequence, for diversity).

Each kept variant is a copy of its parent (same meta and inherited stats) with new ``code`` (and
``response``, kept consistent) and the id ``<parent id>#aug:<transform>``; ``stats.augment`` =
``{transform, parent_id, sites_changed}``; the original gets ``stats.augment = {transform: None,
parent_id: None, variants: n}``. Each rejected variant goes to the ledger with its reason (``no change``,
``did not parse``, ``failed k/n tests (first failure)``, ``duplicate (of id)``, ``over max_variants``,
``transform error``) and ``detail = {transform, parent_id, sites_changed}``, so the ledger answers which
transform breaks what. Rejected variants count as created records: records in + created = out + ledger.
A transform that finds nothing to rewrite makes no variant (counter ``not_applicable.<T>``).
"""

from __future__ import annotations

import ast
import copy
import json
import random
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from codecurate.ops.augment import TRANSFORMS, transform_name
from codecurate.ops.augment._analysis import normalized
from codecurate.pipeline.op import BatchResult, Dropped, Expander, OpConfig
from codecurate.pipeline.registry import register
from codecurate.records import get_field, set_code


class SpatAugmentConfig(OpConfig):
    transforms: list[str] = Field(default_factory=lambda: list(TRANSFORMS))  # SPAT rule names or the study's keys
    max_variants: int | None = Field(default=None, ge=0)  # None: every passing variant (the study)
    chain: int = Field(default=0, ge=0)  # >= 2: one extra variant from that many transforms in sequence
    require_tests: bool = True
    min_pass_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    shuffle: bool = True
    workers: int = 2  # sandboxed programs run in parallel
    timeout_per_test: float = 4.0
    timeout_total: float = 10.0
    memory_mb: int = 2048
    stdio_compare: Literal["apps", "strict"] = "apps"
    reference_field: str = "meta.canonical_solution"
    allow_unisolated: bool = False  # only for trusted data on machines without namespaces/root

    @field_validator("transforms")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        names = [transform_name(x) for x in v]
        if len(set(names)) != len(names):
            raise ValueError(f"transforms repeat a transform: {v}")
        return names


def text_of_tests(tests: dict | None) -> str:
    """Everything the tests could mention (setup, cases, prelude, fn_name) as text."""
    if not tests:
        return ""
    parts: list[str] = []
    for k, v in tests.items():
        if k == "cases":
            parts.extend(c if isinstance(c, str) else json.dumps(c, default=str) for c in v or [])
        elif isinstance(v, str):
            parts.append(v)
    return "\n".join(parts)


def keywords_of_tests(tests: dict | None) -> set[str] | None:
    """Keyword-argument names the tests pass to the code; None when they cannot be known (no tests, or test
    code that does not parse, or keywords built from a dict)."""
    if not tests or not tests.get("cases"):
        return None
    kind = tests.get("kind")
    if kind == "stdio":
        return set()  # a script: nothing outside calls its functions
    out: set[str] = set()
    sources = [tests.get("setup") or ""]
    if kind == "call":
        for c in tests["cases"]:
            if isinstance(c, dict) and c.get("input_expr"):
                sources.append(c["input_expr"])
    else:
        sources += [c for c in tests["cases"] if isinstance(c, str)]
    for src in sources:
        try:
            tree = ast.parse(src)
        except (SyntaxError, ValueError):
            return None
        for n in ast.walk(tree):
            if isinstance(n, ast.Call):
                for k in n.keywords:
                    if k.arg is None:
                        return None  # f(**kwargs): any name
                    out.add(k.arg)
            elif isinstance(n, ast.Dict) and kind == "call":
                out.update(k.value for k in n.keys if isinstance(k, ast.Constant) and isinstance(k.value, str))
    return out


def _compiles(code: str) -> str | None:
    """None when ``code`` compiles, else the error."""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            compile(code, "<augment>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:
        return f"{type(e).__name__}: {e}"
    return None


@register
class SpatAugment(Expander[SpatAugmentConfig]):
    """SPAT program transformations (12 rules), one variant per applicable transform, kept only when it
    passes the record's tests in the sandbox."""

    name = "spat_augment"
    Config = SpatAugmentConfig
    needs: ClassVar[tuple[str, ...]] = ("cpu", "sandbox")
    paper: ClassVar[str] = ("SPAT (Yu, Wang, Wang, JSS 2022) as run in the study's Techniques/Aug/run.py: "
                            "12 transforms, one variant each, keep original, 100% tests, shuffle seed 42")

    def setup(self) -> None:
        try:
            import libcst  # noqa: F401 - the transforms rewrite with it
        except ImportError as e:
            raise ImportError("spat_augment needs libcst (pip install 'libcst>=1.1')") from e
        from codecurate.sandbox import SandboxConfig, protections

        c = self.config
        self.sandbox_config = SandboxConfig(timeout_per_test=c.timeout_per_test, timeout_total=c.timeout_total,
                                            memory_mb=c.memory_mb, allow_unisolated=c.allow_unisolated)
        protections(self.sandbox_config)

    # -- candidates -------------------------------------------------------------------------------------
    def candidates(self, rec: dict) -> list[dict]:
        """Every variant the transforms make for ``rec`` before validation: [{transform, code, sites, error}]."""
        from codecurate.ops.augment._cst import Program

        code = rec.get("code") or ""
        tests = rec.get("tests") if (rec.get("tests") or {}).get("cases") else None
        text, keywords = text_of_tests(tests), keywords_of_tests(tests)
        try:
            prog = Program(code, text, keywords)
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            self.count("skipped.does_not_parse")
            return []
        names = [t for t in self.config.transforms if tests is not None or TRANSFORMS[t].BY_CONSTRUCTION]
        out, applied = [], []
        for t in names:
            prog.reset_names()
            rng = random.Random(f"{self.seed}:{rec['id']}:{t}")
            try:
                new, sites = TRANSFORMS[t].apply(prog, rng)
            except Exception as e:  # noqa: BLE001 - a transform bug costs one variant, never the record
                out.append({"transform": t, "code": code, "sites": 0, "error": f"{type(e).__name__}: {e}"})
                continue
            if sites:
                out.append({"transform": t, "code": new, "sites": sites, "error": None})
                applied.append(t)
            else:
                self.count(f"not_applicable.{t}")
        if prog.cst_error:
            self.count("skipped.libcst_parse_error")  # only LocalVarRenaming (text edits) could run
        if self.config.chain >= 2 and len(applied) >= 2:
            out.append(self._chain(rec, code, applied, text, keywords))
        return out

    def _chain(self, rec: dict, code: str, applied: list[str], text: str, keywords) -> dict:
        from codecurate.ops.augment._cst import Program

        rng = random.Random(f"{self.seed}:{rec['id']}:chain")
        steps = rng.sample(applied, min(self.config.chain, len(applied)))
        done, total = [], 0
        for t in steps:
            try:
                new, sites = TRANSFORMS[t].apply(Program(code, text, keywords), random.Random(f"{rng.random()}"))
            except SyntaxError:
                break
            except Exception as e:  # noqa: BLE001
                return {"transform": "+".join(steps), "code": code, "sites": 0, "error": f"{type(e).__name__}: {e}"}
            if sites:
                code, total = new, total + sites
                done.append(t)
        return {"transform": "+".join(done) or "+".join(steps), "code": code, "sites": total, "error": None,
                "chain": True}

    # -- batch ------------------------------------------------------------------------------------------
    def process(self, records: list[dict]) -> BatchResult:
        self.ensure_setup()
        res = BatchResult()
        c = self.config
        groups: list[list[dict]] = []  # per record: [original, kept variants...]
        pending: list[tuple[int, dict, dict]] = []  # (group, variant record, candidate) awaiting tests

        def reject(variant: dict, cand: dict, why: str, kind: str) -> None:
            res.dropped.append(Dropped(variant, f"augment: {cand['transform']}: {why}",
                                       {"transform": cand["transform"], "parent_id": variant["stats"]["augment"]
                                        ["parent_id"], "sites_changed": cand["sites"], "kind": kind}))
            self.count(f"rejected.{kind}")
            self.count(f"rejected.{cand['transform']}.{kind}")

        for rec in records:
            groups.append([rec])
            g = len(groups) - 1
            tests = rec.get("tests") if (rec.get("tests") or {}).get("cases") else None
            if not (rec.get("code") or "").strip():
                self.count("skipped.empty")
                continue
            if tests is None and c.require_tests:
                self.count("skipped.no_tests")
                continue
            base = normalized(rec["code"])
            seen: dict[str | None, str] = {base: rec["id"]} if base is not None else {}
            for cand in self.candidates(rec):
                variant = self._variant(rec, cand)
                res.created += 1
                self.count(f"applied.{cand['transform']}")
                if cand["error"]:
                    reject(variant, cand, f"transform error ({cand['error']})", "error")
                    continue
                err = _compiles(cand["code"])
                if err is not None:
                    reject(variant, cand, f"did not parse ({err})", "did_not_parse")
                    continue
                norm = normalized(cand["code"])
                if norm == base:
                    reject(variant, cand, "no change", "no_change")
                    continue
                if norm in seen:
                    reject(variant, cand, f"duplicate (of {seen[norm]})", "duplicate")
                    continue
                seen[norm] = variant["id"]
                if tests is None:
                    groups[g].append(variant)
                else:
                    pending.append((g, variant, cand))
        self._run_tests(pending, groups, reject)
        out: list[dict] = []
        for grp in groups:
            orig, variants = grp[0], grp[1:]
            if c.max_variants is not None and len(variants) > c.max_variants:
                rng = random.Random(f"{self.seed}:{orig['id']}:max_variants")
                keep = set(rng.sample(range(len(variants)), c.max_variants))
                for j, v in enumerate(variants):
                    if j not in keep:
                        cand = {"transform": v["stats"]["augment"]["transform"],
                                "sites": v["stats"]["augment"]["sites_changed"]}
                        reject(v, cand, f"over max_variants ({c.max_variants})", "over_max_variants")
                variants = [v for j, v in enumerate(variants) if j in keep]
            if (orig.get("code") or "").strip():
                orig.setdefault("stats", {})["augment"] = {"transform": None, "parent_id": None,
                                                           "variants": len(variants)}
            for v in variants:
                self.count(f"kept.{v['stats']['augment']['transform']}")
            self.count("variants_kept", len(variants))
            out.append(orig)
            out.extend(variants)
        if c.shuffle and out:
            random.Random(f"{self.seed}:shuffle:{records[0]['id']}").shuffle(out)
        res.kept = out
        res.counters = self.take_counters()
        return res

    def _variant(self, rec: dict, cand: dict) -> dict:
        v = copy.deepcopy(rec)
        v["id"] = f"{rec['id']}#aug:{cand['transform']}"
        set_code(v, cand["code"])
        v.setdefault("stats", {})
        v["stats"].pop("augment", None)
        v["stats"]["augment"] = {"transform": cand["transform"], "parent_id": rec["id"],
                                 "sites_changed": cand["sites"]}
        return v

    def _run_tests(self, pending: list, groups: list, reject) -> None:
        if not pending:
            return
        from codecurate.ops.clean.execution_filter import _first_failure
        from codecurate.sandbox import run_tests_many

        items = []
        for _, v, _ in pending:
            ref = get_field(v, self.config.reference_field)
            items.append((v["code"], v["tests"], ref if isinstance(ref, str) and ref else None))
        outs = run_tests_many(items, self.sandbox_config, workers=self.config.workers,
                              stdio_compare=self.config.stdio_compare)
        for (g, v, cand), o in zip(pending, outs):
            total = len(o.results)
            passed = sum(1 for x in o.results if x is True)
            ratio = passed / total if total else 0.0
            v["stats"]["augment"]["tests"] = {"passed": passed, "total": total}
            if total and ratio + 1e-12 >= self.config.min_pass_ratio:
                groups[g].append(v)
            else:
                first = _first_failure(list(o.results), list(o.per_case or []))
                detail = f" ({first})" if first else (f" ({o.error})" if o.error else "")
                reject(v, cand, f"failed {total - passed}/{total} tests{detail}", "failed_tests")
