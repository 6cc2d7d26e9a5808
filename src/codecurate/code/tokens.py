"""Code-aware tokenization for near-duplicate shingles, and whitespace n-grams for XCoder's TLI.

Near-dedup of code with prose shingles misses most copies: datatrove lowercases and strips punctuation, and
word 5-grams change when an identifier is renamed (peer_systems.md §11.2). Here code is cut into lexer tokens
(names, numbers, string literals, operators) with:

- whitespace ignored (re-indenting, blank lines and trailing spaces change nothing; whitespace runs inside
  string literals are collapsed too),
- comments dropped (optional),
- identifiers optionally normalized: ``"placeholder"`` maps every name that is not a keyword or builtin to
  ``ID``; ``"index"`` maps it to ``v<k>`` by first occurrence in the text (consistent renaming is invisible,
  different binding structure is not); ``"keep"`` leaves names as written. Attribute names after a ``.``
  (``.append``, ``math.sqrt``) are kept as written in every mode: they name APIs, which are part of what the
  code does.

Two lexers: ``"regex"`` (default; one compiled regex, works for any C-like or Python-like language) and
``"python"`` (the standard library ``tokenize`` module; falls back to the regex lexer when the text does not
tokenize). The regex lexer is the default because it is several times faster on the hot path and gives the
same tokens on valid Python for the purposes of shingling (see benchmarks/results/dedup.json, "lexer").
"""

from __future__ import annotations

import builtins
import io
import keyword
import re
import tokenize as _tokenize
from typing import Iterable, Literal

import numpy as np
import xxhash

IdentifierMode = Literal["keep", "placeholder", "index"]
Lexer = Literal["regex", "python"]

# Names that keep their spelling under identifier normalization: Python keywords and builtins, plus the
# keywords of common C-like languages so non-Python code is not reduced to placeholders only.
_OTHER_KEYWORDS = """
abstract auto bool boolean break byte case catch char class const continue default delete do double else
enum export extends extern final finally float for friend function goto if implements import include inline
instanceof int interface let long namespace new null nullptr package private protected public register
return short signed sizeof static struct super switch synchronized template this throw throws try typedef
typename union unsigned using var virtual void volatile while true false fn impl mut pub match mod use crate
trait func go defer chan select string std cout cin endl printf scanf main println System out
""".split()
KEYWORDS: frozenset[str] = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(_OTHER_KEYWORDS)
KEEP_NAMES: frozenset[str] = KEYWORDS | frozenset(dir(builtins))

_STRING = r"""[rRbBuUfF]{0,2}(?:\"\"\"[\s\S]*?\"\"\"|'''[\s\S]*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*')"""
_NAME = r"[^\W\d]\w*"
_NUMBER = r"\.?\d(?:[\w.]|(?<=[eE])[-+])*"
_OPERATOR = r"\*\*=?|//=?|>>=?|<<=?|->|:=|\.\.\.|[-+*/%&|^@!=<>]=|\S"
_PY_COMMENT = r"\#[^\r\n]*"
_C_COMMENT = r"//[^\r\n]*|/\*[\s\S]*?\*/|\#[^\r\n]*"

# Comments are matched first so their text never leaks into tokens; strings before names so a prefix like
# f"..." is one token.
_PY_RE = re.compile("|".join([_PY_COMMENT, _STRING, _NAME, _NUMBER, _OPERATOR]))
_C_RE = re.compile("|".join([_C_COMMENT, _STRING, _NAME, _NUMBER, _OPERATOR]))
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
    keep_names = KEEP_NAMES if keep_builtins else KEYWORDS
    if not text:
        return []
    raw = _python_tokens(text, language) if lexer == "python" else _regex_tokens(text, language)
    out: list[str] = []
    append = out.append
    index: dict[str, str] = {}
    prev = ""
    for tok in raw:
        c = tok[0]
        if c == "#" or (tok[:2] in ("//", "/*") and tok not in ("//", "//=")):
            if drop_comments:
                continue
            append(tok)
            prev = tok
            continue
        if c.isalpha() or c == "_":
            if _is_string(tok):  # prefixed literal: f"..", rb'..'
                tok = _WS_RE.sub(" ", tok)
            elif identifiers != "keep" and prev != "." and tok not in keep_names:
                if identifiers == "placeholder":
                    tok = "ID"
                else:
                    tok = index.setdefault(tok, f"v{len(index)}")
        elif c == '"' or c == "'":
            tok = _WS_RE.sub(" ", tok)
        append(tok)
        prev = tok
    return out


# -- hashing ------------------------------------------------------------------------------------------------

_TOKEN_HASH_CACHE: dict[str, int] = {}
_CACHE_LIMIT = 2_000_000
# odd 64-bit multipliers for combining the tokens of an n-gram (position-dependent, so order matters)
_COMBINE = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0xD6E8FEB86659FD93,
                     0xFF51AFD7ED558CCD, 0xC4CEB9FE1A85EC53, 0x94D049BB133111EB, 0xBF58476D1CE4E5B9,
                     0x2545F4914F6CDD1D, 0x9FB21C651E98DF25, 0x7FB5D329728EA185, 0x81DADEF4BC2DD44D],
                    dtype=np.uint64)


def token_hashes(tokens: list[str]) -> np.ndarray:
    """Deterministic (process-independent) 64-bit hash of each token, via xxh3 with a per-process cache."""
    cache = _TOKEN_HASH_CACHE
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    out = []
    for t in tokens:
        h = cache.get(t)
        if h is None:
            h = cache[t] = xxhash.xxh3_64_intdigest(t.encode("utf-8", "surrogatepass"))
        out.append(h)
    return np.array(out, dtype=np.uint64)


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer, vectorized (uint64 arithmetic wraps)."""
    x = x ^ (x >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def ngram_hashes(tok_hashes: np.ndarray, n: int) -> np.ndarray:
    """64-bit hashes of every contiguous ``n``-gram of a token-hash array (not deduplicated). A sequence
    shorter than ``n`` yields one shingle for the whole sequence, so tiny snippets still match their copies;
    an empty one yields none."""
    if n < 1 or n > len(_COMBINE):
        raise ValueError(f"ngram size must be 1..{len(_COMBINE)}, got {n}")
    L = len(tok_hashes)
    if L == 0:
        return np.empty(0, dtype=np.uint64)
    if L < n:
        n = L
    m = L - n + 1
    with np.errstate(over="ignore"):
        acc = tok_hashes[:m] * _COMBINE[0]
        for k in range(1, n):
            acc = acc + tok_hashes[k:k + m] * _COMBINE[k]
        return _mix64(acc + np.uint64(n))


def shingle_set(text: str, n: int = 5, **token_options) -> np.ndarray:
    """Sorted unique 64-bit shingle hashes of ``text`` (code tokens, ``n``-grams)."""
    return np.unique(ngram_hashes(token_hashes(code_tokens(text, **token_options)), n))


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
