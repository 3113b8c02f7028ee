"""Signed, expiring public links to stored files (what providers fetch to send media)."""

from __future__ import annotations

from threadline.web.media import MediaLinks, MediaRef

REF = MediaRef(sha256="ab" * 32, content_type="application/pdf", filename="extrato maio.pdf")


def test_a_link_names_the_file_and_nothing_else() -> None:
    links = MediaLinks("secret-key", "https://contact.example.com/")
    url = links.url(REF)
    assert url.startswith("https://contact.example.com/media/")
    assert url.endswith("/extrato%20maio.pdf")
    token = url.split("/media/")[1].split("/")[0]
    assert links.read(token) == REF


def test_forged_altered_foreign_and_expired_links_read_as_nothing() -> None:
    links = MediaLinks("secret-key", "https://contact.example.com")
    token = links.url(REF).split("/media/")[1].split("/")[0]
    assert links.read(token[:-2] + ("AA" if not token.endswith("AA") else "BB")) is None
    assert MediaLinks("another-key", "https://x").read(token) is None
    assert links.read("not-a-token") is None
    assert links.read(token, max_age_s=-1) is None  # past its age
