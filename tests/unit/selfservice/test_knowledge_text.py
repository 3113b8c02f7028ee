"""The knowledge base's pure parts: Markdown shown safely, version diffs, the search queries
built for each database, and highlighted snippets."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from threadline.selfservice.knowledge.analysis import build_query, index_text, stems
from threadline.selfservice.knowledge.diffs import unified
from threadline.selfservice.knowledge.highlight import highlight, snippet
from threadline.selfservice.knowledge.rendering import description, to_html, to_text

# ---------------------------------------------------------------- Markdown


def test_markdown_is_rendered_and_raw_html_is_text() -> None:
    html = to_html("# PIN\n\n**Bold** and <script>alert(1)</script> <b onclick=x>hi</b>")
    assert "<h1>PIN</h1>" in html and "<strong>Bold</strong>" in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b onclick" not in html


def test_links_with_script_schemes_are_not_links() -> None:
    for href in ("javascript:alert(1)", "JaVaScRiPt:alert(1)", "vbscript:x", "data:text/html,x"):
        assert "href=" not in to_html(f"[click]({href})"), href
    html = to_html("[site](https://bank.example/a?b=1&c=2)")
    assert 'href="https://bank.example/a?b=1&amp;c=2"' in html
    assert 'rel="nofollow noopener noreferrer"' in html


def test_images_cannot_carry_script() -> None:
    html = to_html('![x](javascript:alert(1)) ![y](https://x.example/a.png "t\\" onerror=\\"x")')
    assert 'src="javascript' not in html and "<img" in html  # the safe one stays an image
    assert 'onerror="' not in html


@given(st.text(max_size=300))
def test_no_markdown_makes_a_tag_it_does_not_know(source: str) -> None:
    html = to_html(source)
    tags = set(re.findall(r"<\s*([a-zA-Z][a-zA-Z0-9]*)", html))
    allowed = {
        "p", "h1", "h2", "h3", "h4", "h5", "h6", "em", "strong", "a", "ul", "ol", "li",
        "code", "pre", "blockquote", "hr", "br", "img", "table", "thead", "tbody", "tr",
        "th", "td", "s",
    }  # fmt: skip
    assert tags <= allowed, tags
    assert not re.search(r"<[^>]*\son\w+\s*=", html)


def test_plain_text_and_description() -> None:
    source = "Open the **app**,\nthen `Cards`.\n\n- one\n- two"
    assert to_text(source) == "Open the app, then Cards.\none\ntwo"
    long = " ".join(["word"] * 80)
    assert description(long).endswith("…") and len(description(long)) <= 155


# ---------------------------------------------------------------- diffs


def test_diff_between_versions() -> None:
    old = "# Title\n\nline one\nline two\n"
    new = "# Title\n\nline one\nline 2\n"
    diff = unified(old, new, "v1", "v2")
    assert diff.startswith("--- v1\n+++ v2\n")
    assert "-line two\n" in diff and "+line 2\n" in diff and " line one\n" in diff
    assert unified(old, old, "v1", "v2") == ""
    assert unified("no newline", "no newline!", "v1", "v2").endswith("+no newline!\n")


# ---------------------------------------------------------------- queries


def test_portuguese_plural_and_accents_meet_the_singular() -> None:
    assert stems("pt", "cartões") == stems("pt", "cartão") == stems("pt", "Cartao")
    assert stems("pt", "transferências") == stems("pt", "transferência")
    assert stems("en", "changing") == stems("en", "change")
    assert stems("es", "tarjetas") == stems("es", "tarjeta")
    assert stems("ru", "карты") == stems("ru", "карта")
    assert stems("el", "Κάρτας") == stems("el", "καρτας")  # accents and final sigma


def test_queries_drop_stopwords_and_quote_every_term() -> None:
    query = build_query("en", "How do I change my PIN?")
    assert query.terms == ("change", "pin")
    assert query.fts5() == '"chang" OR "pin"'
    assert query.tsquery() == "change | pin"
    assert build_query("en", "the of and").empty


def test_typing_makes_the_last_word_a_prefix() -> None:
    typing = build_query("pt", "o meu cart", prefix=True)
    assert typing.prefix and typing.fts5() == '"cart"*' and typing.tsquery() == "cart:*"
    finished = build_query("pt", "o meu cartão ", prefix=True)
    assert not finished.prefix
    assert not build_query("en", "card the", prefix=True).prefix  # a stopword is not typed on


@given(st.text(max_size=200), st.sampled_from(["en", "pt", "es", "ru", "el"]), st.booleans())
def test_queries_never_carry_operators(text: str, language: str, prefix: bool) -> None:
    query = build_query(language, text, prefix=prefix)
    for part in query.fts5().split(" OR ") if not query.empty else []:
        assert re.fullmatch(r'"[^\W_]+"\*?', part), part
    for part in query.tsquery().split(" | ") if not query.empty else []:
        assert re.fullmatch(r"[^\W_]+(:\*)?", part), part
    assert len(query.terms) <= 24


def test_index_text_is_the_stems() -> None:
    assert index_text("pt", "Os cartões chegam!") == "os carta cheg"


# ---------------------------------------------------------------- highlights


def test_snippet_marks_matches_in_the_best_window() -> None:
    text = " ".join(["filler"] * 60) + " os cartões chegam em sete dias " + " ".join(["x"] * 60)
    out = snippet(build_query("pt", "cartão chegou"), text)
    assert "<mark>cartões</mark> <mark>chegam</mark>" in out
    assert out.startswith("… ") and out.endswith(" …")


def test_highlights_are_escaped() -> None:
    out = highlight(build_query("en", "pin"), "<b>PIN</b> & co")
    assert out == "&lt;b&gt;<mark>PIN</mark>&lt;/b&gt; &amp; co"


@given(st.text(max_size=300), st.text(max_size=40))
def test_snippets_carry_no_markup_but_marks(text: str, q: str) -> None:
    out = snippet(build_query("en", q), text)
    assert re.sub(r"</?mark>", "", out).count("<") == 0
