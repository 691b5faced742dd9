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


def pytest_addoption(parser):
    parser.addoption("--cvat-url", metavar="URL", default=None,
                     help="run the CVAT flows (tests/flows) against this CVAT server instead of the stand-in; "
                          "credentials from CVAT_ACCESS_TOKEN, or CVAT_USERNAME and CVAT_PASSWORD (and CVAT_ORG)")


def pytest_report_header(config):
    url = config.getoption("--cvat-url")
    return (f"CVAT flows (tests/flows) against {url}" if url else
            "CVAT flows (tests/flows) against the stand-in; pass --cvat-url URL to run them against a real server")
