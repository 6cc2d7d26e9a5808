import json
from pathlib import Path

import numpy as np
import pytest

from codecurate.code.tokens import (
    batch_shingles,
    code_tokens,
    ngram_hashes,
    shingle_set,
    token_hashes,
    whitespace_ngrams,
)

MBPP = Path(__file__).parents[1] / "src/codecurate/data/benchmarks/mbpp.jsonl"


def mbpp_codes(n=200):
    with open(MBPP) as f:
        return [json.loads(line)["code"] for line in f][:n]


def test_whitespace_and_comments_do_not_change_tokens():
    a = "def f(x):\n    # double it\n    return x * 2\n"
    b = "def f( x ):   \n\n  return x*2  # comment moved\n"
    assert code_tokens(a) == code_tokens(b) == ["def", "f", "(", "x", ")", ":", "return", "x", "*", "2"]


def test_identifier_modes():
    src = "def add(a, b):\n    total = a + b\n    return math.sqrt(total)\n"
    assert code_tokens(src, identifiers="placeholder")[:3] == ["def", "ID", "("]
    idx = code_tokens(src, identifiers="index")
    assert idx[:6] == ["def", "v0", "(", "v1", ",", "v2"]
    assert "sqrt" in idx  # attribute names are kept in every mode
    renamed = src.replace("total", "acc").replace("a,", "x,").replace("a +", "x +")
    assert code_tokens(renamed, identifiers="index") == idx
    assert code_tokens(renamed, identifiers="keep") != code_tokens(src, identifiers="keep")


def test_operators_strings_and_floor_division():
    toks = code_tokens('x //= 2; y = f"a  b" ** 3  # c', identifiers="keep")
    assert toks == ["x", "//=", "2", ";", "y", "=", 'f"a b"', "**", "3"]
    c_toks = code_tokens("int x = 1; // comment\n/* block */ x++;", language="java")
    assert "comment" not in " ".join(c_toks) and "block" not in " ".join(c_toks)


@pytest.mark.parametrize("mode", ["keep", "placeholder", "index"])
def test_regex_lexer_matches_python_tokenize_on_real_code(mode):
    # on valid Python the fast regex lexer and the stdlib tokenizer agree on nearly every record
    codes = mbpp_codes()
    same = sum(code_tokens(c, identifiers=mode) == code_tokens(c, identifiers=mode, lexer="python")
               for c in codes)
    assert same >= 0.95 * len(codes)


def test_python_lexer_falls_back_on_untokenizable_text():
    assert code_tokens('s = """unterminated', lexer="python")[:2] == ["s", "="]


def test_shingles_deterministic_and_short_text():
    h1 = shingle_set("a = 1")
    assert len(h1) == 1  # shorter than n: one shingle for the whole text
    assert len(shingle_set("")) == 0
    assert (token_hashes(["def", "x"]) == token_hashes(["def", "x"])).all()
    assert len(ngram_hashes(token_hashes(list("abcdef")), 5)) == 2


def test_whitespace_ngrams_match_nltk_padding():
    ngrams = pytest.importorskip("nltk.util").ngrams

    text = "Write a function to  find the\nmax of a list"
    ours = whitespace_ngrams(text, (4, 5))
    ref = set()
    for n in (4, 5):
        ref.update(ngrams(text.split(), n, pad_left=True, pad_right=True,
                          left_pad_symbol="<start>", right_pad_symbol="<end>"))
    assert ours == ref


@pytest.mark.parametrize("mode", ["keep", "placeholder", "index"])
@pytest.mark.parametrize("keep_builtins", [True, False])
def test_batch_shingles_equal_per_record_tokens_on_real_code(mode, keep_builtins):
    # the vectorized batch path must give exactly the shingles of the per-record token path
    codes = mbpp_codes(300) + ["", "x", "# only a comment\n", "s = 'a   b'  # c\n", "class A:\n    def f(self): return self.v\n"]
    flat, off = batch_shingles(codes, 5, identifiers=mode, keep_builtins=keep_builtins)
    for i, c in enumerate(codes):
        ref = np.unique(ngram_hashes(token_hashes(code_tokens(c, identifiers=mode, keep_builtins=keep_builtins)), 5))
        assert np.array_equal(np.sort(flat[off[i]:off[i + 1]]), ref), c


def test_local_mode_is_renaming_invariant_but_sees_name_structure():
    a = "def f(a, b):\n    a = b + a\n    return a\n"
    renamed = "def g(x, y):\n  x = y + x\n\n  return x   \n"
    other = "def f(a, b):\n    a = b + b\n    return a\n"
    la, lr, lo = (shingle_set(t, identifiers="local") for t in (a, renamed, other))
    assert np.array_equal(la, lr)
    assert not np.array_equal(la, lo)
    # placeholders cannot tell `b + a` from `b + b`
    assert np.array_equal(shingle_set(a, identifiers="placeholder"), shingle_set(other, identifiers="placeholder"))
    with pytest.raises(ValueError, match="local"):
        code_tokens(a, identifiers="local")


def test_keywords_depend_on_language_and_self_attributes_are_normalized():
    py = "char = s[0]\nstring = char * 2\n"
    assert code_tokens(py, identifiers="placeholder")[:2] == ["ID", "="]  # C keywords are Python names
    java = "char c = s.charAt(0);"
    assert code_tokens(java, language="java", identifiers="placeholder")[:2] == ["char", "ID"]
    sql = "SELECT name FROM users WHERE age > 18;"
    assert code_tokens(sql, identifiers="placeholder")[:4] == ["SELECT", "ID", "FROM", "ID"]
    cls = "class A:\n    def __init__(self, total):\n        self.total = total\n        self.items.append(1)\n"
    toks = code_tokens(cls, identifiers="index")
    assert "total" not in toks and "append" in toks  # own attribute renamed with its parameter, API kept
    renamed = cls.replace("total", "acc")
    assert code_tokens(renamed, identifiers="index") == toks


def test_vocabulary_lookup_assigns_hash_and_kind_to_new_tokens():
    # the batch path looks tokens up in one pass (new ones added on the fly, their hashes and kinds written
    # to the arrays once per lookup): a never-seen token gets the xxh3 of its text and the flags of its kind
    from codecurate.code import tokens as T

    new = ["zz_never_seen_name_1", "# zz a never seen comment", "'zz   never  seen'", "==", "zz_never_seen_name_1"]
    n_before = len(T._VOCAB.ids)
    n_new = len({t for t in new if t not in T._VOCAB.ids})  # "==" may be known already
    ids = T._VOCAB.lookup(iter(new), len(new))
    assert ids[0] == ids[4] and len(set(ids.tolist())) == 4 and len(T._VOCAB.ids) == n_before + n_new >= n_before + 3
    assert np.array_equal(T._VOCAB.lookup(new), ids)  # a list, again: the same ids, nothing added
    assert len(T._VOCAB.ids) == n_before + n_new
    assert T._VOCAB.hash[ids[0]] == T._xxh("zz_never_seen_name_1")
    assert T._VOCAB.hash[ids[2]] == T._xxh("'zz never seen'")  # whitespace runs inside literals collapsed
    flags = T._VOCAB.flags[ids]
    assert flags[0] & T._F_NAME and not flags[0] & T._F_BUILTIN
    assert flags[1] == T._F_COMMENT and flags[2] == 0 and flags[3] == 0
    assert T._VOCAB.flags[T._VOCAB.lookup(["len", "def", "+="])].tolist() == [
        T._F_NAME | T._F_BUILTIN, T._F_NAME | T._F_PY_KEYWORD | T._F_BINDER | T._F_DEF, T._F_ASSIGN]
    # many new tokens at once (the arrays grow past their initial size)
    many = [f"zz_tok_{k}" for k in range(5000)]
    ids = T._VOCAB.lookup(many)
    assert T._VOCAB.hash[ids[-1]] == T._xxh("zz_tok_4999") and T._VOCAB.flags[ids[-1]] & T._F_NAME
