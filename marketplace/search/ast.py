"""The parsed form of a filter. Positions are kept for messages but left out of equality,
so that tests and callers can compare trees built by hand with parsed ones."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class Term:
    """`field op value`; `value` is typed, or a tuple of typed values for in and notin."""

    field: str
    op: str
    value: object
    position: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True)
class Anything:
    """`field=any`: no filter, but the field still counts as mentioned (status=any shows all)."""

    field: str
    position: int = dataclasses.field(default=0, compare=False)


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


Node = Term | Anything | And | Or | Not
MATCH_ALL = And(())


def conjunction(nodes: list[Node]) -> Node:
    """AND of `nodes`, flattened, so that (a b) c and a (b c) give the same tree."""
    children = _flatten(nodes, And)
    return children[0] if len(children) == 1 else And(children)


def disjunction(nodes: list[Node]) -> Node:
    children = _flatten(nodes, Or)
    return children[0] if len(children) == 1 else Or(children)


def _flatten(nodes: list[Node], kind: type) -> tuple[Node, ...]:
    flat: list[Node] = []
    for node in nodes:
        flat.extend(node.children if isinstance(node, kind) else (node,))
    return tuple(flat)


def walk(node: Node):
    yield node
    if isinstance(node, And | Or):
        for child in node.children:
            yield from walk(child)
    elif isinstance(node, Not):
        yield from walk(node.child)


def mentioned_fields(node: Node) -> frozenset[str]:
    return frozenset(item.field for item in walk(node) if isinstance(item, Term | Anything))
