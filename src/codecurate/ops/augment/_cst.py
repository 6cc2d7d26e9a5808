"""libcst side of the transforms: the per-program context and small node builders.

libcst is imported on first use (``lib()``), never at import time, so ``codecurate ops`` stays fast.
A ``Program`` holds the code, its ``ast`` analysis and (lazily) its libcst tree with source positions; all
transforms of one record share it. Transformer classes are built once, on first use, by ``transformer``.
"""

from __future__ import annotations

import ast
import functools
import random

from codecurate.ops.augment._analysis import Analysis


def lib():
    import libcst

    return libcst


class Program:
    """One record's code as both trees. Raises ``SyntaxError`` when the code does not parse."""

    def __init__(self, code: str, tests_text: str = "", test_keywords: set[str] | None = None):
        self.code = code
        self.an = Analysis(code, tests_text)
        # keyword-argument names the tests (and the code itself) pass: parameters with these names keep them;
        # None = unknown callers (no tests), so no parameter is renamed
        self.test_keywords = test_keywords
        self._names0 = set(self.an.used)
        self._module = None
        self._pos = None
        self.cst_error: str | None = None

    def reset_names(self) -> None:
        """Each transform starts from the original code, so fresh names are chosen from the same pool."""
        self.an.used = set(self._names0)

    @property
    def module(self):
        if self._module is None and self.cst_error is None:
            cst = lib()
            from libcst.metadata import MetadataWrapper, PositionProvider

            try:
                wrapper = MetadataWrapper(cst.parse_module(self.code), unsafe_skip_copy=True)
                self._pos = wrapper.resolve(PositionProvider)
                self._module = wrapper.module
            except Exception as e:  # noqa: BLE001 - libcst's grammar lags CPython's; then no cst transform runs
                self.cst_error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        return self._module

    def stmt(self, node) -> ast.stmt | None:
        """The ast statement a libcst statement (or small statement) of the original tree is."""
        r = self._pos.get(node) if self._pos is not None else None
        return None if r is None else self.an.stmt_at(r.start.line, r.start.column)

    def expr(self, node) -> ast.expr | None:
        r = self._pos.get(node) if self._pos is not None else None
        if r is None:
            return None
        return self.an.expr_at(r.start.line, r.start.column, r.end.line, r.end.column)

    def render(self, node) -> str:
        return self.module.code_for_node(node)


def run_transformer(prog: Program, cls, rng: random.Random) -> tuple[str, int]:
    """Apply a transformer class to the program: (new code, sites rewritten)."""
    module = prog.module
    if module is None:
        return prog.code, 0
    t = cls(prog, rng)
    new = module.visit(t)
    return (new.code, t.sites) if t.sites else (prog.code, 0)


@functools.cache
def base_transformer():
    cst = lib()

    class Base(cst.CSTTransformer):
        """Counts rewritten sites; ``block`` (optional) rewrites statement lists of modules and blocks."""

        block = None

        def __init__(self, prog: Program, rng: random.Random):
            super().__init__()
            self.p = prog
            self.an = prog.an
            self.rng = rng
            self.sites = 0

        def leave_Module(self, original, updated):
            if self.block is None:
                return updated
            return updated.with_changes(body=self.block(list(original.body), list(updated.body)))

        def leave_IndentedBlock(self, original, updated):
            if self.block is None:
                return updated
            return updated.with_changes(body=self.block(list(original.body), list(updated.body)))

    return Base


# -- builders ---------------------------------------------------------------------------------------------
def paren(e):
    cst = lib()
    if e.lpar:
        return e
    return e.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def paren_if(e, types: tuple):
    cst = lib()
    bare_tuple = isinstance(e, cst.Tuple) and not e.lpar
    return paren(e) if (bare_tuple or isinstance(e, types)) else e


def operand(e):
    """``e`` made safe as a sub-expression of a conditional expression, a tuple display or an operand."""
    cst = lib()
    return paren_if(e, (cst.IfExp, cst.Lambda, cst.NamedExpr, cst.Yield, cst.StarredElement))


def to_block(body):
    """An indented block from a block or a one-line suite (``if c: x = 1``)."""
    cst = lib()
    if isinstance(body, cst.IndentedBlock):
        return body
    return cst.IndentedBlock(body=[cst.SimpleStatementLine(body=list(body.body))], header=body.trailing_whitespace)


def block_of(stmts: list):
    cst = lib()
    return cst.IndentedBlock(body=list(stmts))


def line(small, leading=(), trailing=None):
    cst = lib()
    kw = {"leading_lines": list(leading)}
    if trailing is not None:
        kw["trailing_whitespace"] = trailing
    small = [s.with_changes(semicolon=cst.MaybeSentinel.DEFAULT) if hasattr(s, "semicolon") else s for s in small]
    return cst.SimpleStatementLine(body=small, **kw)


def has_comment(lines) -> bool:
    return any(getattr(x, "comment", None) is not None for x in lines)


def single_small(stmt):
    """The only small statement of a one-statement line, else None."""
    cst = lib()
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        return stmt.body[0]
    return None


def small_statements(body) -> list | None:
    """The small statements of a block or suite that is exactly one statement line, else None."""
    cst = lib()
    if isinstance(body, cst.SimpleStatementSuite):
        return list(body.body)
    if (isinstance(body, cst.IndentedBlock) and len(body.body) == 1
            and isinstance(body.body[0], cst.SimpleStatementLine)):
        return list(body.body[0].body)
    return None


def name(value: str):
    return lib().Name(value)


def int_expr(v: int):
    cst = lib()
    if v < 0:
        return cst.UnaryOperation(operator=cst.Minus(), expression=cst.Integer(str(-v)))
    return cst.Integer(str(v))


def fit(prog: Program, e):
    """``e`` moved out of the brackets it sat in: parenthesized when it spans lines (its line breaks were
    legal only inside those brackets)."""
    if getattr(e, "lpar", None):
        return e
    text = prog.module.code_for_node(e)
    return paren(e) if ("\n" in text or "\r" in text) else e


def run_if(prog: Program, ok: bool, cls, rng: random.Random) -> tuple[str, int]:
    """``run_transformer`` when an ast pre-check says the transform may apply (skips a libcst pass)."""
    return run_transformer(prog, cls, rng) if ok else (prog.code, 0)
