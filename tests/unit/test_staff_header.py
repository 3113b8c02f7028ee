"""Every staff page shows the one staff header (templates/staff_header.html), never a copy:
the brand, the page's links, who is signed in and sign out are written once."""

from __future__ import annotations

from pathlib import Path

import pytest

import threadline.web

TEMPLATES = Path(threadline.web.__file__).parent / "templates"
INCLUDE = '{% include "staff_header.html" %}'
STAFF_PAGES = sorted(
    path.name
    for path in TEMPLATES.glob("*.html")
    if 'class="topbar"' in path.read_text("utf-8") or INCLUDE in path.read_text("utf-8")
)


def test_the_staff_pages_are_found() -> None:
    expected = {"desktop.html", "supervisor.html", "reports.html", "planning.html"}
    expected |= {"customer_profile.html", "admin_nav.html", "help_admin.html"}
    expected |= {"admin_surveys.html", "admin_queues.html", "supervisor_incidents.html"}
    assert expected <= set(STAFF_PAGES)


@pytest.mark.parametrize("name", [n for n in STAFF_PAGES if n != "staff_header.html"])
def test_a_staff_page_includes_the_header_and_copies_none_of_it(name: str) -> None:
    text = (TEMPLATES / name).read_text("utf-8")
    assert INCLUDE in text
    assert '<header class="topbar">' not in text
    assert 'class="brand-mark"' not in text
    assert '@click="logout()"' not in text
