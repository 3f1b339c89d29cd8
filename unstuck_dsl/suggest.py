"""Suggestions: refine the published rules from outcomes, as evidence and as a rule diff to review.
Nothing is applied: `unstuck suggest` writes a new rules folder and shows what publishing it
would move.

For every parameter of the published ruleset, over the records it applies to (a score parameter
of an ICP: the leads a Persona of that ICP took; of a Persona: the leads it took), the reply rate
(a `replied` outcome, or a later one) where its condition was true, false and unknown, with 95 % Wilson intervals, and the lift (the
rate when true over the rate when not). Then each ICP's effects, all at once: a logistic
regression (L2-regularised, scikit-learn) of replied on the truth values of the ICP's score
parameters and its Personas' (with a baseline per Persona), so one parameter's effect is not
another's that goes with it.

A score only compares weights within its ICP or Persona (100 × earned / possible), so a weight is
right when it is in proportion to its effect beside the others: the suggested weight shares the
scope's total weight in proportion to the estimated effects (rounded to the workspace's weight
step), with the interval the effect's 95 % interval gives (over all the parameters assessed,
Bonferroni). A change is proposed only when the interval excludes the current weight: raise,
lower, or drop when the suggested weight rounds to nothing (no measurable effect). A parameter
true (or not) in fewer than `min_count` records is not assessed.

A filter is flagged when the records it alone excluded (every other filter and exclude of its
ICP or Persona passed, and nothing else took them), when it was false and, apart, when it was
unknown, reply both significantly better than the records no rule takes and not significantly
worse than the records the ICP or Persona keeps. The audience threshold is insights' jump.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import attrs
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import ast, ir, pipeline
from . import insights as outcome_rates
from .fmt import format_text
from .insights import MIN_COUNT, Rate, _clean, family_z, newcombe, pct
from .model import NO_PERSONA_FIT
from .parser import parse_source
from .printer import param_name, print_param, quote
from .schema import LEAD_KEY, OUTCOMES
from .source import Source
from .workspace import version_files

REGULARISATION = 1.0  # scikit-learn's C: weak at the sample sizes assessed; keeps separated data finite
TRUTHS = ("true", "false", "unknown")
# A lead replied when it has a `replied` outcome or a later one (a meeting follows a reply).
REPLIED = pa.array(OUTCOMES[OUTCOMES.index("replied"):], pa.string())
KINDS = ("raise", "lower", "drop", "filter", "threshold")  # what a proposal does


@attrs.frozen
class Effect:
    """One score parameter's estimated effect: log-odds of a reply when true (95 % over the
    parameters assessed), and the weight it suggests in its ICP or Persona."""

    log_odds: float
    interval: tuple[float, float]
    weight: Decimal  # suggested, rounded to the weight step (0: no measurable effect)
    weight_interval: tuple[float, float]


@attrs.frozen
class Parameter:
    """A parameter of the published rules with its outcome rates."""

    icp: str
    persona: str | None
    name: str
    mode: str
    weight: Decimal | None
    rates: dict  # "true" | "false" | "unknown" -> Rate of replied
    assessed: bool  # enough records true and not true to estimate an effect
    effect: Effect | None = None

    @property
    def scope(self) -> str:
        return self.icp if self.persona is None else f"{self.icp}.{self.persona}"

    def lift(self) -> float | None:
        true, rest = self.rates["true"], _pooled(self.rates["false"], self.rates["unknown"])
        if not true.n or not rest.n or not rest.counts.get("replied"):
            return None
        return true.rate("replied") / rest.rate("replied")

    def to_dict(self) -> dict:
        out = {"icp": self.icp, "persona": self.persona, "parameter": self.name, "mode": self.mode,
               "weight": _number(self.weight), "assessed": self.assessed,
               "lift": None if self.lift() is None else round(self.lift(), 3)}
        for truth in TRUTHS:
            rate = self.rates[truth]
            low, high = rate.interval("replied")
            out[truth] = {"n": rate.n, "replied": rate.counts.get("replied", 0),
                          "rate": _clean(rate.rate("replied")), "ci95": [_clean(low), _clean(high)]}
        if self.effect is not None:
            e = self.effect
            out["effect"] = {"log_odds": round(e.log_odds, 4), "ci": [round(e.interval[0], 4), round(e.interval[1], 4)],
                             "suggested_weight": _number(e.weight),
                             "weight_interval": [round(e.weight_interval[0], 2), round(e.weight_interval[1], 2)]}
        return out


@attrs.frozen
class Proposal:
    kind: str  # one of KINDS
    icp: str | None
    persona: str | None
    parameter: str | None
    old: Decimal | int | None
    new: Decimal | int | None
    evidence: str

    def text(self) -> str:
        where = f"{self.icp}.{self.persona}" if self.persona else (self.icp or "")
        if self.kind in ("raise", "lower"):
            return f"{self.kind} {where} \"{self.parameter}\" {_number(self.old)} → {_number(self.new)}: {self.evidence}"
        if self.kind == "drop":
            return f"drop {where} \"{self.parameter}\" (weight {_number(self.old)}): {self.evidence}"
        if self.kind == "filter":
            return f"review filter {where} \"{self.parameter}\": {self.evidence}"
        return f"audience threshold persona_score >= {self.new}: {self.evidence}"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "icp": self.icp, "persona": self.persona, "parameter": self.parameter,
                "old": _number(self.old), "new": _number(self.new), "evidence": self.evidence}


@attrs.frozen
class Suggestions:
    version: int | None
    as_of: dt.date
    leads: int
    replied: int
    parameters: tuple[Parameter, ...]
    proposals: tuple[Proposal, ...]
    notes: tuple[str, ...]  # what could not be assessed, and why

    def to_dict(self) -> dict:
        return {"version": self.version, "as_of": self.as_of.isoformat(), "leads": self.leads, "replied": self.replied,
                "proposals": [p.to_dict() for p in self.proposals],
                "parameters": [p.to_dict() for p in self.parameters], "notes": list(self.notes)}


def _number(value):
    if value is None:
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def _rate(label: str, mask: np.ndarray, replied: np.ndarray) -> Rate:
    return Rate(label, int(mask.sum()), {"replied": int((mask & replied).sum())})


def _pooled(*rates: Rate) -> Rate:
    return Rate("+".join(r.label for r in rates), sum(r.n for r in rates),
                {"replied": sum(r.counts.get("replied", 0) for r in rates)})


def _truths(column: np.ndarray) -> dict[str, np.ndarray]:
    return {"true": column == ir.TRUE, "false": column == ir.FALSE, "unknown": column == ir.UNKNOWN}


# ---- reading the workspace ---------------------------------------------------------------------


@attrs.frozen
class _Records:
    """Every stored lead scored by the published rules with each parameter's truth value."""

    leads: pa.Table  # the lead table (codes, scores), in the dataset's order
    replied: np.ndarray  # bool per lead
    account_truths: np.ndarray  # per lead: its account's row of ICP parameter truth values (-1: no account)
    lead_truths: np.ndarray  # per lead: Persona parameter truth values (-1: not evaluated)
    icp: np.ndarray  # per lead: its account's ICP code (None: none)
    persona: np.ndarray  # per lead: its Persona code (None: no ICP; no_persona_fit)


def _read(workspace) -> tuple[object, _Records]:
    """Score the stored records with the published rules at the workspace's date, keeping every
    parameter's truth value (the kernel's explain outputs, the ones the drawer shows)."""
    compiled = workspace.compiled
    schema = compiled.model.schema
    accounts = workspace.store.records("account", schema=schema)
    leads = workspace.store.records("lead", schema=schema)
    with pipeline.kernels_loading(compiled):
        dataset = compiled.load(accounts, leads, missing_columns="unknown")
    result = compiled.score_dataset(dataset, workspace.as_of, outcomes=True)
    table = result.leads
    outcomes = workspace.store.outcomes()
    replied_ids = pc.filter(outcomes.column(LEAD_KEY), pc.is_in(outcomes.column("outcome"), value_set=REPLIED))
    replied = pc.is_in(table.column(LEAD_KEY).cast(pa.string()), value_set=replied_ids.cast(pa.string()).unique())
    rows = dataset.lead_account_rows
    account_truths = np.where((rows >= 0)[:, None], result.account_outcomes[np.maximum(rows, 0)], -1).astype(np.int8)
    strings = {c: np.array(table.column(c).cast(pa.string()).to_pylist(), dtype=object) for c in ("icp_code", "persona_code")}
    return compiled, _Records(table, replied.to_numpy(zero_copy_only=False).astype(bool), account_truths,
                              result.lead_outcomes, strings["icp_code"], strings["persona_code"])


# ---- the analysis ------------------------------------------------------------------------------


def _fit(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """L2-regularised logistic regression: coefficients and their standard errors (from the
    penalised likelihood's curvature at the estimate)."""
    from sklearn.linear_model import LogisticRegression  # heavy: only this command needs it

    model = LogisticRegression(C=REGULARISATION, solver="lbfgs", max_iter=2000, tol=1e-10)
    model.fit(X, y)
    beta = model.coef_[0]
    p = model.predict_proba(X)[:, 1]
    design = np.hstack([np.ones((len(X), 1)), X])
    curvature = design.T @ (design * (p * (1 - p))[:, None])
    curvature[1:, 1:] += np.eye(X.shape[1]) / REGULARISATION
    covariance = np.linalg.pinv(curvature)
    return beta, np.sqrt(np.maximum(np.diag(covariance)[1:], 0))


def _rounded(weight: float, step: Decimal) -> Decimal:
    return (Decimal(repr(max(float(weight), 0.0))) / step).quantize(Decimal(1), ROUND_HALF_UP) * step


def _counts(n_true: int, n_total: int) -> str:
    return f"n = {n_true:,} / {n_total - n_true:,}"


def _weight_evidence(p: Parameter) -> str:
    true, rest = p.rates["true"], _pooled(p.rates["false"], p.rates["unknown"])
    e = p.effect
    return (f"replied {pct(true.rate('replied'))} when true vs {pct(rest.rate('replied'))} when not "
            f"({_counts(true.n, true.n + rest.n)}); effect beside the others: odds × {np.exp(e.log_odds):.2f}, "
            f"a weight of {_number(e.weight)} (95% interval {max(e.weight_interval[0], 0):.1f}–{e.weight_interval[1]:.1f})")


def analyse(workspace, min_count: int = MIN_COUNT) -> tuple[object, Suggestions]:
    """The parameters' evidence and the proposals for the workspace's published rules."""
    compiled, records = _read(workspace)
    model, program = compiled.model, compiled.program
    threshold = _threshold(workspace, model)
    persona_score = records.leads.column("persona_score").fill_null(-1).to_numpy(zero_copy_only=False)
    # Leads over the audience threshold are worked apart (and reply apart): that jump is its own
    # term, so a weight is judged by the replies it explains beside it.
    above = [persona_score >= threshold.new] if threshold is not None else []
    step = Decimal(1) / Decimal(program.weight_scale)
    y = records.replied
    scored = np.array([s is not None for s in records.leads.column("persona_score").to_pylist()], dtype=bool)
    notes: list[str] = []
    parameters: list[Parameter] = []
    fits = []  # (scope params with their columns) per ICP, fitted after every parameter is counted
    for i, icp in enumerate(model.icps):
        in_icp = (records.icp == icp.code) & scored
        if icp.status != "live" or not in_icp.any():
            notes.append(f"{icp.code}: {'a draft' if icp.status != 'live' else 'no lead'}"
                         f"{' takes no leads' if icp.status != 'live' else ' with a Persona'}: not assessed")
            continue
        scopes = [(None, icp.params, program.icps.rules[i].params, records.account_truths, in_icp)]
        for j, persona in enumerate(icp.personas):
            members = in_icp & (records.persona == persona.code)
            scopes.append((persona.code, persona.params, program.personas[i].rules[j].params, records.lead_truths,
                           members))
        columns, features = [], []
        for persona_code, params, irs, truths, members in scopes:
            for param, param_ir in zip(params, irs):
                column = truths[:, param_ir.slot]
                split = {t: _rate(t, members & mask, y) for t, mask in _truths(column).items()}
                true_n = split["true"].n
                assessed = param.mode == "score" and min(true_n, int(members.sum()) - true_n) >= min_count
                parameters.append(Parameter(icp.code, persona_code, param.name, str(param.mode), param.weight, split,
                                            assessed))
                if assessed:
                    features.append(len(parameters) - 1)
                    columns.append(np.where(members, column == ir.TRUE, False))
        if features:
            baselines = [records.persona == p.code for p in icp.personas[1:]]
            X = np.column_stack([*columns, *baselines, *above]).astype(np.float64)[in_icp]
            fits.append((features, X, y[in_icp]))
    z = family_z(sum(len(f) for f, _, _ in fits))
    for features, X, target in fits:
        beta, se = _fit(X, target)
        by_scope = defaultdict(list)
        for k, index in enumerate(features):
            by_scope[parameters[index].scope].append((index, beta[k], se[k]))
        for scope, found in by_scope.items():
            total = sum(parameters[index].weight for index, _, _ in found)
            positive = sum(max(b, 0.0) for _, b, _ in found)
            if positive <= 0:
                notes.append(f"{scope}: no parameter shows an effect on replies; weights left as they are")
                continue
            scale = float(total) / positive  # weight per unit of log-odds, keeping the scope's total
            for index, b, s in found:
                parameters[index] = attrs.evolve(parameters[index], effect=Effect(
                    float(b), (float(b - z * s), float(b + z * s)), _rounded(scale * b, step),
                    (scale * (b - z * s), scale * (b + z * s))))
    proposals = [_weight_proposal(p) for p in parameters if p.effect is not None]
    proposals = [p for p in proposals if p is not None]
    proposals += _filter_proposals(model, program, records, scored, min_count)
    if threshold is not None:
        proposals.append(threshold)
    order = {kind: k for k, kind in enumerate(KINDS)}
    proposals.sort(key=lambda p: (order[p.kind], p.icp or "", p.persona or "", p.parameter or ""))
    return compiled, Suggestions(workspace.published.number, workspace.as_of, records.leads.num_rows, int(y.sum()),
                                 tuple(parameters), tuple(proposals), tuple(notes))


def _weight_proposal(p: Parameter) -> Proposal | None:
    e = p.effect
    low, high = e.weight_interval
    if low <= float(p.weight) <= high or e.weight == p.weight:
        return None
    if e.weight == 0:
        return Proposal("drop", p.icp, p.persona, p.name, p.weight, Decimal(0),
                        "no measurable effect: " + _weight_evidence(p))
    kind = "raise" if e.weight > p.weight else "lower"
    return Proposal(kind, p.icp, p.persona, p.name, p.weight, e.weight, _weight_evidence(p))


def _filter_proposals(model, program, records: _Records, scored: np.ndarray, min_count: int) -> list[Proposal]:
    """Filters whose records, excluded by that filter alone (false, or apart, unknown), reply both
    better than the records no rule takes and not worse than those the ICP or Persona keeps."""
    y = records.replied
    no_icp = np.array([c is None for c in records.icp], dtype=bool) & (records.account_truths[:, 0] >= 0)
    candidates = []
    for i, icp in enumerate(model.icps):
        if icp.status != "live":
            continue
        levels = [(None, icp.params, program.icps.rules[i].params, records.account_truths,
                   records.icp == icp.code, no_icp, no_icp)]
        in_icp = records.icp == icp.code
        for j, persona in enumerate(icp.personas):
            unfit = in_icp & (records.persona == NO_PERSONA_FIT)
            levels.append((persona.code, persona.params, program.personas[i].rules[j].params, records.lead_truths,
                           in_icp & (records.persona == persona.code) & scored, unfit, ~scored))
        for persona_code, params, irs, truths, kept, pool, left_out in levels:
            gates = [(p, q) for p, q in zip(params, irs) if p.mode != "score"]
            passes = {q.slot: (truths[:, q.slot] >= q.threshold) if p.mode == "filter" else (truths[:, q.slot] < q.threshold)
                      for p, q in gates}
            for param, q in gates:
                if param.mode != "filter":
                    continue
                others = np.all([passes[s] for s in passes if s != q.slot], axis=0) if len(passes) > 1 else \
                    np.ones(len(y), dtype=bool)
                alone = pool & others & ~passes[q.slot]
                for truth in ("false", "unknown"):
                    group = alone & _truths(truths[:, q.slot])[truth]
                    if group.sum() >= min_count and kept.sum() >= min_count:
                        candidates.append((icp.code, persona_code, param.name, truth, _rate(truth, group, y),
                                           _rate("kept", kept, y), _rate("left out", left_out & ~group, y),
                                           np.flatnonzero(group).tobytes()))
    z = family_z(len(candidates))
    proposals, seen = [], {}
    for icp_code, persona_code, name, truth, group, kept, left_out, members in candidates:
        gain = newcombe(left_out.counts["replied"], left_out.n, group.counts["replied"], group.n, z)
        versus_kept = newcombe(kept.counts["replied"], kept.n, group.counts["replied"], group.n, z)
        if gain[0] > 0 and versus_kept[1] >= 0:
            if members in seen:  # the same records, excluded alone by another ICP's filter too: said once
                seen[members].append(f"{icp_code} \"{name}\"")
                continue
            seen[members] = also = []
            whose = "the leads of the accounts" if persona_code is None else "the leads"
            evidence = (f"{whose} it alone excluded when {truth} replied {pct(group.rate('replied'))} "
                        f"({group.counts['replied']:,}/{group.n:,}) vs {pct(kept.rate('replied'))} of those kept "
                        f"({kept.counts['replied']:,}/{kept.n:,}) and {pct(left_out.rate('replied'))} of the rest left out")
            proposals.append((Proposal("filter", icp_code, persona_code, name, None, None, evidence), also))
    return [attrs.evolve(p, evidence=p.evidence + (f"; also excluded alone by {', '.join(also)}" if also else ""))
            for p, also in proposals]


def _threshold(workspace, model) -> Proposal | None:
    """The audience threshold insights finds over all leads, and the audiences that use another."""
    report = outcome_rates.analyse(workspace.store.scores("lead"), workspace.store.outcomes(), "band")
    jump = report.overall.jump
    if not jump.reliable:
        return None
    others = [a.code for a in model.audiences if _persona_bounds(a.condition) - {jump.threshold}]
    evidence = jump.evidence + (f"; audiences with another persona_score bound: {', '.join(others)}" if others else "")
    return Proposal("threshold", None, None, None, None, jump.threshold, evidence)


def _persona_bounds(condition) -> set[int]:
    """The constants `persona_score >= N` tests in a condition."""
    if isinstance(condition, (ast.And, ast.Or)):
        return set().union(*(_persona_bounds(c) for c in condition.operands))
    if isinstance(condition, ast.Compare) and condition.field.name == "persona_score" and condition.op in (">=", ">"):
        value = condition.value.value
        return {int(value) + (condition.op == ">")} if value == int(value) else set()
    return set()


# ---- the suggested rules -----------------------------------------------------------------------

def _offset(starts: list[int], line: int, column: int) -> int:
    return starts[line - 1] + column - 1


def _comment(p: Proposal) -> str:
    short = p.evidence.split("; effect beside")[0].removeprefix("no measurable effect: ")
    if p.kind == "drop":
        return f"# suggested: drop (weight {_number(p.old)}), no measurable effect: {short}"
    if p.kind == "filter":
        return f"# suggested: review this filter: {p.evidence}"
    return f"# suggested {_number(p.old)} → {_number(p.new)}: {short}"


def suggested_text(published_text: str, model, proposals) -> str:
    """The published rules with the proposals written in, each with its evidence as a comment:
    a weight changed where the parameter is written (a template's parameter is overridden, or
    dropped, in the Persona made from it), a dropped parameter kept as a comment, a filter to
    review marked. Formatted (fmt.py), every comment kept."""
    source = Source("<published>", published_text)
    rule_file, _ = parse_source(source)
    starts = [0] + [m.end() for m in re.finditer("\n", published_text)]
    edits = []  # (start, end, replacement)
    inserts = defaultdict(list)  # persona instance node id -> (node, lines)
    for p in proposals:
        if p.kind not in ("raise", "lower", "drop", "filter"):
            continue
        icp = next(d for d in rule_file.declarations if isinstance(d, ast.Icp) and d.code == p.icp)
        holder, params = icp, icp.params
        if p.persona is not None:
            holder = next(x for x in icp.personas if x.code == p.persona)
            params = holder.params if isinstance(holder, ast.Persona) else \
                tuple(o for o in holder.overrides or () if isinstance(o, ast.Param))
        written = next((q for q in params if param_name(q) == p.parameter), None)
        if written is not None:
            span = written.span
            start, end = _offset(starts, span.line, span.column), _offset(starts, span.end_line, span.end_column)
            if p.kind == "drop":
                replacement = f"{_comment(p)}\n# {published_text[start:end]}"
            elif p.kind == "filter":
                replacement = f"{_comment(p)}\n{published_text[start:end]}"
            else:
                replacement = f"{_comment(p)}\n{print_param(attrs.evolve(written, weight=p.new))}"
            edits.append((start, end, replacement))
        elif p.kind != "filter":  # a template's parameter: overridden or dropped in this Persona
            param = next(q for q in model.icp(p.icp).persona(p.persona).params if q.name == p.parameter)
            line = f"drop {quote(p.parameter)}" if p.kind == "drop" else print_param(ast.Param(
                param.mode, p.new, p.parameter, param.unknown, param.condition))
            inserts[id(holder)].append((holder, f"{_comment(p)}\n{line}"))
    for entries in inserts.values():
        holder = entries[0][0]
        span = holder.span
        end = _offset(starts, span.end_line, span.end_column)
        lines = "\n".join(text for _, text in entries)
        if holder.overrides is None:
            edits.append((end, end, f" {{\n{lines}\n}}"))
        else:  # before the block's closing brace
            brace = published_text.rindex("}", 0, end)
            edits.append((brace, brace, f"\n{lines}\n"))
    text = published_text
    for start, end, replacement in sorted(edits, key=lambda e: (e[0], e[1]), reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def suggested_files(published_text: str, model, proposals) -> list[tuple[str, str]]:
    """The suggested rules as files (name, formatted text), checked: RuleError if they do not."""
    files = [(name, format_text(text, name)) for name, text in version_files(suggested_text(published_text, model, proposals))]
    ruleset, diagnostics = pipeline.check_sources([Source(name, text) for name, text in files])
    if ruleset is None:
        from .diagnostics import RuleError

        raise RuleError(diagnostics, {name: Source(name, text) for name, text in files})
    return files


def write_rules(folder: str | Path, files: list[tuple[str, str]]) -> None:
    """Write the rules folder whole or not at all: into a new folder beside it, then renamed.
    An existing folder must be empty (a suggestion never overwrites rules)."""
    import shutil
    import tempfile

    from .files import OutputError

    target = Path(folder)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise OutputError(f"{folder}: already exists and is not an empty folder; name a new folder for the suggested rules")
    parent = target.resolve().parent
    if not parent.is_dir():
        raise OutputError(f"{folder}: the folder {parent} does not exist")
    staging = Path(tempfile.mkdtemp(dir=parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        for name, text in files:
            path = staging / name  # a file's path within the rules folder, as its version names it
            if not path.resolve().is_relative_to(staging.resolve()):
                path = staging / Path(name).name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        staging.chmod(0o755)
        staging.replace(target)
    except OSError as exc:
        raise OutputError(f"{folder}: could not be written ({exc.strerror or exc})") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


# ---- the terminal report -----------------------------------------------------------------------


def print_suggestions(found: Suggestions, console=None) -> None:
    """The proposals with their evidence, then every assessed parameter's rates and effect."""
    from rich.table import Table

    from .render import _console

    console = console or _console()
    console.print(f"{found.leads:,} leads, {found.replied:,} replied; ruleset version {found.version}, "
                  f"as of {found.as_of.isoformat()}", markup=False)
    console.print(f"{len(found.proposals)} proposal{'s' if len(found.proposals) != 1 else ''}:", style="bold")
    for p in found.proposals:
        console.print(f"  - {p.text()}", markup=False, highlight=False)
    table = Table(title="Reply rate by parameter (qualified leads)", title_justify="left")
    for column in ("ICP / Persona", "parameter", "weight", "true", "false", "unknown", "lift", "estimate"):
        table.add_column(column, justify="left" if column in ("ICP / Persona", "parameter") else "right")
    for p in found.parameters:
        if p.mode != "score":
            continue
        cells = []
        for truth in TRUTHS:
            rate = p.rates[truth]
            cells.append(f"{pct(rate.rate('replied'))} ({rate.n:,})" if rate.n else "")
        lift = p.lift()
        suggested = "" if p.effect is None else str(_number(p.effect.weight))
        table.add_row(p.scope, p.name, str(_number(p.weight)), *cells, "" if lift is None else f"{lift:.2f}", suggested)
    console.print(table)
    for note in found.notes:
        console.print(f"note: {note}", markup=False)
