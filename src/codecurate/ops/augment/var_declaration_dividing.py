"""VarDeclarationDividing (SPAT rule 13; the study's ``var_declaration_dividing``).

``a, b = x, y`` (names on the left, a tuple of the same length on the right, no starred items) becomes
``a = x`` / ``b = y``. The divided form binds ``a`` before evaluating ``y``, so it is used only when no
value reads a name assigned before it (this excludes swaps ``a, b = b, a`` and ``a, b = b, a + b``), with
the same call and exception rules as VarDeclarationMerging. Class bodies and statements sharing a line with
others are left alone. The study's port split every such assignment (swaps included).
"""

from __future__ import annotations

import ast
import functools

from codecurate.ops.augment._binding import order_free
from codecurate.ops.augment._cst import base_transformer, fit, lib, line, run_if

NAME = "VarDeclarationDividing"
STUDY_NAME = "var_declaration_dividing"
BY_CONSTRUCTION = True


def apply(prog, rng):
    return run_if(prog, prog.an.any_node(lambda n: isinstance(n, ast.Assign) and isinstance(n.value, ast.Tuple)),
                  _transformer(), rng)


@functools.cache
def _transformer():
    cst = lib()

    class T(base_transformer()):
        def leave_SimpleStatementLine(self, original, updated):
            if len(original.body) != 1:
                return updated
            s = original.body[0]
            if not (isinstance(s, cst.Assign) and len(s.targets) == 1
                    and isinstance(s.targets[0].target, (cst.Tuple, cst.List)) and isinstance(s.value, cst.Tuple)):
                return updated
            node = self.p.stmt(s)
            if not isinstance(node, ast.Assign):
                return updated
            tgt, val = node.targets[0], node.value
            if not (isinstance(val, ast.Tuple) and len(tgt.elts) == len(val.elts) >= 2
                    and all(isinstance(t, ast.Name) for t in tgt.elts)
                    and not any(isinstance(v, ast.Starred) for v in val.elts)):
                return updated
            names = [t.id for t in tgt.elts]
            if len(set(names)) != len(names):
                return updated
            scope = self.an.scope(node)
            if isinstance(scope, ast.ClassDef):
                return updated
            for j in range(1, len(names)):
                if not order_free(self.an, scope, node, names[:j], val.elts[j]):
                    return updated
            values = [fit(self.p, e.value) for e in s.value.elements]
            lines = []
            for j, (nm, v) in enumerate(zip(names, values)):
                lines.append(line([cst.Assign(targets=[cst.AssignTarget(target=cst.Name(nm))], value=v)],
                                  leading=updated.leading_lines if j == 0 else (),
                                  trailing=updated.trailing_whitespace if j == len(names) - 1 else None))
            self.sites += 1
            return cst.FlattenSentinel(lines)

    return T
