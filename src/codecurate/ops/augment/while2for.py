"""While2For (SPAT rule 2, redesigned for Python as the study did; the study's ``while_to_for``).

``i = a`` / ``while i < b: body; i += s`` becomes ``for i in range(a, b, s): body``. Applied only where it is
provably the same loop:

- the test compares the counter with a bound (``i < b``, ``i <= b``, ``i > b``, ``i >= b``, or mirrored
  ``b > i``); the operator is honoured (``<=`` gives ``range(a, b + 1)``) and must agree with the step's
  sign (``<``/``<=`` need ``s > 0``, ``>``/``>=`` need ``s < 0``);
- the *last* statement of the body, and only it, changes the counter: ``i += s``, ``i -= s`` or
  ``i = i + s`` with an int literal ``s``; exactly that statement is removed;
- no ``continue`` targets the loop (it would skip the increment in the ``while``, not in the ``for``);
- the bound is loop-invariant (names the loop never rebinds, constants, arithmetic, ``len(name)`` when the
  loop calls nothing);
- the counter is not read after the loop, in its ``else`` or in a closure (the two loops leave it at
  different values); ``range`` is the builtin.

The counter's last assignment before the loop, ``i = a``, is folded into ``range(a, ...)`` when the
statements in between do not mention ``i``, call nothing and cannot change ``a``; otherwise the loop starts
from the counter's current value (``range(i, b)``). Not equivalent by construction for non-int
counters or bounds (``range`` refuses floats), so it needs the test filter (``BY_CONSTRUCTION = False``).

The study's port ignored the comparison operator and could delete the wrong statement.
"""

from __future__ import annotations

import ast
import functools

from codecurate.ops.augment._analysis import (
    all_names,
    has_effects,
    int_constant,
    is_trivial,
    loaded_names,
    loop_continues,
    loop_invariant,
    stored_names,
)
from codecurate.ops.augment._cst import (
    base_transformer,
    fit,
    lib,
    line,
    name,
    paren,
    run_if,
    single_small,
)

NAME = "While2For"
STUDY_NAME = "while_to_for"
BY_CONSTRUCTION = False

_FLIP = {ast.Lt: ast.Gt, ast.LtE: ast.GtE, ast.Gt: ast.Lt, ast.GtE: ast.LtE}


def apply(prog, rng):
    return run_if(prog, ast.While in prog.an.kinds,
                  _transformer(), rng)


def _counter_test(test: ast.AST):
    """(counter name, operator class with the counter on the left, bound) or None."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and type(test.ops[0]) in _FLIP):
        return None
    left, op, right = test.left, type(test.ops[0]), test.comparators[0]
    if isinstance(left, ast.Name):
        return left.id, op, right, False
    if isinstance(right, ast.Name):
        return right.id, _FLIP[op], left, True
    return None


def _step_of(stmt: ast.AST, i: str) -> int | None:
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name) and stmt.target.id == i:
        v = int_constant(stmt.value)
        if v is not None and isinstance(stmt.op, (ast.Add, ast.Sub)):
            return v if isinstance(stmt.op, ast.Add) else -v
    if (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)
            and stmt.targets[0].id == i and isinstance(stmt.value, ast.BinOp)
            and isinstance(stmt.value.left, ast.Name) and stmt.value.left.id == i
            and isinstance(stmt.value.op, (ast.Add, ast.Sub))):
        v = int_constant(stmt.value.right)
        if v is not None:
            return v if isinstance(stmt.value.op, ast.Add) else -v
    return None


def _non_int_literal(e: ast.AST) -> bool:
    """Mentions a float, complex, str or bytes literal: ``range`` would refuse the value."""
    return any(isinstance(n, ast.Constant) and not isinstance(n.value, int) for n in ast.walk(e))


@functools.cache
def _transformer():
    cst = lib()
    ADDITIVE = (cst.Add, cst.Subtract, cst.Multiply, cst.Divide, cst.FloorDivide, cst.Modulo, cst.Power)

    def shift(bound_c, bound_a, delta: int):
        """``bound + delta`` as libcst, folding literals and ``x - 1 + 1``."""
        v = int_constant(bound_a)
        if v is not None:
            from codecurate.ops.augment._cst import int_expr

            return int_expr(v + delta)
        if (isinstance(bound_a, ast.BinOp) and isinstance(bound_a.op, (ast.Add, ast.Sub))
                and (right := int_constant(bound_a.right)) is not None and isinstance(bound_c, cst.BinaryOperation)
                and not bound_c.lpar):
            k = right * (1 if isinstance(bound_a.op, ast.Add) else -1) + delta
            if k == 0:
                return bound_c.left
        atom = (cst.BinaryOperation, cst.Name, cst.Integer, cst.Call, cst.Attribute, cst.Subscript,
                cst.UnaryOperation)
        if (isinstance(bound_c, cst.BinaryOperation) and not isinstance(bound_c.operator, ADDITIVE)) or \
                not isinstance(bound_c, atom):
            bound_c = paren(bound_c)
        return cst.BinaryOperation(left=bound_c, operator=cst.Add() if delta > 0 else cst.Subtract(),
                                   right=cst.Integer(str(abs(delta))))

    class T(base_transformer()):
        def block(self, orig: list, upd: list) -> list:
            out: dict[int, object] = {}
            removed: set[int] = set()
            for k in range(len(upd)):
                new = self._loop(orig, upd, k, removed)
                if new is not None:
                    out[k] = new
                    self.sites += 1
            return [out.get(k, u) for k, u in enumerate(upd) if k not in removed]

        def _init_index(self, orig, k: int, i: str, removed: set[int]) -> int | None:
            """Index of ``i = start`` before loop ``k`` when it can be folded into ``range(start, ...)``: the
            statements in between never mention ``i`` and cannot change ``start`` (a constant or a name they
            do not rebind, and they call nothing)."""
            between = []
            for j in range(k - 1, -1, -1):
                s = single_small(orig[j])
                node = self.p.stmt(s) if s is not None else self.p.stmt(orig[j])
                if node is None:
                    return None
                if i not in all_names(node):
                    between.append(node)
                    continue
                if (j in removed or not isinstance(s, cst.Assign) or not isinstance(node, ast.Assign)
                        or len(node.targets) != 1 or not isinstance(node.targets[0], ast.Name)
                        or node.targets[0].id != i or isinstance(node.value, (ast.Tuple, ast.Starred))):
                    return None
                if between:
                    mod = ast.Module(body=between, type_ignores=[])
                    if not is_trivial(node.value) or has_effects(mod) or loaded_names(node.value) & stored_names(mod):
                        return None
                return j
            return None

        def _loop(self, orig, upd, k, removed):
            o = orig[k]
            if not isinstance(o, cst.While) or not isinstance(o.body, cst.IndentedBlock):
                return None
            an = self.an
            node = self.p.stmt(o)
            if not isinstance(node, ast.While) or "range" in an.bound:
                return None
            ct = _counter_test(node.test)
            if ct is None:
                return None
            i, op, bound_a, mirrored = ct
            last_c = o.body.body[-1] if o.body.body else None
            if single_small(last_c) is None or not node.body:
                return None
            step = _step_of(node.body[-1], i)
            if not step:
                return None
            if (op in (ast.Lt, ast.LtE)) != (step > 0):
                return None
            scope = an.scope(node)
            rest = ast.Module(body=node.body[:-1], type_ignores=[])
            if i in stored_names(rest) or loop_continues(node) or i in an.closure_names(scope):
                return None
            if node.orelse and i in loaded_names(ast.Module(body=node.orelse, type_ignores=[])):
                return None
            if an.read_outside(i, node, scope):
                return None
            if not loop_invariant(an, bound_a, node.body, scope, {i}) or _non_int_literal(bound_a):
                return None
            # the libcst pieces
            test_c = upd[k].test
            bound_c = fit(self.p, test_c.comparisons[0].comparator if not mirrored else test_c.left)
            if op is ast.LtE:
                bound_c = shift(bound_c, bound_a, 1)
            elif op is ast.GtE:
                bound_c = shift(bound_c, bound_a, -1)
            leading = list(upd[k].leading_lines)
            start_c = name(i)
            j = self._init_index(orig, k, i, removed)
            if j is not None:
                init_a = self.p.stmt(single_small(orig[j]))
                if _non_int_literal(init_a.value):
                    return None
                start_c = single_small(upd[j]).value
                if j == k - 1:
                    leading = list(upd[j].leading_lines) + leading
                removed.add(j)
            args = []
            if not (isinstance(start_c, cst.Integer) and start_c.value == "0" and step == 1):
                args.append(cst.Arg(value=start_c))
            args.append(cst.Arg(value=bound_c))
            if step != 1:
                from codecurate.ops.augment._cst import int_expr

                args.append(cst.Arg(value=int_expr(step)))
            body_stmts = list(upd[k].body.body[:-1]) or [line([cst.Pass()])]
            body = upd[k].body.with_changes(body=body_stmts)
            return cst.For(target=name(i), iter=cst.Call(func=name("range"), args=args), body=body,
                           orelse=upd[k].orelse, leading_lines=leading)

    return T
