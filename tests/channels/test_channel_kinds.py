"""The channels are defined once (threadline/channel_kinds.py): every other list of channel
names is derived from it, and what validates a channel name refuses what is not one."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from threadline.agents.schemas import AgentCreate, AgentUpdate
from threadline.channel_kinds import ADMIN_CHANNELS, CHANNELS, KINDS, WEBHOOK_PATHS
from threadline.channels.contract import Capabilities
from threadline.channels.registry import ChannelRegistry, UnknownChannel
from threadline.channels.schemas import EndpointIn

DESIGN = ("chat", "sms", "email", "voice", "whatsapp", "telegram", "messenger", "app", "video")


def test_the_vocabulary_is_design_md_s() -> None:
    assert CHANNELS == DESIGN
    assert tuple(KINDS) == CHANNELS and all(KINDS[n].name == n for n in CHANNELS)


def test_admin_channels_and_webhooks_are_channels() -> None:
    assert set(ADMIN_CHANNELS) <= set(CHANNELS)
    assert list(ADMIN_CHANNELS) == [n for n in CHANNELS if n in ADMIN_CHANNELS]  # same order
    assert set(WEBHOOK_PATHS) == {"sms", "voice", "whatsapp", "telegram", "messenger"}
    assert set(WEBHOOK_PATHS) <= set(ADMIN_CHANNELS)
    for path in WEBHOOK_PATHS.values():
        assert path.startswith("/webhooks/") and path.endswith("{key}")


def test_the_endpoint_schema_offers_the_channels_as_its_enum() -> None:
    schema = EndpointIn.model_json_schema()
    assert tuple(schema["properties"]["channel"]["enum"]) == CHANNELS
    endpoint = {"key": "k", "name": "n"}
    for name in CHANNELS:
        assert EndpointIn.model_validate({**endpoint, "channel": name}).channel == name
    with pytest.raises(ValidationError):
        EndpointIn.model_validate({**endpoint, "channel": "fax"})


def test_an_agent_s_capacity_is_per_known_channel() -> None:
    agent = {"email": "a@example.com", "name": "Ana", "password": "correct horse"}
    capacity = dict.fromkeys(CHANNELS, 1)
    assert AgentCreate.model_validate({**agent, "capacity": capacity}).capacity == capacity
    with pytest.raises(ValidationError, match="fax"):
        AgentCreate.model_validate({**agent, "capacity": {"chat": 3, "fax": 1}})
    with pytest.raises(ValidationError, match="fax"):
        AgentUpdate.model_validate({"capacity": {"fax": 1}})


class _Adapter:
    name: ClassVar[str] = "fax"
    capabilities: ClassVar[Capabilities] = Capabilities()
    verifies_signatures: ClassVar[bool] = True


def test_the_registry_takes_adapters_for_channels_only() -> None:
    registry = ChannelRegistry()
    with pytest.raises(ValueError, match="not a channel"):
        registry.register(_Adapter())
    video: Any = type("VideoAdapter", (_Adapter,), {"name": "video"})()
    registry.register(video)
    assert registry.get("video") is video
    for lookup in (registry.sender, registry.receiver):  # it neither sends nor receives
        with pytest.raises(UnknownChannel):
            lookup("video")
