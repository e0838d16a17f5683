"""Reports on a journal: one self-contained HTML page (:mod:`.html`)."""

from .html import ReportData, collect_report, render_html, write_report

__all__ = ["ReportData", "collect_report", "render_html", "write_report"]
