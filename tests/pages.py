"""What a person reads on a page: its text, without markup, attributes or scripts. Tests that a short
word is *absent* read this, not the HTML: a page's CSRF tokens and form keys are random letters and
digits, and a two-letter word ("v3") turns up in one of them every few dozen runs."""

from __future__ import annotations

from html.parser import HTMLParser


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._hidden += tag in ("script", "style", "template")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("script", "style", "template") and self._hidden > 0

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def page_text(html: str | bytes) -> str:
    """The page's text, whitespace runs made one space."""
    parser = _Text()
    parser.feed(html.decode() if isinstance(html, bytes) else html)
    parser.close()
    return " ".join(" ".join(parser.parts).split())
