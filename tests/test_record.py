"""`@record` behaves as `@dataclass` does where this code base relies on it, both before
and after a class compiles its own `__init__`."""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import ClassVar

import pytest

from aimlchat import record as record_module
from aimlchat.record import field_names, record, replace


def make_classes():  # fresh classes: each starts on the generic __init__
    @record(frozen=True)
    class Point:
        x: int
        y: int = 0
        tags: list[str] = field(default_factory=list, compare=False)
        label: str = field(default="", repr=False)
        kind: ClassVar[str] = "point"

    @record()
    class Box:
        items: list[int] = field(default_factory=list)

    return Point, Box


@pytest.fixture(params=["generic", "compiled"])
def classes(request, monkeypatch):
    if request.param == "compiled":
        monkeypatch.setattr(record_module, "COMPILE_AFTER", 0)
    return make_classes()


def test_fields_defaults_and_factories(classes):
    point, box = classes
    p = point(1)
    assert (p.x, p.y, p.tags, p.label) == (1, 0, [], "")
    assert point(1).tags is not point(1).tags  # a factory per instance
    assert box().items == [] and box().items is not box().items
    assert field_names(point) == ["x", "y", "tags", "label"]  # not the ClassVar


def test_equality_hash_and_repr(classes):
    point, box = classes
    assert point(1, 2, ["a"]) == point(1, 2, ["b"])  # tags: compare=False
    assert point(1, 2) != point(2, 1)
    assert hash(point(1, 2)) == hash(point(1, 2))
    assert repr(point(1, 2, ["t"], "hidden")) == "make_classes.<locals>.Point(x=1, y=2, tags=['t'])"
    with pytest.raises(TypeError):
        hash(box())  # mutable with eq: unhashable, as a dataclass


def test_a_record_never_equals_another_type_with_the_same_fields(classes):
    point, _ = classes

    @record(frozen=True)
    class Other:
        x: int
        y: int = 0

    assert point(1, 2) != Other(1, 2)


def test_frozen_refuses_assignment_and_replace_copies(classes):
    point, box = classes
    p = point(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.x = 2  # type: ignore[misc]
    q = replace(p, y=5)
    assert (q.x, q.y, p.y) == (1, 5, 0)
    b = box()
    b.items = [1]
    assert b.items == [1]
    with pytest.raises(TypeError):
        replace(p, z=1)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda c: c(), "missing"),
        (lambda c: c(1, z=2), "unexpected"),
        (lambda c: c(1, x=2), "multiple"),
        (lambda c: c(1, 2, [], "", 5), "arguments"),
    ],
)
def test_bad_arguments_are_the_same_type_error_either_way(classes, call, message):
    point, _ = classes
    with pytest.raises(TypeError, match=message):
        call(point)


def test_a_class_switches_to_its_compiled_init_and_keeps_behaving_the_same():
    point, _ = make_classes()
    made = [point(i, i) for i in range(record_module.COMPILE_AFTER + 3)]
    assert point.__init__ is not record_module._first_init
    assert [p.x for p in made] == list(range(record_module.COMPILE_AFTER + 3))
    assert made[-1] == point(len(made) - 1, len(made) - 1)


def test_a_field_without_default_after_one_with_is_refused():
    with pytest.raises(TypeError, match="follows"):

        @record()
        class Bad:
            a: int = 0
            b: int


def test_what_a_record_does_not_support_is_refused_not_ignored():
    @record()
    class Base:
        a: int = 0

    with pytest.raises(TypeError, match="subclass"):

        @record()
        class Child(Base):
            b: int = 0

    with pytest.raises(ValueError, match="mutable"):

        @record()
        class Shared:
            items: list[int] = []  # noqa: RUF012

    with pytest.raises(TypeError, match="not kept"):

        @record()
        class Hidden:
            a: int = field(default=0, init=False)


def test_match_args_and_a_field_default_stays_on_the_class(classes):
    point, _ = classes
    assert point.__match_args__ == ("x", "y", "tags", "label")
    assert point.label == ""  # field(default=...) as dataclass leaves it
    match point(3, 4):
        case point(x, y):
            assert (x, y) == (3, 4)
