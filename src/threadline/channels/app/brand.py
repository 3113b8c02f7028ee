"""How the customer app looks by default, shared by its pages and the icon build step."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).parents[2] / "web" / "static" / "app"
DEFAULT_COLOR = "#0b5cad"
