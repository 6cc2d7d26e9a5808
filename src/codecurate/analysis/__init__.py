"""Dataset analysis and run reports (``codecurate analyze`` / ``codecurate report``).

``analyze(sources)`` -> the analysis JSON (``analysis.analyze``); ``write_analysis`` writes it with its HTML
report; ``write_run_report(run_dir)`` writes a run's report (``analysis.run_report``). The HTML is one
self-contained file with inline SVG plots (``analysis.svg``, ``analysis.report_html``).
"""

from codecurate.analysis.analyze import AnalyzeOptions, analyze, write_analysis
from codecurate.analysis.load import AnalysisError, load_dataset

__all__ = ["AnalyzeOptions", "AnalysisError", "analyze", "load_dataset", "write_analysis", "write_run_report"]


def write_run_report(*args, **kwargs):
    """See ``codecurate.analysis.run_report.write_run_report``."""
    from codecurate.analysis.run_report import write_run_report as _w

    return _w(*args, **kwargs)
