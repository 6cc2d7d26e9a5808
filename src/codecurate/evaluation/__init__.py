"""Benchmark evaluation: load benchmarks as records, generate, execute in the sandbox, score.

    from codecurate.evaluation import evaluate, load_benchmark, pass_at_k
    out = evaluate("humaneval", "path/to/model", backend="hf")        # Results/humaneval/<model>/default/
    out = evaluate("mbpp", from_generations="all_code.json")          # re-score existing generations
"""

from codecurate.evaluation.benchmarks import (
           BENCHMARK_NAMES,
           BenchmarkError,
           load_benchmark,
)
from codecurate.evaluation.passk import (
           aggregate_pass_at_k,
           estimate_pass_at_k,
           pass_at_k,
)
from codecurate.evaluation.runner import (
           EvalError,
           EvalOutput,
           evaluate,
           load_generations,
           score_programs,
)

__all__ = ["BENCHMARK_NAMES", "BenchmarkError", "EvalError", "EvalOutput", "aggregate_pass_at_k",
           "estimate_pass_at_k", "evaluate", "load_benchmark", "load_generations", "pass_at_k",
           "score_programs"]
