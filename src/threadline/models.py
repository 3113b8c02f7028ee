"""Every table of Threadline, for Alembic and the tests: importing each domain's models
registers its tables on `Base.metadata`.

Composition root, like app.py: it names every domain package, so no domain package (and not
db.py, which every package imports) may import it.
"""

from __future__ import annotations


def import_models() -> None:
    """Import every domain's models so Base.metadata knows all tables (Alembic, create_all)."""
    from threadline.agents import models as _agents  # noqa: F401
    from threadline.analytics import models as _analytics  # noqa: F401
    from threadline.auth import models as _auth  # noqa: F401
    from threadline.callbacks import models as _callbacks  # noqa: F401
    from threadline.channels import models as _channels  # noqa: F401
    from threadline.customers import models as _customers  # noqa: F401
    from threadline.events import models as _events  # noqa: F401
    from threadline.inbox import models as _inbox  # noqa: F401
    from threadline.orgs import models as _orgs  # noqa: F401
    from threadline.planning import models as _planning  # noqa: F401
    from threadline.reasons import models as _reasons  # noqa: F401
    from threadline.routing import models as _routing  # noqa: F401
    from threadline.selfservice.bot import models as _bot  # noqa: F401
    from threadline.selfservice.flows import models as _flows  # noqa: F401
    from threadline.selfservice.incidents import models as _incidents  # noqa: F401
    from threadline.selfservice.knowledge import models as _knowledge  # noqa: F401
    from threadline.surveys import models as _surveys  # noqa: F401
    from threadline.threads import models as _threads  # noqa: F401
    from threadline.verification import models as _verification  # noqa: F401
    from threadline.webhooks import models as _webhooks  # noqa: F401
    from threadline.workers import models as _workers  # noqa: F401
