"""Articles' Markdown to safe HTML and to plain text. Raw HTML in the source is shown as
text, never run (markdown-it with html off); links are limited to safe schemes
(markdown-it refuses javascript:, vbscript:, file: and data: other than images) and open
without handing the page to the target. Pure."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

DESCRIPTION_CHARS = 155  # what search engines show of a meta description


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    return md


def _links_open_safely(tokens: Sequence[Token]) -> None:
    for token in tokens:
        if token.type == "link_open":
            token.attrSet("rel", "nofollow noopener noreferrer")
        if token.children:
            _links_open_safely(token.children)


_MD = _parser()


def to_html(markdown: str) -> str:
    """Safe HTML of an article's body."""
    tokens = _MD.parse(markdown)
    _links_open_safely(tokens)
    return str(_MD.renderer.render(tokens, _MD.options, {}))


@lru_cache(maxsize=256)  # search hits and descriptions read the same published bodies
def to_text(markdown: str) -> str:
    """The words of an article's body, without Markdown (for search and descriptions)."""
    lines: list[str] = []
    for token in _MD.parse(markdown):
        if token.type == "inline" and token.children is not None:
            lines.append("".join(_inline_text(c) for c in token.children))
        elif token.type in ("code_block", "fence"):
            lines.append(token.content.strip())
    return "\n".join(line for line in lines if line)


def _inline_text(token: Token) -> str:
    if token.type in ("text", "code_inline"):
        return token.content
    return " " if token.type in ("softbreak", "hardbreak") else ""


def description(markdown: str) -> str:
    """A page's meta description: the body's first words, cut at a word."""
    text = " ".join(to_text(markdown).split())
    if len(text) <= DESCRIPTION_CHARS:
        return text
    return text[: DESCRIPTION_CHARS - 1].rsplit(" ", 1)[0] + "…"
