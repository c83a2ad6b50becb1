"""``docs/guarantees.md`` names only tests that exist, and every reliability test is listed there."""

from __future__ import annotations

import ast
import re

from _reliability_helpers import ROOT

DOC = ROOT / "docs" / "guarantees.md"


def _tests_by_file() -> dict[str, set[str]]:
    found = {}
    for path in sorted((ROOT / "tests").glob("test_reliability_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found[path.name] = {n.name for n in tree.body if isinstance(n, ast.FunctionDef) and n.name.startswith("test_")}
    return found


def test_guarantees_page_names_existing_tests_and_lists_them_all():
    text = DOC.read_text(encoding="utf-8")
    tests = _tests_by_file()
    named = set(re.findall(r"(?<![/a-z_])(test_[a-z0-9_]*[a-z0-9])(?![a-z0-9_]*\.py|\*)", text))
    every = set().union(*tests.values())
    assert named - every == set(), "docs/guarantees.md names tests that do not exist"
    for file in re.findall(r"tests/(test_reliability_[a-z_]+\.py)", text):
        assert file in tests, file
    unlisted = every - named - {"test_guarantees_page_names_existing_tests_and_lists_them_all"}
    assert unlisted == set(), "reliability tests missing from docs/guarantees.md"
