"""Presentation only: Markdown, HTML, JUnit and SVG from computed records. Nothing here computes
a metric or reads a run folder (:mod:`evalharness.api.reports` does, then calls these)."""

from .html import compile_template, render_html
from .markdown import render_markdown

__all__ = ["compile_template", "render_html", "render_markdown"]
