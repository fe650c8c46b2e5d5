"""Recursive-descent parser for the filter language (grammar in docs/filter-language.md).

query     = [ or_expr ] ;
or_expr   = and_expr { "or" and_expr } ;
and_expr  = unary { [ "and" ] unary } ;
unary     = "not" unary | "(" or_expr ")" | term ;
term      = field operator value ;
"""

from __future__ import annotations

from .ast import MATCH_ALL, Anything, Node, Not, Term, conjunction, disjunction
from .errors import QueryError
from .fields import Field, lookup_field, unknown_field_hint
from .gpu_labels import is_known_gpu_label
from .lexer import Kind, Token, tokenize
from .values import (
    ANY_WORDS,
    MEMBERSHIP,
    ORDERING,
    RawValue,
    operator_list,
)

MAX_LENGTH = 2000
MAX_TERMS = 100
MAX_DEPTH = 20
MAX_LIST_ITEMS = 100

OPERATOR_WORDS = {
    "<": "lt",
    "<=": "lte",
    "=": "eq",
    "==": "eq",
    "!=": "neq",
    ">=": "gte",
    ">": "gt",
    "lt": "lt",
    "lte": "lte",
    "gt": "gt",
    "gte": "gte",
    "eq": "eq",
    "neq": "neq",
    "noteq": "neq",
    "in": "in",
    "notin": "notin",
    "nin": "notin",
}
# `not in` and `not eq`, written as two words (Vast.ai accepts both).
NEGATED_WORDS = {"in": "notin", "eq": "neq"}
# With a list, = and != mean in and notin.
LIST_FORMS = {"eq": "in", "neq": "notin"}
KEYWORDS = ("and", "or", "not")
OPERATOR_HINT = "Operators: < <= = != >= > in notin (or lt lte eq neq gte gt nin)."


def parse_query(text: str) -> Node:
    """Parse filter text into a tree; raises QueryError with the position of the mistake."""
    if len(text) > MAX_LENGTH:
        raise QueryError(f"The query is longer than {MAX_LENGTH} characters.", position=MAX_LENGTH)
    return _Parser(tokenize(text)).parse()


class _Parser:
    def __init__(self, tokens: list[Token]):
        self.tokens = tokens
        self.index = 0
        self.term_count = 0

    # --- token access ---

    def peek(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        # The END token is never passed: reading past it keeps returning END.
        token = self.peek()
        self.index = min(self.index + 1, len(self.tokens) - 1)
        return token

    # --- grammar ---

    def parse(self) -> Node:
        if self.peek().kind is Kind.END:
            return MATCH_ALL
        node = self.or_expr(depth=0)
        self.expect_end()
        return node

    def expect_end(self) -> None:
        token = self.peek()
        if token.kind is Kind.END:
            return
        if token.kind is Kind.RPAREN:
            raise _unbalanced_closing(token)
        raise QueryError(
            f"Unexpected {token.describe()}.",
            position=token.position,
            hint="Terms look like gpus>=4; join them with spaces, and, or.",
        )

    def or_expr(self, depth: int) -> Node:
        children = [self.and_expr(depth)]
        while self.peek().is_word("or"):
            self.advance()
            children.append(self.and_expr(depth))
        return disjunction(children)

    def and_expr(self, depth: int) -> Node:
        children = [self.unary(depth)]
        while self.starts_operand() or self.peek().is_word("and"):
            if self.peek().is_word("and"):
                self.advance()
            children.append(self.unary(depth))
        return conjunction(children)

    def starts_operand(self) -> bool:
        token = self.peek()
        if token.kind is Kind.WORD:
            return not token.is_word("and", "or")
        return token.kind in (Kind.STRING, Kind.LPAREN)

    def unary(self, depth: int) -> Node:
        token = self.peek()
        opens_level = token.is_word("not") or token.kind is Kind.LPAREN
        if opens_level and depth >= MAX_DEPTH:
            raise QueryError(f"Nested deeper than {MAX_DEPTH} levels.", position=token.position)
        if token.is_word("not"):
            self.advance()
            return Not(self.unary(depth + 1))
        if token.kind is Kind.LPAREN:
            return self.group(depth)
        return self.term()

    def group(self, depth: int) -> Node:
        opening = self.advance()
        if self.peek().kind is Kind.RPAREN:
            raise QueryError(
                "Empty brackets.", position=opening.position, hint="Put a term inside: (gpus>=4)."
            )
        node = self.or_expr(depth + 1)
        closing = self.peek()
        if closing.kind is not Kind.RPAREN:
            raise QueryError(
                f"Unbalanced '(': expected ')' but found {closing.describe()}.",
                position=opening.position if closing.kind is Kind.END else closing.position,
                hint=f"Close the bracket opened at position {opening.position}.",
            )
        self.advance()
        return node

    def term(self) -> Node:
        name = self.advance()
        field = self.field(name)
        self.count_term(name)
        operator = self.operator(name)
        values = self.raw_values(operator)
        return self.build_term(field, operator, values, name.position)

    def field(self, token: Token) -> Field:
        if token.kind is Kind.RPAREN:
            raise _unbalanced_closing(token)
        if token.kind is not Kind.WORD or token.is_word(*KEYWORDS):
            raise QueryError(
                f"Expected a field name, found {token.describe()}.",
                position=token.position,
                hint="A term looks like gpus>=4 or gpu=H100.",
            )
        field = lookup_field(token.text)
        if field is None:
            raise QueryError(
                f"Unknown field {token.text!r}.",
                position=token.position,
                hint=self.unknown_field_hint(token),
            )
        return field

    def unknown_field_hint(self, token: Token) -> str:
        # A bare GPU name ("H100 gpus>=8") is the commonest slip: say how to write it.
        if not _is_operator(self.peek()) and is_known_gpu_label(token.text.replace("_", " ")):
            return f"To filter by GPU, write gpu={token.text}."
        return unknown_field_hint(token.text)

    def count_term(self, token: Token) -> None:
        self.term_count += 1
        if self.term_count > MAX_TERMS:
            raise QueryError(f"More than {MAX_TERMS} terms.", position=token.position)

    def operator(self, field_token: Token) -> tuple[str, Token]:
        token = self.advance()
        if token.is_word("not") and self.peek().is_word(*NEGATED_WORDS):
            return NEGATED_WORDS[self.advance().text.lower()], token
        if _is_operator(token):
            return OPERATOR_WORDS[token.text.lower()], token
        raise QueryError(
            f"Expected an operator after {field_token.text!r}, found {token.describe()}.",
            position=token.position,
            hint=OPERATOR_HINT,
        )

    def raw_values(self, operator: tuple[str, Token]) -> list[RawValue] | RawValue:
        """One value, or a list for [a,b] (and for a,b after in/notin, as Vast.ai allows)."""
        if self.peek().kind is Kind.LBRACKET:
            return self.raw_list()
        first = self.raw_scalar(operator[1])
        if operator[0] not in MEMBERSHIP or self.peek().kind is not Kind.COMMA:
            return first
        values = [first]
        while self.peek().kind is Kind.COMMA:
            self.advance()
            values.append(self.raw_scalar(operator[1]))
        return values

    def raw_scalar(self, after: Token) -> RawValue:
        token = self.peek()
        if token.kind not in (Kind.WORD, Kind.STRING):
            raise QueryError(
                f"Expected a value after {after.text!r}, found {token.describe()}.",
                position=token.position,
                hint=_missing_value_hint(after, token),
            )
        self.advance()
        return RawValue(token.text, token.kind is Kind.STRING, token.position)

    def raw_list(self) -> list[RawValue]:
        opening = self.advance()
        if self.peek().kind is Kind.RBRACKET:
            raise QueryError(
                "Empty list.", position=opening.position, hint="E.g. gpu in [H100,A100]."
            )
        items: list[RawValue] = []
        while True:
            items.append(self.list_item(opening))
            if len(items) > MAX_LIST_ITEMS:
                raise QueryError(
                    f"More than {MAX_LIST_ITEMS} values in a list.", position=items[-1].position
                )
            separator = self.advance()
            if separator.kind is Kind.RBRACKET:
                return items
            if separator.kind is not Kind.COMMA:
                raise self.unclosed_list(opening, separator)
            if self.peek().kind is Kind.RBRACKET:  # a trailing comma: [a, b,]
                self.advance()
                return items

    def list_item(self, opening: Token) -> RawValue:
        token = self.peek()
        if token.kind is Kind.STRING:
            self.advance()
            return RawValue(token.text, True, token.position)
        if token.kind is not Kind.WORD:
            raise self.unclosed_list(opening, token)
        # Inside brackets, words side by side are one value: [RTX 3090, RTX 4090].
        words = [self.advance().text]
        while self.peek().kind is Kind.WORD:
            words.append(self.advance().text)
        return RawValue(" ".join(words), False, token.position)

    def unclosed_list(self, opening: Token, found: Token) -> QueryError:
        if found.kind is Kind.END:
            return QueryError(
                "Unclosed '['.", position=opening.position, hint="Close the list with ]."
            )
        return QueryError(
            f"Expected a value, ',' or ']' in the list, found {found.describe()}.",
            position=found.position,
            hint="Lists look like [H100,A100].",
        )

    # --- typing ---

    def build_term(
        self, field: Field, operator: tuple[str, Token], values, position: int
    ) -> Term | Anything:
        op, op_token = operator
        if isinstance(values, RawValue) and _means_any(values):
            return _anything(field, op, op_token, position)
        op = _list_form(op, values, op_token)
        if op not in field.type.operators:
            raise QueryError(
                f"Operator {op_token.text!r} does not apply to {field.name} ({field.type.label}).",
                position=op_token.position,
                hint=f"{field.name} takes: {operator_list(field.type.operators)}.",
            )
        if op in MEMBERSHIP:
            raws = values if isinstance(values, list) else [values]
            typed = tuple(dict.fromkeys(field.type.parse(raw) for raw in raws))
            return Term(field.name, op, typed, position)
        return Term(field.name, op, field.type.parse(values), position)


def _is_operator(token: Token) -> bool:
    return token.kind in (Kind.OPERATOR, Kind.WORD) and token.text.lower() in OPERATOR_WORDS


def _unbalanced_closing(token: Token) -> QueryError:
    return QueryError(
        "Unbalanced ')': nothing to close.", position=token.position, hint="Remove it."
    )


def _missing_value_hint(operator: Token, found: Token) -> str:
    # "=>" and "=<" are the usual slips for >= and <=.
    if operator.text == "=" and found.text in ("<", ">"):
        return f"Did you mean {found.text}=?"
    return "E.g. gpus>=4, gpu in [H100,A100], region=eu-*."


def _means_any(raw: RawValue) -> bool:
    return not raw.quoted and raw.text.lower() in ANY_WORDS


def _anything(field: Field, op: str, op_token: Token, position: int) -> Anything:
    if op != "eq":
        raise QueryError(
            f"'any' drops the filter, so it only goes with =, not {op_token.text!r}.",
            position=op_token.position,
            hint=f"Write {field.name}=any.",
        )
    return Anything(field.name, position)


def _list_form(op: str, values, op_token: Token) -> str:
    if not isinstance(values, list):
        return op
    if op in ORDERING:
        raise QueryError(
            f"A list needs in or notin, not {op_token.text!r}.",
            position=op_token.position,
            hint="E.g. gpus in [4,8].",
        )
    return LIST_FORMS.get(op, op)
