"""Test-session settings shared by every test file."""
from __future__ import annotations
import os
from pathlib import Path

_SCHEMA = Path(os.environ.get("CVAT_SCHEMA") or Path(__file__).parent / "data/cvat/schema.yml")


def pytest_terminal_summary(terminalreporter):
    "Say once, loudly, when the stand-in's contract with CVAT's schema could not be checked."
    if not _SCHEMA.exists():
        terminalreporter.write_sep("!", "CVAT SCHEMA MISSING", red=True, bold=True)
        terminalreporter.write_line(f"{_SCHEMA} does not exist: the stand-in's answers were NOT checked against CVAT's "
                                    "OpenAPI schema (the contract tests skipped). Set CVAT_SCHEMA to a copy of it.",
                                    red=True, bold=True)
