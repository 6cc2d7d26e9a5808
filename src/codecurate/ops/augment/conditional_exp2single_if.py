"""ConditionalExp2SingleIF (SPAT rule 5; the study's ``conditional_to_single_if``).

``x = a if c else b`` becomes ``if c: x = a`` / ``else: x = b``. Every target of a chained assignment is
kept in both branches (``x = y = a if c else b``; the study rewrote only the first target), augmented
assignments keep their operator (``x += a if c else b``), and, as an extension for Python,
``return a if c else b`` becomes ``if c: return a else: return b``. Only a conditional expression that is
the whole right-hand side, on a line of its own, is rewritten. Equivalent for every type: ``c``, then one
branch, then the target, in the same order.
"""

from __future__ import annotations

import ast
import functools

from codecurate.ops.augment._cst import base_transformer, fit, lib, line, run_if

NAME = "ConditionalExp2SingleIF"
STUDY_NAME = "conditional_to_single_if"
BY_CONSTRUCTION = True


def apply(prog, rng):
    return run_if(prog, ast.IfExp in prog.an.kinds,
                  _transformer(), rng)


@functools.cache
def _transformer():
    cst = lib()

    class T(base_transformer()):
        def leave_SimpleStatementLine(self, original, updated):
            if len(updated.body) != 1:
                return updated
            s = updated.body[0]
            if not isinstance(s, (cst.Assign, cst.AugAssign, cst.Return)) or not isinstance(s.value, cst.IfExp):
                return updated
            e = s.value
            test = fit(self.p, e.test)
            if isinstance(test, cst.Tuple) and not test.lpar:
                return updated
            a = s.with_changes(value=fit(self.p, e.body), semicolon=cst.MaybeSentinel.DEFAULT)
            b = s.with_changes(value=fit(self.p, e.orelse), semicolon=cst.MaybeSentinel.DEFAULT)
            if isinstance(s, cst.Return):
                a = a.with_changes(whitespace_after_return=cst.SimpleWhitespace(" "))
                b = b.with_changes(whitespace_after_return=cst.SimpleWhitespace(" "))
            self.sites += 1
            return cst.If(test=test,
                          body=cst.IndentedBlock(body=[line([a], trailing=updated.trailing_whitespace)]),
                          orelse=cst.Else(body=cst.IndentedBlock(body=[line([b])])),
                          leading_lines=updated.leading_lines)

    return T
