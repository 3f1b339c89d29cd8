"""Frozen value classes (the syntax tree's nodes, the checked rules, diagnostics): attrs makes each
one's slots and `__init__`; equality, hashing and repr, over the fields the class compares, are
written once here as attrs would generate them, rather than generated and compiled again for every
class (for the syntax tree's fifty-odd classes that was a sixth of `unstuck check`'s time, for the
twenty others a twenty-fifth)."""

from __future__ import annotations

import operator
from collections.abc import Callable

import attrs


class Frozen:
    """What every frozen value class shares: equality, hashing and repr over its compared fields."""

    # `_hash`: a value's hash, kept once made (conditions key the lookup tables of every scoring
    # run: hashing a condition's whole tree again each time was a tenth of scoring one record).
    __slots__ = ("_hash",)
    # Each class's compared fields, read at once (`frozen` sets it).
    _compared: Callable[[Frozen], object]

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._compared(self) == other._compared(other)

    def __hash__(self):
        try:
            return self._hash
        except AttributeError:
            made = hash((self.__class__, self._compared(self)))
            object.__setattr__(self, "_hash", made)  # frozen for its fields; the hash is not one
            return made

    def __repr__(self):
        shown = ", ".join(f"{a.name}={getattr(self, a.name)!r}" for a in attrs.fields(self.__class__) if a.repr)
        return f"{self.__class__.__qualname__}({shown})"


def frozen(cls):
    """Declare a frozen value class (a subclass of Frozen): slotted, its fields set once by the
    `__init__` attrs makes, compared (and hashed, and shown) by Frozen's methods, except the fields
    declared with `eq=False` (or `repr=False`)."""
    cls = attrs.frozen(slots=True, eq=False, repr=False)(cls)
    cls._compared = operator.attrgetter(*(a.name for a in attrs.fields(cls) if a.eq))
    return cls
