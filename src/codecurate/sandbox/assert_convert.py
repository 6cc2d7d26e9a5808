"""Turn assert-style tests into ``call`` cases whose verdict the host decides.

An ``assert``-kind test runs inside the candidate program's process: the expected value is an object in
that process (a program can find it with ``gc.get_objects()`` or by walking ``sys._getframe()`` frames and
return it), and the pass/fail report comes from code the program can tamper with. A ``call`` case instead
sends only the *arguments* into the sandbox; the function's return value comes back as data
(``_driver.encode``) and is compared on the host, where the expected value lives.

``convert_assert`` parses one assert statement (``ast``, never ``eval``) and, when it is a recognised simple
form around exactly one call of the entry function, returns a call case::

    {"input_expr": "((arg1, arg2), {'kw': v})",   # evaluated in the sandbox, in the program's globals
     "output_expr": "[1, 2]",                     # literal source; the host reads it with ast.literal_eval
     "check": {"op": "eq"}}                       # how the host decides: check_value(got, expected, check)

or, when the expected side is not a literal (``f(x) == sys.getsizeof(x)``), ``"output": None``: the
expected value is the reference solution's return value on the same input (only for the plain ``==`` form).

Forms (``f(a)`` is the single call of the entry function; ``lit`` a literal; either side order for ``==``,
``!=``, ``<``...; the optional assert message is ignored):

    f(a) == lit, f(a) != lit, f(a) < / <= / > / >= lit   op eq / ne / lt / le / gt / ge
    f(a) in lit, lit in f(a), ... not in ...             op in / not_in / contains / not_contains
    f(a) is True / False / None, f(a) is not None        op is / is_not (singletons only)
    f(a)  /  not f(a)                                    op truthy / falsy
    math.isclose(f(a), lit, rel_tol=.., abs_tol=..)      op isclose (also ``isclose(...)``)
    abs(f(a) - lit) < tol  (<=, either operand order)    op abs_diff, "cmp": "lt" | "le", "tol"
    W(f(a)) == lit, W(f(a)) == W(lit)                    "got" / "expected" transforms: set, frozenset,
                                                         sorted, list, tuple, int, float, abs, len,
                                                         round(x, k) — applied on the host, builtins only

Refused (``None``): anything else; two calls of (or any other reference to) the entry function; chained
comparisons; side effects in the arguments or the expected side (``:=``, ``yield``, ``await``, calls of
``print``/``exec``/``open``/..., mutating method calls such as ``.append``/``.pop``); a non-literal expected
side outside the plain ``==`` form, or with ``allow_reference=False``. With ``fn_name`` None the entry
function is the call at the core of the form (``sum(10, 15) == 6`` is Mbpp/126's own ``sum``), except
``print``/``exec``/... and a builtin next to a program's name (``isinstance(f(1), int)``,
``sorted(xs) == f(1)``: refused).

``convert_tests`` also expands a ``check(candidate)`` harness whose ``check`` holds only asserts
(LeetCode's ``def check(candidate): ...`` + ``check(Solution().method)`` scripts, HumanEval records whose
setup defines ``check``) to one call case per assert; the converted tests' setup drops ``check``.

``check_value`` interprets the check spec with a fixed whitelist; it never raises (any exception is a
failure). Values that the sandbox could not transport (``_driver.Opaque``: a program's own object;
``_driver.Digest``: a value too large to send) equal nothing but an identical digest; they pass only
``is_not``/``is``-style checks on the singletons (``Opaque is not None`` is true: the program did return
something) and fail ``truthy``, ``falsy``, ``ne`` and the ordering checks, whose answer would depend on the
object's own code. A digest of a builtin container is truthy (it holds more than 200,000 items).
"""

from __future__ import annotations

import ast
import builtins
import math
from collections.abc import Callable
from typing import Any, TypeGuard

from codecurate.sandbox._driver import Digest, Opaque, no_hash_flood

__all__ = ["CHECK_OPS", "TRANSFORMS", "check_value", "convert_assert", "convert_tests", "convert_tests_with_origin",
           "explain_assert", "validate_check"]

# -- the host side: interpreting a check spec --------------------------------------------------------------

TRANSFORMS = ("set", "frozenset", "sorted", "list", "tuple", "int", "float", "abs", "len", "round")
CHECK_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "contains", "not_contains", "is", "is_not",
             "truthy", "falsy", "isclose", "abs_diff")
_SINGLETONS = (None, True, False)
_BIG_CONTAINERS = ("list", "tuple", "str", "bytes", "bytearray", "dict", "set", "frozenset", "deque", "Counter",
                   "OrderedDict", "defaultdict")
_NUM = (int, float)


class _Refuse(Exception):
    """The assert is not a form we convert (internal)."""


_REFUSED = (_Refuse, RecursionError, MemoryError)  # a pathologically deep expression is refused too


def _untransportable(v: Any, depth: int = 0) -> bool:
    """Does ``v`` hold an Opaque or Digest anywhere (bounded depth)?"""
    if isinstance(v, (Opaque, Digest)):
        return True
    if depth > 50:
        return True
    if isinstance(v, dict):
        return any(_untransportable(k, depth + 1) or _untransportable(x, depth + 1) for k, x in v.items())
    if isinstance(v, (list, tuple, set, frozenset)) or type(v).__name__ == "deque":
        return any(_untransportable(x, depth + 1) for x in v)
    return False


def _apply(value: Any, transforms: list) -> Any:
    for t in transforms or ():
        name, *args = t
        if name == "round":
            (k,) = args or (None,)
            if k is not None and type(k) is not int:
                raise TypeError("round digits must be an int")
            value = round(value) if k is None else round(value, k)
        elif name in TRANSFORMS and not args:
            if isinstance(value, (Opaque, Digest)):
                raise TypeError("untransportable value")
            if name in ("set", "frozenset") and isinstance(value, (list, tuple)):
                no_hash_flood(value)  # a list of colliding ints would make set() quadratic on the host
            fns: dict[str, Callable[[Any], Any]] = {
                "set": set, "frozenset": frozenset, "sorted": sorted, "list": list, "tuple": tuple, "int": int,
                "float": float, "abs": abs, "len": len}
            value = fns[name](value)
        else:
            raise ValueError(f"unknown transform {t!r}")
    return value


def _truth(v: Any) -> bool | None:
    """Python truthiness of a decoded value; None when it cannot be known on the host."""
    if isinstance(v, Opaque):
        return None
    if isinstance(v, Digest):
        return True if v.tname in _BIG_CONTAINERS else None
    return bool(v)


def _check(got: Any, expected: Any, check: dict) -> bool:
    op = check.get("op", "eq")
    got = _apply(got, check.get("got") or [])
    if op in ("truthy", "falsy"):
        t = _truth(got)
        return t is not None and t is (op == "truthy")
    if op in ("is", "is_not"):
        if not any(expected is s for s in _SINGLETONS):
            return False
        return (got is expected) is (op == "is")
    expected = _apply(expected, check.get("expected") or [])
    if op == "eq":
        return bool(got == expected)
    if op == "isclose":
        rel, abs_ = check.get("rel_tol", 1e-9), check.get("abs_tol", 0.0)
        if type(got) not in (int, float, bool) or type(expected) not in (int, float, bool):
            return False
        return math.isclose(got, expected, rel_tol=rel, abs_tol=abs_)
    if op == "abs_diff":
        tol = check.get("tol")
        if not isinstance(tol, _NUM) or isinstance(tol, bool) or _untransportable(got):
            return False
        d = abs(got - expected)
        return bool(d < tol) if check.get("cmp", "lt") == "lt" else bool(d <= tol)
    if _untransportable(got):  # the answer would depend on the object's own __ne__/__lt__/__contains__
        return False
    if op == "ne":
        return bool(got != expected)
    if op in ("lt", "le", "gt", "ge"):
        return bool({"lt": got < expected, "le": got <= expected, "gt": got > expected,
                     "ge": got >= expected}[op])
    if op == "in":
        return bool(got in expected)
    if op == "not_in":
        return bool(got not in expected)
    if op == "contains":
        return bool(expected in got)
    if op == "not_contains":
        return bool(expected not in got)
    return False  # unknown op: validate_check refuses it earlier; never a pass


def check_value(got: Any, expected: Any, check: dict) -> bool:
    """Decide one converted case on the host: does the returned value ``got`` (decoded from the sandbox)
    satisfy ``check`` against ``expected``? ``eq`` is Python's ``==`` (``1 == 1.0 == True``; a tuple is not
    a list). Never raises: a malformed spec or any exception while comparing is a failure."""
    try:
        if not isinstance(check, dict):
            return False
        return _check(got, expected, check) is True
    except Exception:  # noqa: BLE001 - any error while judging is a failed case, never a pass
        return False


def validate_check(check: Any) -> None:
    """Raise ``ValueError`` when ``check`` is not a spec ``check_value`` understands."""
    if not isinstance(check, dict) or check.get("op", "eq") not in CHECK_OPS:
        raise ValueError(f"check must be a dict with 'op' in {CHECK_OPS}; got {check!r:.200}")
    for side in ("got", "expected"):
        for t in check.get(side) or []:
            if not (isinstance(t, list) and t and t[0] in TRANSFORMS
                    and (t[1:] == [] or (t[0] == "round" and len(t) == 2 and type(t[1]) is int))):
                raise ValueError(f"check[{side!r}]: unknown transform {t!r}")
    if check.get("op") == "abs_diff" and (not isinstance(check.get("tol"), _NUM) or check.get("cmp") not in ("lt", "le")):
        raise ValueError("abs_diff needs a numeric 'tol' and 'cmp' 'lt' or 'le'")


# -- the parser: assert statement -> call case ------------------------------------------------------------

_IMPURE_CALLS = {"print", "input", "exec", "eval", "compile", "open", "setattr", "delattr", "globals", "locals",
                 "vars", "__import__", "exit", "quit", "breakpoint", "help", "next", "iter", "getattr", "memoryview"}
_MUTATING_METHODS = {"append", "extend", "insert", "pop", "popleft", "popitem", "remove", "clear", "update",
                     "add", "discard", "sort", "reverse", "setdefault", "appendleft", "extendleft", "rotate",
                     "write", "writelines", "send", "throw", "close", "seed", "shuffle", "__setitem__",
                     "__delitem__", "intersection_update", "difference_update", "symmetric_difference_update"}
_CMP_OPS = {ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge",
            ast.In: "in", ast.NotIn: "not_in", ast.Is: "is", ast.IsNot: "is_not"}
_SWAPPED = {"eq": "eq", "ne": "ne", "lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "in": "contains",
            "not_in": "not_contains", "is": "is", "is_not": "is_not"}
_BUILTIN_NAMES = frozenset(dir(builtins))
_WRAPPERS = {"set", "frozenset", "sorted", "list", "tuple", "int", "float", "abs", "len", "round"}


def _is_entry(call: ast.AST, fn_name: str | None) -> TypeGuard[ast.Call]:
    if not isinstance(call, ast.Call):
        return False
    if fn_name is None:
        return isinstance(call.func, ast.Name)
    if isinstance(call.func, ast.Name):
        return call.func.id == fn_name
    return ast.unparse(call.func) == fn_name  # e.g. "Solution().method"


def _check_pure(node: ast.AST) -> None:
    """Refuse expressions with side effects we would drop or repeat."""
    for n in ast.walk(node):
        if isinstance(n, (ast.NamedExpr, ast.Yield, ast.YieldFrom, ast.Await)):
            raise _Refuse(f"side effect: {type(n).__name__}")
        if isinstance(n, ast.Call):
            f = n.func
            if isinstance(f, ast.Name) and f.id in _IMPURE_CALLS:
                raise _Refuse(f"side effect: call of {f.id}")
            if isinstance(f, ast.Attribute) and f.attr in _MUTATING_METHODS:
                raise _Refuse(f"side effect: .{f.attr}()")


def _literal(node: ast.AST) -> tuple[bool, str]:
    src = ast.unparse(node)
    try:
        ast.literal_eval(src)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, src
    return True, src


def _peel(node: ast.AST, fn_name: str | None) -> tuple[list, ast.Call]:
    """``W1(W2(f(a)))`` -> ([[W2], [W1]], f(a)); refuses when the core is not a call of the entry function."""
    wrappers: list = []
    while (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _WRAPPERS
           and not node.keywords and node.args and isinstance(node.args[0], ast.Call)
           and not _is_entry_named(node, fn_name)):
        name = node.func.id
        if name == "round":
            if len(node.args) == 1:
                wrappers.append(["round"])
            elif len(node.args) == 2 and isinstance(node.args[1], ast.Constant) and type(node.args[1].value) is int:
                wrappers.append(["round", node.args[1].value])
            else:
                raise _Refuse("round() with non-literal digits")
        elif len(node.args) != 1:
            raise _Refuse(f"{name}() with more than one argument")
        else:
            wrappers.append([name])
        node = node.args[0]
    if not _is_entry(node, fn_name):
        raise _Refuse("not a call of the entry function")
    return wrappers[::-1], node  # innermost first


def _is_entry_named(call: ast.Call, fn_name: str | None) -> bool:
    return fn_name is not None and isinstance(call.func, ast.Name) and call.func.id == fn_name


def _wrapped_literal(node: ast.AST) -> tuple[list, str] | None:
    """``lit`` -> ([], src); ``W(lit)`` for a host transform W -> ([[W]], src); else None."""
    ok, src = _literal(node)
    if ok:
        return [], src
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _WRAPPERS
            and not node.keywords and node.func.id != "round" and len(node.args) == 1):
        ok, src = _literal(node.args[0])
        if ok:
            return [[node.func.id]], src
    return None


def _input_expr(call: ast.Call) -> str:
    """The call's arguments as source of ``(args_tuple, kwargs_dict)``."""
    args = ast.Tuple(elts=list(call.args), ctx=ast.Load())
    keys: list[ast.expr | None] = [ast.Constant(k.arg) if k.arg is not None else None for k in call.keywords]
    kwargs = ast.Dict(keys=keys, values=[k.value for k in call.keywords])
    return ast.unparse(ast.Tuple(elts=[args, kwargs], ctx=ast.Load()))


def _num_literal(node: ast.AST) -> float | None:
    ok, src = _literal(node)
    if not ok:
        return None
    v = ast.literal_eval(src)
    return v if isinstance(v, _NUM) and not isinstance(v, bool) else None


def _parse(stmt_src: str, fn_name: str | None, allow_reference: bool) -> tuple[str, dict]:
    try:
        mod = ast.parse(stmt_src.strip())
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:
        raise _Refuse(f"does not parse: {type(e).__name__}") from e
    if len(mod.body) != 1 or not isinstance(mod.body[0], ast.Assert):
        raise _Refuse("not a single assert statement")
    test = mod.body[0].test
    case = _form(test, fn_name, allow_reference)
    call = case.pop("_call")
    name = fn_name if fn_name is not None else call.func.id
    if fn_name is None:
        if name in _IMPURE_CALLS:
            raise _Refuse(f"entry function would be {name}()")
        if name in _BUILTIN_NAMES and any(isinstance(n, ast.Name) and n.id not in _BUILTIN_NAMES
                                          for n in ast.walk(test)):
            raise _Refuse(f"ambiguous entry function: builtin {name}() next to a program's name")
    # exactly one reference to the entry function in the whole test, and it is our call
    calls = [n for n in ast.walk(test) if isinstance(n, ast.Call) and _is_entry(n, name)]
    names = [n for n in ast.walk(test) if isinstance(n, ast.Name) and n.id == name]
    if len(calls) != 1 or len(names) > (1 if isinstance(call.func, ast.Name) else 0):
        raise _Refuse("the entry function is called or referenced more than once")
    for a in list(call.args) + [k.value for k in call.keywords]:
        _check_pure(a)
    try:
        validate_check(case["check"])
    except ValueError as e:
        raise _Refuse(str(e)) from e
    return name, {"input_expr": _input_expr(call), **case}


def _expected_side(node: ast.AST, allow_reference: bool, plain: bool) -> tuple[list, dict]:
    lit = _wrapped_literal(node)
    if lit is not None:
        return lit[0], {"output_expr": lit[1]}
    if not (allow_reference and plain):
        raise _Refuse("expected side is not a literal" + ("" if allow_reference else " (no reference)"))
    _check_pure(node)
    for n in ast.walk(node):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id not in _BUILTIN_NAMES:
            raise _Refuse(f"expected side calls {n.func.id}(): not the reference's value")
    return [], {"output": None}


def _form(test: ast.AST, fn_name: str | None, allow_reference: bool) -> dict:
    # not f(a)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        got_t, call = _peel(test.operand, fn_name)
        return {"_call": call, "output_expr": "False", "check": _spec("falsy", got_t)}
    # f(a)  (truthy)  /  math.isclose(f(a), lit, ...)
    if isinstance(test, ast.Call):
        f = test.func
        if ((isinstance(f, ast.Attribute) and f.attr == "isclose" and isinstance(f.value, ast.Name)
             and f.value.id == "math") or (isinstance(f, ast.Name) and f.id == "isclose" and fn_name != "isclose")):
            if len(test.args) != 2:
                raise _Refuse("isclose() needs two positional arguments")
            spec: dict = {"op": "isclose"}
            for k in test.keywords:
                v = _num_literal(k.value) if k.arg in ("rel_tol", "abs_tol") else None
                if v is None:
                    raise _Refuse(f"isclose() keyword {k.arg!r} is not a numeric literal")
                spec[k.arg] = v
            got_t, call, src = _call_and_literal(test.args[0], test.args[1], fn_name, "isclose()")
            return {"_call": call, "output_expr": src, "check": _spec("isclose", got_t, extra=spec)}
        got_t, call = _peel(test, fn_name)
        return {"_call": call, "output_expr": "True", "check": _spec("truthy", got_t)}
    if not isinstance(test, ast.Compare):
        raise _Refuse(f"unsupported form: {type(test).__name__}")
    if len(test.ops) != 1:
        raise _Refuse("chained comparison")
    op = _CMP_OPS.get(type(test.ops[0]))
    if op is None:
        raise _Refuse("unsupported comparison")
    left, right = test.left, test.comparators[0]
    # abs(f(a) - lit) < tol, tol > abs(...)
    for absn, tol, cmp in ((left, right, op), (right, left, _SWAPPED[op])):
        if (isinstance(absn, ast.Call) and isinstance(absn.func, ast.Name) and absn.func.id == "abs"
                and len(absn.args) == 1 and not absn.keywords and isinstance(absn.args[0], ast.BinOp)
                and isinstance(absn.args[0].op, ast.Sub) and cmp in ("lt", "le") and fn_name != "abs"):
            tv = _num_literal(tol)
            if tv is None:
                raise _Refuse("abs() tolerance is not a numeric literal")
            got_t, call, src = _call_and_literal(absn.args[0].left, absn.args[0].right, fn_name, "abs()")
            return {"_call": call, "output_expr": src,
                    "check": _spec("abs_diff", got_t, extra={"tol": tv, "cmp": cmp})}
    # W(f(a)) <op> [W](lit), either side
    for got_node, exp_node, o in ((left, right, op), (right, left, _SWAPPED[op])):
        try:
            got_t, call = _peel(got_node, fn_name)
        except _Refuse:
            continue
        if o in ("is", "is_not"):
            if not (isinstance(exp_node, ast.Constant) and exp_node.value in _SINGLETONS
                    and any(exp_node.value is s for s in _SINGLETONS)):
                raise _Refuse("'is' with something other than None/True/False")
            return {"_call": call, "output_expr": repr(exp_node.value), "check": _spec(o, got_t)}
        exp_t, exp = _expected_side(exp_node, allow_reference, plain=(o == "eq" and not got_t))
        return {"_call": call, **exp, "check": _spec(o, got_t, exp_t)}
    raise _Refuse("no call of the entry function on either side")


def _spec(op: str, got_t: list, exp_t: list | None = None, extra: dict | None = None) -> dict:
    spec = {**(extra or {}), "op": op}
    if got_t:
        spec["got"] = got_t
    if exp_t:
        spec["expected"] = exp_t
    return spec


def explain_assert(stmt_src: str, fn_name: str | None = None, *, allow_reference: bool = True) -> str | None:
    """Why ``convert_assert`` refuses ``stmt_src`` (None when it converts)."""
    try:
        _parse(stmt_src, fn_name, allow_reference)
    except _REFUSED as e:
        return str(e) or type(e).__name__
    return None


def _call_and_literal(a: ast.AST, b: ast.AST, fn_name: str | None, what: str):
    """Of two operands, the one that (under transforms) calls the entry function and the other, a literal:
    (transforms, call node, literal source). Refuses when neither calls it or the other is not a literal."""
    for got_node, exp_node in ((a, b), (b, a)):
        try:
            got_t, call = _peel(got_node, fn_name)
        except _Refuse:
            continue
        ok, src = _literal(exp_node)
        if not ok:
            raise _Refuse(f"{what} expected side is not a literal")
        return got_t, call, src
    raise _Refuse(f"{what} without a call of the entry function")


def convert_assert(stmt_src: str, fn_name: str | None, *, allow_reference: bool = True) -> dict | None:
    """One assert statement -> a call case (see the module docstring), or None when it is not a form we
    convert. ``fn_name`` None: the entry function is the called function at the core of the form.
    ``allow_reference=False``: refuse forms whose expected value would have to come from a reference
    solution (``output: None``)."""
    try:
        return _parse(stmt_src, fn_name, allow_reference)[1]
    except _REFUSED:
        return None


def _check_function(mod: ast.Module) -> tuple[ast.FunctionDef, list[ast.stmt]] | None:
    """``def check(candidate): <asserts>`` in ``mod`` and the module's other statements (``None`` when the
    module has no such function or its body holds anything but asserts, a docstring or ``pass``)."""
    defs = [n for n in mod.body if isinstance(n, ast.FunctionDef) and n.name == "check"]
    if len(defs) != 1:
        return None
    fn = defs[0]
    a = fn.args
    if fn.decorator_list or len(a.args) != 1 or a.vararg or a.kwarg or a.kwonlyargs or a.posonlyargs:
        return None
    for st in fn.body:
        if not (isinstance(st, (ast.Assert, ast.Pass))
                or (isinstance(st, ast.Expr) and isinstance(st.value, ast.Constant))):
            return None
    return fn, [n for n in mod.body if n is not fn]


def _expand_check(src: str, setup: str) -> tuple[str, list[str]] | None:
    """A ``check(candidate)`` harness (HumanEval's, LeetCode's ``def check(candidate): ...`` + ``check(X)``)
    -> (the entry expression X, the asserts with ``candidate`` as the entry function), when every statement
    of ``check`` is an assert. The function comes from the case itself or, for ``check(X)`` alone, from the
    setup."""
    try:
        mod = ast.parse(src.strip())
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None
    if not mod.body or not isinstance(mod.body[-1], ast.Expr):
        return None
    call = mod.body[-1].value
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "check"
            and len(call.args) == 1 and not call.keywords):
        return None
    if len(mod.body) == 1:
        try:
            found = _check_function(ast.parse(setup or ""))
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            return None
    else:
        found = _check_function(ast.Module(body=mod.body[:-1], type_ignores=[]))
        if found is not None and any(not isinstance(n, (ast.Import, ast.ImportFrom)) for n in found[1]):
            return None  # other module-level code in the case: not a plain harness
    if found is None:
        return None
    fn, _ = found
    param = fn.args.args[0].arg
    asserts = [st for st in fn.body if isinstance(st, ast.Assert)]
    if not asserts:
        return None
    return ast.unparse(call.args[0]), [ast.unparse(_Rename(param).visit(st)) for st in asserts]


class _Rename(ast.NodeTransformer):
    """The check function's parameter -> ``__candidate__``, the entry function's name while converting."""

    def __init__(self, old: str):
        self.old = old

    def visit_Name(self, node: ast.Name) -> ast.Name:
        return ast.Name(id="__candidate__", ctx=node.ctx) if node.id == self.old else node


def _setup_without_check(setup: str, case_imports: list[str]) -> str:
    """The setup a converted harness runs with: the original one minus its ``check`` function (which holds
    the expected values), plus the imports of a case-level harness."""
    out = []
    if setup and "check" in setup:
        try:
            mod = ast.parse(setup)
            out = [ast.unparse(n) for n in mod.body if not (isinstance(n, ast.FunctionDef) and n.name == "check")]
        except (SyntaxError, ValueError, MemoryError, RecursionError):
            out = [setup]
    elif setup:
        out = [setup]
    return "\n".join(out + case_imports)


def convert_tests_with_origin(tests: dict, *, allow_reference: bool = True) -> tuple[dict, list[int], list[int]]:
    """``convert_tests`` plus, per converted call case, the index of the assert case it came from (a
    ``check(candidate)`` harness expands to one call case per assert of its ``check`` function)."""
    if not isinstance(tests, dict) or tests.get("kind") != "assert":
        got = tests.get("kind") if isinstance(tests, dict) else type(tests).__name__
        raise ValueError(f"convert_tests needs an 'assert' tests dict, got {got!r}")
    fn_name = tests.get("fn_name") or None
    setup = tests.get("setup") or ""
    cases: list[dict] = []
    origin: list[int] = []
    failed: list[int] = []
    imports: list[str] = []
    for i, src in enumerate(tests.get("cases") or []):
        try:
            if not isinstance(src, str):
                raise _Refuse("not a string")
            harness = _expand_check(src, setup)
            if harness is None:
                name, case = _parse(src, fn_name, allow_reference)
                new = [case]
            else:
                name, asserts = harness
                new = [_parse(a, "__candidate__", allow_reference)[1] for a in asserts]
                mod = ast.parse(src.strip())
                imports += [ast.unparse(n) for n in mod.body if isinstance(n, (ast.Import, ast.ImportFrom))]
            if fn_name is not None and name != fn_name:
                raise _Refuse("calls another function than the other cases")
        except _REFUSED:
            failed.append(i)
            continue
        fn_name = name
        cases += new
        origin += [i] * len(new)
    out = {"kind": "call", "setup": _setup_without_check(setup, imports), "fn_name": fn_name, "cases": cases,
           "atol": 0.0}
    if tests.get("prelude"):
        out["prelude"] = tests["prelude"]
    return out, origin, failed


def convert_tests(tests: dict, *, allow_reference: bool = True) -> tuple[dict, list[int]]:
    """An ``assert``-kind tests dict -> (a ``call``-kind tests dict holding the cases that convert, in order;
    the indices of the cases that do not). All cases must call the same entry function (``tests["fn_name"]``,
    or the one the first converted case calls); a case calling another one does not convert. A
    ``check(candidate)`` harness whose ``check`` holds only asserts (HumanEval records from
    ``formats.humaneval``, LeetCode's ``def check(candidate): ...`` scripts) expands to one call case per
    assert (``convert_tests_with_origin`` says which case each came from); the converted tests' setup drops
    the ``check`` function, which holds the expected values.

    Callers decide what to do with a partial conversion: the benchmarks (``evaluation.benchmarks``) use the
    call tests only when nothing failed (else MBPP+ inputs or the original assert tests); ``execution_filter``
    mixes (converted cases are judged on the host, the rest run in-process as before)."""
    out, _, failed = convert_tests_with_origin(tests, allow_reference=allow_reference)
    return out, failed
