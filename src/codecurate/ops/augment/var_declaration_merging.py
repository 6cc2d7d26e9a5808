"""VarDeclarationMerging (SPAT rule 12; the study's ``var_declaration_merging``).

Two adjacent single-name assignments ``a = e1`` / ``b = e2`` become ``a, b = e1, e2``, as SPAT merges two
adjacent declarations, in any block (the study's port merged whole runs, at module level only). Each
statement takes part in at most one merge. The merged form evaluates ``e2`` before ``a`` is bound, so the
merge is made only when that cannot show (SPAT's dependency check, made exact for Python):
``e2`` does not read ``a``; if ``e2`` calls anything, ``a`` is a private local of the function (no global
or closure cell a call could read); if ``e2`` may raise, no ``try``/``with`` in the function could observe
``a`` half-assigned. ``a`` and ``b`` differ; annotated assignments, class bodies and lines with comments
between them are left alone.
"""

from __future__ import annotations

import ast
import functools

from codecurate.ops.augment._binding import order_free
from codecurate.ops.augment._cst import (
    base_transformer,
    has_comment,
    lib,
    operand,
    run_if,
    single_small,
)

NAME = "VarDeclarationMerging"
STUDY_NAME = "var_declaration_merging"
BY_CONSTRUCTION = True


def apply(prog, rng):
    return run_if(prog, prog.an.adjacent_simple((ast.Assign,)),
                  _transformer(), rng)


@functools.cache
def _transformer():
    cst = lib()

    def simple_assign(stmt):
        s = single_small(stmt)
        if (isinstance(s, cst.Assign) and len(s.targets) == 1 and isinstance(s.targets[0].target, cst.Name)
                and not isinstance(s.value, cst.Yield)):
            return s
        return None

    class T(base_transformer()):
        def block(self, orig: list, upd: list) -> list:
            out: list = []
            k = 0
            while k < len(upd):
                if k + 1 < len(upd):
                    merged = self._merge(orig[k], orig[k + 1], upd[k], upd[k + 1])
                    if merged is not None:
                        out.append(merged)
                        self.sites += 1
                        k += 2
                        continue
                out.append(upd[k])
                k += 1
            return out

        def _merge(self, o1, o2, u1, u2):
            s1, s2 = simple_assign(o1), simple_assign(o2)
            if s1 is None or s2 is None:
                return None
            if has_comment(o2.leading_lines) or o1.trailing_whitespace.comment is not None:
                return None
            a1, a2 = self.p.stmt(s1), self.p.stmt(s2)
            if not isinstance(a1, ast.Assign) or not isinstance(a2, ast.Assign):
                return None
            scope = self.an.scope(a1)
            t1, t2 = s1.targets[0].target.value, s2.targets[0].target.value
            if isinstance(scope, ast.ClassDef) or t1 == t2:
                return None
            if not order_free(self.an, scope, a2, [t1], a2.value):
                return None
            targets = cst.Tuple(elements=[cst.Element(cst.Name(t1)), cst.Element(cst.Name(t2))], lpar=[], rpar=[])
            values = cst.Tuple(elements=[cst.Element(operand(s1.value)), cst.Element(operand(s2.value))],
                               lpar=[], rpar=[])
            new = cst.Assign(targets=[cst.AssignTarget(target=targets)], value=values)
            return u1.with_changes(body=[new], trailing_whitespace=u2.trailing_whitespace)

    return T
