"""Splits filter text into tokens that remember where they start in the original text."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from .errors import QueryError


class Kind(StrEnum):
    WORD = "word"  # a field name, keyword, operator word or unquoted value
    STRING = "string"  # a quoted value, quotes removed
    OPERATOR = "operator"  # < <= = == != >= >
    LPAREN = "("
    RPAREN = ")"
    LBRACKET = "["
    RBRACKET = "]"
    COMMA = ","
    END = "end"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str
    position: int

    def is_word(self, *words: str) -> bool:
        return self.kind is Kind.WORD and self.text.lower() in words

    def describe(self) -> str:
        return "the end of the query" if self.kind is Kind.END else repr(self.text)


PUNCTUATION = {
    "(": Kind.LPAREN,
    ")": Kind.RPAREN,
    "[": Kind.LBRACKET,
    "]": Kind.RBRACKET,
    ",": Kind.COMMA,
}
# Longest first, so that "<=" is never read as "<" followed by "=".
SYMBOL_OPERATORS = ("<=", ">=", "==", "!=", "<", ">", "=")
QUOTES = "\"'"
# Characters that end an unquoted word; everything else (including * $ / - . _ :) may be part
# of a value such as eu-*, 3.5$/h or RTX_4090.
WORD_BREAKS = frozenset("()[],<>=!") | frozenset(QUOTES)
# Control characters and lone surrogates would reach the database as parameters and make the
# driver fail (PostgreSQL refuses NUL): refuse them here with a position instead.
FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs"})


def tokenize(text: str) -> list[Token]:
    _refuse_forbidden_characters(text)
    tokens: list[Token] = []
    index = 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        token = _read_token(text, index)
        tokens.append(token)
        index = _token_end(text, token)
    tokens.append(Token(Kind.END, "", len(text)))
    return tokens


def _refuse_forbidden_characters(text: str) -> None:
    for index, char in enumerate(text):
        if unicodedata.category(char) in FORBIDDEN_CATEGORIES and not char.isspace():
            raise QueryError(
                f"Unexpected control character {char!r}.",
                position=index,
                hint='Remove it; values with spaces can be quoted: region="my region".',
            )


def _read_token(text: str, index: int) -> Token:
    char = text[index]
    if char in PUNCTUATION:
        return Token(PUNCTUATION[char], char, index)
    for symbol in SYMBOL_OPERATORS:
        if text.startswith(symbol, index):
            return Token(Kind.OPERATOR, symbol, index)
    if char in QUOTES:
        return _read_quoted(text, index)
    if char == "!":
        raise QueryError(
            "A lone '!' is not an operator.", position=index, hint="Use != or the word not."
        )
    return _read_word(text, index)


def _read_quoted(text: str, index: int) -> Token:
    quote = text[index]
    closing = text.find(quote, index + 1)
    if closing < 0:
        raise QueryError(
            f"Unterminated quote {quote}.", position=index, hint=f"Close the value with {quote}."
        )
    return Token(Kind.STRING, text[index + 1 : closing], index)


def _read_word(text: str, index: int) -> Token:
    end = index
    while end < len(text) and not text[end].isspace() and text[end] not in WORD_BREAKS:
        end += 1
    return Token(Kind.WORD, text[index:end], index)


def _token_end(text: str, token: Token) -> int:
    quotes = 2 if token.kind is Kind.STRING else 0
    return token.position + len(token.text) + quotes
