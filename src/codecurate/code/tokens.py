"""Code-aware tokenization for near-duplicate shingles, and whitespace n-grams for XCoder's TLI.

Near-dedup of code with prose shingles misses most copies: datatrove lowercases and strips punctuation, and
word 5-grams change when an identifier is renamed (peer_systems.md §11.2). Here code is cut into lexer tokens
(names, numbers, string literals, operators) with:

- whitespace ignored (re-indenting, blank lines and trailing spaces change nothing; whitespace runs inside
  string literals are collapsed too),
- comments dropped (optional),
- identifiers optionally normalized: ``"placeholder"`` maps every name that is not a keyword or builtin to
  ``ID``; ``"index"`` maps it to ``v<k>`` by first occurrence in the text (consistent renaming is invisible,
  different binding structure is not); ``"local"`` (shingles only) maps it to its first-occurrence index
  inside each n-gram window, which is as blind to renaming as a placeholder but tells ``a = b + a`` from
  ``a = b + c`` and, unlike ``"index"``, does not shift every later shingle when a name is added or prose
  mentions it first; ``"keep"`` leaves names as written. Attribute names after a ``.``
  (``.append``, ``math.sqrt``) are kept as written in every mode: they name APIs, which are part of what the
  code does; attributes of ``self`` / ``cls`` / ``this`` are the code's own names and are normalized.
  Which names count as keywords depends on the language (see ``PYTHON_KEYWORDS`` / ``OTHER_KEYWORDS``).

Two lexers: ``"regex"`` (default; one compiled regex, works for any C-like or Python-like language) and
``"python"`` (the standard library ``tokenize`` module; falls back to the regex lexer when the text does not
tokenize). The regex lexer is the default because it is several times faster on the hot path and gives the
same tokens on valid Python for the purposes of shingling.

Shingling a batch (``batch_shingles``) is vectorized: each distinct token is hashed once per process
(a vocabulary of xxh3 hashes and token kinds), and normalization, n-gram combining and per-record
deduplication are numpy operations over all tokens of the batch, not Python loops per token or shingle.
"""

from __future__ import annotations

import builtins
import io
import keyword
import re
import tokenize as _tokenize
from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Literal

import numpy as np
import xxhash

IdentifierMode = Literal["keep", "placeholder", "index", "local"]
Lexer = Literal["regex", "python"]

# Names that keep their spelling under identifier normalization depend on the record's language: Python code
# keeps Python keywords (and builtins, unless keep_builtins=False); other code keeps the keywords of common
# C-like languages. Keeping C keywords in Python would freeze common Python variable names (char, string,
# out, select), so a renamed copy would no longer match. Upper-case SQL keywords are kept in every language
# (SQL snippets are often labelled as the dataset's language; otherwise every SQL query reduces to a run of
# placeholders).
_OTHER_KEYWORDS = """
abstract auto bool boolean break byte case catch char class const continue default delete do double else
enum export extends extern final finally float for friend function goto if implements import include inline
instanceof int interface let long namespace new null nullptr package private protected public register
return short signed sizeof static struct super switch synchronized template this throw throws try typedef
typename union unsigned using var virtual void volatile while true false fn impl mut pub match mod use crate
trait func go defer chan select string std cout cin endl printf scanf main println System out
""".split()
_SQL_KEYWORDS = """
SELECT FROM WHERE AND OR NOT INSERT INTO VALUES UPDATE SET DELETE CREATE TABLE DROP ALTER ADD JOIN INNER LEFT
RIGHT OUTER FULL ON GROUP BY ORDER HAVING LIMIT OFFSET AS DISTINCT COUNT SUM AVG MIN MAX IN IS NULL LIKE
BETWEEN UNION ALL PRIMARY KEY FOREIGN REFERENCES INT INTEGER VARCHAR TEXT DATE DESC ASC CASE WHEN THEN ELSE
END EXISTS INDEX VIEW DEFAULT UNIQUE
""".split()
PYTHON_KEYWORDS: frozenset[str] = (frozenset(keyword.kwlist) | frozenset(keyword.softkwlist)
                                   | frozenset(_SQL_KEYWORDS))
OTHER_KEYWORDS: frozenset[str] = frozenset(_OTHER_KEYWORDS) | frozenset(_SQL_KEYWORDS)
BUILTIN_NAMES: frozenset[str] = frozenset(dir(builtins))
KEYWORDS: frozenset[str] = PYTHON_KEYWORDS | OTHER_KEYWORDS
KEEP_NAMES: frozenset[str] = KEYWORDS | BUILTIN_NAMES
# an attribute of the object itself (self.total, this.count) is the code's own name, normalized like a
# variable; other attributes (.append, math.sqrt) name APIs and keep their spelling
SELF_NAMES = frozenset({"self", "cls", "this"})
_PYTHON_LANGS = {"python", "py", "python3", "python2", ""}


def _is_python(language: str) -> bool:
    return language.lower() in _PYTHON_LANGS


# A builtin name the code binds itself (``list = [...]``, ``def f(str):``, ``for sum in ...``) is a variable
# there, and renaming it must not change the shingles: in that record it is normalized like any name.
_ASSIGN_OPS = frozenset("= += -= *= /= //= %= **= >>= <<= &= |= ^= @= :=".split())
_BINDERS = frozenset("for as def class import global nonlocal lambda".split())
_OPEN, _CLOSE = frozenset("([{"), frozenset(")]}")


def _shadowed_builtins(toks: list[str]) -> set[str]:
    """Builtin names bound in ``toks``: followed by an assignment operator, preceded by a binding keyword,
    or a parameter in a ``def`` header (after ``(`` or ``,`` between ``def`` and its ``:`` at bracket
    depth 0). Mirrors the vectorized rule in ``batch_shingle_pairs``."""
    shadowed: set[str] = set()
    depth, in_header, n = 0, False, len(toks)
    for i, t in enumerate(toks):
        if t in BUILTIN_NAMES:
            prev = toks[i - 1] if i else ""
            nxt = toks[i + 1] if i + 1 < n else ""
            if nxt in _ASSIGN_OPS or prev in _BINDERS or (in_header and prev in ("(", ",")):
                shadowed.add(t)
        if t == "def":
            in_header = True
        elif t == ":" and depth == 0:
            in_header = False
        if t in _OPEN:
            depth += 1
        elif t in _CLOSE:
            depth -= 1
    return shadowed


_STRING = r"""[rRbBuUfF]{0,2}(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')"""
_NAME = r"[^\W\d]\w*"
_NUMBER = r"\.?\d(?:[\w.]|(?<=[eE])[-+])*"
_OPERATOR = r"\*\*=?|//=?|>>=?|<<=?|->|:=|\.\.\.|[-+*/%&|^@!=<>]=|\S"
_PY_COMMENT = r"\#[^\r\n]*"
_C_COMMENT = r"//[^\r\n]*|/\*[\s\S]*?\*/|\#[^\r\n]*"

# Comments are matched first so their text never leaks into tokens. A name not followed by a quote is tried
# next (the commonest token; atomic, so it never backtracks into a shorter name), then strings (so a prefix
# like f"..." is one token), then a name before a quote that is not a string prefix (Python's). Leading
# whitespace is consumed inside the match, so blanks and indentation cost one step instead of a failed try of
# every alternative per character. Brackets, commas and semicolons (a third of all tokens) come right after
# names: no other alternative can start with them (``_OPERATOR`` would give the same one-character token after
# every other alternative failed). The group makes findall return the token only.
_NAME_NO_QUOTE = r"(?>[^\W\d]\w*)(?![\"'])"
_SEPARATOR = r"[()\[\]{},;]"
_PY_RE = re.compile(r"\s*(" + "|".join([_PY_COMMENT, _NAME_NO_QUOTE, _SEPARATOR, _STRING, _NAME, _NUMBER, _OPERATOR])
                    + ")")
_C_RE = re.compile(r"\s*(" + "|".join([_C_COMMENT, _NAME_NO_QUOTE, _SEPARATOR, _STRING, _NAME, _NUMBER, _OPERATOR])
                   + ")")
_WS_RE = re.compile(r"\s+")
_C_LIKE = {"c", "cpp", "c++", "java", "javascript", "js", "typescript", "ts", "go", "rust", "csharp", "c#",
           "kotlin", "swift", "scala", "php"}


def _is_name(tok: str) -> bool:
    c = tok[0]
    return c.isalpha() or c == "_"


def _is_string(tok: str) -> bool:
    return tok[-1] in "\"'" and len(tok) >= 2


def _regex_tokens(text: str, language: str) -> list[str]:
    pattern = _C_RE if language.lower() in _C_LIKE else _PY_RE
    return pattern.findall(text)


def _python_tokens(text: str, language: str) -> list[str]:
    skip = {_tokenize.NEWLINE, _tokenize.NL, _tokenize.INDENT, _tokenize.DEDENT, _tokenize.ENDMARKER,
            _tokenize.ENCODING}
    try:
        return [t.string for t in _tokenize.generate_tokens(io.StringIO(text).readline) if t.type not in skip]
    except (_tokenize.TokenError, SyntaxError, IndentationError, ValueError):
        return _regex_tokens(text, language)


def code_tokens(
    text: str,
    *,
    language: str = "python",
    identifiers: IdentifierMode = "keep",
    drop_comments: bool = True,
    lexer: Lexer = "regex",
    keep_builtins: bool = True,
) -> list[str]:
    """Lexer tokens of ``text`` (whitespace-insensitive) with optional comment dropping and identifier
    normalization (see the module docstring). With ``keep_builtins=False`` builtin names (``len``, ``list``,
    ``max``) are normalized like any identifier: code often shadows them (``list = [...]``), and renaming
    such a variable must not change the shingles."""
    if identifiers not in ("keep", "placeholder", "index"):
        raise ValueError(f"code_tokens: identifiers must be keep, placeholder or index, got {identifiers!r} "
                         "(\"local\" normalizes per n-gram window: use batch_shingles or shingle_set)")
    keep_names = PYTHON_KEYWORDS if _is_python(language) else OTHER_KEYWORDS
    if keep_builtins:
        keep_names = keep_names | BUILTIN_NAMES
    if not text:
        return []
    raw = _python_tokens(text, language) if lexer == "python" else _regex_tokens(text, language)
    if drop_comments:
        raw = [t for t in raw if not (t[0] == "#" or (t[:2] in ("//", "/*") and t not in ("//", "//=")))]
    if keep_builtins and identifiers != "keep":
        keep_names = keep_names - _shadowed_builtins(raw)
    out: list[str] = []
    append = out.append
    index: dict[str, str] = {}
    prev = prev2 = ""  # the previous two tokens as written (comments skipped)
    for tok in raw:
        written = tok
        c = tok[0]
        if c == "#" or (tok[:2] in ("//", "/*") and tok not in ("//", "//=")):
            if drop_comments:
                continue
            append(tok)
            prev2, prev = prev, written
            continue
        if c.isalpha() or c == "_":
            if _is_string(tok):  # prefixed literal: f"..", rb'..'
                tok = _WS_RE.sub(" ", tok)
            elif identifiers != "keep" and (prev != "." or prev2 in SELF_NAMES) and tok not in keep_names:
                if identifiers == "placeholder":
                    tok = "ID"
                else:
                    tok = index.setdefault(tok, f"v{len(index)}")
        elif c == '"' or c == "'":
            tok = _WS_RE.sub(" ", tok)
        append(tok)
        prev2, prev = prev, written
    return out


# -- hashing ------------------------------------------------------------------------------------------------

_TOKEN_HASH_CACHE: dict[str, int] = {}
_CACHE_LIMIT = 2_000_000
# odd 64-bit multipliers for combining the tokens of an n-gram (position-dependent, so order matters)
_COMBINE = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
                     0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9,
                     0x2545F4914F6CDD1D, 0x9FB21C651E98DF25, 0x7FB5D329728EA185, 0x81DADEF4BC2DD44D],
                    dtype=np.uint64)


def _xxh(tok: str) -> int:
    return xxhash.xxh3_64_intdigest(tok.encode("utf-8", "surrogatepass"))


def token_hashes(tokens: list[str]) -> np.ndarray:
    """Deterministic (process-independent) 64-bit hash of each token, via xxh3 with a per-process cache."""
    cache = _TOKEN_HASH_CACHE
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    out = []
    for t in tokens:
        h = cache.get(t)
        if h is None:
            h = cache[t] = _xxh(t)
        out.append(h)
    return np.array(out, dtype=np.uint64)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer, vectorized (uint64 arithmetic wraps)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _check_n(n: int) -> None:
    if n < 1 or n > len(_COMBINE):
        raise ValueError(f"ngram size must be 1..{len(_COMBINE)}, got {n}")


def ngram_hashes(tok_hashes: np.ndarray, n: int) -> np.ndarray:
    """64-bit hashes of every contiguous ``n``-gram of a token-hash array (not deduplicated). A sequence
    shorter than ``n`` yields one shingle for the whole sequence, so tiny snippets still match their copies;
    an empty one yields none."""
    _check_n(n)
    L = len(tok_hashes)
    if L == 0:
        return np.empty(0, dtype=np.uint64)
    return _window_hashes(np.asarray(tok_hashes, dtype=np.uint64), None, min(n, L))


# Hash of a name normalized inside an n-gram window ("local" mode): the k-th distinct name of the window.
_LOCAL_HASH = np.array([_xxh(f"\x00L{k}") for k in range(len(_COMBINE))], dtype=np.uint64)


def _window_hashes(h: np.ndarray, name_key: np.ndarray | None, n: int) -> np.ndarray:
    """Hashes of the ``len(h) - n + 1`` windows of width ``n``. With ``name_key`` (one int per token, -1 for
    tokens that are not normalized names) each normalized name is replaced, inside each window, by the index
    of its first occurrence in that window ("local" mode): ``a = b + a`` and ``x = y + x`` give the same
    window, ``a = a + a`` does not."""
    m = len(h) - n + 1
    with np.errstate(over="ignore"):
        acc = np.zeros(m, dtype=np.uint64)
        for k in range(n):
            val = h[k:k + m]
            if name_key is not None:
                key_k = name_key[k:k + m]
                is_name = key_k >= 0
                first = np.full(m, k, dtype=np.int64)
                for j in range(k - 1, -1, -1):  # the smallest j with the same name wins
                    first[is_name & (name_key[j:j + m] == key_k)] = j
                val = np.where(is_name, _LOCAL_HASH[first], val)
            acc += val * _COMBINE[k]
        return _mix64(acc + np.uint64(n))


# -- vectorized shingling of a batch of texts ---------------------------------------------------------------
# Every distinct token gets a vocabulary id once per process; its hash and its kind are looked up from numpy
# arrays, so the per-token work of a batch is one dict lookup (in C via map) plus array operations.
(_F_NAME, _F_PY_KEYWORD, _F_OTHER_KEYWORD, _F_BUILTIN, _F_COMMENT, _F_DOT, _F_SELF, _F_ASSIGN, _F_BINDER,
 _F_DEF, _F_COLON, _F_OPEN, _F_CLOSE, _F_PARAM_SEP) = (1 << k for k in range(14))


class _Ids(dict):
    """Token -> vocabulary id; a missing token is added to the vocabulary on lookup (``__missing__``), so a
    batch is looked up in one pass of C-level ``dict.__getitem__`` calls (Python runs only for new tokens)."""

    def __init__(self, vocab: _Vocab) -> None:
        super().__init__()
        self._vocab = vocab

    def __missing__(self, tok: str) -> int:
        return self._vocab._new(tok)


def _is_comment_token(tok: str) -> bool:
    return tok[0] == "#" or (tok[:2] in ("//", "/*") and tok not in ("//", "//="))


def _is_string_token(tok: str) -> bool:
    c = tok[0]
    return c == '"' or c == "'" or ((c.isalpha() or c == "_") and _is_string(tok))


def _token_flags(tok: str) -> tuple[int, str]:
    """(kind flags, text hashed) of a token: string literals are hashed with inner whitespace runs collapsed."""
    c = tok[0]
    if _is_comment_token(tok):
        return _F_COMMENT, tok
    if _is_string_token(tok):
        return 0, _WS_RE.sub(" ", tok)  # whitespace runs inside literals do not matter
    if c.isalpha() or c == "_":
        return (_F_NAME | (_F_PY_KEYWORD if tok in PYTHON_KEYWORDS else 0)
                | (_F_OTHER_KEYWORD if tok in OTHER_KEYWORDS else 0)
                | (_F_BUILTIN if tok in BUILTIN_NAMES else 0) | (_F_SELF if tok in SELF_NAMES else 0)
                | (_F_BINDER if tok in _BINDERS else 0) | (_F_DEF if tok == "def" else 0)), tok
    if tok == ".":
        return _F_DOT, tok
    return ((_F_ASSIGN if tok in _ASSIGN_OPS else 0) | (_F_COLON if tok == ":" else 0)
            | (_F_OPEN if tok in _OPEN else 0) | (_F_CLOSE if tok in _CLOSE else 0)
            | (_F_PARAM_SEP if tok in ("(", ",") else 0)), tok


class _Vocab:
    """Every distinct token of this process: ``ids`` (token -> id), ``hash[id]`` (xxh3 of the token) and
    ``flags[id]`` (its kind). New tokens' hashes and flags are collected in lists and written to the arrays
    once per ``lookup``."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = _Ids(self)
        self.hash = np.zeros(1024, dtype=np.uint64)
        self.flags = np.zeros(1024, dtype=np.uint16)
        self._new_hash: list[int] = []
        self._new_flags: list[int] = []
        self._n_flushed = 0

    def _new(self, tok: str) -> int:
        i = len(self.ids)
        flags, text = _token_flags(tok)
        self._new_hash.append(_xxh(text))
        self._new_flags.append(flags)
        dict.__setitem__(self.ids, tok, i)
        return i

    def _flush(self) -> None:
        if not self._new_hash:
            return
        lo, hi = self._n_flushed, len(self.ids)
        if hi > len(self.hash):
            size = len(self.hash)
            while size < hi:
                size *= 2
            self.hash = np.concatenate([self.hash, np.zeros(size - len(self.hash), dtype=np.uint64)])
            self.flags = np.concatenate([self.flags, np.zeros(size - len(self.flags), dtype=np.uint16)])
        self.hash[lo:hi] = np.array(self._new_hash, dtype=np.uint64)
        self.flags[lo:hi] = np.array(self._new_flags, dtype=np.uint16)
        self._new_hash, self._new_flags, self._n_flushed = [], [], hi

    def add(self, tok: str) -> int:
        i = self.ids[tok]
        self._flush()
        return i

    def lookup(self, tokens: Iterable[str], count: int = -1) -> np.ndarray:
        """Vocabulary ids of ``tokens`` (any iterable; ``count`` = its length when it has no ``len``), adding
        the tokens not seen before."""
        if count < 0:
            count = len(tokens)  # type: ignore[arg-type]
        ids = np.fromiter(map(self.ids.__getitem__, tokens), dtype=np.int64, count=count)
        self._flush()
        return ids


_VOCAB = _Vocab()
_ID_HASH = _xxh("ID")
_INDEX_HASHES: list[int] = []


def _index_hashes(k: int) -> np.ndarray:
    while len(_INDEX_HASHES) < k:
        _INDEX_HASHES.append(_xxh(f"v{len(_INDEX_HASHES)}"))
    return np.array(_INDEX_HASHES[:k], dtype=np.uint64)


def _token_lists(texts: Sequence[str], languages: Sequence[str], lexer: Lexer) -> list[list[str]]:
    if lexer == "python":
        return [_python_tokens(t, lang) if t else [] for t, lang in zip(texts, languages)]
    return [(_C_RE if lang.lower() in _C_LIKE else _PY_RE).findall(t) if t else []
            for t, lang in zip(texts, languages)]


def batch_shingle_pairs(
    texts: Sequence[str],
    n: int = 5,
    *,
    languages: str | Sequence[str] = "python",
    identifiers: IdentifierMode = "keep",
    drop_comments: bool = True,
    lexer: Lexer = "regex",
    keep_builtins: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Shingles of a batch of texts as two parallel arrays ``(record index, 64-bit shingle hash)``, not
    deduplicated. Same tokens and normalization as ``code_tokens`` (``identifiers`` also takes ``"local"``:
    names normalized by first occurrence inside each n-gram window), hashed with numpy over the whole batch;
    the result for each text equals ``ngram_hashes(token_hashes(code_tokens(text, ...)), n)`` in the
    token-level modes."""
    _check_n(n)
    langs = [languages] * len(texts) if isinstance(languages, str) else list(languages)
    lists = _token_lists(texts, langs, lexer)
    lens = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
    ids = _VOCAB.lookup(chain.from_iterable(lists), int(lens.sum()))
    rec = np.repeat(np.arange(len(lists), dtype=np.int64), lens)
    flags = _VOCAB.flags[ids]
    if drop_comments:
        keep = (flags & _F_COMMENT) == 0
        ids, rec, flags = ids[keep], rec[keep], flags[keep]
    h = _VOCAB.hash[ids]
    name_key = None
    if identifiers != "keep" and len(ids):
        is_py = np.array([_is_python(lang) for lang in langs], dtype=bool)[rec]
        kept_names = np.where(is_py, _F_PY_KEYWORD, _F_OTHER_KEYWORD).astype(np.uint16)
        if keep_builtins:  # builtins keep their spelling unless the record binds them
            builtin_kept = ((flags & _F_BUILTIN) != 0) & ~_shadowed_mask(ids, rec, flags)
        # attribute names (.append) keep their spelling, attributes of self / this do not
        api_attr = np.zeros(len(ids), dtype=bool)
        api_attr[1:] = ((flags[:-1] & _F_DOT) != 0) & (rec[1:] == rec[:-1])
        api_attr[2:] &= ~(((flags[:-2] & _F_SELF) != 0) & (rec[2:] == rec[:-2]))
        norm = ((flags & _F_NAME) != 0) & ((flags & kept_names) == 0) & ~api_attr
        if keep_builtins:
            norm &= ~builtin_kept
        if identifiers == "placeholder":
            h[norm] = np.uint64(_ID_HASH)
        elif identifiers == "index":
            h[norm] = _first_occurrence_index_hashes(rec[norm], ids[norm])
        elif identifiers == "local":
            name_key = np.where(norm, ids, -1)
        else:
            raise ValueError(f"identifiers must be keep, placeholder, index or local, got {identifiers!r}")
    return record_windows(h, name_key, rec, len(lists), n)



def record_windows(h: np.ndarray, name_key: np.ndarray | None, rec: np.ndarray, n_records: int,
                   n: int) -> tuple[np.ndarray, np.ndarray]:
    """(record index, shingle hash) of every width-``n`` window of the flat token hashes ``h`` that lies inside one
    record (``rec``: each token's record, records contiguous); a record shorter than ``n`` gives one shingle."""
    # windows of width n that lie inside one record (records are contiguous in the flat arrays)
    out_rec, out_h = [], []
    if len(h) >= n:
        win = _window_hashes(h, name_key, n)
        inside = rec[: len(win)] == rec[n - 1:]
        out_rec.append(rec[: len(win)][inside])
        out_h.append(win[inside])
    # records shorter than n tokens: one shingle for the whole sequence
    counts = np.bincount(rec, minlength=n_records)
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    for r in np.flatnonzero((counts > 0) & (counts < n)).tolist():
        s, L = starts[r], counts[r]
        out_rec.append(np.array([r], dtype=np.int64))
        out_h.append(_window_hashes(h[s:s + L], None if name_key is None else name_key[s:s + L], L))
    if not out_h:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.uint64)
    return np.concatenate(out_rec), np.concatenate(out_h)

def depth_before(flags: np.ndarray, same_prev: np.ndarray) -> np.ndarray:
    """Bracket depth (all bracket kinds) before each token, per record (``same_prev``: the token's record is
    the previous token's; records are contiguous, so a running maximum of start indices finds each start)."""
    delta = ((flags & _F_OPEN) != 0).astype(np.int64) - ((flags & _F_CLOSE) != 0)
    before = np.cumsum(delta) - delta
    return before - before[np.maximum.accumulate(np.where(same_prev, 0, np.arange(len(flags))))]


def _shadowed_mask(ids: np.ndarray, rec: np.ndarray, flags: np.ndarray) -> np.ndarray:
    """Tokens that are builtin names bound somewhere in their record (``_shadowed_builtins``, vectorized)."""
    n = len(ids)
    out = np.zeros(n, dtype=bool)
    bi = np.flatnonzero((flags & _F_BUILTIN) != 0)  # only builtin names can be bound builtins
    if not len(bi):
        return out
    idx = np.arange(n)
    same_prev = np.zeros(n, dtype=bool)
    same_prev[1:] = rec[1:] == rec[:-1]
    # flags of the previous / next token of each builtin (0 across a record boundary)
    prev_f = np.where(same_prev[bi], flags[bi - 1], 0)
    nxt = np.minimum(bi + 1, n - 1)
    next_f = np.where((bi + 1 < n) & same_prev[nxt], flags[nxt], 0)
    depth = depth_before(flags, same_prev)
    # inside a def header: after the last `def` of the record, before the first depth-0 colon after it
    last_def = np.maximum.accumulate(np.where((flags & _F_DEF) != 0, idx, -1))[bi]
    has_def = (last_def >= 0) & (last_def < bi)
    has_def &= rec[np.maximum(last_def, 0)] == rec[bi]
    colon0 = np.where(((flags & _F_COLON) != 0) & (depth == 0), idx, n)
    next_colon0 = np.minimum.accumulate(colon0[::-1])[::-1]
    in_header = has_def & (next_colon0[np.maximum(last_def, 0)] > bi)
    bound = (((next_f & _F_ASSIGN) != 0) | ((prev_f & _F_BINDER) != 0)
             | (in_header & ((prev_f & _F_PARAM_SEP) != 0)))
    if not bound.any():
        return out
    width = np.int64(len(_VOCAB.ids) + 1)
    code = rec[bi] * width + ids[bi]
    out[bi] = np.isin(code, code[bound])
    return out


def _first_occurrence_index_hashes(rec: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Hash of ``v<k>`` for each name, k = rank of the name's first occurrence within its record."""
    code = rec * np.int64(len(_VOCAB.ids) + 1) + ids
    _, first, inv = np.unique(code, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # distinct names in order of first occurrence
    rec_u = rec[first[order]]
    rec_start = np.searchsorted(rec_u, rec_u, side="left")  # rec_u is non-decreasing
    rank = np.empty(len(first), dtype=np.int64)
    rank[order] = np.arange(len(order)) - rec_start
    return _index_hashes(int(rank.max()) + 1 if len(rank) else 0)[rank[inv.ravel()]]


def group_unique(rec: np.ndarray, hashes: np.ndarray, n_records: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-record unique hashes from ``(record index, hash)`` pairs: ``(flat, offsets)`` with record ``i``'s
    set at ``flat[offsets[i]:offsets[i + 1]]``, ordered by the top 53 bits of the hash (sorted for batches
    of >= 2048 records). Use ``np.sort`` on a slice where full sortedness matters."""
    # one sort on (record << 53 | top 53 bits of the hash): equal hashes get equal keys, so duplicates end up
    # adjacent (two different hashes of one record sharing their top 53 bits is a ~n^2/2^54 event). Records
    # come out grouped; inside a record the order is by the key, which is all set operations need.
    if n_records >= 1 << 11:
        order = np.lexsort((hashes, rec))
    else:
        order = np.argsort((rec.astype(np.uint64) << np.uint64(53)) | (hashes >> np.uint64(11)))
    r, x = rec[order], hashes[order]
    first = np.ones(len(x), dtype=bool)
    first[1:] = (x[1:] != x[:-1]) | (r[1:] != r[:-1])
    r, x = r[first], x[first]
    offsets = np.zeros(n_records + 1, dtype=np.int64)
    np.cumsum(np.bincount(r, minlength=n_records), out=offsets[1:])
    return x, offsets


def batch_shingles(texts: Sequence[str], n: int = 5, **options) -> tuple[np.ndarray, np.ndarray]:
    """``group_unique`` of ``batch_shingle_pairs``: every text's sorted unique shingle hashes, flat."""
    rec, h = batch_shingle_pairs(texts, n, **options)
    return group_unique(rec, h, len(texts))


def shingle_set(text: str, n: int = 5, **token_options) -> np.ndarray:
    """Sorted unique 64-bit shingle hashes of ``text`` (code tokens, ``n``-grams)."""
    language = token_options.pop("language", "python")
    flat, _ = batch_shingles([text], n, languages=language, **token_options)
    return np.sort(flat)


# -- whitespace n-grams (XCoder TLI) ------------------------------------------------------------------------

def whitespace_ngrams(text: str, sizes: Iterable[int] = (4, 5), pad: bool = True) -> set[tuple[str, ...]]:
    """The set of word n-grams of ``text`` split on whitespace (case-sensitive), for every size in ``sizes``.

    With ``pad`` the sequence is padded with n-1 ``<start>`` / ``<end>`` symbols on each side before the
    window slides, exactly as NLTK ``ngrams(..., pad_left=True, pad_right=True, left_pad_symbol='<start>',
    right_pad_symbol='<end>')`` in XCoder's compute_TLI.py, so boundary grams are included.
    """
    words = text.split()
    grams: set[tuple[str, ...]] = set()
    for n in sizes:
        seq = (["<start>"] * (n - 1) + words + ["<end>"] * (n - 1)) if pad else words
        if len(seq) < n:
            continue
        grams.update(zip(*(seq[k:] for k in range(n))))
    return grams
