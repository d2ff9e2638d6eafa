"""Reports for people: benchmark comparisons as a terminal table, JSON, or an HTML page."""

from embank.report.compare import compare_versions, higher_is_better

__all__ = ["compare_versions", "higher_is_better"]
