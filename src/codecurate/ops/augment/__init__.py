"""Augmentation by program transformation: SPAT's rules (Yu, Wang, Wang, JSS 2022) as the study ported them
to Python, with semantics-preserving rewrites. One module per transform; ``spat_augment`` is the op.

Each transform module has ``NAME`` (SPAT's rule name), ``STUDY_NAME`` (the key in the study's
``Techniques/Aug/run.py``), ``BY_CONSTRUCTION`` (equivalent for every input, so it may run on records
without tests) and ``apply(program, rng) -> (code, sites_changed)``. libcst is imported on first use.
"""

from __future__ import annotations

from codecurate.ops.augment import (
    add_assignment2equal_assignment,
    conditional_exp2single_if,
    for2while,
    if_dividing,
    infix_expression_dividing,
    local_var_renaming,
    reverse_if_else,
    single_if2conditional_exp,
    statements_order_rearrangement,
    var_declaration_dividing,
    var_declaration_merging,
    while2for,
)

# In SPAT's rule-id order (0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13).
_MODULES = (local_var_renaming, for2while, while2for, reverse_if_else, single_if2conditional_exp,
            conditional_exp2single_if, add_assignment2equal_assignment, infix_expression_dividing, if_dividing,
            statements_order_rearrangement, var_declaration_merging, var_declaration_dividing)
TRANSFORMS = {m.NAME: m for m in _MODULES}
STUDY_NAMES = {m.STUDY_NAME: m.NAME for m in _MODULES}
SPAT_IDS = dict(zip(TRANSFORMS, (0, 1, 2, 3, 4, 5, 7, 8, 9, 10, 12, 13)))


def transform_name(name: str) -> str:
    """A SPAT rule name or the study's key -> the SPAT rule name; ValueError naming the valid ones."""
    if name in TRANSFORMS:
        return name
    if name in STUDY_NAMES:
        return STUDY_NAMES[name]
    raise ValueError(f"unknown transform {name!r}; valid: {', '.join(TRANSFORMS)} "
                     f"(or the study's names: {', '.join(STUDY_NAMES)})")


def apply_transform(name: str, code: str, *, tests_text: str = "", test_keywords: set[str] | None = None,
                    seed: int | str = 0):
    """Apply one transform to ``code``: (new code, sites changed). Raises SyntaxError if ``code`` does not
    parse. ``test_keywords``: keyword names callers pass (None: callers unknown, no parameter is renamed)."""
    import random

    from codecurate.ops.augment._cst import Program

    prog = Program(code, tests_text, test_keywords)
    return TRANSFORMS[transform_name(name)].apply(prog, random.Random(f"{seed}:{name}"))


__all__ = ["SPAT_IDS", "STUDY_NAMES", "TRANSFORMS", "apply_transform", "transform_name"]
