"""The checked ruleset: what the checker hands to the reference evaluator and the compiler.

Templates are expanded, regions inlined into conditions, parameters named, defaults applied.
Conditions stay AST nodes (with spans), now known to be well typed against the schema.
"""

from __future__ import annotations

import functools
from decimal import Decimal

import attrs

from . import ast
from .frozen import Frozen, frozen
from .schema import Schema, audience_schema
from .titles import SHIPPED, TitleReader

NO_PERSONA_FIT = "no_persona_fit"


@frozen
class Parameter(Frozen):
    name: str
    mode: ast.Mode = attrs.field(converter=ast.Mode)
    weight: Decimal | None  # score parameters only
    unknown: str | None  # None | "passes" (filters) | "excludes" (excludes)
    condition: ast.Condition
    span: ast.Span | None = attrs.field(default=None, eq=False, repr=False)


def possible_weight(params) -> Decimal:
    """What an ICP or Persona can earn at most: the sum of its score weights."""
    return sum((p.weight for p in params if p.mode == "score"), Decimal(0))


@frozen
class Persona(Frozen):
    code: str
    name: str
    status: ast.Status = attrs.field(converter=ast.Status)
    params: tuple[Parameter, ...]
    span: ast.Span | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def possible(self) -> Decimal:
        return possible_weight(self.params)


@frozen
class Icp(Frozen):
    code: str
    name: str
    status: ast.Status = attrs.field(converter=ast.Status)
    params: tuple[Parameter, ...]
    personas: tuple[Persona, ...]
    span: ast.Span | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def possible(self) -> Decimal:
        return possible_weight(self.params)

    def persona(self, code: str) -> Persona | None:
        return next((p for p in self.personas if p.code == code), None)


@frozen
class Audience(Frozen):
    code: str
    name: str
    condition: ast.Condition
    span: ast.Span | None = attrs.field(default=None, eq=False, repr=False)


@frozen
class Signal(Frozen):
    code: str
    weight: Decimal
    decay: str  # "half_life" | "window"
    days: Decimal  # the half-life, or the window's length, in days


@frozen
class Engagement(Frozen):
    """Signal types and the stages: engagement is scored apart from fit and never mixed in."""

    signals: tuple[Signal, ...]
    stages: tuple[str, ...]  # lowest first
    thresholds: tuple[Decimal, ...]  # stage k holds scores below thresholds[k]; the last is open

    def signal_index(self, code: str) -> int | None:
        return next((k for k, s in enumerate(self.signals) if s.code == code), None)


@frozen
class Ruleset(Frozen):
    schema: Schema
    icps: tuple[Icp, ...]
    audiences: tuple[Audience, ...] = ()
    engagement: Engagement | None = None
    source_text: str = attrs.field(eq=False, repr=False, default="")
    # The workspace's rule tests (`ast.RuleTest`, checked): `unstuck test` runs them, scoring never does.
    tests: tuple = attrs.field(eq=False, repr=False, default=())
    # How this ruleset reads titles: the shipped vocabulary plus the workspace's `titles` block.
    titles: TitleReader = attrs.field(default=SHIPPED, repr=False)

    def audience(self, code: str) -> Audience | None:
        return next((a for a in self.audiences if a.code == code), None)

    @functools.cached_property
    def audience_schema(self) -> Schema:
        """The fields audience conditions read (`schema.audience_schema`), built once."""
        return audience_schema(self.schema, self.engagement)

    @property
    def content_hash(self) -> str:
        import hashlib  # here: loading OpenSSL's hashes is a fortieth of `unstuck check`, which needs none

        # The rules as written hold any `titles` block; the reader's key also names the shipped
        # vocabulary's version and an extension given other than by a block.
        text = self.source_text if self.titles is SHIPPED else f"{self.source_text}\n# titles {self.titles.key}"
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    def icp(self, code: str) -> Icp | None:
        return next((i for i in self.icps if i.code == code), None)

    def live_icps(self) -> tuple[Icp, ...]:
        return tuple(i for i in self.icps if i.status == "live")
