"""Explanations ("the drawer", SPEC section 6), built from parameter truth values.

Whichever engine produced the truth values (the reference evaluator or the compiled kernel's
outcome arrays), the figures here come from `reference.tally` over those values, so an
explanation's subtotal and score are the score's own arithmetic.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import attrs

from . import ast, model
from .reference import AccountResult, LeadResult, RuleOutcome, Tri, band, exclude_triggers, filter_passes
from .schema import ACCOUNT_KEY, LEAD_KEY
from .text import DEFAULT_THRESHOLD
from .titles import SHIPPED, TitleReader

MODE_TITLES = {"score": "Score", "filter": "Filter", "exclude": "Exclude"}


@attrs.frozen
class ParamRow:
    name: str
    mode: str
    value: str  # what the condition read on the record; "unknown" for null
    weight: Decimal | None
    outcome: Tri
    result: str  # "+5 / 5", "0 / 3", "passed", "failed", "excluded", "unknown"

    def to_dict(self) -> dict:
        return {"parameter": self.name, "mode": self.mode, "value": self.value,
                "weight": _num(self.weight), "outcome": _tri_word(self.outcome), "result": self.result}


@attrs.frozen
class Breakdown:
    """One ICP or Persona against one record."""

    kind: str  # "icp" | "persona"
    code: str
    name: str
    status: str
    rows: tuple[ParamRow, ...]
    qualifies: bool
    earned: Decimal
    possible: Decimal
    score: int
    verdict: str  # "assigned", or why it was not

    @property
    def subtotal(self) -> str:
        return f"{_num(self.earned)} / {_num(self.possible)}"

    @property
    def normalization(self) -> str:
        field = "ICP" if self.kind == "icp" else "Persona"
        if not self.qualifies:  # its score is hypothetical: it never reaches the score field
            return f"{self.subtotal} would score {self.score} / 100 if it qualified."
        return f"{self.subtotal} normalizes to {self.score} / 100 on the {field} score field."

    def to_dict(self) -> dict:
        return {"kind": self.kind, "code": self.code, "name": self.name, "status": self.status,
                "qualifies": self.qualifies, "earned": _num(self.earned), "possible": _num(self.possible),
                "score": self.score, "band": band(self.score), "verdict": self.verdict,
                "parameters": [r.to_dict() for r in self.rows]}


@attrs.frozen
class SignalRow:
    signal: str
    day: dt.date
    age_days: int
    counts: float  # what it still counts at the as-of date


@attrs.frozen
class EngagementBreakdown:
    """Engagement, apart from fit: each signal with its age and what it still counts."""

    signals: tuple[SignalRow, ...]
    score: float
    stage: str

    def to_dict(self) -> dict:
        return {"engagement_score": self.score, "stage": self.stage,
                "signals": [{"signal": r.signal, "date": r.day.isoformat(), "age_days": r.age_days,
                             "counts": r.counts} for r in self.signals]}


@attrs.frozen
class Explanation:
    record_kind: str  # "account" | "lead"
    record_id: str
    as_of: dt.date
    icp_code: str | None
    icp_score: int | None
    persona_code: str | None
    persona_score: int | None
    icps: tuple[Breakdown, ...]  # the assigned ICP first, then every other live ICP
    personas: tuple[Breakdown, ...]  # the same for the Personas of the assigned ICP
    engagement: EngagementBreakdown | None = None  # when the rules declare engagement
    preview: tuple[str, ...] = ()  # drafts scored as if live: the assignment shown is the preview's

    def to_dict(self) -> dict:
        return {"record": self.record_kind, "id": self.record_id, "as_of": self.as_of.isoformat(),
                "icp_code": self.icp_code, "icp_score": self.icp_score, "icp_band": band(self.icp_score),
                "persona_code": self.persona_code, "persona_score": self.persona_score,
                "persona_band": band(self.persona_score),
                "icps": [b.to_dict() for b in self.icps], "personas": [b.to_dict() for b in self.personas],
                **({"engagement": self.engagement.to_dict()} if self.engagement is not None else {}),
                **({"preview": list(self.preview)} if self.preview else {})}

    def __str__(self) -> str:
        return render_text(self)


def _num(value: Decimal | None):
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _tri_word(value: Tri) -> str:
    return "unknown" if value is None else ("true" if value else "false")


# ---- rows -------------------------------------------------------------------------------------


def format_value(value) -> str:
    if value is None or (isinstance(value, float) and value != value):  # NaN is missing data
        return "unknown"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, (set, frozenset, list, tuple)):
        return "; ".join(sorted({str(v) for v in value})) or "none"  # a set: each member once
    return str(value)


def value_on_record(param: model.Parameter, record: dict, outcome: Tri, titles: TitleReader = SHIPPED) -> str:
    """What the drawer shows in "Value on record": the value the condition read; for a set test
    its answer (the seed's "Uses Snowflake: yes", "Uses Okta: unknown"); for a test of a date
    against a period its answer with the date ("Hired a CISO in 12mo: yes (2025-01-10)")."""
    condition = param.condition
    if isinstance(condition, ast.Has):
        return _answer(outcome)
    names = list(dict.fromkeys(ref.name for ref in ast.fields_read(condition)))
    if isinstance(condition, (ast.Within, ast.DateBound)) and outcome is not None:
        return f"{_answer(outcome)} ({format_value(record.get(names[0]))})"
    if len(names) == 1:
        return title_reading(condition, record.get(names[0]), titles) or format_value(record.get(names[0]))
    return ", ".join(f"{n}={format_value(record.get(n))}" for n in names)


def title_reading(condition, value, titles: TitleReader = SHIPPED) -> str | None:
    """A title read by `resembles` or a role condition, as the drawer shows it (issue 20):
    `VP Sales EMEA → Sales · VP · scope EMEA ≈ "VP Sales" 1.00`; None for other conditions.
    `titles` is the ruleset's reader (its vocabulary with the workspace's `titles` block)."""
    if not isinstance(value, str):
        return None
    for predicate in ast.predicates(condition):
        if isinstance(predicate, ast.Resembles):
            threshold = float(predicate.threshold if predicate.threshold is not None else DEFAULT_THRESHOLD)
            return titles.describe_resemblance(value, tuple(p.value for p in predicate.phrases), threshold)
        if isinstance(predicate, ast.RoleTest):
            return titles.describe_role(value)
    return None


def _answer(outcome: Tri) -> str:
    return "unknown" if outcome is None else ("yes" if outcome else "no")


def param_rows(rule, record: dict, outcome: RuleOutcome, titles: TitleReader = SHIPPED) -> tuple[ParamRow, ...]:
    rows = []
    for param, truth in zip(rule.params, outcome.outcomes):
        if param.mode == "score":
            earned = param.weight if truth is True else Decimal(0)
            result = f"{'+' if truth is True else ''}{_num(earned)} / {_num(param.weight)}"
        elif truth is None and not (param.mode == "exclude" and exclude_triggers(param, truth)):
            result = "unknown"
        elif param.mode == "filter":
            result = "passed" if filter_passes(param, truth) else "failed"
        else:
            result = "excluded" if exclude_triggers(param, truth) else "passed"
        rows.append(ParamRow(param.name, MODE_TITLES[param.mode], value_on_record(param, record, truth, titles),
                             param.weight, truth, result))
    return tuple(rows)


def why_not(rule, outcome: RuleOutcome, winner: RuleOutcome | None, winner_first: bool) -> str:
    """Why a live ICP or Persona was not the one assigned."""
    if not outcome.qualifies:
        reasons = []
        for param, truth in zip(rule.params, outcome.outcomes):
            if param.mode == "filter" and not filter_passes(param, truth):
                reasons.append(f'filter "{param.name}" ' + ("was unknown" if truth is None else "failed"))
            elif param.mode == "exclude" and exclude_triggers(param, truth):
                reasons.append(f'excluded by "{param.name}"' + (" (unknown)" if truth is None else ""))
        return "did not qualify: " + "; ".join(reasons)
    if winner is None:
        return "qualified"
    if outcome.score == winner.score and winner_first:
        return f"tied at {outcome.score} with `{winner.code}`, which is declared first"
    return f"scored {outcome.score}, below {winner.score} of `{winner.code}`"


def breakdowns(kind: str, rules, outcomes: tuple[RuleOutcome, ...], record: dict,
               assigned: str | None, takes_part=lambda rule: rule.status == "live",
               titles: TitleReader = SHIPPED) -> tuple[Breakdown, ...]:
    """The assigned rule first, then every other one that takes part in assignment (the live
    ones, and in a preview the drafts previewed) with the reason it lost."""
    by_code = {o.code: o for o in outcomes}
    order = [r.code for r in rules]
    winner = by_code.get(assigned)
    out = []
    for rule in sorted(rules, key=lambda r: r.code != assigned):
        outcome = by_code[rule.code]
        if rule.code == assigned:
            verdict = "assigned"
        elif not takes_part(rule):
            continue
        else:
            first = winner is not None and order.index(winner.code) < order.index(rule.code)
            verdict = why_not(rule, outcome, winner, first)
        out.append(Breakdown(kind, rule.code, rule.name, rule.status, param_rows(rule, record, outcome, titles),
                             outcome.qualifies, outcome.earned, outcome.possible, outcome.score, verdict))
    return tuple(out)


def _icp_takes_part(preview: frozenset[str]):
    return lambda icp: icp.status == "live" or icp.code in preview


def _persona_takes_part(icp_code: str, preview: frozenset[str]):
    return lambda persona: persona.status == "live" or f"{icp_code}.{persona.code}" in preview


def explain_account(ruleset: model.Ruleset, account: dict, result: AccountResult, as_of: dt.date, *,
                    preview: frozenset[str] = frozenset()) -> Explanation:
    """The drawer of an account from its scoring (`result`: every ICP's outcome and the ICP
    assigned, by the reference evaluator or rebuilt from the kernel's outcomes); in a preview,
    the assignment the previewed drafts would make."""
    return Explanation("account", str(account[ACCOUNT_KEY]), as_of, result.icp_code, result.icp_score, None, None,
                       breakdowns("icp", ruleset.icps, result.icps, account, result.icp_code, _icp_takes_part(preview),
                                  ruleset.titles),
                       (), preview=tuple(sorted(preview)))


def explain_lead(ruleset: model.Ruleset, lead: dict, account: dict | None, result: LeadResult, as_of: dt.date, *,
                 preview: frozenset[str] = frozenset()) -> Explanation:
    """The drawer of a lead from its scoring (`result`, with its account's; `account` is the
    account's record, None when it is not in the data); in a preview, the assignment the
    previewed drafts would make."""
    icp_code = result.icp_code
    icp_rows = breakdowns("icp", ruleset.icps, result.account.icps, account or {}, icp_code,
                          _icp_takes_part(preview), ruleset.titles) if account is not None and result.account is not None else ()
    persona_rows = ()
    if icp_code is not None:
        persona_rows = breakdowns("persona", ruleset.icp(icp_code).personas, result.personas, lead,
                                  result.persona_code, _persona_takes_part(icp_code, preview), ruleset.titles)
    return Explanation("lead", str(lead[LEAD_KEY]), as_of, icp_code, result.icp_score, result.persona_code,
                       result.persona_score, icp_rows, persona_rows, preview=tuple(sorted(preview)))


# ---- the drawer as text: what both renderers print (this plain one, and render.py's tables) ----

DRAWER_COLUMNS = ("Parameter", "Mode", "Value on record", "Weight", "Contribution")


def drawer_rows(b: Breakdown) -> list[tuple[str, str, str, str, str]]:
    """The drawer's rows (DRAWER_COLUMNS): every parameter in declaration order, with the
    subtotal right after the last score parameter, as in the product's drawer."""
    rows = [(r.name, r.mode, r.value, str(_num(r.weight)) if r.mode == "Score" else "—", r.result) for r in b.rows]
    last_score = max((k for k, r in enumerate(b.rows) if r.mode == "Score"), default=-1)
    rows.insert(last_score + 1, ("Subtotal", "", "", str(_num(b.possible)), b.subtotal))
    return rows


def breakdown_title(b: Breakdown) -> str:
    """`ICP mm_saas "Mid-market SaaS": assigned`, or why it was not."""
    kind = "ICP" if b.kind == "icp" else "Persona"
    return f"{kind} {b.code} \"{b.name}\"{' (draft)' if b.status != 'live' else ''}: {b.verdict}"


def assignment_words(e: Explanation) -> list[str]:
    """What the record was assigned: `ICP mm_saas 85` (and `Persona vp_sales 60` for a lead)."""
    words = [f"ICP {e.icp_code or 'none'}" + (f" {e.icp_score}" if e.icp_score is not None else "")]
    if e.record_kind == "lead":
        words.append(f"Persona {e.persona_code or 'none'}" + (f" {e.persona_score}" if e.persona_score is not None else ""))
    return words


def preview_words(e: Explanation) -> str:
    """Said next to the record in a preview, so the drawer is never taken for the live one."""
    return f"preview of {', '.join(e.preview)} as if live" if e.preview else ""


def engagement_title(engagement: EngagementBreakdown) -> str:
    return f"Engagement (apart from fit): {engagement.score:.2f}, stage {engagement.stage}"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [" | ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in rows]


def render_breakdown(b: Breakdown) -> list[str]:
    lines = [breakdown_title(b)]
    lines += ["  " + line for line in _table([list(DRAWER_COLUMNS), *map(list, drawer_rows(b))])]
    lines.append(f"  {b.normalization}")
    return lines


def render_text(e: Explanation) -> str:
    """The drawer as plain text (`str(explanation)`); render.print_explanation prints the same
    parts as tables."""
    preview = f"; {preview_words(e)}" if e.preview else ""
    lines = [f"{e.record_kind} {e.record_id} (as of {e.as_of.isoformat()}{preview}): " + ", ".join(assignment_words(e))]
    for b in e.icps + e.personas:
        lines.append("")
        lines += render_breakdown(b)
    if e.engagement is not None:
        lines += ["", engagement_title(e.engagement)]
        lines += [f"  {r.signal} on {r.day.isoformat()} ({r.age_days} days ago) still counts {r.counts:.2f}"
                  for r in e.engagement.signals]
    return "\n".join(lines)
