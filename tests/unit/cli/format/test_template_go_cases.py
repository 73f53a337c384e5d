"""The template engine against Go's text/template itself: ``go_template_cases.json`` holds
templates that need no data (literals, functions, printf verbs, control structures,
trimming, named templates, parse and execution errors) with what the docker CLI 28.2
printed for them (``docker image inspect -f TEMPLATE busybox``: Go's text/template with
docker's functions; an error as ``ERR <message>`` without docker's "template parsing
error: " prefix). tests/compat/test_cli_side_by_side.py runs the same cases against the
live docker binary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dockyard.cli.format.template import TemplateError, render

CASES = json.loads((Path(__file__).parent / "go_template_cases.json").read_text())


@pytest.mark.parametrize(("tmpl", "want"), CASES)
def test_as_go_prints(tmpl: str, want: str) -> None:
    try:
        got = render(tmpl, {})
    except TemplateError as err:
        got = f"ERR {err}"
    assert got == want
