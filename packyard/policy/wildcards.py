"""Patterns in IAM policy strings: `*`/`?` wildcards and `${...}` policy variables.

A policy string is parsed once into a `Pattern` (literal text, wildcards, variables). At evaluation
time its variables are resolved from the request context, giving a tuple of tokens (literal text
and `WILD_STAR` / `WILD_ONE` markers) that is matched either literally (StringEquals) or as a glob
(StringLike, Action, Resource). Compiled regexes are cached by token tuple, so a policy that is
evaluated many times compiles each pattern once.

Policy variables follow the IAM User Guide, "IAM policy elements: Variables and tags":
`${aws:username}`, a default with `${aws:username, 'anonymous'}`, and the escapes `${*}`, `${?}`,
`${$}` for a literal `*`, `?` and `$`. Variables exist only in policy language version 2012-10-17;
in older documents `${...}` is literal text.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final


class Wild(enum.Enum):
    """A wildcard token: `*` matches any run of characters, `?` exactly one."""

    STAR = "*"
    ONE = "?"


WILD_STAR: Final = Wild.STAR
WILD_ONE: Final = Wild.ONE

Token = str | Wild
Tokens = tuple[Token, ...]
VariableLookup = Callable[[str], str | None]


@dataclass(frozen=True, slots=True)
class Variable:
    """A `${name}` or `${name, 'default'}` placeholder; `name` is lower-cased (keys ignore case)."""

    name: str
    default: str | None = None


_Part = str | Wild | Variable

# The body of `${...}`: a context key name, optionally followed by `, 'default'`.
_VARIABLE_BODY = re.compile(r"\s*([^\s,'}]+)\s*(?:,\s*'([^']*)'\s*)?")
_ESCAPES: Final = {"*": "*", "?": "?", "$": "$"}


def _parse(source: str, *, variables: bool) -> tuple[_Part, ...]:
    parts: list[_Part] = []
    literal: list[str] = []

    def flush() -> None:
        if literal:
            parts.append("".join(literal))
            literal.clear()

    i = 0
    while i < len(source):
        char = source[i]
        if char == "*" or char == "?":
            flush()
            parts.append(Wild(char))
            i += 1
            continue
        if variables and source.startswith("${", i):
            end = source.find("}", i + 2)
            if end != -1:
                body = source[i + 2:end]
                if body in _ESCAPES:
                    literal.append(_ESCAPES[body])
                    i = end + 1
                    continue
                match = _VARIABLE_BODY.fullmatch(body)
                if match:
                    flush()
                    parts.append(Variable(match.group(1).lower(), match.group(2)))
                    i = end + 1
                    continue
        literal.append(char)
        i += 1
    flush()
    return tuple(parts)


class Pattern:
    """One policy string value, parsed once into literal text, wildcards and variables."""

    __slots__ = ("source", "_parts", "has_variables", "_literal_tokens")

    def __init__(self, source: str, *, variables: bool) -> None:
        self.source = source
        self._parts = _parse(source, variables=variables)
        self.has_variables = any(isinstance(p, Variable) for p in self._parts)
        self._literal_tokens: Tokens | None = (
            None if self.has_variables else tuple(p for p in self._parts
                                                  if not isinstance(p, Variable)))

    def __repr__(self) -> str:
        return f"Pattern({self.source!r})"

    @property
    def literal_tokens(self) -> Tokens | None:
        """The tokens when the pattern has no variables (so they can be compiled up front)."""
        return self._literal_tokens

    def resolve(self, lookup: VariableLookup) -> Tokens | None:
        """Substitute variables; None when one cannot be resolved (the value then matches nothing).

        The IAM User Guide: "If AWS cannot resolve a variable, this might cause the entire statement
        to be invalid". We take the narrow reading: only the value holding the variable fails.
        """
        if self._literal_tokens is not None:
            return self._literal_tokens
        tokens: list[Token] = []
        for part in self._parts:
            if isinstance(part, Variable):
                value = lookup(part.name)
                if value is None:
                    value = part.default
                if value is None:
                    return None
                # A substituted value is literal text: a `*` in a user name is not a wildcard.
                tokens.append(value)
            else:
                tokens.append(part)
        return _merge(tokens)


def _merge(tokens: list[Token]) -> Tokens:
    merged: list[Token] = []
    for token in tokens:
        if isinstance(token, str) and merged and isinstance(merged[-1], str):
            merged[-1] = merged[-1] + token
        elif token != "":
            merged.append(token)
    return tuple(merged)


def tokens_text(tokens: Tokens) -> str:
    """The tokens as plain text, wildcards as their own characters (for exact comparisons)."""
    return "".join(t if isinstance(t, str) else t.value for t in tokens)


@lru_cache(maxsize=8192)
def glob_regex(tokens: Tokens, ignore_case: bool = False) -> re.Pattern[str]:
    """Compile tokens to an anchored regex: `*` is any run of characters, `?` one character."""
    body = "".join(
        re.escape(t) if isinstance(t, str) else (".*" if t is Wild.STAR else ".")
        for t in tokens)
    flags = re.DOTALL | (re.IGNORECASE if ignore_case else 0)
    return re.compile(body, flags)


def compile_glob(text: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """Compile a wildcard string without variables (Action and NotAction values)."""
    return glob_regex(Pattern(text, variables=False).literal_tokens or (), ignore_case)


def has_wildcard(text: str) -> bool:
    """Whether `text` contains a `*` or `?` wildcard."""
    return "*" in text or "?" in text


# An ARN has six colon-separated parts: arn:partition:service:region:account:resource (the
# resource part may itself contain colons).
ARN_PARTS: Final = 6


def _split_segments(tokens: Tokens) -> list[Tokens] | None:
    segments: list[list[Token]] = [[]]
    for token in tokens:
        if isinstance(token, str) and len(segments) < ARN_PARTS:
            pieces = token.split(":", ARN_PARTS - len(segments))
            segments[-1].append(pieces[0])
            for piece in pieces[1:]:
                segments.append([piece])
        else:
            segments[-1].append(token)
    if len(segments) != ARN_PARTS:
        return None
    return [_merge(s) for s in segments]


@lru_cache(maxsize=8192)
def _arn_regexes(tokens: Tokens) -> tuple[re.Pattern[str], ...] | None:
    segments = _split_segments(tokens)
    if segments is None:
        return None
    return tuple(glob_regex(segment) for segment in segments)


def _arn_tokens_match(tokens: Tokens, arn: str) -> bool:
    if tokens == (Wild.STAR,):
        return True
    regexes = _arn_regexes(tokens)
    if regexes is None:
        return False
    parts = arn.split(":", ARN_PARTS - 1)
    if len(parts) != ARN_PARTS:
        return False
    return all(r.fullmatch(p) for r, p in zip(regexes, parts, strict=True))


class ArnPattern:
    """An ARN pattern matched one colon-separated part at a time (Resource, ArnLike).

    The IAM User Guide (ARN condition operators): "Each of the six colon-delimited components of
    the ARN is checked separately and each can include multi-character match wildcards (*) or
    single-character match wildcards (?)", so `*` never spans a colon before the resource part.
    A lone `*` matches every ARN. `head_variables=False` keeps variables out of the first five
    parts, as the Resource element requires ("only in the resource portion of the ARN").
    """

    __slots__ = ("source", "_pattern", "_head", "_literal")

    def __init__(self, source: str, *, variables: bool, head_variables: bool = True) -> None:
        self.source = source
        self._head: Tokens = ()
        if variables and not head_variables:
            head, sep, rest = _cut_after_colons(source, ARN_PARTS - 1)
            self._head = Pattern(head + sep, variables=False).literal_tokens or ()
            self._pattern = Pattern(rest, variables=True)
        else:
            self._pattern = Pattern(source, variables=variables)
        self._literal: Tokens | None = None
        if not self._pattern.has_variables:
            self._literal = self._with_head(self._pattern.literal_tokens or ())
            _arn_regexes(self._literal)  # compile now, not on the first request

    def __repr__(self) -> str:
        return f"ArnPattern({self.source!r})"

    def _with_head(self, tokens: Tokens) -> Tokens:
        return _merge([*self._head, *tokens]) if self._head else tokens

    def resolve(self, lookup: VariableLookup) -> Tokens | None:
        """The pattern's tokens with variables substituted, or None if one is unresolvable."""
        if self._literal is not None:
            return self._literal
        tokens = self._pattern.resolve(lookup)
        return None if tokens is None else self._with_head(tokens)

    def matches(self, arn: str, lookup: VariableLookup) -> bool:
        """Whether `arn` matches; a pattern with an unresolvable variable matches nothing."""
        tokens = self.resolve(lookup)
        return tokens is not None and _arn_tokens_match(tokens, arn)


def arn_tokens_match(tokens: Tokens, arn: str) -> bool:
    """Whether resolved ARN-pattern tokens match `arn` part by part (used by ArnLike)."""
    return _arn_tokens_match(tokens, arn)


def _cut_after_colons(text: str, count: int) -> tuple[str, str, str]:
    """Split `text` after its `count`-th colon: (before, ":", after); no colon split if too few."""
    index = -1
    for _ in range(count):
        index = text.find(":", index + 1)
        if index == -1:
            return "", "", text
    return text[:index], ":", text[index + 1:]
