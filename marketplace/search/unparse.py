"""Prints a tree back as filter text in one normal form: parse(unparse(tree)) == tree."""

from __future__ import annotations

from .ast import And, Anything, Node, Not, Or, Term
from .fields import FIELDS
from .values import MEMBERSHIP, OPERATOR_SYMBOLS


def unparse(node: Node) -> str:
    match node:
        case Term():
            return _term(node)
        case Anything():
            return f"{node.field}=any"
        case And():
            return " ".join(_bracketed(child, Or) for child in node.children)
        case Or():
            return " or ".join(unparse(child) for child in node.children)
        case Not():
            return "not " + _bracketed(node.child, And | Or)
    raise TypeError(f"not a filter node: {node!r}")


def _bracketed(node: Node, kinds) -> str:
    # `and` binds tighter than `or`, so only an Or inside an And needs brackets (and any
    # group with more than one child under `not`).
    text = unparse(node)
    return f"({text})" if isinstance(node, kinds) else text


def _term(term: Term) -> str:
    value_type = FIELDS[term.field].type
    symbol = OPERATOR_SYMBOLS[term.op]
    if term.op in MEMBERSHIP:
        items = ",".join(value_type.format(value) for value in term.value)
        return f"{term.field} {symbol} [{items}]"
    return f"{term.field}{symbol}{value_type.format(term.value)}"
