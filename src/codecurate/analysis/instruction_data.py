"""The InstructionData study's dataset properties (``shared/reference/seed0_techniques.md`` §7; repository
``yujiachen99/InstructionData``), plus the code-side measures the report adds.

**Domain composition** (§7.1). The study mixes code data with math (MathInstruct) or general (Alpaca) data; it
knows each sample's domain from its source file and keeps a non-code sample only if ``contains_code`` finds none
of its markers (``def ``, ``class ``, ``import ``, ``from ``, ``function ``, ``const ``, ``let ``, ``var ``,
``public ``, ``private ``, a triple backtick, ``{``, ``}``, ``[``, ``]``, ``();``, ``=>``, ``->`` in the lower-cased
instruction or output; ``RQ4_breadth/domain_mixer.py``). That rule is a conservative filter, not a classifier:
"from " and "let " are English words, so it flags 9 of the first 30 GSM8K problems and 12 of 40 Alpaca seed
tasks as code. We report its rate (``code_rule_rate``) and classify each record of an unlabeled dataset as:
**code** when it carries code evidence (a ``code`` field, tests, a fenced block in the response, or a response
line that reads as code: ``def f``, ``#include``, ``SELECT ``, an HTML tag, a line ending in ``;`` or ``{``...,
``CODE_LINE``); otherwise the domain of the most similar prototype text (code / math / general descriptions,
``DOMAIN_PROTOTYPES``) by cosine similarity of the instruction's all-MiniLM-L6-v2 embedding, so a prose
question about programming ("What is polymorphism?") still counts as code. On the fixtures: Code Alpaca 298/300
code, GSM8K 30/30 math, Alpaca seed tasks 29/40 general (the rest are code or math tasks). Without embeddings
the records without code evidence are reported as ``non-code``.

**Semantic diversity** (§7.2, ``RQ3_density/diversity_scorer.py``): embeddings L2-normalised,
``avg_sim(i)`` = mean cosine similarity of sample ``i`` to every *other* sample, ``diversity(i) = 1 -
avg_sim(i)``, tertiles T1/T2/T3 by sorted diversity (sizes N//3, N//3, rest). The study searches all N
neighbours with FAISS (an N x N matrix); for unit vectors ``sum_j e_i . e_j = e_i . (sum_j e_j)``, so we compute
the same numbers exactly in O(N d): ``avg_sim(i) = (e_i . S - e_i . e_i) / (N - 1)`` with ``S`` the sum of all
embeddings (the study drops the top hit, which is the sample itself; with exact duplicates it is an identical
vector with the same similarity, so the result is the same). Deviation: the embedder is the packaged
all-MiniLM-L6-v2, not INSTRUCTOR ``instructor-base`` (not packaged; the report states the model).

**Task-type coverage** (§7.4, ``RQ2_composition/task_classifier.py``): each instruction gets the category of
highest cosine similarity among the 10 categories ("Algorithmic" = Algorithmic & Data Structure +
Mathematical & Computational, "Practical" = the rest); ``category_similarity`` is that maximum. Deviation:
MiniLM has no instruction prompts, so each category is embedded as its name plus a one-line description of
its topics (``CATEGORIES``) instead of INSTRUCTOR's "Represent the topic for coding category:" + name.

**Problem complexity** (§7.3): the study's score is the XCoder complexity scorer (+ instruction perplexity).
Here: model-free proxies on every record (instruction tokens) and on a seeded sample (radon cyclomatic
complexity, maximum over the code's blocks, and maintainability index of the code), plus the scorer
(``codecurate.models.complexity.ComplexityScorer``) on a sample when a model is given, and any
``stats.complexity`` an op already wrote.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# RQ4_breadth/domain_mixer.py:contains_code (the "```python" etc. entries are implied by "```")
CODE_INDICATORS = ("def ", "class ", "import ", "from ", "function ", "const ", "let ", "var ", "public ",
                   "private ", "```", "{", "}", "[", "]", "();", "=>", "->")

# RQ2_composition/task_classifier.py:CATEGORY_LIST, with the descriptions we embed (see module docstring)
CATEGORIES: dict[str, str] = {
    "Algorithmic & Data Structure": "algorithms and data structures: sorting, searching, arrays, strings, linked "
                                    "lists, stacks, trees, graphs, dynamic programming, recursion",
    "Mathematical & Computational": "mathematical computation: arithmetic, number theory, prime numbers, "
                                    "factorials, fibonacci, geometry, equations, numeric formulas",
    "Database & SQL": "databases and SQL queries: tables, select, join, insert, update, schema, MySQL, "
                      "PostgreSQL, MongoDB",
    "System Design & Architecture": "system design and software architecture: classes and objects, design "
                                    "patterns, APIs, microservices, distributed systems, concurrency, operating "
                                    "systems",
    "Web Development": "web development: HTML, CSS, JavaScript, React, HTTP requests, REST endpoints, web servers, "
                       "Django, Flask, web pages",
    "Data Science & Machine Learning": "data science and machine learning: pandas dataframes, numpy, data "
                                       "analysis, plotting, training models, neural networks, scikit-learn",
    "Performance Optimization": "performance optimization: make code faster, reduce time or memory complexity, "
                                "caching, profiling, parallel execution",
    "User Interface & Application Design": "user interfaces and applications: GUI windows, buttons, forms, mobile "
                                           "apps, user interaction, games",
    "Domain-Specific": "domain-specific programming: finance, banking, biology, physics, chemistry, healthcare, "
                       "embedded hardware, business rules",
    "Security & Cryptography": "security and cryptography: encryption, hashing, passwords, authentication, "
                               "vulnerabilities, secure coding",
}
ALGORITHMIC = ("Algorithmic & Data Structure", "Mathematical & Computational")

DOMAIN_PROTOTYPES: dict[str, list[str]] = {
    "code": ["A programming task: write, fix or explain code, a function, a program, a script or a query.",
             "A question about software, programming languages, libraries, algorithms or computers.",
             "Create an HTML page, a web form, CSS styles or JavaScript for a website.",
             "Write a SQL query or create a database table.",
             "Write a loop, a class or a function in Python, Java, C++, JavaScript or Bash.",
             "What is the data type, variable, syntax or output of this code?"],
    "math": ["A math word problem about quantities, prices, ages, distances or rates that asks for a number.",
             "Solve an arithmetic, algebra, geometry or probability question and give the numeric answer.",
             "Calculate how many, how much or how long, step by step."],
    "general": ["A general question or everyday task in natural language: advice, opinions, recommendations.",
                "Write an essay, email, story, poem, title or summary.",
                "Explain a word, an idiom, history, science, health, cooking or a social topic."],
}
# a response line that reads as code (prose and math answers rarely start or end a line like this)
CODE_LINE = (r"(?m)^[ \t]*(def \w|class \w+\s*[:({]|import \w|from [\w.]+ import|#include|#!/|public |private |"
             r"static |function\s*\w*\s*\(|const \w+\s*=|let \w+\s*=|var \w+\s*=|SELECT |CREATE |UPDATE |"
             r"INSERT |DELETE FROM|<[a-zA-Z!][^>]*>|for\s*\(|while\s*\(|if\s*\(|return\b|print\(|console\.|"
             r"System\.out)|[;{][ \t]*$")
DOMAINS = ("code", "math", "general")


# -- domain -------------------------------------------------------------------------------------------------
def contains_code_mask(col: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The study's ``contains_code`` on every string of ``col`` (lower-cased substring test), vectorized."""
    if len(col) == 0:
        return np.zeros(0, dtype=bool)
    low = pc.utf8_lower(pc.fill_null(col, ""))
    m = None
    for ind in CODE_INDICATORS:
        hit = pc.match_substring(low, ind)
        m = hit if m is None else pc.or_(m, hit)
    assert m is not None  # CODE_INDICATORS is not empty
    return m.to_numpy(zero_copy_only=False).astype(bool)


def contains_code(text: str) -> bool:
    """The study's rule for one text (reference implementation of ``contains_code_mask``)."""
    low = (text or "").lower()
    return any(ind in low for ind in CODE_INDICATORS)


def prototype_matrix(embedder, prototypes: dict[str, list[str]]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Embeddings of every prototype text, with the label each belongs to."""
    labels, texts = [], []
    for lab, ts in prototypes.items():
        for t in ts:
            labels.append(lab)
            texts.append(t)
    emb = _unit(embedder.encode(texts))
    return list(prototypes), np.asarray(labels), emb


def code_evidence_mask(table: pa.Table) -> np.ndarray:
    """Records that carry code: a non-empty ``code`` field, tests, a fenced block in the response, or a response
    line matching ``CODE_LINE``. Vectorized over the columns."""
    n = table.num_rows
    if n == 0:
        return np.zeros(0, dtype=bool)
    resp = pc.fill_null(table.column("response"), "")
    code = pc.fill_null(table.column("code"), "")
    tests = pc.fill_null(table.column("tests"), "null")
    m = pc.or_(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(code)), 0), pc.match_substring(resp, "```"))
    m = pc.or_(m, pc.and_(pc.not_equal(tests, "null"), pc.match_substring(tests, '"kind"')))
    m = pc.or_(m, pc.match_substring_regex(resp, CODE_LINE))
    return m.to_numpy(zero_copy_only=False).astype(bool)


def classify_domain(evidence: np.ndarray, emb: np.ndarray | None, embedder=None) -> np.ndarray:
    """Per record ``code`` / ``math`` / ``general`` (``non-code`` without embeddings): code evidence first,
    else the domain of the most similar prototype text."""
    out = np.where(evidence, "code", "non-code").astype(object)
    if emb is None or embedder is None or not len(out):
        return out
    _, labels, protos = prototype_matrix(embedder, DOMAIN_PROTOTYPES)
    rest = np.flatnonzero(~evidence)
    if len(rest):
        sims = _unit(emb[rest]) @ protos.T
        out[rest] = labels[np.argmax(sims, axis=1)]
    return out


# -- diversity ----------------------------------------------------------------------------------------------
def _unit(e: np.ndarray) -> np.ndarray:
    e = np.asarray(e, dtype=np.float32)
    n = np.linalg.norm(e, axis=1, keepdims=True)
    return e / np.maximum(n, 1e-12)


def diversity_scores(emb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(diversity, avg_sim)`` per sample: avg_sim(i) = mean cosine similarity to the other N-1 samples (see
    the module docstring for the O(N d) identity); diversity = 1 - avg_sim."""
    e = _unit(emb).astype(np.float64)
    n = len(e)
    if n < 2:
        return np.full(n, np.nan), np.full(n, np.nan)
    s = e.sum(axis=0)
    avg = (e @ s - np.einsum("ij,ij->i", e, e)) / (n - 1)
    return 1.0 - avg, avg


def tertiles(diversity: np.ndarray) -> dict:
    """The study's split: sort by diversity, T1 = the lowest N//3, T2 = the next N//3, T3 = the rest."""
    d = np.sort(np.asarray(diversity, dtype=np.float64))
    n = len(d)
    if n < 3:
        return {}
    k = n // 3
    parts = {"T1_lower": d[:k], "T2_middle": d[k:2 * k], "T3_higher": d[2 * k:]}
    return {name: {"size": int(len(p)), "min": float(p.min()), "max": float(p.max()), "mean": float(p.mean())}
            for name, p in parts.items()}


# -- categories ---------------------------------------------------------------------------------------------
def category_texts() -> list[str]:
    return [f"{name}: {desc}" for name, desc in CATEGORIES.items()]


def assign_categories(emb: np.ndarray, embedder) -> tuple[np.ndarray, np.ndarray]:
    """Index into ``CATEGORIES`` and the cosine similarity of the best category, per record."""
    cats = _unit(embedder.encode(category_texts()))
    sims = _unit(emb) @ cats.T
    best = np.argmax(sims, axis=1)
    return best, sims[np.arange(len(best)), best]


# -- code measures ------------------------------------------------------------------------------------------
def code_view(code: str, response: str) -> str:
    """The code of a record: its ``code`` field, else the primary fenced block of its response, else ""."""
    if code:
        return code
    if response and "```" in response:
        from codecurate.code.extract import code_blocks

        blocks = code_blocks(response)
        if blocks:
            py = [b for b in blocks if (b[1] or "").lower() in ("python", "py", "python3", "py3")]
            return (py[0] if py else max(blocks, key=lambda b: len(b[0])))[0]
    return ""


def radon_metrics(codes: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per code: radon cyclomatic complexity (max over its functions/classes/methods; 1 for straight-line code)
    and maintainability index (0-100, radon's multi-line-comment-as-comment variant); NaN where radon cannot
    parse the code."""
    from radon.complexity import cc_visit
    from radon.metrics import mi_visit

    import warnings

    cc = np.full(len(codes), np.nan)
    mi = np.full(len(codes), np.nan)
    with warnings.catch_warnings():  # compiling data code warns about its invalid escapes etc.
        warnings.simplefilter("ignore")
        for i, c in enumerate(codes):
            if not c.strip():
                continue
            try:
                blocks = cc_visit(c)
                cc[i] = max((b.complexity for b in blocks), default=1)
                mi[i] = mi_visit(c, True)
            except Exception:  # noqa: BLE001 - radon raises SyntaxError and others on code that does not parse
                continue
    return cc, mi
