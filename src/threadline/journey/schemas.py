"""What the customer sees of their wait (the app, the chat widget): their place in line,
the wait as a range, the callback they may take or have taken."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, computed_field

from threadline.i18n.waits import Promise, promise


class CallbackOffer(BaseModel):
    keep_place: bool = Field(description="may be called back without losing their place")
    booking: bool = Field(description="may book a time window instead")


class CallbackBrief(BaseModel):
    """A callback as its customer sees it: the number masked, no agent."""

    id: str
    kind: str = Field(description="keep_place | booked")
    status: str
    phone: str
    window_start: datetime | None = None
    window_end: datetime | None = None
    attempts: int
    max_attempts: int
    position: int | None = None
    low_s: float | None = None
    high_s: float | None = None


class CustomerWaitOut(BaseModel):
    """A customer's place in line and wait as a range; their callback offer or callback."""

    contact_id: str | None = None
    status: str | None = Field(
        default=None, description="queued | offered | assigned | resolved | abandoned"
    )
    position: int | None = Field(default=None, description="1 = next to be answered")
    low_s: float | None = None
    high_s: float | None = Field(default=None, description="None: 'more than low_s'")
    callback_offer: CallbackOffer | None = None
    callback: CallbackBrief | None = None
    phone: str | None = Field(default=None, description="the customer's number, to prefill")

    @computed_field(  # type: ignore[prop-decorator]  # pydantic's documented idiom
        description="what the customer may be promised: soon ('shortly'), range (only the "
        "range), unknown (no promise); from the same estimate as low_s/high_s"
    )
    @property
    def promise(self) -> Promise:
        if self.status == "offered":
            return "soon"
        return promise(self.low_s, self.high_s) if self.status == "queued" else "unknown"
