"""Recipe validation: errors name the recipe key and list what is valid."""

import pytest

from codecurate.pipeline.recipe import Recipe, RecipeError
from codecurate.pipeline.registry import UnknownOpError


def _recipe(stages, **kw):
    return {"name": "t", "input": {"path": "x.jsonl"}, "stages": stages, **kw}


def test_inline_params_are_validated_with_defaults_filled():
    r = Recipe.from_dict(_recipe([{"op": "length", "field": "code", "max": 10}, "python_syntax"]))
    assert r.stages[0].params == {"field": "code", "unit": "chars", "min": None, "max": 10, "tokenizer": None}
    assert [s.name for s in r.stages] == ["length", "python_syntax"]


def test_unknown_op_lists_valid_ops():
    with pytest.raises(UnknownOpError) as e:
        Recipe.from_dict(_recipe([{"op": "lenght"}]), where="my.yaml")
    msg = str(e.value)
    assert "my.yaml: stages[0].op" in msg and "Did you mean length" in msg and "python_syntax" in msg


def test_unknown_param_names_stage_key_and_valid_keys():
    with pytest.raises(RecipeError) as e:
        Recipe.from_dict(_recipe([{"op": "length", "maxx": 3}]), where="my.yaml")
    msg = str(e.value)
    assert "stages[0]" in msg and "'maxx'" in msg and "valid keys: field, unit, min, max, tokenizer" in msg


def test_bad_param_value_and_cross_field_rules():
    with pytest.raises(RecipeError, match="unit"):
        Recipe.from_dict(_recipe([{"op": "length", "unit": "bytes"}]))
    with pytest.raises(RecipeError, match="exactly one of fraction"):
        Recipe.from_dict(_recipe([{"op": "random_select"}]))


def test_top_level_errors(tmp_path):
    with pytest.raises(RecipeError, match="missing required key 'input'"):
        Recipe.from_dict({"stages": []})
    with pytest.raises(RecipeError, match="unknown key 'stagez'"):
        Recipe.from_dict({"input": {"path": "x"}, "stagez": []})
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [unclosed\n")
    with pytest.raises(RecipeError, match="bad.yaml: not valid YAML"):
        Recipe.from_yaml(bad)
    with pytest.raises(RecipeError, match="not found"):
        Recipe.from_yaml(tmp_path / "nope.yaml")


def test_yaml_round_trip_and_stage_hash(tmp_path):
    r = Recipe.from_dict(_recipe([{"op": "length", "max": 10}, {"op": "length", "max": 20}]))
    assert [s.name for s in r.stages] == ["length_0", "length_1"]
    p = tmp_path / "r.yaml"
    p.write_text(r.to_yaml())
    r2 = Recipe.from_yaml(p)
    assert [r2.stage_hash(i) for i in range(2)] == [r.stage_hash(i) for i in range(2)]
    assert r.stage_hash(0) != r.stage_hash(1)
