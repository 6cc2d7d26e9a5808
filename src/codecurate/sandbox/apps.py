"""APPS's execution harness (hendrycks/apps ``eval/testing_util.py``, ``run_test``), for tests with
``"harness": "apps"`` (APPS and CodeContests records, and the study's copy of the harness).

What APPS does and we reproduce (the verdict-deciding parts; the rest of its process handling is replaced by
the sandbox):

- a fixed import prelude (``PRELUDE``) is prepended to every program, so a solution may use ``math``, ``np``,
  ``Counter``, ``heapq``... without importing them;
- standard-input programs are rewritten (``wrap_stdio``): every line that does not start with ``from `` or
  ``import `` is indented by a tab into a function ``code()``; the module is loaded as ``tmp_sol``, so an
  ``if __name__ == "__main__":`` block never runs; ``code()`` is called once per test with ``sys.stdin`` a
  ``StringIO`` of the input, ``open()`` mocked to return the input, ``sys.stdout`` captured, and
  ``SystemExit`` swallowed (``sys.exit(1)`` is a normal end whose output is compared);
- call-based programs: ``Solution().fn_name`` when the code has ``class Solution``, else the module's
  ``fn_name``; a failure to load or to find it is -2 for every test;
- JSON turned dict keys into strings; APPS turns them back to ints in the first input (``call_inputs``) and in
  the expected output (``compare.call_equal_apps``).

Without ``"harness": "apps"`` a stdio program runs as a real script (``__main__``, real stdin, a non-zero
``SystemExit`` is an error) and a call program is loaded without the prelude: the README lists these as the
fixes a user may choose (``--no-apps-harness`` in ``codecurate eval``)."""

from __future__ import annotations

from typing import Any

PRELUDE = (
    "import sys\nimport time\nimport itertools\nfrom itertools import accumulate, product, permutations, "
    "combinations\nimport collections\nfrom collections import Counter, OrderedDict, deque, defaultdict, "
    "ChainMap\nfrom functools import lru_cache\nimport math\nfrom math import sqrt, sin, cos, tan, ceil, fabs, "
    "floor, gcd, exp, log, log2\nimport fractions\nfrom typing import List, Tuple\nimport numpy as np\n"
    "import random\nimport heapq\nfrom heapq import *\n"
)
MODULE_NAME = "tmp_sol"


def _is_import(line: str) -> bool:
    return line.startswith("from ") or line.startswith("import ")


def wrap_stdio(code: str) -> str:
    """The program as APPS runs a standard-input solution: prelude, then top-level imports, then everything
    else indented (by a tab) into ``def code():``, preceded by ``stdin = sys.stdin`` / ``stdout =
    sys.stdout``. Imports after the first indented line are indented too."""
    out = [PRELUDE]
    started = False
    for line in code.split("\n"):
        if not _is_import(line):
            if not started:
                out.append("stdin = sys.stdin\nstdout = sys.stdout\ndef code():\n")
                started = True
            out.append("\t" + line + "\n")
        elif started:
            out.append("\t" + line + "\n")
        else:
            out.append(line + "\n")
    return "".join(out)


def wrap_call(code: str) -> str:
    """The program as APPS loads a call-based solution: the prelude, then the code."""
    return PRELUDE + code


def call_inputs(args: Any) -> Any:
    """APPS: a first argument that is a dict gets its keys turned back into ints (JSON made them strings);
    the input becomes that one dict. Left as is when a key is not an int."""
    try:
        if isinstance(args[0], dict):
            return [{int(k): v for k, v in args[0].items()}]
    except (TypeError, ValueError, IndexError, KeyError):
        pass
    return args
