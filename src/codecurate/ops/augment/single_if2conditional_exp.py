"""SingleIF2ConditionalExp (SPAT rule 4; the study's ``single_if_to_conditional``).

``if c: x = a else: x = b`` becomes ``x = a if c else b``, where each branch is exactly one assignment to
the same target (same text: a name, ``self.x``, ``arr[i]``; one target or the same chain of targets), or
one augmented assignment with the same target and operator (``x += a if c else b``). ``elif`` chains and
annotated assignments are left alone. Python evaluates ``c``, then the chosen value, then the target in
both forms, so the rewrite is equivalent for every type. Comments inside the two branches are dropped.
"""

from __future__ import annotations

import ast
import functools

from codecurate.ops.augment._cst import (
    base_transformer,
    lib,
    operand,
    run_if,
    small_statements,
)

NAME = "SingleIF2ConditionalExp"
STUDY_NAME = "single_if_to_conditional"
BY_CONSTRUCTION = True


def apply(prog, rng):
    return run_if(prog, prog.an.any_node(lambda n: isinstance(n, ast.If) and n.orelse),
                  _transformer(), rng)


@functools.cache
def _transformer():
    cst = lib()

    class T(base_transformer()):
        def __init__(self, prog, rng) -> None:
            super().__init__(prog, rng)
            self.elifs: list = []  # an elif is an If in its parent's orelse; it must stay an If

        def visit_If(self, node):
            if isinstance(node.orelse, cst.If):
                self.elifs.append(node.orelse)

        def leave_If(self, original, updated):
            if not isinstance(updated.orelse, cst.Else) or any(original is e for e in self.elifs):
                return updated
            body, other = small_statements(updated.body), small_statements(updated.orelse.body)
            if not body or not other or len(body) != 1 or len(other) != 1:
                return updated
            s1, s2 = body[0], other[0]
            r = self.p.render
            if isinstance(s1, cst.Assign) and isinstance(s2, cst.Assign):
                if [r(t.target) for t in s1.targets] != [r(t.target) for t in s2.targets]:
                    return updated
            elif isinstance(s1, cst.AugAssign) and isinstance(s2, cst.AugAssign):
                if r(s1.target) != r(s2.target) or type(s1.operator) is not type(s2.operator):
                    return updated
            else:
                return updated
            value = cst.IfExp(test=operand(updated.test), body=operand(s1.value), orelse=operand(s2.value))
            self.sites += 1
            new = s1.with_changes(value=value, semicolon=cst.MaybeSentinel.DEFAULT)
            return cst.SimpleStatementLine(body=[new], leading_lines=updated.leading_lines)

    return T
