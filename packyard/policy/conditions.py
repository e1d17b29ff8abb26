"""The Condition element: operators, set qualifiers, `...IfExists`, and the request context.

Semantics follow the IAM User Guide pages "IAM JSON policy elements: Condition operators",
"Conditions with multiple context keys or values" and "Single-valued vs. multivalued context keys":

- Operators in one Condition block are ANDed, keys under one operator are ANDed, and the values
  of one key are ORed; for a negated operator (StringNotEquals, ArnNotLike, NotIpAddress, ...)
  they are NOR'd: the request value must match none of them.
- A key missing from the request makes a positive operator false and a negated operator true.
  `...IfExists` makes a missing key true. `Null` tests presence itself.
- `ForAllValues:` is true when every request value satisfies the operator, and true for a
  missing or empty key; `ForAnyValue:` needs at least one and is false for a missing key.
- Condition key names ignore case; an empty multi-valued key counts as missing.

Choices where AWS does not document the behaviour: an unqualified operator on a key with several
request values matches if any value matches (negated: if none does); `IfExists` also turns a
missing key true under `ForAnyValue:`.
"""

from __future__ import annotations

import base64
import binascii
import enum
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Final

from packyard.errors import Invalid
from packyard.policy.wildcards import (
    Pattern,
    Tokens,
    arn_tokens_match,
    glob_regex,
    tokens_text,
)

ContextScalar = str | bool | int | float | Decimal | datetime
ContextInput = ContextScalar | Sequence[ContextScalar] | frozenset[ContextScalar] | None

Matcher = Callable[[str], bool]


# ---------------------------------------------------------------------------------------------
# The request context


def _context_text(value: ContextScalar) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=UTC)
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value)


def _context_values(value: ContextInput) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if value is None:
        return ()
    if isinstance(value, bool | int | float | Decimal | datetime):
        return (_context_text(value),)
    return tuple(_context_text(v) for v in value)


class RequestContext:
    """The request's condition keys with case-insensitive names and string values."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, ContextInput],
                 defaults: Mapping[str, ContextInput] | None = None) -> None:
        normalized: dict[str, tuple[str, ...]] = {}
        for source in (defaults or {}, values):
            for key, value in source.items():
                texts = _context_values(value)
                if texts:
                    normalized[key.lower()] = texts
                else:
                    normalized.pop(key.lower(), None)
        self._values = normalized

    def get(self, key: str) -> tuple[str, ...] | None:
        """All values of `key`, or None when it is missing (or has no values)."""
        return self._values.get(key.lower())

    def variable(self, name: str) -> str | None:
        """The value substituted for `${name}`: only single-valued keys can be variables."""
        values = self._values.get(name.lower())
        if values is None or len(values) != 1:
            return None
        return values[0]


# ---------------------------------------------------------------------------------------------
# Value parsers shared by operators


_EPOCH = re.compile(r"[+-]?\d+(?:\.\d+)?")
_YEAR_MONTH = re.compile(r"(\d{4})(?:-(\d{2}))?")


def parse_date(text: str) -> datetime:
    """Parse a date: epoch seconds or one of the W3C profiles of ISO 8601 (naive means UTC)."""
    text = text.strip()
    if _EPOCH.fullmatch(text):
        # A bare number is epoch seconds (aws:EpochTime), not a year.
        try:
            return datetime.fromtimestamp(float(text), tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(f'"{text}" is out of range for a date') from None
    short = _YEAR_MONTH.fullmatch(text)
    if short:
        return datetime(int(short.group(1)), int(short.group(2) or 1), 1, tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f'"{text}" is not an ISO 8601 date or epoch seconds') from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def parse_number(text: str) -> Decimal:
    """Parse an integer or decimal condition value."""
    try:
        number = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f'"{text}" is not a number') from None
    if not number.is_finite():
        raise ValueError(f'"{text}" is not a number')
    return number


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """Parse a CIDR block; a bare address means /32 (IPv4) or /128 (IPv6), as IAM documents."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f'"{text}" is not an IP address or CIDR block') from None


def parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """Parse a request's IP address; IPv4-mapped IPv6 (`::ffff:a.b.c.d`) becomes IPv4."""
    address = ipaddress.ip_address(text.strip())
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _parse_bool(text: str) -> str:
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise ValueError(f'"{text}" is not true or false')
    return lowered


# ---------------------------------------------------------------------------------------------
# Operators: each builds, from one policy value, a test of one request value in the positive
# sense; negated operators reuse their positive twin and the evaluator applies the NOR.


def _string_equals(tokens: Tokens) -> Matcher:
    expected = tokens_text(tokens)
    return lambda value: value == expected


def _string_equals_ignore_case(tokens: Tokens) -> Matcher:
    expected = tokens_text(tokens).casefold()
    return lambda value: value.casefold() == expected


def _string_like(tokens: Tokens) -> Matcher:
    regex = glob_regex(tokens)
    return lambda value: regex.fullmatch(value) is not None


def _arn_like(tokens: Tokens) -> Matcher:
    return lambda value: arn_tokens_match(tokens, value)


def _bool(tokens: Tokens) -> Matcher:
    text = tokens_text(tokens).strip().lower()
    return lambda value: value.strip().lower() == text


def _numeric(compare: Callable[[Decimal, Decimal], bool]) -> Callable[[Tokens], Matcher]:
    def build(tokens: Tokens) -> Matcher:
        expected = parse_number(tokens_text(tokens))

        def test(value: str) -> bool:
            try:
                return compare(parse_number(value), expected)
            except ValueError:
                return False
        return test
    return build


def _date(compare: Callable[[datetime, datetime], bool]) -> Callable[[Tokens], Matcher]:
    def build(tokens: Tokens) -> Matcher:
        expected = parse_date(tokens_text(tokens))

        def test(value: str) -> bool:
            try:
                return compare(parse_date(value), expected)
            except ValueError:
                return False
        return test
    return build


def _ip_address(tokens: Tokens) -> Matcher:
    network = parse_network(tokens_text(tokens))

    def test(value: str) -> bool:
        try:
            return parse_address(value) in network
        except ValueError:
            return False
    return test


def _binary_equals(tokens: Tokens) -> Matcher:
    try:
        expected = base64.b64decode(tokens_text(tokens), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f'"{tokens_text(tokens)}" is not base64') from None

    def test(value: str) -> bool:
        try:
            return base64.b64decode(value, validate=True) == expected
        except (binascii.Error, ValueError):
            return False
    return test


class _Kind(enum.Enum):
    STRING = "string"
    ARN = "arn"
    NUMERIC = "numeric"
    DATE = "date"
    BOOL = "bool"
    IP = "ip"
    BINARY = "binary"


@dataclass(frozen=True)
class _Operator:
    name: str
    kind: _Kind
    build: Callable[[Tokens], Matcher]
    negated: bool = False

    @property
    def supports_variables(self) -> bool:
        # "IAM policy elements: Variables and tags": string, ARN and Bool operators only.
        return self.kind in (_Kind.STRING, _Kind.ARN, _Kind.BOOL)


def _operators() -> dict[str, _Operator]:
    table = [
        _Operator("StringEquals", _Kind.STRING, _string_equals),
        _Operator("StringNotEquals", _Kind.STRING, _string_equals, negated=True),
        _Operator("StringEqualsIgnoreCase", _Kind.STRING, _string_equals_ignore_case),
        _Operator("StringNotEqualsIgnoreCase", _Kind.STRING, _string_equals_ignore_case,
                  negated=True),
        _Operator("StringLike", _Kind.STRING, _string_like),
        _Operator("StringNotLike", _Kind.STRING, _string_like, negated=True),
        # "The ArnEquals and ArnLike condition operators behave identically."
        _Operator("ArnEquals", _Kind.ARN, _arn_like),
        _Operator("ArnLike", _Kind.ARN, _arn_like),
        _Operator("ArnNotEquals", _Kind.ARN, _arn_like, negated=True),
        _Operator("ArnNotLike", _Kind.ARN, _arn_like, negated=True),
        _Operator("Bool", _Kind.BOOL, _bool),
        _Operator("NumericEquals", _Kind.NUMERIC, _numeric(lambda a, b: a == b)),
        _Operator("NumericNotEquals", _Kind.NUMERIC, _numeric(lambda a, b: a == b),
                  negated=True),
        _Operator("NumericLessThan", _Kind.NUMERIC, _numeric(lambda a, b: a < b)),
        _Operator("NumericLessThanEquals", _Kind.NUMERIC, _numeric(lambda a, b: a <= b)),
        _Operator("NumericGreaterThan", _Kind.NUMERIC, _numeric(lambda a, b: a > b)),
        _Operator("NumericGreaterThanEquals", _Kind.NUMERIC, _numeric(lambda a, b: a >= b)),
        _Operator("DateEquals", _Kind.DATE, _date(lambda a, b: a == b)),
        _Operator("DateNotEquals", _Kind.DATE, _date(lambda a, b: a == b), negated=True),
        _Operator("DateLessThan", _Kind.DATE, _date(lambda a, b: a < b)),
        _Operator("DateLessThanEquals", _Kind.DATE, _date(lambda a, b: a <= b)),
        _Operator("DateGreaterThan", _Kind.DATE, _date(lambda a, b: a > b)),
        _Operator("DateGreaterThanEquals", _Kind.DATE, _date(lambda a, b: a >= b)),
        _Operator("IpAddress", _Kind.IP, _ip_address),
        _Operator("NotIpAddress", _Kind.IP, _ip_address, negated=True),
        _Operator("BinaryEquals", _Kind.BINARY, _binary_equals),
    ]
    return {op.name.lower(): op for op in table}


_OPERATORS: Final = _operators()
_NULL: Final = "null"
_IF_EXISTS: Final = "ifexists"


class SetQualifier(enum.Enum):
    """The set operators that prefix a condition operator for multivalued keys."""

    FOR_ANY_VALUE = "ForAnyValue"
    FOR_ALL_VALUES = "ForAllValues"


_QUALIFIERS: Final = {q.value.lower(): q for q in SetQualifier}


@lru_cache(maxsize=8192)
def _cached_matcher(operator: str, tokens: Tokens) -> Matcher:
    return _OPERATORS[operator].build(tokens)


# ---------------------------------------------------------------------------------------------
# Parsed conditions


@dataclass(frozen=True)
class _PolicyValue:
    pattern: Pattern
    matcher: Matcher | None  # built at parse time when the value has no variables


@dataclass(frozen=True)
class Condition:
    """One `operator: {key: values}` test from a Condition block, parsed and compiled."""

    operator: str  # as written in the policy, e.g. "ForAnyValue:StringLikeIfExists"
    key: str  # lower-cased: condition key names ignore case
    qualifier: SetQualifier | None
    if_exists: bool
    values: tuple[str, ...]
    _base: _Operator | None  # None for the Null operator
    _compiled: tuple[_PolicyValue, ...]

    def evaluate(self, context: RequestContext) -> bool:
        """Whether the request context satisfies this condition."""
        request_values = context.get(self.key)
        if self._base is None:
            # Null: "true" means the key must be absent, "false" that it must be present.
            wanted = "true" if request_values is None else "false"
            return any(v == wanted for v in self.values)
        if request_values is None:
            if self.if_exists or self.qualifier is SetQualifier.FOR_ALL_VALUES:
                return True
            if self.qualifier is SetQualifier.FOR_ANY_VALUE:
                return False
            return self._base.negated
        matchers = self._matchers(context)
        negated = self._base.negated

        def satisfies(value: str) -> bool:
            hit = any(m(value) for m in matchers)
            return not hit if negated else hit

        if self.qualifier is SetQualifier.FOR_ALL_VALUES:
            return all(satisfies(v) for v in request_values)
        if self.qualifier is SetQualifier.FOR_ANY_VALUE or not negated:
            return any(satisfies(v) for v in request_values)
        # Negated, unqualified: NOR over every request value and every policy value.
        return all(satisfies(v) for v in request_values)

    def _matchers(self, context: RequestContext) -> list[Matcher]:
        assert self._base is not None
        matchers: list[Matcher] = []
        for value in self._compiled:
            if value.matcher is not None:
                matchers.append(value.matcher)
                continue
            tokens = value.pattern.resolve(context.variable)
            if tokens is None:
                continue  # unresolvable variable: this value matches nothing
            try:
                matchers.append(_cached_matcher(self._base.name.lower(), tokens))
            except ValueError:
                continue  # e.g. a Bool variable that resolved to something other than true/false
        return matchers


def _condition_values(raw: object, where: str) -> tuple[str, ...]:
    items: Iterable[object] = raw if isinstance(raw, list) else [raw]
    values: list[str] = []
    for item in items:
        if isinstance(item, bool):
            values.append("true" if item else "false")
        elif isinstance(item, str):
            values.append(item)
        elif isinstance(item, int | float | Decimal):
            values.append(str(item))
        else:
            raise Invalid(f"{where} must be a string, number, boolean or a list of them")
    if not values:
        raise Invalid(f"{where} must have at least one value")
    return tuple(values)


def _split_operator(name: str, where: str) -> tuple[SetQualifier | None, _Operator | None, bool]:
    qualifier: SetQualifier | None = None
    rest = name
    if ":" in rest:
        prefix, _, rest = rest.partition(":")
        qualifier = _QUALIFIERS.get(prefix.lower())
        if qualifier is None:
            raise Invalid(f'{where}: "{prefix}" is not a set operator '
                          '(use ForAnyValue or ForAllValues)')
    lowered = rest.lower()
    if lowered == _NULL:
        if qualifier is not None:
            raise Invalid(f'{where}: the Null operator cannot take a set operator')
        return None, None, False
    if_exists = lowered.endswith(_IF_EXISTS) and lowered != _IF_EXISTS
    base = lowered[:-len(_IF_EXISTS)] if if_exists else lowered
    if base == _NULL:
        raise Invalid(f"{where}: IfExists cannot be added to the Null operator")
    operator = _OPERATORS.get(base)
    if operator is None:
        raise Invalid(f"{where}: unsupported condition operator")
    return qualifier, operator, if_exists


def parse_condition_block(block: object, *, variables: bool, where: str) -> tuple[Condition, ...]:
    """Parse a statement's Condition element; `where` prefixes every error message.

    `variables` is true for policy language 2012-10-17, where `${...}` is a policy variable.
    Raises Invalid (usable as MalformedPolicyDocument / ValidationException text).
    """
    if not isinstance(block, dict):
        raise Invalid(f"{where}: Condition must be an object of condition operators")
    conditions: list[Condition] = []
    for operator_name, keys in block.items():
        here = f'{where}: Condition operator "{operator_name}"'
        qualifier, operator, if_exists = _split_operator(operator_name, here)
        if not isinstance(keys, dict) or not keys:
            raise Invalid(f"{here} must map condition keys to values")
        for key, raw in keys.items():
            if not key.strip():
                raise Invalid(f"{here} has an empty condition key")
            values = _condition_values(raw, f'{here} key "{key}"')
            conditions.append(_make_condition(
                operator_name, key, qualifier, operator, if_exists, values,
                variables=variables, where=f'{here} key "{key}"'))
    return tuple(conditions)


def _make_condition(operator_name: str, key: str, qualifier: SetQualifier | None,
                    operator: _Operator | None, if_exists: bool, values: tuple[str, ...], *,
                    variables: bool, where: str) -> Condition:
    if operator is None:
        try:
            normalized = tuple(_parse_bool(v) for v in values)
        except ValueError as error:
            raise Invalid(f"{where}: {error} (Null takes true or false)") from None
        return Condition(operator_name, key.lower(), None, False, normalized, None, ())
    compiled: list[_PolicyValue] = []
    for value in values:
        pattern = Pattern(value, variables=variables and operator.supports_variables)
        tokens = pattern.literal_tokens
        matcher: Matcher | None = None
        if tokens is not None:
            try:
                if operator.kind is _Kind.BOOL:
                    _parse_bool(value)
                matcher = _cached_matcher(operator.name.lower(), tokens)
            except ValueError as error:
                raise Invalid(f"{where}: {error}") from None
        compiled.append(_PolicyValue(pattern, matcher))
    return Condition(operator_name, key.lower(), qualifier, if_exists, values, operator,
                     tuple(compiled))


def evaluate_conditions(conditions: Iterable[Condition], context: RequestContext) -> bool:
    """Whether every condition holds (operators and keys are ANDed)."""
    return all(c.evaluate(context) for c in conditions)
