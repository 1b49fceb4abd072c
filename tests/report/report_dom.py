"""The dashboard's matrix read back from HTML (a rendered file or a browser's DOM dump), by the
page's stable ids and data attributes: what a person sees, not how the template is written."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Row:
    cloud: str
    outcome: str
    cells: dict[str, tuple[str, str]] = field(default_factory=dict)  # phase -> (data-outcome, text)
    slowest: set[str] = field(default_factory=set)


class _Matrix(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.in_matrix = False
        self.header: list[str] = []
        self.rows: list[Row] = []
        self._cell: tuple[str, str] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("id") == "matrix":
            self.in_matrix = True
        if not self.in_matrix:
            return
        if tag == "th" and a.get("data-phase"):
            self.header.append(a["data-phase"] or "")
        elif tag == "tr" and a.get("data-cloud"):
            self.rows.append(Row(a["data-cloud"] or "", a.get("data-outcome") or ""))
        elif tag == "td" and a.get("data-phase"):
            self._cell = (a["data-phase"] or "", a.get("data-outcome") or "")
            self._text = []
            if a.get("data-slowest") == "true":
                self.rows[-1].slowest.add(a["data-phase"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.in_matrix:
            self.in_matrix = False
        elif tag == "td" and self._cell is not None:
            phase, outcome = self._cell
            self.rows[-1].cells[phase] = (outcome, " ".join("".join(self._text).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._text.append(data)


def read_matrix(html: str) -> tuple[list[str], list[Row]]:
    """The matrix's phase columns and its rows, in page order."""
    parser = _Matrix()
    parser.feed(html)
    return parser.header, parser.rows
