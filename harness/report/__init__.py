"""Reports rendered from the run's event record (never from logs)."""

from .dashboard import render_dashboard
from .summary import render_summary

__all__ = ["render_dashboard", "render_summary"]
