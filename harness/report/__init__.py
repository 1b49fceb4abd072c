"""Reports rendered from the run's event record (never from logs)."""

from .summary import render_summary

__all__ = ["render_summary"]
