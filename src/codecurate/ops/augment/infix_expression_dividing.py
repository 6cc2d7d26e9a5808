"""InfixExpressionDividing (SPAT rule 8; the study's ``divide_infix_expressions``).

An arithmetic sub-expression that is an operand of an infix expression (``b * c`` in ``a + b * c``, ``a % 2``
in ``a % 2 == 0``) is computed into a fresh variable declared just before the statement:
``temp = b * c`` / ``x = a + temp``. At most one per statement (the first in evaluation order).

Evaluation order and count must not change, so the hoisted expression:
- has no call, ``await``, ``yield`` or walrus inside, and nothing evaluated before it in the statement has
  one, or is a subscript or attribute access (which may raise or run a property): hoisting moves it before
  them;
- is evaluated exactly once, unconditionally: never out of a ``while`` test, an ``elif`` test, a
  comprehension, a lambda, an f-string, the right operand of ``and``/``or``, a branch of ``x if c else y``
  or the later operands of a chained comparison;
- comes from an assignment's value, an augmented assignment to a name, ``return``, an expression statement,
  an ``if`` test or a ``for`` iterable; never from a class body (the temp would become a class attribute).
The temp is defined right before its use at any nesting level (module level too), under a name used
nowhere in the code or its tests. The study's port hoisted every ``BinOp``, also at module level where it
left undefined names.
"""

from __future__ import annotations

import ast
import functools
from typing import TypeGuard

from codecurate.ops.augment._analysis import COMPS, EFFECTS, has_any
from codecurate.ops.augment._cst import base_transformer, fit, lib, line, name, run_if

NAME = "InfixExpressionDividing"
STUDY_NAME = "divide_infix_expressions"
BY_CONSTRUCTION = True

_OPAQUE = COMPS + (ast.Lambda, ast.JoinedStr)


def first_candidate(root: ast.AST) -> ast.BinOp | None:
    """The first (evaluation order) arithmetic operand of an infix expression under ``root`` that can be
    evaluated earlier without reordering effects."""
    effect = False
    found: list[ast.BinOp] = []

    def eligible(n: ast.AST) -> TypeGuard[ast.BinOp]:
        return isinstance(n, ast.BinOp) and not has_any(n, EFFECTS + _OPAQUE)

    def visit(n: ast.AST, infix_operand: bool) -> None:
        nonlocal effect
        if found:
            return
        before = effect
        if isinstance(n, _OPAQUE):
            effect = effect or has_any(n, EFFECTS) or isinstance(n, COMPS)
            return
        if isinstance(n, ast.BoolOp):
            visit(n.values[0], True)
            for v in n.values[1:]:
                effect = effect or has_any(v, EFFECTS + COMPS)
            return
        if isinstance(n, ast.IfExp):
            visit(n.test, False)
            effect = effect or has_any(n.body, EFFECTS + COMPS) or has_any(n.orelse, EFFECTS + COMPS)
            return
        if isinstance(n, ast.Compare):
            visit(n.left, True)
            visit(n.comparators[0], True)
            for v in n.comparators[1:]:
                effect = effect or has_any(v, EFFECTS + COMPS)
            return
        if isinstance(n, ast.BinOp):
            visit(n.left, True)
            visit(n.right, True)
        elif isinstance(n, ast.Dict):
            for k, v in zip(n.keys, n.values):
                if k is not None:
                    visit(k, False)
                visit(v, False)
        else:
            for ch in ast.iter_child_nodes(n):
                visit(ch, False)
        if found:
            return
        if infix_operand and not before and eligible(n):
            found.append(n)
        if isinstance(n, EFFECTS + (ast.Subscript, ast.Attribute)):
            effect = True  # calls may have effects; subscripts and attributes may raise (or run properties)

    visit(root, False)
    return found[0] if found else None


def _root(node: ast.AST) -> ast.AST | None:
    if isinstance(node, (ast.Assign, ast.Return, ast.Expr)) or (isinstance(node, ast.AnnAssign) and node.simple):
        return node.value
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        return node.value
    if isinstance(node, ast.If):
        return node.test
    if isinstance(node, ast.For):
        return node.iter
    return None


def apply(prog, rng):
    def nested(n):
        return isinstance(n, (ast.BinOp, ast.Compare, ast.BoolOp)) and any(
            isinstance(c, ast.BinOp) for c in ast.iter_child_nodes(n))

    return run_if(prog, prog.an.any_node(nested), _transformer(), rng)


@functools.cache
def _transformer():
    cst = lib()

    class T(base_transformer()):
        def block(self, orig: list, upd: list) -> list:
            out: list = []
            for o, u in zip(orig, upd):
                new = self._hoist(o, u)
                if new is None:
                    out.append(u)
                else:
                    out.extend(new)
                    self.sites += 1
            return out

        def _find(self, root, target):
            stack = [root]
            while stack:
                n = stack.pop()
                if isinstance(n, cst.BinaryOperation) and self.p.expr(n) is target:
                    return n
                stack.extend(n.children)
            return None

        def _hoist(self, o, u):
            if isinstance(o, cst.SimpleStatementLine):
                if len(o.body) != 1:
                    return None
                part = o
            elif isinstance(o, cst.If):
                part = o.test
            elif isinstance(o, cst.For) and o.asynchronous is None:
                part = o.iter
            else:
                return None
            node = self.p.stmt(o.body[0] if isinstance(o, cst.SimpleStatementLine) else o)
            if node is None or isinstance(self.an.scope(node), ast.ClassDef):
                return None
            root = _root(node)
            if root is None or (isinstance(o, cst.If) and not isinstance(node, ast.If)):
                return None
            cand = first_candidate(root)
            if cand is None:
                return None
            target = self._find(part, cand)
            if target is None:
                return None
            tmp = self.an.fresh("temp")
            temp_line = line([cst.Assign(targets=[cst.AssignTarget(target=name(tmp))],
                                         value=fit(self.p, target.with_changes(lpar=[], rpar=[])))],
                             leading=u.leading_lines)
            replaced = part.deep_replace(target, name(tmp))
            if isinstance(o, cst.SimpleStatementLine):
                new = replaced.with_changes(leading_lines=[])
            elif isinstance(o, cst.If):
                new = u.with_changes(test=replaced, leading_lines=[])
            else:
                new = u.with_changes(iter=replaced, leading_lines=[])
            return [temp_line, new]

    return T
