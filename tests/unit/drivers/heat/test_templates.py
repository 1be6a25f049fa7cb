"""The Heat templates' shape: every intrinsic function is a mapping of that one key (YAML
indentation that puts a function's arguments beside it, not under it, makes a plain mapping
that Heat passes on as data: the sandbox caught a user data that was JSON of the
arguments)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

TEMPLATES = Path(__file__).resolve().parents[4] / "magnum_lite" / "drivers" / "heat" / \
    "templates"
#: Heat's intrinsic functions (HOT 2018-08-31) the templates use.
FUNCTIONS = frozenset({"get_param", "get_attr", "get_resource", "get_file", "str_replace",
                       "list_join", "if", "yaql", "equals", "not", "and", "or", "contains",
                       "repeat", "map_merge", "str_split", "digest", "resource_facade",
                       "list_concat", "filter", "make_url"})


def _misplaced(node: Any, path: str) -> list[str]:
    """Paths of mappings that hold a function's key beside other keys."""
    found = []
    if isinstance(node, dict):
        functions = FUNCTIONS & set(node)
        if functions and len(node) > 1:
            found.append(f"{path}: {sorted(node)}")
        for key, value in node.items():
            found += _misplaced(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _misplaced(value, f"{path}[{index}]")
    return found


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.yaml")),
                         ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_every_function_is_a_mapping_of_its_one_key(template):
    document = yaml.safe_load(template.read_text())
    for section in ("resources", "outputs"):
        assert _misplaced(document.get(section) or {}, section) == []
