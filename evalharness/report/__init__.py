"""Presentation only: Markdown, HTML, JUnit and SVG from computed records. Nothing here computes
a metric or reads a run folder (:mod:`evalharness.api.reports` does, then calls these)."""

from .html import render_html
from .markdown import render_markdown

__all__ = ["render_html", "render_markdown"]
