"""An email contact's survey: a link to a signed page (server-rendered, in the customer's
language, phone-sized) that takes the answers once and expires; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.conftest import Running, count, eventually
from tests.integration.test_email_outbound import (  # noqa: F401 - fixtures
    Mailboxes,
    email_settings,
    mailboxes,
    relay,
    thread_with_agent,
)
from tests.integration.test_surveys import logged, turn_on
from threadline.config import Settings
from threadline.db import utcnow
from threadline.routing.models import Contact
from threadline.surveys.models import Survey


@pytest.fixture
def settings(settings: Settings, tmp_path: Any) -> Settings:
    return email_settings(settings, tmp_path).model_copy(update={"event_poll_s": 0.1})


async def test_the_email_links_to_a_page_that_takes_the_answers_once(
    mailboxes: Mailboxes,  # noqa: F811 - the fixture imported above
) -> None:
    server: Running = mailboxes.server
    await turn_on(server, link_days=3)
    rui, thread = await thread_with_agent(mailboxes)
    resolved = await rui.post(f"/api/v1/threads/{thread}/resolve", json={"reason": "card"})
    assert resolved.status_code == 200, resolved.text

    async def mailed() -> str | None:
        if not mailboxes.relay.messages:
            return None
        body = mailboxes.relay.messages[0].message.get_body(("plain",))
        return body.get_content() if body is not None else None

    text = await eventually(mailed)
    assert "How did we do?" in text and "This link works for 3 days." in text
    link = re.search(r"http://\S+/survey/(\S+)", text)
    assert link is not None
    path = f"/survey/{link.group(1)}"
    async with server.client() as phone:
        page = await phone.get(path)
        assert page.status_code == 200
        assert 'name="viewport"' in page.text and "How satisfied are you" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "no-referrer" in page.text
        missing = await phone.post(path, data={"csat": "4"})
        assert missing.status_code == 422 and "Please choose an answer" in missing.text
        off_scale = await phone.post(path, data={"csat": "9", "ces": "3"})
        assert off_scale.status_code == 422
        done = await phone.post(path, data={"csat": "2", "ces": "3", "comment": "Slow reply"})
        assert done.status_code == 200 and 'data-testid="survey-thanks"' in done.text
        again = await phone.post(path, data={"csat": "5", "ces": "7"})
        assert again.status_code == 200 and 'data-testid="survey-answered"' in again.text
        forged = await phone.get(path[:-3] + "abc")
        assert forged.status_code == 404 and 'data-testid="survey-expired"' in forged.text
        greek = await phone.get("/survey/nope", headers={"Accept-Language": "el-GR"})
        assert greek.status_code == 404 and "έληξε" in greek.text

    async with server.ctx.db.sessions() as db:
        survey = await db.scalar(select(Survey))
    assert survey is not None and (survey.csat, survey.ces) == (2, 3)
    assert survey.comment == "Slow reply" and survey.channel == "email"
    answered = await logged(server, "survey.answered")
    assert sorted((a["kind"], a["score"], a["comment"]) for a in answered) == [
        ("ces", 3, "Slow reply"),
        ("csat", 2, None),
    ]
    assert await count(server, Contact) == 1

    # a link whose survey has expired opens nothing
    async with server.ctx.uow() as uow:
        await uow.session.execute(
            update(Survey).values(status="sent", csat=None, ces=None, expires_at=utcnow())
        )
    async with server.client() as phone:
        assert (await phone.get(path)).status_code == 404
        assert (await phone.post(path, data={"csat": "5", "ces": "7"})).status_code == 404
    await rui.aclose()
