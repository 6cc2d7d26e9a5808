"""ReverseIfElse (SPAT rule 3; the study's ``reverse_if_else``).

``if c: A else: B`` becomes ``if not c: B else: A`` (``if not x`` becomes ``if x``; ``not (c)`` is
parenthesized where ``c`` binds looser than ``not``). An ``elif`` chain in the else position moves into the
new body as a nested ``if``. ``if`` statements without ``else`` are left alone (SPAT inserts an empty
statement; Python would need ``pass``). ``not`` calls ``bool(c)`` exactly as ``if`` does, so the rewrite is
equivalent for every ``c``.
"""

from __future__ import annotations

import ast
import functools

from codecurate.ops.augment._cst import base_transformer, lib, paren, run_if

NAME = "ReverseIfElse"
STUDY_NAME = "reverse_if_else"
BY_CONSTRUCTION = True


def apply(prog, rng):
    return run_if(prog, prog.an.any_node(lambda n: isinstance(n, ast.If) and n.orelse),
                  _transformer(), rng)


def negate(test):
    cst = lib()
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not) and not test.lpar:
        inner = test.expression
        return inner
    loose = (cst.BooleanOperation, cst.IfExp, cst.Lambda, cst.NamedExpr, cst.Yield)
    if isinstance(test, loose) or (isinstance(test, cst.Tuple) and not test.lpar):
        test = paren(test)
    return cst.UnaryOperation(operator=cst.Not(), expression=test)


@functools.cache
def _transformer():
    cst = lib()

    class T(base_transformer()):
        def leave_If(self, original, updated):
            orelse = updated.orelse
            if orelse is None:
                return updated
            if isinstance(orelse, cst.Else):
                new_body, else_leading = orelse.body, orelse.leading_lines
            else:  # an elif chain becomes a nested if in the new body
                new_body = cst.IndentedBlock(body=[orelse.with_changes(leading_lines=[])])
                else_leading = orelse.leading_lines
            test = negate(updated.test)
            ws = updated.whitespace_before_test
            if isinstance(test, cst.UnaryOperation) or test.lpar:
                ws = cst.SimpleWhitespace(" ") if ws.value == "" else ws
            self.sites += 1
            return updated.with_changes(test=test, whitespace_before_test=ws, body=new_body,
                                        orelse=cst.Else(body=updated.body, leading_lines=else_leading))

    return T
