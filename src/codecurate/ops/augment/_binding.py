"""Shared rule of VarDeclarationMerging and VarDeclarationDividing: may a later value be evaluated with an
earlier name bound (dividing) or unbound (merging)?"""

from __future__ import annotations

import ast

from codecurate.ops.augment._analysis import (
    Analysis,
    has_effects,
    is_trivial,
    loaded_names,
)


def order_free(an: Analysis, scope: ast.AST, stmt: ast.AST, earlier: list[str], value: ast.AST) -> bool:
    """``value`` may be evaluated before or after ``earlier`` names are bound without any difference:
    it does not read them; if it calls anything they are private locals (not globals or closure cells a call
    could read); if it may raise, no handler in the scope could see which of them were bound yet."""
    if set(earlier) & loaded_names(value):
        return False
    private = an.private_locals(scope)
    if has_effects(value) and not set(earlier) <= private:
        return False
    if not is_trivial(value):
        if an.in_handler_reach(stmt):
            return False
        if not isinstance(scope, ast.Module) and not set(earlier) <= private:
            return False
    return True
