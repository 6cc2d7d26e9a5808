"""IfDividing (SPAT rule 9; the study's ``if_dividing``).

``if A and B: X else: Y`` becomes ``if A: (if B: X else: Y) else: Y``: split once at the top-level ``and``,
with the ``else`` (or ``elif`` chain) copied to both levels as SPAT does, so ``Y`` runs exactly when the
original condition is false. Without ``else``: ``if A: if B: X``. ``if A or B: X else: Y`` becomes
``if A: X elif B: X else: Y`` (the body is copied; it still runs at most once). ``bool`` of each operand is
taken in the same order and the same number of times as by the original condition.

The study's port attached the else only to the innermost ``if`` (wrong when ``A`` is false).
"""

from __future__ import annotations

import ast
import functools

from codecurate.ops.augment._cst import base_transformer, fit, lib, run_if

NAME = "IfDividing"
STUDY_NAME = "if_dividing"
BY_CONSTRUCTION = True


def apply(prog, rng):
    return run_if(prog, prog.an.any_node(lambda n: isinstance(n, ast.If) and isinstance(n.test, ast.BoolOp)),
                  _transformer(), rng)


@functools.cache
def _transformer():
    cst = lib()

    class T(base_transformer()):
        def leave_If(self, original, updated):
            test = updated.test
            if not isinstance(test, cst.BooleanOperation):
                return updated
            a, b = fit(self.p, test.left), fit(self.p, test.right)
            ws = updated.whitespace_before_test
            if ws.value == "":
                ws = cst.SimpleWhitespace(" ")
            self.sites += 1
            if isinstance(test.operator, cst.And):
                inner = cst.If(test=b, body=updated.body, orelse=updated.orelse)
                return updated.with_changes(test=a, whitespace_before_test=ws,
                                            body=cst.IndentedBlock(body=[inner]), orelse=updated.orelse)
            second = cst.If(test=b, body=updated.body, orelse=updated.orelse)
            return updated.with_changes(test=a, whitespace_before_test=ws, orelse=second)

    return T
