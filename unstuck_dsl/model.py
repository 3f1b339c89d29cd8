"""The checked ruleset: what the checker hands to the reference evaluator and the compiler.

Templates are expanded, regions inlined into conditions, parameters named, defaults applied.
Conditions stay AST nodes (with spans), now known to be well typed against the schema.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

import attrs

from . import ast
from .schema import Schema

NO_PERSONA_FIT = "no_persona_fit"


@attrs.frozen(slots=True)
class Parameter:
    name: str
    mode: str  # "filter" | "score" | "exclude"
    weight: Decimal | None  # score parameters only
    unknown: str | None  # None | "passes" (filters) | "excludes" (excludes)
    condition: ast.Condition
    span: ast.Span | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(slots=True)
class Persona:
    code: str
    name: str
    status: str  # "live" | "draft"
    params: tuple[Parameter, ...]
    span: ast.Span | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def possible(self) -> Decimal:
        return sum((p.weight for p in self.params if p.mode == "score"), Decimal(0))


@attrs.frozen(slots=True)
class Icp:
    code: str
    name: str
    status: str
    params: tuple[Parameter, ...]
    personas: tuple[Persona, ...]
    span: ast.Span | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def possible(self) -> Decimal:
        return sum((p.weight for p in self.params if p.mode == "score"), Decimal(0))

    def persona(self, code: str) -> Persona | None:
        return next((p for p in self.personas if p.code == code), None)


@attrs.frozen(slots=True)
class Audience:
    code: str
    name: str
    condition: ast.Condition
    span: ast.Span | None = attrs.field(default=None, eq=False, repr=False)


@attrs.frozen(slots=True)
class Ruleset:
    schema: Schema
    icps: tuple[Icp, ...]
    audiences: tuple[Audience, ...] = ()
    source_text: str = attrs.field(eq=False, repr=False, default="")

    def audience(self, code: str) -> Audience | None:
        return next((a for a in self.audiences if a.code == code), None)

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.source_text.encode("utf-8")).hexdigest()

    def icp(self, code: str) -> Icp | None:
        return next((i for i in self.icps if i.code == code), None)

    def live_icps(self) -> tuple[Icp, ...]:
        return tuple(i for i in self.icps if i.status == "live")
