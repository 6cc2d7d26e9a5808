"""``spat_augment`` against the study's augmentation port, on MBPP (train split) and the LeetCode fixture.

For every transform: how often it applies (its variant differs from the original), how often that variant
passes all of the record's tests (validity = passing / applied), and variants kept per sample, for

- ours: ``spat_augment`` (libcst, semantics-preserving transforms, dedup, 100 % tests), and
- the port: a re-implementation, in this file, of the study's ``Techniques/Aug`` transforms as described in
  ``shared/reference/seed0_techniques.md`` §1.2 (``ast`` rewrites, bugs included; ``ast.unparse`` stands in
  for astor 0.8.1, which only changes formatting). Written from the notes, not from the study's code, so
  where the notes leave a detail open the reading is stated at the transform.

Only records whose original code passes its own tests count (a failing original says nothing about a
transform). Also: records/s of the whole op (transforms + sandbox) with 1 and 2 sandbox workers, the
transforms alone, and libcst vs ``ast`` on keeping comments (the reason for libcst).

    python benchmarks/bench_augment.py [--quick]     # writes benchmarks/results/augment.json

The machine is shared with other jobs; the JSON records the CPU count and load average.
"""

from __future__ import annotations

import argparse
import ast
import copy
import json
import os
import random
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import codecurate as cc
from codecurate.ops.augment import TRANSFORMS
from codecurate.ops.augment._cst import Program
from codecurate.ops.augment.spat_augment import (
    SpatAugment,
    keywords_of_tests,
    text_of_tests,
)
from codecurate.sandbox import run_tests_many

warnings.simplefilter("ignore")


# =====================================================================================================
# The study's port, re-implemented from the reference notes (seed0_techniques.md §1.2)
# =====================================================================================================
class _ConditionalToSingleIf(ast.NodeTransformer):
    """``t = a if c else b`` (an Assign whose value is an IfExp; first target only) -> if/else."""

    def visit_Assign(self, node):
        self.generic_visit(node)
        if isinstance(node.value, ast.IfExp):
            t = node.targets[0]
            return ast.If(test=node.value.test, body=[ast.Assign(targets=[t], value=node.value.body)],
                          orelse=[ast.Assign(targets=[t], value=node.value.orelse)])
        return node


class _SingleIfToConditional(ast.NodeTransformer):
    """An if whose body and else are each one Assign to the same plain name -> ``name = a if c else b``."""

    def visit_If(self, node):
        self.generic_visit(node)
        b, o = node.body, node.orelse
        if (len(b) == 1 and len(o) == 1 and isinstance(b[0], ast.Assign) and isinstance(o[0], ast.Assign)
                and len(b[0].targets) == 1 and len(o[0].targets) == 1 and isinstance(b[0].targets[0], ast.Name)
                and isinstance(o[0].targets[0], ast.Name) and b[0].targets[0].id == o[0].targets[0].id):
            return ast.Assign(targets=[b[0].targets[0]], value=ast.IfExp(test=node.test, body=b[0].value,
                                                                         orelse=o[0].value))
        return node


def _increment(stmt, name):
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.op, ast.Add) and isinstance(stmt.target, ast.Name) \
            and stmt.target.id == name:
        return stmt.value
    if (isinstance(stmt, ast.Assign) and isinstance(stmt.targets[0], ast.Name) and stmt.targets[0].id == name
            and isinstance(stmt.value, ast.BinOp) and isinstance(stmt.value.op, ast.Add)
            and isinstance(stmt.value.left, ast.Name) and stmt.value.left.id == name):
        return stmt.value.right
    return None


class _WhileToFor(ast.NodeTransformer):
    """``while i <op> stop`` whose last body statement increments ``i``; looks upward for ``i = start`` and
    writes ``for i in range(start, stop, n)`` without the increment. Bugs kept: the comparison operator is
    ignored; the statement removed is the one right before the loop (the init only when adjacent -- our
    reading of "can delete the wrong statement")."""

    def _block(self, body):
        out = list(body)
        for k in range(len(out)):
            w = out[k]
            if not (isinstance(w, ast.While) and isinstance(w.test, ast.Compare) and isinstance(w.test.left, ast.Name)
                    and w.body):
                continue
            i = w.test.left.id
            step = _increment(w.body[-1], i)
            if step is None:
                continue
            start = None
            for j in range(k - 1, -1, -1):
                s = out[j]
                if isinstance(s, ast.Assign) and isinstance(s.targets[0], ast.Name) and s.targets[0].id == i:
                    start = s.value
                    break
            if start is None or k == 0:
                continue
            args = [start, w.test.comparators[0]] + ([step] if not (isinstance(step, ast.Constant) and step.value == 1) else [])
            out[k] = ast.For(target=ast.Name(i, ast.Store()), iter=ast.Call(ast.Name("range", ast.Load()), args, []),
                             body=w.body[:-1] or [ast.Pass()], orelse=w.orelse)
            out[k - 1] = None
        return [s for s in out if s is not None]

    def generic_visit(self, node):
        super().generic_visit(node)
        for f in ("body", "orelse"):
            b = getattr(node, f, None)
            if isinstance(b, list) and b and isinstance(b[0], ast.stmt):
                setattr(node, f, self._block(b))
        return node


class _ForToWhile(ast.NodeTransformer):
    """``for i in range(...)`` -> ``i = start`` + ``while i < stop`` + body + ``i += step`` (negative steps and
    ``continue`` break it); any other ``for x in it`` -> ``x_iter = iter(it)`` + ``while True: x = next(...)``
    with no StopIteration handling. A for-else's else is dropped (not in the notes; our reading)."""

    def visit_For(self, node):
        self.generic_visit(node)
        it = node.iter
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "range" and \
                isinstance(node.target, ast.Name) and 1 <= len(it.args) <= 3:
            a = it.args
            start, stop = (ast.Constant(0), a[0]) if len(a) == 1 else (a[0], a[1])
            step = a[2] if len(a) == 3 else ast.Constant(1)
            i = node.target.id
            return [ast.Assign(targets=[ast.Name(i, ast.Store())], value=start),
                    ast.While(test=ast.Compare(ast.Name(i, ast.Load()), [ast.Lt()], [stop]),
                              body=node.body + [ast.AugAssign(ast.Name(i, ast.Store()), ast.Add(), step)], orelse=[])]
        tname = (node.target.id if isinstance(node.target, ast.Name) else "x") + "_iter"
        return [ast.Assign(targets=[ast.Name(tname, ast.Store())], value=ast.Call(ast.Name("iter", ast.Load()), [it], [])),
                ast.While(test=ast.Constant(True), body=[ast.Assign(targets=[node.target], value=ast.Call(
                    ast.Name("next", ast.Load()), [ast.Name(tname, ast.Load())], []))] + node.body, orelse=[])]


class _IfDividing(ast.NodeTransformer):
    """``if A and B and C`` -> nested ifs, the else only on the innermost; ``if A or B`` -> if/elif chain with
    the body copied (the notes say "a chain of ifs"; we read it as elifs, the benign reading)."""

    def visit_If(self, node):
        self.generic_visit(node)
        if isinstance(node.test, ast.BoolOp):
            vals = node.test.values
            if isinstance(node.test.op, ast.And):
                inner = ast.If(test=vals[-1], body=node.body, orelse=node.orelse)
                for v in reversed(vals[:-1]):
                    inner = ast.If(test=v, body=[inner], orelse=[])
                return inner
            chain = ast.If(test=vals[-1], body=copy.deepcopy(node.body), orelse=node.orelse)
            for v in reversed(vals[:-1]):
                chain = ast.If(test=v, body=copy.deepcopy(node.body), orelse=[chain])
            return chain
        return node


class _DivideInfix:
    """Every arithmetic/bitwise BinOp in a function body -> ``temp_N = <binop>`` before the enclosing
    top-level statement of that function (out of loops too); at module level the BinOp becomes an undefined
    ``temp_N``."""

    def __call__(self, tree):
        self.n = 0
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                new = []
                for stmt in node.body:
                    pre = []
                    self._hoist(stmt, pre)
                    new += pre + [stmt]
                node.body = new
        for stmt in tree.body:
            if not isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self._hoist(stmt, None)
        return tree

    def _hoist(self, node, pre):
        for field, value in ast.iter_fields(node):
            if isinstance(value, list):
                for k, v in enumerate(value):
                    if isinstance(v, ast.AST) and not isinstance(v, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        value[k] = self._sub(v, pre)
            elif isinstance(value, ast.AST):
                setattr(node, field, self._sub(value, pre))

    def _sub(self, v, pre):
        self._hoist(v, pre)
        if isinstance(v, ast.BinOp):
            self.n += 1
            name = f"temp_{self.n}"
            if pre is not None:
                pre.append(ast.Assign(targets=[ast.Name(name, ast.Store())], value=v))
            return ast.Name(name, ast.Load())
        return v


class _ReverseIfElse(ast.NodeTransformer):
    def visit_If(self, node):
        self.generic_visit(node)
        if node.orelse:
            return ast.If(test=ast.UnaryOp(ast.Not(), node.test), body=node.orelse, orelse=node.body)
        return node


class _Rearrange(ast.NodeTransformer):
    """In FunctionDef/If/For/While bodies: for i = 0..n-2 swap statements i, i+1 when their Name sets are
    disjoint (greedy, so a statement can drift); no check for calls, returns or I/O."""

    def generic_visit(self, node):
        super().generic_visit(node)
        if isinstance(node, (ast.FunctionDef, ast.If, ast.For, ast.While)):
            b = node.body
            for i in range(len(b) - 1):
                n1 = {x.id for x in ast.walk(b[i]) if isinstance(x, ast.Name)}
                n2 = {x.id for x in ast.walk(b[i + 1]) if isinstance(x, ast.Name)}
                if not n1 & n2:
                    b[i], b[i + 1] = b[i + 1], b[i]
        return node


class _RenameAll(ast.NodeTransformer):
    """Every Name (builtins included) and every argument in a function -> temp_1, temp_2, ... (per function)."""

    def visit_FunctionDef(self, node):
        names: dict[str, str] = {}

        def new(x):
            return names.setdefault(x, f"temp_{len(names) + 1}")

        for a in ast.walk(node.args):
            if isinstance(a, ast.arg):
                a.arg = new(a.arg)
        for stmt in node.body:
            for n in ast.walk(stmt):
                if isinstance(n, ast.Name):
                    n.id = new(n.id)
                elif isinstance(n, ast.arg):
                    n.arg = new(n.arg)
        return node


class _AddAssign(ast.NodeTransformer):
    def visit_AugAssign(self, node):
        if isinstance(node.op, ast.Add):
            load = copy.deepcopy(node.target)
            for n in ast.walk(load):
                if hasattr(n, "ctx"):
                    n.ctx = ast.Load()
            return ast.Assign(targets=[node.target], value=ast.BinOp(load, ast.Add(), node.value))
        return node


def _merge_module(tree):
    """Module level only: runs of consecutive top-level Assigns -> one tuple assignment, no dependency check."""
    out, run = [], []

    def flush():
        if len(run) >= 2:
            out.append(ast.Assign(targets=[ast.Tuple([s.targets[0] for s in run], ast.Store())],
                                  value=ast.Tuple([s.value for s in run], ast.Load())))
        else:
            out.extend(run)
        run.clear()

    for s in tree.body:
        if isinstance(s, ast.Assign) and len(s.targets) == 1:
            run.append(s)
        else:
            flush()
            out.append(s)
    flush()
    tree.body = out
    return tree


class _Divide(ast.NodeTransformer):
    def visit_Assign(self, node):
        t, v = node.targets[0], node.value
        if isinstance(t, ast.Tuple) and isinstance(v, ast.Tuple) and len(t.elts) == len(v.elts) and len(node.targets) == 1:
            return [ast.Assign(targets=[a], value=b) for a, b in zip(t.elts, v.elts)]
        return node


PORT = {  # keyed by the SPAT rule name our op uses
    "ConditionalExp2SingleIF": lambda t: _ConditionalToSingleIf().visit(t),
    "SingleIF2ConditionalExp": lambda t: _SingleIfToConditional().visit(t),
    "While2For": lambda t: _WhileToFor().visit(t),
    "For2While": lambda t: _ForToWhile().visit(t),
    "IfDividing": lambda t: _IfDividing().visit(t),
    "InfixExpressionDividing": lambda t: _DivideInfix()(t),
    "ReverseIfElse": lambda t: _ReverseIfElse().visit(t),
    "StatementsOrderRearrangement": lambda t: _Rearrange().visit(t),
    "LocalVarRenaming": lambda t: _RenameAll().visit(t),
    "AddAssignment2EqualAssignment": lambda t: _AddAssign().visit(t),
    "VarDeclarationMerging": _merge_module,
    "VarDeclarationDividing": lambda t: _Divide().visit(t),
}


def port_variants(code: str) -> dict[str, str]:
    """The study's procedure: origin = unparse(parse(code)); each transform on a fresh tree; a transform
    that raises gives origin; a variant counts when it differs from origin."""
    try:
        origin = ast.unparse(ast.parse(code))
    except SyntaxError:
        return {}
    out = {}
    for name, fn in PORT.items():
        try:
            tree = fn(ast.parse(code))
            new = ast.unparse(ast.fix_missing_locations(tree))
        except Exception:  # noqa: BLE001 - the study's try/except returns origin
            new = origin
        if new.strip() != origin.strip():
            out[name] = new
    return out


# =====================================================================================================
# Measurements
# =====================================================================================================
def load(quick: bool) -> dict[str, list[dict]]:
    mbpp = [r for r in cc.read_records(ROOT / "src/codecurate/data/benchmarks/mbpp.jsonl")
            if 601 <= int(r["id"]) <= 974]
    leet = list(cc.read_records(ROOT / "tests/data/leetcode_100.json"))
    if quick:
        mbpp, leet = mbpp[:60], leet[:30]
    return {"mbpp_train": mbpp, "leetcode_100": leet}


def passing(records: list[dict], workers: int = 2) -> list[dict]:
    outs = run_tests_many([(r["code"], r["tests"]) for r in records], workers=workers)
    return [r for r, o in zip(records, outs) if o.status == "passed"]


def measure_ours(records: list[dict], workers: int) -> tuple[dict, float]:
    op = SpatAugment({"workers": workers, "shuffle": False}, seed=42)
    op.ensure_setup()
    t0 = time.perf_counter()
    res = op.process([copy.deepcopy(r) for r in records])
    secs = time.perf_counter() - t0
    c = res.counters
    per = {}
    for t in TRANSFORMS:
        applied = c.get(f"applied.{t}", 0) - c.get(f"rejected.{t}.no_change", 0) - c.get(f"rejected.{t}.duplicate", 0)
        kept = c.get(f"kept.{t}", 0)
        failed = c.get(f"rejected.{t}.failed_tests", 0) + c.get(f"rejected.{t}.did_not_parse", 0) + \
            c.get(f"rejected.{t}.error", 0)
        per[t] = {"applied": applied + c.get(f"rejected.{t}.duplicate", 0), "passing": applied - failed,
                  "kept": kept, "duplicates": c.get(f"rejected.{t}.duplicate", 0)}
        tested = per[t]["passing"] + failed
        per[t]["validity"] = round(per[t]["passing"] / tested, 4) if tested else None
    kept_total = c.get("variants_kept", 0)
    applied_total = sum(v["applied"] - v["duplicates"] for v in per.values())
    passing_total = sum(v["passing"] for v in per.values())
    return {"per_transform": per, "variants_kept": kept_total,
            "kept_per_sample": round(kept_total / len(records), 3),
            "applied_per_sample": round(sum(v["applied"] for v in per.values()) / len(records), 3),
            "validity": round(passing_total / applied_total, 4) if applied_total else None,
            "rejected": {k[len("rejected."):]: v for k, v in sorted(c.items())
                         if k.startswith("rejected.") and k.count(".") == 1},
            "records_per_s": round(len(records) / secs, 2), "seconds": round(secs, 2)}, secs


def measure_port(records: list[dict], workers: int = 2) -> dict:
    items, owners = [], []
    for r in records:
        for t, code in port_variants(r["code"]).items():
            items.append((code, r["tests"]))
            owners.append((r["id"], t))
    outs = run_tests_many(items, workers=workers)
    per = {t: {"applied": 0, "passing": 0} for t in PORT}
    kept = 0
    for (rid, t), o in zip(owners, outs):
        per[t]["applied"] += 1
        if o.status == "passed":
            per[t]["passing"] += 1
            kept += 1
    for v in per.values():
        v["validity"] = round(v["passing"] / v["applied"], 4) if v["applied"] else None
    applied = sum(v["applied"] for v in per.values())
    return {"per_transform": {t: per[t] for t in TRANSFORMS}, "variants_kept": kept,
            "kept_per_sample": round(kept / len(records), 3), "applied_per_sample": round(applied / len(records), 3),
            "validity": round(kept / applied, 4) if applied else None}


def transforms_only(records: list[dict]) -> dict:
    t0 = time.perf_counter()
    n = 0
    for r in records:
        prog = Program(r["code"], text_of_tests(r["tests"]), keywords_of_tests(r["tests"]))
        for t, mod in TRANSFORMS.items():
            prog.reset_names()
            n += bool(mod.apply(prog, random.Random(t))[1])
    secs = time.perf_counter() - t0
    t1 = time.perf_counter()
    for r in records:
        port_variants(r["code"])
    secs_port = time.perf_counter() - t1
    return {"ours_records_per_s": round(len(records) / secs, 2), "port_records_per_s": round(len(records) / secs_port, 2),
            "note": "all 12 transforms per record, no sandbox; ours parses once with libcst (positions) + ast"}


def comments_kept(records: list[dict]) -> dict:
    """Share of the original's comment lines still present in each variant: ours (libcst) vs the port's
    ``ast.unparse`` (astor drops comments the same way). And the cost of a parse + regenerate round trip."""
    import libcst

    with_comments = [r for r in records if "#" in r["code"]]
    ours_kept = ours_total = port_kept = port_total = 0
    for r in with_comments:
        comments = [ln.strip() for ln in r["code"].splitlines() if ln.strip().startswith("#")]
        if not comments:
            continue
        prog = Program(r["code"], text_of_tests(r["tests"]), keywords_of_tests(r["tests"]))
        for t, mod in TRANSFORMS.items():
            prog.reset_names()
            out, sites = mod.apply(prog, random.Random(t))
            if sites:
                ours_total += len(comments)
                ours_kept += sum(c in out for c in comments)
        for out in port_variants(r["code"]).values():
            port_total += len(comments)
            port_kept += sum(c in out for c in comments)
    codes = [r["code"] for r in records]
    t0 = time.perf_counter()
    same = sum(libcst.parse_module(c).code == c for c in codes)
    t_cst = time.perf_counter() - t0
    t0 = time.perf_counter()
    for c in codes:
        ast.unparse(ast.parse(c))
    t_ast = time.perf_counter() - t0
    return {"records_with_comment_lines": len(with_comments),
            "ours_libcst_comment_lines_kept": round(ours_kept / ours_total, 4) if ours_total else None,
            "port_ast_unparse_comment_lines_kept": round(port_kept / port_total, 4) if port_total else None,
            "libcst_roundtrip_identical": f"{same}/{len(codes)}",
            "libcst_parse_codegen_ms_per_record": round(1000 * t_cst / len(codes), 3),
            "ast_parse_unparse_ms_per_record": round(1000 * t_ast / len(codes), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="60 MBPP + 30 LeetCode records (a smoke run)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/augment.json"))
    args = ap.parse_args()
    load_start = [round(x, 2) for x in os.getloadavg()]
    t_start = time.time()
    result: dict = {"benchmark": "spat_augment vs the study's augmentation port (re-implemented from the notes)",
                    "data": {}, "machine": {"cpus": os.cpu_count(), "loadavg_at_start": load_start}}
    for name, recs in load(args.quick).items():
        ok = passing(recs)
        entry = {"records": len(recs), "originals_passing": len(ok)}
        ours2, _ = measure_ours(ok, workers=2)
        sub = ok[: max(20, len(ok) // 4)]
        ours1, _ = measure_ours(sub, workers=1)
        ours2_sub, _ = measure_ours(sub, workers=2)
        entry["ours"] = ours2
        entry["port"] = measure_port(ok)
        entry["throughput"] = {"subset_records": len(sub), "records_per_s_workers_1": ours1["records_per_s"],
                               "records_per_s_workers_2": ours2_sub["records_per_s"],
                               "transforms_only": transforms_only(ok)}
        entry["comments"] = comments_kept(ok)
        result["data"][name] = entry
        print(name, json.dumps({k: entry[k] for k in ("records", "originals_passing")}),
              "ours", ours2["validity"], ours2["kept_per_sample"], "port", entry["port"]["validity"],
              entry["port"]["kept_per_sample"], flush=True)
    result["machine"]["loadavg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    result["seconds"] = round(time.time() - t_start, 1)
    totals = Counter()
    for e in result["data"].values():
        totals["ours_kept"] += e["ours"]["variants_kept"]
        totals["port_kept"] += e["port"]["variants_kept"]
        totals["samples"] += e["originals_passing"]
    result["summary"] = {"ours_kept_per_sample": round(totals["ours_kept"] / totals["samples"], 3),
                         "port_kept_per_sample": round(totals["port_kept"] / totals["samples"], 3),
                         "ours_validity": {k: e["ours"]["validity"] for k, e in result["data"].items()},
                         "port_validity": {k: e["port"]["validity"] for k, e in result["data"].items()}}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result["summary"], indent=1))


if __name__ == "__main__":
    main()
