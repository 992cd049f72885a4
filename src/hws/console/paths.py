"""Where the console lives: its URL prefix and its files in the package."""

from __future__ import annotations

from pathlib import Path

PREFIX = "/console"
HERE = Path(__file__).parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
