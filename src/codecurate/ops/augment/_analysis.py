"""What the transforms know about a program: its ``ast``, scopes, bindings, purity. Standard library only.

The transforms rewrite with libcst (which keeps comments and formatting) but decide *whether* a rewrite is
safe on the ``ast`` of the same code: a libcst statement is mapped to its ``ast`` statement by source position
(``Analysis.stmt_at``), and expression sub-trees by start and end position (``Analysis.expr_at``).
"""

from __future__ import annotations

import ast
import builtins
import itertools
import keyword
import random
import re
import string

FUNCS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
SCOPES = FUNCS + (ast.ClassDef, ast.Module)
COMPS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
LOOPS = (ast.For, ast.AsyncFor, ast.While)
TRYS = (ast.Try, ast.With, ast.AsyncWith) + ((ast.TryStar,) if hasattr(ast, "TryStar") else ())
# Names whose use means a function looks at its own namespace (renaming or adding a local would show).
DYNAMIC_NAMES = frozenset({"locals", "vars", "eval", "exec", "globals", "dir", "__import__", "breakpoint"})
DYNAMIC_ATTRS = frozenset({"_getframe", "f_locals", "currentframe", "f_back", "stack"})
ARITH_OPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow, ast.MatMult, ast.LShift,
             ast.RShift, ast.BitOr, ast.BitXor, ast.BitAnd)
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LINES = re.compile(r"\r\n|\r|\n")
BUILTIN_NAMES = frozenset(dir(builtins))


def parse(code: str) -> ast.Module | None:
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def normalized(code: str) -> str | None:
    """The code's syntax tree without positions (comments, formatting and quotes do not count); None when it
    does not parse. Two codes with the same normal form are the same program."""
    tree = parse(code)
    return None if tree is None else ast.dump(tree)


def idents(text: str) -> set[str]:
    """Every identifier-like word in ``text`` (strings and comments included: conservative for fresh names)."""
    return set(_IDENT.findall(text or ""))


def walk_scope(node: ast.AST, *, into_comprehensions: bool = True):
    """Nodes under ``node`` (not ``node`` itself) that belong to its scope: nested functions, lambdas and
    classes are not entered (their decorators, defaults, bases are: those run in this scope)."""
    stack = list(ast.iter_child_nodes(node))
    while stack:
        n = stack.pop()
        yield n
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(n.decorator_list)
            stack.extend(d for d in n.args.defaults + n.args.kw_defaults if d is not None)
        elif isinstance(n, ast.Lambda):
            stack.extend(d for d in n.args.defaults + n.args.kw_defaults if d is not None)
        elif isinstance(n, ast.ClassDef):
            stack.extend(n.decorator_list + n.bases + [k.value for k in n.keywords])
        elif isinstance(n, COMPS) and not into_comprehensions:
            stack.append(n.generators[0].iter)
        else:
            stack.extend(ast.iter_child_nodes(n))


def stored_names(node: ast.AST) -> set[str]:
    """Names bound or deleted anywhere under ``node`` (all scopes), or declared global/nonlocal there."""
    out: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            out.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif isinstance(n, ast.arg):
            out.add(n.arg)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in n.names)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            out.add(n.name)
        elif isinstance(n, (ast.Global, ast.Nonlocal)):
            out.update(n.names)
        elif isinstance(n, (ast.MatchAs, ast.MatchStar)) and n.name:
            out.add(n.name)
        elif isinstance(n, ast.MatchMapping) and n.rest:
            out.add(n.rest)
    return out


def loaded_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def all_names(node: ast.AST) -> set[str]:
    """Every variable name mentioned under ``node`` (read, written, declared)."""
    return loaded_names(node) | stored_names(node)


def has_any(node: ast.AST, types: tuple) -> bool:
    return any(isinstance(n, types) for n in ast.walk(node))


EFFECTS = (ast.Call, ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)


def has_effects(node: ast.AST) -> bool:
    """May run user code with side effects or bind names: calls, await, yield, walrus."""
    return has_any(node, EFFECTS)


def is_trivial(e: ast.AST | None) -> bool:
    """Cannot raise (on a bound name) and has no effect: constants, names, displays of those, -constant."""
    if e is None or isinstance(e, (ast.Constant, ast.Name)):
        return True
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, (ast.USub, ast.UAdd)) and isinstance(e.operand, ast.Constant):
        return True
    if isinstance(e, (ast.Tuple, ast.List, ast.Set)):
        return all(is_trivial(x) for x in e.elts)
    if isinstance(e, ast.Dict):
        return all(k is not None and is_trivial(k) and is_trivial(v) for k, v in zip(e.keys, e.values))
    return False


def is_pure_arith(e: ast.AST) -> bool:
    """Constants and names combined by arithmetic: evaluating it again gives the same value while none of its
    names is rebound (operators on numbers have no side effects)."""
    if isinstance(e, (ast.Constant, ast.Name)):
        return True
    if isinstance(e, ast.BinOp) and isinstance(e.op, ARITH_OPS):
        return is_pure_arith(e.left) and is_pure_arith(e.right)
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, (ast.USub, ast.UAdd, ast.Invert)):
        return is_pure_arith(e.operand)
    return False


def int_constant(e: ast.AST) -> int | None:
    """The value of an int literal (``3``, ``-2``), else None."""
    if isinstance(e, ast.Constant) and type(e.value) is int:
        return e.value
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, (ast.USub, ast.UAdd)):
        v = int_constant(e.operand)
        if v is not None:
            return -v if isinstance(e.op, ast.USub) else v
    return None


def loop_continues(loop: ast.For | ast.AsyncFor | ast.While) -> list[ast.Continue]:
    """``continue`` statements that target ``loop`` (not those of nested loops or functions)."""
    out = []
    stack: list[ast.AST] = list(loop.body)
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Continue):
            out.append(n)
        elif isinstance(n, LOOPS + SCOPES):
            if isinstance(n, LOOPS):
                stack.extend(n.orelse)  # a nested loop's else belongs to our loop
            continue
        else:
            stack.extend(ast.iter_child_nodes(n))
    return out


class Analysis:
    """The ``ast`` side of one program."""

    def __init__(self, code: str, tests_text: str = ""):
        self.code = code
        self.tree = ast.parse(code)
        self.lines = _LINES.split(code)
        self.parent: dict[ast.AST, ast.AST] = {}
        self._stmts: dict[tuple[int, int], ast.stmt] = {}
        self._exprs: dict[tuple[int, int, int, int], ast.expr] = {}
        for node in ast.walk(self.tree):
            for ch in ast.iter_child_nodes(node):
                self.parent[ch] = node
            if isinstance(node, ast.stmt):
                self._stmts[(node.lineno, node.col_offset)] = node
            elif isinstance(node, ast.expr) and node.end_lineno is not None and node.end_col_offset is not None:
                self._exprs[(node.lineno, node.col_offset, node.end_lineno, node.end_col_offset)] = node
        # Every binding anywhere: a builtin such as ``range`` or ``iter`` that is rebound is not the builtin.
        self.bound = stored_names(self.tree)
        self.test_idents = idents(tests_text)
        self.used = idents(code) | self.test_idents | set(keyword.kwlist) | set(BUILTIN_NAMES)
        self.dynamic = any(
            (isinstance(n, ast.Name) and n.id in DYNAMIC_NAMES)
            or (isinstance(n, ast.Attribute) and n.attr in DYNAMIC_ATTRS)
            for n in ast.walk(self.tree))
        self.kinds = {type(n) for n in ast.walk(self.tree)}
        self._locals: dict[ast.AST, set[str]] = {}
        self._closure: dict[ast.AST, set[str]] = {}

    def any_node(self, pred) -> bool:
        return any(pred(n) for n in ast.walk(self.tree))

    def adjacent_simple(self, kinds: tuple) -> bool:
        """Some block has two statements in a row of these kinds."""
        for n in ast.walk(self.tree):
            for field in ("body", "orelse", "finalbody"):
                block = getattr(n, field, None)
                if isinstance(block, list) and any(
                        isinstance(a, kinds) and isinstance(b, kinds) for a, b in itertools.pairwise(block)):
                    return True
        return False

    # -- positions ------------------------------------------------------------------------------------
    def _bytecol(self, line: int, col: int) -> int:
        """libcst columns count characters; ast columns count UTF-8 bytes."""
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        return len(text[:col].encode("utf-8"))

    def stmt_at(self, line: int, col: int) -> ast.stmt | None:
        return self._stmts.get((line, self._bytecol(line, col)))

    def expr_at(self, line: int, col: int, end_line: int, end_col: int) -> ast.expr | None:
        return self._exprs.get((line, self._bytecol(line, col), end_line, self._bytecol(end_line, end_col)))

    def charpos(self, line: int, bytecol: int) -> int:
        """Offset into ``code`` of an ast (line, byte column)."""
        off = 0
        for m in _LINES.finditer(self.code):
            if line == 1:
                break
            line -= 1
            off = m.end()
        text = self.code[off:]
        return off + len(text.encode("utf-8")[:bytecol].decode("utf-8", errors="ignore"))

    # -- scopes ---------------------------------------------------------------------------------------
    def scope(self, node: ast.AST) -> ast.AST:
        """The function, lambda, class or module whose namespace ``node``'s names live in."""
        n = self.parent.get(node)
        while n is not None and not isinstance(n, SCOPES):
            n = self.parent.get(n)
        return n if n is not None else self.tree

    def in_handler_reach(self, node: ast.AST) -> bool:
        """An exception raised at ``node`` could be caught in the same scope (try/except, or a ``with`` whose
        context manager may suppress it), so the values of locals at that moment could be observed."""
        n = self.parent.get(node)
        while n is not None and not isinstance(n, SCOPES):
            if isinstance(n, TRYS):
                return True
            n = self.parent.get(n)
        return False

    def locals_of(self, scope: ast.AST) -> set[str]:
        """Names local to a function scope (parameters and bindings, not global/nonlocal); empty for
        module and class scopes, whose names any call may see."""
        if scope in self._locals:
            return self._locals[scope]
        out: set[str] = set()
        if isinstance(scope, FUNCS):
            a = scope.args
            out = {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg] if x is not None}
            declared: set[str] = set()
            for n in walk_scope(scope, into_comprehensions=True):
                if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
                    out.add(n.id)
                elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    out.add(n.name)
                elif isinstance(n, (ast.Import, ast.ImportFrom)):
                    out.update((al.asname or al.name).split(".")[0] for al in n.names)
                elif isinstance(n, ast.ExceptHandler) and n.name:
                    out.add(n.name)
                elif isinstance(n, (ast.Global, ast.Nonlocal)):
                    declared.update(n.names)
            # comprehension targets belong to the comprehension, not to the function
            for n in walk_scope(scope, into_comprehensions=True):
                if isinstance(n, COMPS):
                    for g in n.generators:
                        out -= {t.id for t in ast.walk(g.target) if isinstance(t, ast.Name)} - self._walrus(scope)
            out -= declared
        self._locals[scope] = out
        return out

    def _walrus(self, scope: ast.AST) -> set[str]:
        return {n.target.id for n in walk_scope(scope) if isinstance(n, ast.NamedExpr)}

    def closure_names(self, scope: ast.AST) -> set[str]:
        """Names mentioned inside functions, lambdas, classes and generator expressions nested in ``scope``:
        such a name may be a closure cell, read or written later by code that runs elsewhere."""
        if scope in self._closure:
            return self._closure[scope]
        out: set[str] = set()
        for n in walk_scope(scope, into_comprehensions=True):
            if isinstance(n, FUNCS + (ast.ClassDef, ast.GeneratorExp)):
                out |= all_names(n)
        self._closure[scope] = out
        return out

    def private_locals(self, scope: ast.AST) -> set[str]:
        """Function locals no other code can see while the function runs (not cells, no dynamic access)."""
        if not isinstance(scope, FUNCS) or self.dynamic:
            return set()
        return self.locals_of(scope) - self.closure_names(scope)

    def read_outside(self, name: str, region: ast.AST, scope: ast.AST) -> bool:
        """``name`` is read somewhere in ``scope`` (nested scopes included) outside ``region``, other than in
        the body of another ``for name in ...`` loop (which rebinds it before any read). At module scope the
        tests count too: a global the tests mention is read."""
        if isinstance(scope, ast.Module) and name in self.test_idents:
            return True
        inside = {id(n) for n in ast.walk(region)}
        inside |= self._dominated_after(name, region)
        rebinding: set[int] = set()
        for n in ast.walk(scope):
            if (isinstance(n, (ast.For, ast.AsyncFor)) and n is not region and isinstance(n.target, ast.Name)
                    and n.target.id == name and id(n) not in inside):
                for b in n.body:
                    rebinding.update(id(x) for x in ast.walk(b))
        for n in ast.walk(scope):
            if id(n) in inside or id(n) in rebinding:
                continue
            if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, (ast.Load, ast.Del)):
                return True
            if isinstance(n, (ast.Global, ast.Nonlocal)) and name in n.names:
                return True
        return False

    def _dominated_after(self, name: str, stmt: ast.AST) -> set[int]:
        """Nodes of the statements that follow a plain re-assignment ``name = <expr not reading name>``
        placed after ``stmt`` in the same block: whatever they read of ``name`` is the new value."""
        parent = self.parent.get(stmt)
        if parent is None:
            return set()
        for field in ("body", "orelse", "finalbody"):
            block = getattr(parent, field, None)
            if isinstance(block, list) and any(x is stmt for x in block):
                break
        else:
            return set()
        k = next(j for j, x in enumerate(block) if x is stmt)
        for r in range(k + 1, len(block)):
            s = block[r]
            if name in loaded_names(s) or (name in stored_names(s) and not isinstance(s, ast.Assign)):
                return set()
            if (isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name)
                    and s.targets[0].id == name):
                return {id(n) for later in block[r:] for n in ast.walk(later)}
        return set()

    # -- names ----------------------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        """A name used nowhere in the code or its tests (and not a keyword or builtin)."""
        k = 0
        while True:
            cand = base if k == 0 else f"{base}{k}"
            if cand not in self.used:
                self.used.add(cand)
                return cand
            k += 1

    def random_name(self, rng: random.Random) -> str:
        """SPAT's renaming scheme: a random 8-character identifier ``[A-Za-z][A-Za-z0-9_]{7}``."""
        first, rest = string.ascii_letters, string.ascii_letters + string.digits + "_"
        while True:
            cand = rng.choice(first) + "".join(rng.choice(rest) for _ in range(7))
            if cand not in self.used:
                self.used.add(cand)
                return cand


def _invariant_shape(e: ast.AST, bound: set[str]) -> tuple[bool, bool]:
    """(has the shape of a loop-invariant bound, uses len()): arithmetic over names, constants and
    ``len(name)`` (the builtin)."""
    if isinstance(e, ast.Call):
        ok = (isinstance(e.func, ast.Name) and e.func.id == "len" and "len" not in bound and len(e.args) == 1
              and not e.keywords and isinstance(e.args[0], ast.Name))
        return ok, True
    if isinstance(e, (ast.Constant, ast.Name)):
        return True, False
    if isinstance(e, ast.BinOp) and isinstance(e.op, ARITH_OPS):
        a, la = _invariant_shape(e.left, bound)
        b, lb = _invariant_shape(e.right, bound)
        return a and b, la or lb
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, (ast.USub, ast.UAdd, ast.Invert)):
        return _invariant_shape(e.operand, bound)
    return False, False


def loop_invariant(an: Analysis, e: ast.AST, loop_parts: list[ast.stmt], scope: ast.AST, extra_stores: set[str]) -> bool:
    """Evaluating ``e`` before every iteration gives the value it had before the loop: its names are not
    rebound in ``loop_parts`` (or ``extra_stores``); when the loop calls anything, they are private locals;
    ``len(x)`` only when the loop has no calls and no ``del`` at all (a call could grow ``x``)."""
    ok, uses_len = _invariant_shape(e, an.bound)
    if not ok:
        return False
    mod = ast.Module(body=list(loop_parts), type_ignores=[])
    names = loaded_names(e)
    if names & (stored_names(mod) | extra_stores):
        return False
    effects = has_effects(mod)
    if uses_len and (effects or has_any(mod, (ast.Delete,))):
        return False
    return not (effects and not names <= an.private_locals(scope))


# Builtins whose result is an immutable value (number, str, bool, tuple of those) whatever their arguments.
IMMUTABLE_CALLS = frozenset({"len", "int", "float", "str", "abs", "ord", "chr", "round", "bool", "hash", "bin",
                             "hex", "oct", "pow", "repr", "ascii", "format", "complex"})
_STR_METHODS = frozenset({"join", "format", "upper", "lower", "strip", "lstrip", "rstrip", "replace", "title",
                          "capitalize", "swapcase", "casefold", "zfill", "center", "ljust", "rjust"})


def immutable_names(an: Analysis, scope: ast.AST) -> set[str]:
    """Names of ``scope`` that provably only ever hold immutable builtin values (numbers, strings, bools,
    None, tuples of constants): every binding is such a value, an augmented assignment to it (``x += e`` on a
    number or string gives a number or string, or raises), or a loop over ``range``. Parameters, imports,
    ``global``/``nonlocal`` names and anything else are not. Greatest fixed point over the bindings."""
    cache = an.__dict__.setdefault("_immutable", {})
    if scope in cache:
        return cache[scope]
    bindings: dict[str, list] = {}
    excluded: set[str] = set()
    if isinstance(scope, FUNCS):
        a = scope.args
        excluded |= {x.arg for x in a.posonlyargs + a.args + a.kwonlyargs + [a.vararg, a.kwarg] if x is not None}
    for n in ast.walk(scope) if isinstance(scope, ast.Module) else [scope, *ast.walk(scope)]:
        if isinstance(n, (ast.Global, ast.Nonlocal)):
            excluded.update(n.names)
    for n in walk_scope(scope, into_comprehensions=True):
        if isinstance(n, ast.Assign):
            for t in n.targets:
                if isinstance(t, ast.Name):
                    bindings.setdefault(t.id, []).append(("value", n.value))
                elif isinstance(t, (ast.Tuple, ast.List)) and isinstance(n.value, (ast.Tuple, ast.List)) and \
                        len(t.elts) == len(n.value.elts):
                    for te, ve in zip(t.elts, n.value.elts):
                        if isinstance(te, ast.Name):
                            bindings.setdefault(te.id, []).append(("value", ve))
                        else:
                            excluded |= stored_names(te)
                else:
                    excluded |= {x.id for x in ast.walk(t) if isinstance(x, ast.Name)}
        elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
            bindings.setdefault(n.target.id, []).append(("aug", None))
        elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
            if n.value is not None:
                bindings.setdefault(n.target.id, []).append(("value", n.value))
        elif isinstance(n, ast.NamedExpr):
            bindings.setdefault(n.target.id, []).append(("value", n.value))
        elif isinstance(n, (ast.For, ast.AsyncFor)):
            if isinstance(n.target, ast.Name):
                bindings.setdefault(n.target.id, []).append(("iter", n.iter))
            else:
                excluded |= stored_names(n.target)
        elif isinstance(n, COMPS):
            pass  # comprehension targets live in the comprehension
        elif isinstance(n, (ast.With, ast.AsyncWith)):
            for item in n.items:
                if item.optional_vars is not None:
                    excluded |= stored_names(item.optional_vars)
        elif isinstance(n, (ast.ExceptHandler, ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef,
                            ast.ClassDef, ast.Delete)):
            excluded |= stored_names(n) if not isinstance(n, ast.ExceptHandler) else ({n.name} if n.name else set())
    # names a nested scope may rebind (nonlocal) or that any function may rebind (global)
    for n in ast.walk(an.tree):
        if isinstance(n, (ast.Global, ast.Nonlocal)):
            excluded.update(n.names)
    typed = set(bindings) - excluded

    def ok(e: ast.AST) -> bool:
        if isinstance(e, ast.Constant):
            return True
        if isinstance(e, ast.JoinedStr):
            return True
        if isinstance(e, ast.Name):
            return e.id in typed
        if isinstance(e, ast.UnaryOp):
            return ok(e.operand)
        if isinstance(e, ast.BinOp):
            return ok(e.left) and ok(e.right)
        if isinstance(e, ast.BoolOp):
            return all(ok(v) for v in e.values)
        if isinstance(e, ast.IfExp):
            return ok(e.body) and ok(e.orelse)
        if isinstance(e, ast.Compare):
            return all(ok(v) for v in [e.left, *e.comparators])
        if isinstance(e, ast.Tuple):
            return all(ok(v) for v in e.elts)
        if isinstance(e, ast.Call) and not e.keywords:
            if isinstance(e.func, ast.Name) and e.func.id in IMMUTABLE_CALLS and e.func.id not in an.bound:
                return True
            if (isinstance(e.func, ast.Attribute) and isinstance(e.func.value, ast.Constant)
                    and isinstance(e.func.value.value, str) and e.func.attr in _STR_METHODS):
                return True
        return False

    def binding_ok(kind: str, e) -> bool:
        if kind == "aug":
            return True
        if kind == "iter":
            return (isinstance(e, ast.Call) and isinstance(e.func, ast.Name) and e.func.id == "range"
                    and "range" not in an.bound) or (isinstance(e, ast.Constant) and isinstance(e.value, str))
        return ok(e)

    changed = True
    while changed:
        changed = False
        for nm in list(typed):
            if not all(binding_ok(k, e) for k, e in bindings[nm]):
                typed.discard(nm)
                changed = True
    cache[scope] = typed
    return typed
