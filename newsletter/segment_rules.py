"""The segment rule language: parsed into a tree, compiled to SQL expressions.

Grammar (case-insensitive keywords; ``not`` binds tighter than ``and``,
which binds tighter than ``or``)::

    expr   := term ("or" term)*
    term   := factor ("and" factor)*
    factor := "not" factor | "(" expr ")" | match
    match  := FIELD ":" VALUE
    FIELD  := role | organisation | region | status | attr.NAME
    VALUE  := bare word (no spaces, quotes, parentheses or colon) | "quoted \\"text\\""

Values compare case-insensitively; ``role`` values are normalised like
stored roles ("Lead Member" → ``lead-member``).  A value ending in ``*``
matches by prefix (``organisation:North*``).  Rules are never evaluated as
Python and never spliced into SQL: they compile to bound SQLAlchemy
expressions.  Errors carry the 1-based position of the offending character.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute

from newsletter.errors import UserError
from newsletter.models import SUBSCRIBER_STATUSES, Subscriber, SubscriberRole
from newsletter.roles import normalise_role

PLAIN_FIELDS = ("role", "organisation", "region", "status")
# Limits that keep a rule's parse and its SQL small: the built-in rules use a
# handful of terms and two levels of parentheses, so these leave ample room
# while a hostile rule (1,000 nested parentheses or ORs) is refused with a
# clear error instead of exhausting the parser's recursion or the database's
# expression depth.
MAX_RULE_LENGTH = 4000
MAX_DEPTH = 20
MAX_TERMS = 100
_BARE_STOP = set(' \t\r\n()":')


class RuleError(UserError, ValueError):
    """A rule that cannot be parsed; ``position`` is 1-based within ``rule``."""

    def __init__(self, message: str, rule: str, position: int) -> None:
        self.message = message
        self.rule = rule
        self.position = position
        super().__init__(f"position {position}: {message}")

    def to_json(self) -> dict[str, object]:
        """``{"error": message, "position": n}``: what the rule editor and the API show."""
        return {"error": self.message, "position": self.position}

    def pointer(self) -> str:
        """The rule with a caret under the offending position, for terminals."""
        return f"{self.rule}\n{' ' * (self.position - 1)}^"


@dataclass(frozen=True)
class Token:
    """A lexical token; ``pos`` is the 1-based position of its first character."""

    kind: str  # "word", "string", "colon", "lparen", "rparen", "end"
    text: str
    pos: int


@dataclass(frozen=True)
class Match:
    """``field:value``; ``prefix`` when the value ended in ``*``."""

    field: str
    value: str
    prefix: bool


@dataclass(frozen=True)
class Not:
    """Negation of a rule."""

    operand: Rule


@dataclass(frozen=True)
class And:
    """Conjunction of rules."""

    operands: tuple[Rule, ...]


@dataclass(frozen=True)
class Or:
    """Disjunction of rules."""

    operands: tuple[Rule, ...]


Rule = Match | Not | And | Or


def tokenize(rule: str) -> list[Token]:
    """Split ``rule`` into tokens; raises RuleError on an unterminated string."""
    tokens: list[Token] = []
    i = 0
    while i < len(rule):
        ch = rule[i]
        if ch.isspace():
            i += 1
        elif ch in "():":
            kind = {"(": "lparen", ")": "rparen", ":": "colon"}[ch]
            tokens.append(Token(kind, ch, i + 1))
            i += 1
        elif ch == '"':
            start = i
            i += 1
            chars: list[str] = []
            while i < len(rule) and rule[i] != '"':
                if rule[i] == "\\" and i + 1 < len(rule):
                    i += 1
                chars.append(rule[i])
                i += 1
            if i >= len(rule):
                raise RuleError("unterminated quoted value", rule, start + 1)
            tokens.append(Token("string", "".join(chars), start + 1))
            i += 1
        else:
            start = i
            while i < len(rule) and rule[i] not in _BARE_STOP:
                i += 1
            tokens.append(Token("word", rule[start:i], start + 1))
    tokens.append(Token("end", "", len(rule) + 1))
    return tokens


class _Parser:
    def __init__(self, rule: str) -> None:
        self.rule = rule
        if len(rule) > MAX_RULE_LENGTH:
            raise RuleError(
                f"the rule is {len(rule)} characters long; at most {MAX_RULE_LENGTH} are allowed",
                rule[:80],
                MAX_RULE_LENGTH + 1 if len(rule) < 80 else 80,
            )
        self.tokens = tokenize(rule)
        self.index = 0
        self.depth = 0
        self.terms = 0

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def error(self, message: str, token: Token | None = None) -> RuleError:
        return RuleError(message, self.rule, (token or self.current).pos)

    def keyword(self, word: str) -> bool:
        token = self.current
        if token.kind == "word" and token.text.lower() == word:
            self.index += 1
            return True
        return False

    def parse(self) -> Rule:
        if self.current.kind == "end":
            raise self.error("the rule is empty")
        rule = self.expr()
        if self.current.kind == "rparen":
            raise self.error("unexpected ')' with no matching '('")
        if self.current.kind != "end":
            raise self.error(f"expected 'and' or 'or' before {self.current.text!r}")
        return rule

    def expr(self) -> Rule:
        operands = [self.term()]
        while self.keyword("or"):
            operands.append(self.term())
        return operands[0] if len(operands) == 1 else Or(tuple(operands))

    def term(self) -> Rule:
        operands = [self.factor()]
        while self.keyword("and"):
            operands.append(self.factor())
        return operands[0] if len(operands) == 1 else And(tuple(operands))

    def nest(self, token: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                f"the rule nests deeper than {MAX_DEPTH} levels (parentheses or 'not')", token
            )

    def factor(self) -> Rule:
        token = self.current
        if self.keyword("not"):
            self.nest(token)
            operand = self.factor()
            self.depth -= 1
            return Not(operand)
        if token.kind == "lparen":
            self.index += 1
            self.nest(token)
            inner = self.expr()
            self.depth -= 1
            if self.current.kind != "rparen":
                raise self.error(f"expected ')' to close the '(' opened at position {token.pos}")
            self.index += 1
            return inner
        return self.match()

    def match(self) -> Match:
        token = self.current
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(f"the rule has more than {MAX_TERMS} field:value terms", token)
        if token.kind != "word" or token.text.lower() in ("and", "or"):
            found = "the end of the rule" if token.kind == "end" else repr(token.text)
            raise self.error(f"expected field:value but found {found}")
        field = token.text.lower()
        if field not in PLAIN_FIELDS and not (field.startswith("attr.") and len(field) > 5):
            allowed = ", ".join((*PLAIN_FIELDS, "attr.NAME"))
            raise self.error(f"unknown field {token.text!r} (fields: {allowed})")
        self.index += 1
        if self.current.kind != "colon":
            raise self.error(f"expected ':' after {token.text!r}")
        self.index += 1
        value_token = self.current
        if value_token.kind not in ("word", "string") or not value_token.text:
            raise self.error(f"expected a value after '{token.text}:'")
        self.index += 1
        value = value_token.text
        prefix = value.endswith("*") and value_token.kind == "word"
        if prefix:
            value = value[:-1]
        if field == "status" and value.lower() not in SUBSCRIBER_STATUSES:
            raise self.error(
                f"unknown status {value!r} (one of {', '.join(SUBSCRIBER_STATUSES)})", value_token
            )
        if field == "role" and not prefix:
            try:
                value = normalise_role(value)
            except ValueError as exc:
                raise self.error(str(exc), value_token) from exc
        return Match(field, value, prefix)


def parse_rule(rule: str) -> Rule:
    """Parse a rule; raises RuleError with the position of the first error."""
    return _Parser(rule).parse()


def _compare(
    column: ColumnElement[str] | InstrumentedAttribute[str], value: str, prefix: bool
) -> ColumnElement[bool]:
    lowered = func.lower(column)
    if prefix:
        # LIKE with the value's own wildcards escaped: only the trailing * is a wildcard.
        escaped = value.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return lowered.like(escaped + "%", escape="\\")
    return lowered == value.lower()


def role_condition(match: Match) -> ColumnElement[bool]:
    """Whether a ``subscriber_roles`` row has the role ``match`` (a ``role:`` term) names.

    Stored roles are slugs (lower-case, see :func:`newsletter.roles.normalise_role`)
    and so is an exact term's value, so an exact term compares the column itself:
    PostgreSQL then uses the role index and its statistics (it has none for
    ``lower(role)``, guessed a few thousand rows where there were 600,000 and
    chose nested loops: 1.3 s instead of 0.5 s for a segment of a
    1,000,000-subscriber list, docs/performance.md).  A prefix term's value is
    as typed, so it is compared lower-cased.
    """
    if match.prefix:
        return _compare(SubscriberRole.role, match.value, prefix=True)
    return SubscriberRole.role == match.value


def role_matches(rule: Rule) -> list[Match]:
    """The ``role:`` terms of ``rule``, in order (repeats included)."""
    if isinstance(rule, Not):
        return role_matches(rule.operand)
    if isinstance(rule, And | Or):
        return [m for r in rule.operands for m in role_matches(r)]
    return [rule] if rule.field == "role" else []


def to_sql(
    rule: Rule, roles: Callable[[Match], ColumnElement[bool]] | None = None
) -> ColumnElement[bool]:
    """Compile a parsed rule to a WHERE expression over ``Subscriber``.

    A ``role:`` term becomes ``EXISTS`` over the subscriber's roles, or what
    ``roles`` gives for it (a query that has gathered each subscriber's roles
    already, as :func:`newsletter.segments.count_first_matches` does).
    """
    if isinstance(rule, Not):
        return not_(to_sql(rule.operand, roles))
    if isinstance(rule, And):
        return and_(true(), *(to_sql(r, roles) for r in rule.operands))
    if isinstance(rule, Or):
        return or_(*(to_sql(r, roles) for r in rule.operands))
    if rule.field == "role":
        if roles is not None:
            return roles(rule)
        return exists(
            select(SubscriberRole.subscriber_id).where(
                SubscriberRole.subscriber_id == Subscriber.id, role_condition(rule)
            )
        )
    if rule.field.startswith("attr."):
        name = rule.field[len("attr.") :]
        return _compare(Subscriber.attributes[name].as_string(), rule.value, rule.prefix)
    column = {
        "organisation": Subscriber.organisation,
        "region": Subscriber.region,
        "status": Subscriber.status,
    }[rule.field]
    return _compare(column, rule.value, rule.prefix)
