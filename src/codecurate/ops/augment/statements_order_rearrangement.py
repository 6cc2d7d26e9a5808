"""StatementsOrderRearrangement (SPAT rule 10; the study's ``rearrange_code``).

Adjacent statements that are independent swap places; each statement takes part in at most one swap (SPAT).
Independent here means what SPAT checks (no shared variable, neither is ``return``/``break``/``continue``/a
call) made strict for Python, where any call or property may do I/O:

- both are plain assignments to names (``=`` with name or tuple-of-names targets, annotated, or ``+=``-style
  on a name that provably holds an immutable value): no calls, ``await``, ``yield`` or walrus anywhere, no
  stores into attributes or subscripts (``a.x = 1`` may change what an alias reads), no ``del``;
- they mention no variable in common (read or written);
- at most one of them may raise (anything beyond constants, names and displays of those), so no exception
  can change its type or origin; inside ``try``/``with`` (where a handler could see which one ran) neither
  may raise;
- not in class bodies (the order of class attributes is visible, e.g. dataclass fields).
Comments before a statement move with it; blank lines stay where they were. The study's port swapped any two
statements with disjoint names, calls and returns included.
"""

from __future__ import annotations

import ast
import functools

from codecurate.ops.augment._analysis import (
    all_names,
    has_any,
    has_effects,
    immutable_names,
    is_trivial,
)
from codecurate.ops.augment._cst import (
    base_transformer,
    has_comment,
    run_if,
    single_small,
)

NAME = "StatementsOrderRearrangement"
STUDY_NAME = "rearrange_code"
BY_CONSTRUCTION = True


def _names_target(t: ast.AST) -> bool:
    return isinstance(t, ast.Name) or (isinstance(t, (ast.Tuple, ast.List)) and all(_names_target(e) for e in t.elts))


def movable(an, node: ast.AST) -> tuple[bool, bool]:
    """(may move, may raise) for one small statement."""
    if has_effects(node) or has_any(node, (ast.Lambda, ast.JoinedStr)):
        return False, True
    if isinstance(node, ast.Assign) and all(_names_target(t) for t in node.targets):
        return True, not is_trivial(node.value)
    if isinstance(node, ast.AnnAssign) and node.simple and node.value is not None:
        return True, True  # the annotation is evaluated too
    if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
        return node.target.id in immutable_names(an, an.scope(node)), True
    return False, True


@functools.cache
def _transformer():
    class T(base_transformer()):
        def block(self, orig: list, upd: list) -> list:
            out = list(upd)
            k = 0
            while k + 1 < len(orig):
                if self._independent(orig[k], orig[k + 1]):
                    a, b = upd[k], upd[k + 1]
                    if has_comment(a.leading_lines) or has_comment(b.leading_lines):
                        out[k], out[k + 1] = b, a
                    else:
                        out[k] = b.with_changes(leading_lines=a.leading_lines)
                        out[k + 1] = a.with_changes(leading_lines=b.leading_lines)
                    self.sites += 1
                    k += 2
                else:
                    k += 1
            return out

        def _independent(self, o1, o2) -> bool:
            s1, s2 = single_small(o1), single_small(o2)
            if s1 is None or s2 is None:
                return False
            n1, n2 = self.p.stmt(s1), self.p.stmt(s2)
            if n1 is None or n2 is None:
                return False
            scope = self.an.scope(n1)
            if isinstance(scope, ast.ClassDef):
                return False
            m1, r1 = movable(self.an, n1)
            m2, r2 = movable(self.an, n2)
            if not (m1 and m2) or (r1 and r2):
                return False
            if (r1 or r2) and self.an.in_handler_reach(n1):
                return False
            return not (all_names(n1) & all_names(n2))

    return T


def apply(prog, rng):
    return run_if(prog, prog.an.adjacent_simple((ast.Assign, ast.AugAssign, ast.AnnAssign)),
                  _transformer(), rng)
