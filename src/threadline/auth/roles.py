"""Roles and who may do what: agent < supervisor < admin."""

from __future__ import annotations

from dataclasses import dataclass

ROLES = ("agent", "supervisor", "admin")
_RANK = {role: rank for rank, role in enumerate(ROLES)}


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated agent behind a request or a socket."""

    agent_id: str
    org_id: str
    role: str
    name: str

    def has(self, role: str) -> bool:
        return _RANK[self.role] >= _RANK[role]
