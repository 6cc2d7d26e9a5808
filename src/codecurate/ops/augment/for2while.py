"""For2While (SPAT rule 1; the study's ``for_to_while``).

``for i in range(a, b, s): body`` becomes ``i = a`` / ``while i < b: body; i += s`` (``>`` and ``i -= |s|``
for a negative step). Every ``continue`` that targets the loop gets the increment before it, so it is not
skipped. This form is used only when it is equivalent:

- ``range`` is the builtin (never rebound anywhere in the code); the step is an int literal (its sign picks
  the comparison);
- the body never assigns ``i``, and ``i`` is not read after the loop (a ``for`` leaves ``i`` at the last
  value, a ``while`` at the first value past the end) nor in the loop's ``else`` nor in a closure;
- ``b`` is evaluated once by ``range`` and at every test by ``while``: it stays inline only when it is
  names, constants and ``len(name)`` under arithmetic that the loop never rebinds (if the body calls
  anything: only private locals, and no ``len``); otherwise it is evaluated once into a fresh variable
  before the loop (``end = len(arr)``).

Any other ``for target in iterable`` (no ``else``, names as targets) becomes
``it = iter(iterable)`` / ``while True: try: target = next(it) except StopIteration: break`` + body, which is
equivalent for every iterable (``iter``/``next`` not rebound). The study's port used this second form
without catching ``StopIteration`` and added the increment after ``continue``-skippable bodies.
Loops in class bodies (where a new name would become a class attribute) and ``async for`` are left alone.
"""

from __future__ import annotations

import ast
import functools

from codecurate.ops.augment._analysis import (
    int_constant,
    loaded_names,
    loop_invariant,
    stored_names,
)
from codecurate.ops.augment._cst import (
    base_transformer,
    fit,
    lib,
    line,
    name,
    paren_if,
    run_if,
    to_block,
)

NAME = "For2While"
STUDY_NAME = "for_to_while"
BY_CONSTRUCTION = True


def apply(prog, rng):
    return run_if(prog, ast.For in prog.an.kinds,
                  _transformer(), rng)


def _names_only_target(t: ast.AST) -> bool:
    if isinstance(t, ast.Name):
        return True
    if isinstance(t, (ast.Tuple, ast.List)):
        return all(_names_only_target(e) for e in t.elts)
    return False


@functools.cache
def _continue_fixer():
    cst = lib()

    class Fixer(cst.CSTTransformer):
        """Puts ``inc`` before every ``continue`` of this loop (nested loops and functions are not entered)."""

        def __init__(self, inc):
            super().__init__()
            self.inc = inc
            self.n = 0

        def visit_For(self, node):
            return False

        def visit_While(self, node):
            return False

        def visit_FunctionDef(self, node):
            return False

        def visit_ClassDef(self, node):
            return False

        def visit_Lambda(self, node):
            return False

        def _fix(self, body):
            out = []
            for s in body:
                if isinstance(s, cst.Continue):
                    out.append(self.inc)
                    self.n += 1
                out.append(s)
            return out

        def leave_SimpleStatementLine(self, original, updated):
            if len(updated.body) == 1 and isinstance(updated.body[0], cst.Continue):
                self.n += 1
                return cst.FlattenSentinel([line([self.inc], leading=updated.leading_lines),
                                            updated.with_changes(leading_lines=[])])
            return updated.with_changes(body=self._fix(updated.body))

        def leave_SimpleStatementSuite(self, original, updated):
            return updated.with_changes(body=self._fix(updated.body))

    return Fixer


@functools.cache
def _transformer():
    cst = lib()

    class T(base_transformer()):
        def leave_For(self, original, updated):
            if updated.asynchronous is not None:
                return updated
            node = self.p.stmt(original)
            if not isinstance(node, ast.For):
                return updated
            scope = self.an.scope(node)
            if isinstance(scope, ast.ClassDef):
                return updated
            out = self._range_form(node, scope, updated)
            if out is None:
                out = self._iter_form(node, updated)
            if out is None:
                return updated
            self.sites += 1
            return cst.FlattenSentinel(out)

        def _range_form(self, node: ast.For, scope, updated):
            an = self.an
            it = node.iter
            if not (isinstance(node.target, ast.Name) and isinstance(it, ast.Call) and isinstance(it.func, ast.Name)
                    and it.func.id == "range" and "range" not in an.bound and not it.keywords
                    and 1 <= len(it.args) <= 3 and not any(isinstance(a, ast.Starred) for a in it.args)):
                return None
            i = node.target.id
            step = int_constant(it.args[2]) if len(it.args) == 3 else 1
            if not step:
                return None
            body_mod = ast.Module(body=node.body, type_ignores=[])
            if i in stored_names(body_mod) or i in an.closure_names(scope):
                return None
            if node.orelse and i in loaded_names(ast.Module(body=node.orelse, type_ignores=[])):
                return None
            if an.read_outside(i, node, scope):
                return None
            stop = it.args[0] if len(it.args) == 1 else it.args[1]
            invariant = loop_invariant(an, stop, node.body, scope, {i})
            args = updated.iter.args
            start_c = fit(self.p, args[0].value) if len(args) > 1 else cst.Integer("0")
            stop_c = fit(self.p, args[0].value if len(args) == 1 else args[1].value)
            out = [line([cst.Assign(targets=[cst.AssignTarget(target=name(i))], value=start_c)],
                        leading=updated.leading_lines)]
            if not invariant:
                end = an.fresh("end" if i != "end" else "stop")
                out.append(line([cst.Assign(targets=[cst.AssignTarget(target=name(end))], value=stop_c)]))
                stop_c = name(end)
            inc = cst.AugAssign(target=name(i), operator=cst.AddAssign() if step > 0 else cst.SubtractAssign(),
                                value=cst.Integer(str(abs(step))))
            body = to_block(updated.body)
            body = body.visit(_continue_fixer()(inc))
            body = body.with_changes(body=list(body.body) + [line([inc])])
            cmp = cst.LessThan() if step > 0 else cst.GreaterThan()
            test = cst.Comparison(left=name(i), comparisons=[cst.ComparisonTarget(operator=cmp, comparator=stop_c)])
            out.append(cst.While(test=test, body=body, orelse=updated.orelse))
            return out

        def _iter_form(self, node: ast.For, updated):
            an = self.an
            if node.orelse or not _names_only_target(node.target) or {"iter", "next", "StopIteration"} & an.bound:
                return None
            first = next(n.id for n in ast.walk(node.target) if isinstance(n, ast.Name))
            it = an.fresh(f"{first}_iter")
            init = line([cst.Assign(targets=[cst.AssignTarget(target=name(it))],
                                    value=cst.Call(func=name("iter"),
                                                   args=[cst.Arg(value=paren_if(updated.iter, ()))]))],
                        leading=updated.leading_lines)
            fetch = cst.Try(
                body=cst.IndentedBlock(body=[line([cst.Assign(
                    targets=[cst.AssignTarget(target=updated.target)],
                    value=cst.Call(func=name("next"), args=[cst.Arg(value=name(it))]))])]),
                handlers=[cst.ExceptHandler(body=cst.IndentedBlock(body=[line([cst.Break()])]),
                                            type=name("StopIteration"))])
            body = to_block(updated.body)
            body = body.with_changes(body=[fetch] + list(body.body))
            loop = cst.While(test=name("True"), body=body)
            return [init, loop]

    return T
