"""Every table an organisation owns is under the organisation filter (db.OrgOwned): a new
model with an `org_id` that forgets to say so fails here."""

from __future__ import annotations

from threadline.db import Base, OrgOwned
from threadline.models import import_models


def test_every_model_with_an_org_id_is_under_the_filter() -> None:
    import_models()
    mappers = list(Base.registry.mappers)
    forgotten = [
        m.class_.__name__
        for m in mappers
        if "org_id" in m.columns and not issubclass(m.class_, OrgOwned)
    ]
    assert forgotten == []
    owned = {m.class_.__name__ for m in mappers if issubclass(m.class_, OrgOwned)}
    assert {"Customer", "Thread", "ThreadEvent", "Contact", "Agent", "Endpoint"} <= owned
    # the organisations themselves are what the filter is by, not under it
    assert "Organization" not in owned
