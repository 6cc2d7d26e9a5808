"""LocalVarRenaming (SPAT rule 0; the study's ``rename_local_variables``).

Every variable bound locally in a function gets a fresh random 8-character identifier, as SPAT does
(``[A-Za-z][A-Za-z0-9_]{7}``, seeded), and every use of that binding is renamed, in the function and in the
list/set/dict comprehensions inside it.

Renamed: names a function binds (assignments, loop and ``with`` targets, walrus) and its parameters.
Never renamed: builtins and globals (not bound in the function), attributes, keyword-argument names at
call sites, names declared ``global``/``nonlocal``, names used inside a nested function, lambda, class or
generator expression (closures), names bound by ``import``/``except ... as``/``match`` or ``def``/``class``,
keyword-only parameters, and parameters whose name a test or the code passes as a keyword argument.
When callers are unknown (a record without tests) no parameter is renamed. Functions that use ``locals()``, ``vars()``, ``eval``,
``exec``, ``dir()``, frames, or an f-string ``{x=}`` are left alone.

The edit is made on the source text at each name's position (comments and formatting stay byte for byte),
then checked: the new code must parse to exactly the original tree with those names replaced.
The study's port renamed every ``Name`` including builtins (``print`` -> ``temp_1``), which broke nearly all
programs.
"""

from __future__ import annotations

import ast
import copy
import random
import re

from codecurate.ops.augment._analysis import COMPS, walk_scope

NAME = "LocalVarRenaming"
STUDY_NAME = "rename_local_variables"
BY_CONSTRUCTION = True

_FSTRING_DEBUG = re.compile(r"=\s*(![rsa])?\s*(:[^{}]*)?}")


def _params(f: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.arg]:
    a = f.args
    return [x for x in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg] if x is not None]


def _call_keywords(tree: ast.AST) -> set[str]:
    return {k.arg for n in ast.walk(tree) if isinstance(n, ast.Call) for k in n.keywords if k.arg}


def _special_bindings(f: ast.AST) -> set[str]:
    """Names bound in ``f`` by constructs whose name has no Name node to rename (import, except, match,
    def, class) or declared global/nonlocal."""
    out: set[str] = set()
    for n in walk_scope(f):
        if isinstance(n, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in n.names)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            out.add(n.name)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            out.update(n.names)
        elif isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
            out.add(n.name)
        elif isinstance(n, ast.MatchMapping) and n.rest:
            out.add(n.rest)
    return out


def _uses(f: ast.FunctionDef | ast.AsyncFunctionDef, names: set[str]) -> list[ast.Name | ast.arg]:
    """Name nodes of ``names`` in ``f``'s own scope and in its comprehensions (where not shadowed by a
    comprehension target), plus ``f``'s parameters."""
    out: list[ast.Name | ast.arg] = [p for p in _params(f) if p.arg in names]

    def visit(node: ast.AST, shadow: frozenset[str]) -> None:
        if isinstance(node, ast.Name):
            if node.id in names and node.id not in shadow:
                out.append(node)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for d in node.decorator_list + node.args.defaults + [x for x in node.args.kw_defaults if x]:
                visit(d, shadow)
            return
        if isinstance(node, ast.Lambda):
            for d in node.args.defaults + [x for x in node.args.kw_defaults if x]:
                visit(d, shadow)
            return
        if isinstance(node, ast.ClassDef):
            for d in node.decorator_list + node.bases + [k.value for k in node.keywords]:
                visit(d, shadow)
            return
        if isinstance(node, ast.GeneratorExp):
            visit(node.generators[0].iter, shadow)  # the rest runs later (a closure; such names are excluded)
            return
        if isinstance(node, COMPS):
            targets = frozenset(t.id for g in node.generators for t in ast.walk(g.target) if isinstance(t, ast.Name))
            visit(node.generators[0].iter, shadow)
            inner = shadow | targets
            for i, g in enumerate(node.generators):
                visit(g.target, inner)
                if i:
                    visit(g.iter, inner)
                for c in g.ifs:
                    visit(c, inner)
            for part in (("key", "value") if isinstance(node, ast.DictComp) else ("elt",)):
                visit(getattr(node, part), inner)
            return
        for ch in ast.iter_child_nodes(node):
            visit(ch, shadow)

    for stmt in f.body:
        visit(stmt, frozenset())
    return out


def plan(prog, rng: random.Random) -> dict[ast.Name | ast.arg, str]:
    """{Name or arg node: new name} for every renamed use."""
    an = prog.an
    if an.dynamic:
        return {}
    keywords = None if prog.test_keywords is None else (set(prog.test_keywords) | _call_keywords(an.tree))
    edits: dict[ast.Name | ast.arg, str] = {}
    funcs = [n for n in ast.walk(an.tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
    funcs.sort(key=lambda n: (n.lineno, n.col_offset))
    for f in funcs:
        seg = ast.get_source_segment(an.code, f) or ""
        if any(q in seg for q in ("f'", 'f"', "F'", 'F"')) and _FSTRING_DEBUG.search(seg):
            continue
        params = {p.arg for p in _params(f)}
        cands = set(an.locals_of(f)) - _special_bindings(f) - an.closure_names(f)
        if keywords is None:
            cands -= params
        else:
            cands -= params & keywords
        cands -= {p.arg for p in f.args.kwonlyargs}  # keyword-only: callers must spell them
        # positional-only parameters cannot be passed by keyword: always safe
        cands |= {p.arg for p in f.args.posonlyargs} - an.closure_names(f) - _special_bindings(f)
        if not cands:
            continue
        uses = _uses(f, cands)
        new = {}
        for old in sorted(cands):
            new[old] = an.random_name(rng)
        for node in uses:
            edits[node] = new[node.id if isinstance(node, ast.Name) else node.arg]
    return edits


def apply(prog, rng: random.Random) -> tuple[str, int]:
    an = prog.an
    edits = plan(prog, rng)
    if not edits:
        return prog.code, 0
    spans = []
    for node, new in edits.items():
        old = node.id if isinstance(node, ast.Name) else node.arg
        start = an.charpos(node.lineno, node.col_offset)
        if an.code[start:start + len(old)] != old:  # position not where the name is (should not happen)
            return prog.code, 0
        spans.append((start, old, new))
    spans.sort(reverse=True)
    code = an.code
    for start, old, new in spans:
        code = code[:start] + new + code[start + len(old):]
    # verify: the result is the original tree with exactly these names replaced
    expected = copy.deepcopy(an.tree)
    mapping = {(type(n).__name__, n.lineno, n.col_offset): new for n, new in edits.items()}
    for n in ast.walk(expected):
        key = (type(n).__name__, getattr(n, "lineno", None), getattr(n, "col_offset", None))
        if key in mapping:
            if isinstance(n, ast.Name):
                n.id = mapping[key]
            elif isinstance(n, ast.arg):
                n.arg = mapping[key]
    try:
        got = ast.dump(ast.parse(code))
    except SyntaxError:
        return prog.code, 0
    if got != ast.dump(expected):
        return prog.code, 0
    return code, len(set(edits.values()))

