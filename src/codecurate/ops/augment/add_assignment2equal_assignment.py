"""AddAssignment2EqualAssignment (SPAT rule 7; the study's ``add_assign_to_equal_assign``).

``x += e`` becomes ``x = x + e`` (and likewise ``-=``, ``*=``, ``/=``, ``//=``, ``%=``, ``**=``; SPAT's rule
covers Java's compound assignments, the study's port only ``+=``). ``e`` is parenthesized when it binds no
tighter than the operator (``x -= a - b`` gives ``x = x - (a - b)``).

``x += e`` calls ``__iadd__``, which for a list extends it in place (every alias sees it, and it accepts any
iterable), while ``x = x + e`` builds a new object. So the rewrite is applied only where ``x`` is a simple
name that provably always holds an immutable builtin value in its scope: bound only to number/string/bool/
None/tuple literals, arithmetic on those, ``len()``/``int()``/``str()``/... results, ``range`` loop values or
its own augmented assignments; never a parameter, a global declared elsewhere, an attribute or a subscript
(``a[i] += 1`` would evaluate ``a[i]`` twice). Not equivalent by construction in one corner (a number
augmented by an object whose ``__radd__`` returns a shared mutable object), so ``BY_CONSTRUCTION = False``.
"""

from __future__ import annotations

import ast
import functools

from codecurate.ops.augment._analysis import immutable_names
from codecurate.ops.augment._cst import base_transformer, lib, paren, run_if

NAME = "AddAssignment2EqualAssignment"
STUDY_NAME = "add_assign_to_equal_assign"
BY_CONSTRUCTION = False


def apply(prog, rng):
    return run_if(prog, ast.AugAssign in prog.an.kinds,
                  _transformer(), rng)


@functools.cache
def _transformer():
    cst = lib()
    OPS = {cst.AddAssign: (cst.Add, 5), cst.SubtractAssign: (cst.Subtract, 5), cst.MultiplyAssign: (cst.Multiply, 6),
           cst.DivideAssign: (cst.Divide, 6), cst.FloorDivideAssign: (cst.FloorDivide, 6),
           cst.ModuloAssign: (cst.Modulo, 6), cst.PowerAssign: (cst.Power, 8)}
    PREC = {cst.BitOr: 1, cst.BitXor: 2, cst.BitAnd: 3, cst.LeftShift: 4, cst.RightShift: 4, cst.Add: 5,
            cst.Subtract: 5, cst.Multiply: 6, cst.Divide: 6, cst.FloorDivide: 6, cst.Modulo: 6, cst.MatrixMultiply: 6,
            cst.Power: 8}
    LOOSE = (cst.BooleanOperation, cst.Comparison, cst.IfExp, cst.Lambda, cst.NamedExpr, cst.Yield)

    def right_operand(e, prec: int):
        if e.lpar:
            return e
        if isinstance(e, cst.BinaryOperation) and PREC.get(type(e.operator), 0) <= prec:
            return paren(e)
        if isinstance(e, (*LOOSE, cst.Tuple)):
            return paren(e)
        if isinstance(e, cst.UnaryOperation) and (isinstance(e.operator, cst.Not) or prec == 8):
            return paren(e) if isinstance(e.operator, cst.Not) else e
        if isinstance(e, cst.Await) and prec == 8:
            return paren(e)
        return e

    class T(base_transformer()):
        def leave_AugAssign(self, original, updated):
            op = OPS.get(type(updated.operator))
            if op is None or not isinstance(updated.target, cst.Name):
                return updated
            node = self.p.stmt(original)
            if not isinstance(node, ast.AugAssign):
                return updated
            scope = self.an.scope(node)
            if isinstance(scope, ast.ClassDef) or updated.target.value not in immutable_names(self.an, scope):
                return updated
            cls, prec = op
            value = cst.BinaryOperation(left=cst.Name(updated.target.value), operator=cls(),
                                        right=right_operand(updated.value, prec))
            self.sites += 1
            return cst.Assign(targets=[cst.AssignTarget(target=updated.target)], value=value,
                              semicolon=updated.semicolon)

    return T
