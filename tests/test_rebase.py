"""Carrying changes onto a newer document: overlap of two patches, and applying one."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.documents.diff import diff, same
from app.documents.rebase import PatchConflict, apply, at, overlap

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=10,
)
documents = st.dictionaries(st.text(max_size=3), values, max_size=4)


@given(documents, documents)
def test_applying_a_diff_gives_its_target(source: Any, target: Any) -> None:
    assert same(apply(source, diff(source, target)), target)


@given(documents, documents, documents)
def test_changes_without_overlap_both_survive(base: Any, theirs: Any, mine: Any) -> None:
    their_patch, my_patch = diff(base, theirs), diff(base, mine)
    if overlap(their_patch, my_patch, base):
        return
    try:
        merged = apply(theirs, my_patch)
    except PatchConflict:
        return
    assert same(apply(merged, []), merged)
    for operation in my_patch:
        if operation["op"] != "remove":
            assert same(at(merged, operation["path"]), operation["value"])
    for operation in their_patch:
        if operation["op"] != "remove":
            assert same(at(merged, operation["path"]), operation["value"])


@pytest.mark.parametrize(
    ("base", "theirs", "mine", "expected"),
    [
        ({"a": 1, "b": 1}, {"a": 2, "b": 1}, {"a": 1, "b": 2}, []),
        ({"a": 1, "b": 1}, {"a": 2, "b": 1}, {"a": 3, "b": 1}, ["/a"]),
        ({"db": {"host": "h", "port": 2}}, {"db": {"host": "x", "port": 1}}, {"db": {"host": "y"}},
         ["/db/host", "/db/port"]),
        ({"list": [1, 2], "b": 1}, {"list": [1, 9], "b": 1}, {"list": [1, 2, 3], "b": 1},
         ["/list"]),
        ({"a": 1, "b": 1}, {"a": 1}, {"b": 2, "a": 1}, ["/b"]),
        ({"a": {"x": 1}}, {"a": 5}, {"a": {"x": 2}}, ["/a"]),
    ],
)  # fmt: skip
def test_overlap_names_the_places_both_change(
    base: dict, theirs: dict, mine: dict, expected: list
) -> None:
    assert overlap(diff(base, theirs), diff(base, mine), base) == expected
