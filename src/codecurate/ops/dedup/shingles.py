"""Shingles for near-dedup of code: ``codecurate.code.tokens``' lexer tokens and identifier normalization,
plus normalizations that make the shingles blind to what formatters and comment edits change.

On top of ``batch_shingle_pairs`` (whitespace ignored, comments dropped, names normalized per n-gram
window), each optional and measured in ``benchmarks/bench_dedup_neutral.py``:

- ``literals``: ``"keep"`` (as written), ``"quotes"`` (string literals compared by content: quote style,
  triple quotes, escaped quotes, ``u``/upper-case prefixes and number spelling ``0XFF`` / ``1_000`` /
  ``1E5`` do not matter; black and ruff flip quote styles), ``"classes"`` (every string is ``STR``, every
  number ``NUM``: copies that edit a constant still match, at the price of more same-shape merges);
- ``docstrings``: ``"drop"`` removes a string literal that is a Python docstring (first token of the text,
  or the first token after the ``:`` that closes a ``def`` / ``class`` header), like comments; adding,
  removing or rewording a docstring then changes nothing;
- ``format_tokens``: ``"drop"`` removes the tokens formatters add or remove: trailing commas (a ``,`` right
  before a closing bracket, black's magic trailing comma), grouping parentheses (a ``(`` that is not a call
  or a definition, i.e. not preceded by a name, ``)`` or ``]``, with its matching ``)``: black wraps long
  expressions in them and removes redundant ones), backslash continuations, and Python's ``;``.

The result for each text is the same as ``batch_shingle_pairs`` when every option is ``"keep"`` (tested).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import chain, islice
from typing import Literal

import numpy as np

from codecurate.code import tokens as T

LiteralMode = Literal["keep", "quotes", "classes"]
DocstringMode = Literal["keep", "drop"]
FormatMode = Literal["keep", "drop"]

# per-vocabulary-id extras (the shared vocabulary in codecurate.code.tokens assigns ids; this table grows with it)
(_K_STRING, _K_NUMBER, _K_LPAREN, _K_RPAREN, _K_COMMA, _K_CLOSER, _K_BACKSLASH, _K_SEMI, _K_HEADER,
 _K_CALL_PREV) = (1 << k for k in range(10))
_STR_RE = re.compile(r"([A-Za-z]*)(\"\"\"|'''|\"|')(.*)\2\Z", re.DOTALL)
_STR_CLASS = T._xxh("\x00STR")
_NUM_CLASS = T._xxh("\x00NUM")


def _quote_free(tok: str) -> str:
    m = _STR_RE.match(tok)
    if not m:
        return tok
    prefix = m.group(1).lower().replace("u", "")
    body = m.group(3).replace('\\"', '"').replace("\\'", "'")
    return "\x00S" + prefix + "\x00" + " ".join(body.split())


class _Side:
    def __init__(self) -> None:
        self.n = 0
        self.kind = np.zeros(1024, dtype=np.uint16)
        self.quote_hash = np.zeros(1024, dtype=np.uint64)
        self.class_hash = np.zeros(1024, dtype=np.uint64)

    def sync(self) -> None:
        """Extend the tables to every id the shared vocabulary has assigned so far."""
        total = len(T._VOCAB.ids)
        if total == self.n:
            return
        while len(self.kind) < total:
            self.kind = np.concatenate([self.kind, np.zeros_like(self.kind)])
            self.quote_hash = np.concatenate([self.quote_hash, np.zeros_like(self.quote_hash)])
            self.class_hash = np.concatenate([self.class_hash, np.zeros_like(self.class_hash)])
        lo = self.n
        vhash = T._VOCAB.hash[lo:total]
        # names (the bulk of a vocabulary) in numpy: a name may precede a call's "(" (keywords are excluded
        # per language at use), "def" / "class" open a header; hashes as written
        is_name = (T._VOCAB.flags[lo:total] & T._F_NAME) != 0
        self.kind[lo:total] = np.where(is_name, _K_CALL_PREV, 0)
        self.quote_hash[lo:total] = vhash
        self.class_hash[lo:total] = vhash
        for tok in ("def", "class"):
            i = T._VOCAB.ids.get(tok, -1)
            if lo <= i < total:
                self.kind[i] |= _K_HEADER
        # the other tokens one by one; comments keep kind 0 and their hash
        skip = is_name | ((T._VOCAB.flags[lo:total] & T._F_COMMENT) != 0)
        for i, tok in enumerate(islice(T._VOCAB.ids, lo, total), start=lo):
            if skip[i - lo]:
                continue
            c = tok[0]
            if T._is_string_token(tok):
                self.kind[i] = _K_STRING
                self.quote_hash[i] = T._xxh(_quote_free(T._WS_RE.sub(" ", tok)))
                self.class_hash[i] = _STR_CLASS
            elif c.isdigit() or (c == "." and len(tok) > 1 and tok[1].isdigit()):
                self.kind[i] = _K_NUMBER
                self.quote_hash[i] = T._xxh("\x00N" + tok.lower().replace("_", ""))
                self.class_hash[i] = _NUM_CLASS
            else:
                self.kind[i] = _PUNCT_KIND.get(tok, 0)
        self.n = total


_PUNCT_KIND = {"(": _K_LPAREN, ")": _K_RPAREN | _K_CLOSER | _K_CALL_PREV, "]": _K_CLOSER | _K_CALL_PREV,
               "}": _K_CLOSER, ",": _K_COMMA, "\\": _K_BACKSLASH, ";": _K_SEMI}
_SIDE = _Side()


def _prev(a: np.ndarray, same_prev: np.ndarray, fill=0) -> np.ndarray:
    out = np.full(len(a), fill, dtype=a.dtype)
    out[1:] = a[:-1]
    out[~same_prev] = fill
    return out


def _next(a: np.ndarray, same_next: np.ndarray, fill=0) -> np.ndarray:
    out = np.full(len(a), fill, dtype=a.dtype)
    out[:-1] = a[1:]
    out[~same_next] = fill
    return out


def _docstring_mask(rec, flags, kind, is_py, same_prev) -> np.ndarray:
    """Python docstrings: a string that is the first token of its record, or the first token after the
    depth-0 ``:`` that ends a ``def`` / ``class`` header, and is followed by no operator that would make
    it part of an expression (``.``, ``%``, ``+``, ``[``, ``(``)."""
    n = len(rec)
    idx = np.arange(n)
    depth = T.depth_before(flags, same_prev)
    colon0 = ((flags & T._F_COLON) != 0) & (depth == 0)
    hdr = (kind & _K_HEADER) != 0
    last_hdr = np.maximum.accumulate(np.where(hdr, idx, -1))
    # last depth-0 colon strictly before each token
    c0 = np.where(colon0, idx, -1)
    last_c0_before = np.empty(n, dtype=np.int64)
    last_c0_before[0] = -1
    last_c0_before[1:] = np.maximum.accumulate(c0)[:-1]
    header_colon = colon0 & (last_hdr > last_c0_before) & (last_hdr >= 0)
    header_colon &= rec[np.maximum(last_hdr, 0)] == rec
    is_str = (kind & _K_STRING) != 0
    after_header = _prev(header_colon, same_prev, False)
    nxt = _next(flags, np.append(same_prev[1:], False), 0)
    nxt_kind = _next(kind, np.append(same_prev[1:], False), 0)
    continues = ((nxt & (T._F_DOT | T._F_OPEN)) != 0) | ((nxt_kind & _K_STRING) != 0)
    return is_str & is_py & (after_header | ~same_prev) & ~continues


def _format_mask(rec, kind, flags, is_py, same_prev) -> np.ndarray:
    """Tokens a formatter adds or removes: trailing commas, grouping parentheses (and their match),
    backslash continuations, Python semicolons."""
    same_next = np.append(same_prev[1:], False)
    drop = ((kind & _K_COMMA) != 0) & ((_next(kind, same_next) & _K_CLOSER) != 0)
    drop |= (kind & _K_BACKSLASH) != 0
    drop |= ((kind & _K_SEMI) != 0) & is_py
    lp = (kind & _K_LPAREN) != 0
    rp = (kind & _K_RPAREN) != 0
    if lp.any():
        # a "(" is a call / definition / subscript-call when the token before it is a name that is not a
        # keyword of the record's language, or ")" or "]"
        kw = np.where(is_py, T._F_PY_KEYWORD, T._F_OTHER_KEYWORD).astype(np.uint16)
        prev_kind = _prev(kind, same_prev)
        prev_flags = _prev(flags, same_prev)
        prev_name_not_kw = ((prev_flags & T._F_NAME) != 0) & ((prev_flags & kw) == 0)
        call = ((prev_kind & _K_CALL_PREV) != 0) & (prev_name_not_kw | ((prev_flags & T._F_NAME) == 0))
        grouping = lp & ~call
        # match parentheses: round-paren depth per record; an open at level L pairs with the next close at
        # level L of the same record (sort by record, level, position and pair neighbours)
        pos = np.flatnonzero(lp | rp)
        step = np.where(lp[pos], 1, -1)
        cum = np.cumsum(step)
        rec_p = rec[pos]
        first = np.ones(len(pos), dtype=bool)
        first[1:] = rec_p[1:] != rec_p[:-1]
        base = (cum - step)[first]
        start_of = np.searchsorted(np.flatnonzero(first), np.arange(len(pos)), side="right") - 1
        level = np.where(lp[pos], cum - step, cum) - base[start_of]  # depth outside the pair
        order = np.lexsort((pos, level, rec_p))
        p_o, l_o, r_o = pos[order], level[order], rec_p[order]
        is_open = lp[p_o]
        pair = is_open[:-1] & ~is_open[1:] & (l_o[:-1] == l_o[1:]) & (r_o[:-1] == r_o[1:])
        opens, closes = p_o[:-1][pair], p_o[1:][pair]
        g = grouping[opens]
        drop[opens[g]] = True
        drop[closes[g]] = True
    return drop


def dedup_shingle_pairs(
    texts: Sequence[str],
    n: int = 5,
    *,
    languages: str | Sequence[str] = "python",
    identifiers: T.IdentifierMode = "keep",
    drop_comments: bool = True,
    lexer: T.Lexer = "regex",
    keep_builtins: bool = True,
    literals: LiteralMode = "keep",
    docstrings: DocstringMode = "keep",
    format_tokens: FormatMode = "keep",
) -> tuple[np.ndarray, np.ndarray]:
    """``(record index, 64-bit shingle hash)`` pairs of a batch of texts, not deduplicated: the shingles of
    ``codecurate.code.tokens.batch_shingle_pairs`` with the normalizations of this module applied to the
    token stream first (see the module docstring)."""
    T._check_n(n)
    if literals not in ("keep", "quotes", "classes"):
        raise ValueError(f"literals must be keep, quotes or classes, got {literals!r}")
    langs = [languages] * len(texts) if isinstance(languages, str) else list(languages)
    lists = T._token_lists(texts, langs, lexer)
    lens = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    ids = T._VOCAB.lookup(chain.from_iterable(lists), int(lens.sum()))
    rec = np.repeat(np.arange(len(lists), dtype=np.int64), lens)
    flags = T._VOCAB.flags[ids]
    if drop_comments:
        keep = (flags & T._F_COMMENT) == 0
        ids, rec, flags = ids[keep], rec[keep], flags[keep]
    is_py_rec = np.array([T._is_python(lang) for lang in langs], dtype=bool)
    if len(ids) and (docstrings == "drop" or format_tokens == "drop"):
        _SIDE.sync()
        kind = _SIDE.kind[ids]
        is_py = is_py_rec[rec]
        same_prev = np.zeros(len(ids), dtype=bool)
        same_prev[1:] = rec[1:] == rec[:-1]
        drop = np.zeros(len(ids), dtype=bool)
        if docstrings == "drop":
            drop |= _docstring_mask(rec, flags, kind, is_py, same_prev)
        if format_tokens == "drop":
            drop |= _format_mask(rec, kind, flags, is_py, same_prev)
        if drop.any():
            ids, rec, flags = ids[~drop], rec[~drop], flags[~drop]
    if literals == "keep":
        h = T._VOCAB.hash[ids]
    else:
        _SIDE.sync()
        h = (_SIDE.quote_hash if literals == "quotes" else _SIDE.class_hash)[ids]
    name_key = None
    if identifiers != "keep" and len(ids):
        is_py = is_py_rec[rec]
        kept_names = np.where(is_py, T._F_PY_KEYWORD, T._F_OTHER_KEYWORD).astype(np.uint16)
        if keep_builtins:  # builtins keep their spelling unless the record binds them
            builtin_kept = ((flags & T._F_BUILTIN) != 0) & ~T._shadowed_mask(ids, rec, flags)
        api_attr = np.zeros(len(ids), dtype=bool)
        api_attr[1:] = ((flags[:-1] & T._F_DOT) != 0) & (rec[1:] == rec[:-1])
        api_attr[2:] &= ~(((flags[:-2] & T._F_SELF) != 0) & (rec[2:] == rec[:-2]))
        norm = ((flags & T._F_NAME) != 0) & ((flags & kept_names) == 0) & ~api_attr
        if keep_builtins:
            norm &= ~builtin_kept
        if identifiers == "placeholder":
            h[norm] = np.uint64(T._ID_HASH)
        elif identifiers == "index":
            h[norm] = T._first_occurrence_index_hashes(rec[norm], ids[norm])
        elif identifiers == "local":
            name_key = np.where(norm, ids, -1)
        else:
            raise ValueError(f"identifiers must be keep, placeholder, index or local, got {identifiers!r}")
    return T.record_windows(h, name_key, rec, len(lists), n)


def normalized_tokens(text: str, *, language: str = "python", literals: LiteralMode = "keep",
                      docstrings: DocstringMode = "keep", format_tokens: FormatMode = "keep",
                      drop_comments: bool = True) -> list[str]:
    """The tokens of ``text`` that survive the token-dropping options (names as written), for inspection
    and tests: ``normalized_tokens("f((a), b,)", format_tokens="drop") == ["f", "(", "a", ",", "b", ")"]``."""
    lists = T._token_lists([text], [language], "regex")
    toks = lists[0]
    if not toks:
        return []
    ids = T._VOCAB.lookup(toks)
    keep_idx = np.arange(len(toks))
    flags = T._VOCAB.flags[ids]
    if drop_comments:
        m = (flags & T._F_COMMENT) == 0
        ids, flags, keep_idx = ids[m], flags[m], keep_idx[m]
    if len(ids) and (docstrings == "drop" or format_tokens == "drop"):
        _SIDE.sync()
        kind = _SIDE.kind[ids]
        rec = np.zeros(len(ids), dtype=np.int64)
        is_py = np.full(len(ids), T._is_python(language))
        same_prev = np.ones(len(ids), dtype=bool)
        same_prev[0] = False
        drop = np.zeros(len(ids), dtype=bool)
        if docstrings == "drop":
            drop |= _docstring_mask(rec, flags, kind, is_py, same_prev)
        if format_tokens == "drop":
            drop |= _format_mask(rec, kind, flags, is_py, same_prev)
        keep_idx = keep_idx[~drop]
    return [toks[i] for i in keep_idx.tolist()]
