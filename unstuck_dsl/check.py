"""The checker: names, types, modes and weights of a parsed workspace, every problem at once.

Input is the AST of every rule file with its templates expanded (`expand.expand_templates`);
output is the checked `model.Ruleset` (regions inlined, parameters named, defaults applied) plus
the diagnostics. Codes are listed in `diagnostics.Code`.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from . import ast, model
from .countries import COUNTRY_CODES, country_hint, holds_countries
from .diagnostics import MAX_ERRORS, Code, Diagnostic, did_you_mean, look_alike_note
from .printer import param_name, print_file, print_value, quote
from .schema import (
    ENGAGEMENT_FIELDS,
    KEY_COLUMNS,
    RESERVED_FIELDS,
    TYPE_NAMES,
    Field,
    FieldType,
    Schema,
    audience_schema,
    constant,
)
from .text import look_alike_skeleton
from .titles import (
    CHANGER_NAMES,
    FUNCTION_NAMES,
    LADDER,
    SENIORITY_NAMES,
    ExtensionBuilder,
    TitleReader,
    phrase_words,
    reader_for,
    seniority_rank,
)

MAX_WEIGHT = Decimal(1_000_000)
MAX_WEIGHT_DECIMALS = 4
# Compile limits (E070, E071): what the kernels compile in bounded time and memory. A kernel's
# size grows with the fields it reads (one call per column); its tables with the conditions.
MAX_FIELDS_READ = 100  # distinct fields read by the ICPs, and by the Personas
MAX_CONDITIONS = 20_000  # comparisons and other tests in all ICPs and Personas together

_OPS_BY_TYPE = {
    "category": ("==", "!="),
    "text": ("==", "!="),
    "bool": ("==", "!="),
    "number": ("==", "!=", "<", "<=", ">", ">="),
    "int": ("==", "!=", "<", "<=", ">", ">="),
    "date": ("==", "!=", "<", "<=", ">", ">="),
    "ordinal": ("==", "!=", "<", "<=", ">", ">="),
    "set": (),
}

_EXAMPLE_VALUE = {
    "category": '"software"',
    "text": '"VP Sales"',
    "number": "2000",
    "int": "200",
    "bool": "true",
    "date": "2025-01-31",
}

_LITERAL_KIND = {
    ast.StringValue: "text in quotes",
    ast.NumberValue: "a number",
    ast.DateValue: "a date",
    ast.BoolValue: "true or false",
}


def check_workspace(workspace: ast.Workspace) -> tuple[model.Ruleset | None, list[Diagnostic]]:
    """Check a parsed workspace whose templates are expanded. The ruleset is None when there is
    any error."""
    checker = _Checker()
    try:
        ruleset = checker.run(workspace)
    except _TooManyErrors:
        return None, checker.diagnostics
    return (None if checker.errors else ruleset), checker.diagnostics


class _TooManyErrors(Exception):
    """Raised by the report of error number MAX_ERRORS: checking stops there."""


class _Checker:
    def __init__(self):
        self.diagnostics: list[Diagnostic] = []
        self.errors = 0
        self.fields: dict[str, Field] = {}
        self.invalid_fields: set[str] = set()  # declared with a type error, already reported
        self.regions: dict[str, tuple[str, ...]] = {}
        self.templates: dict[str, ast.PersonaTemplate] = {}
        self.template_params: dict[str, dict[str, model.Parameter]] = {}  # template → its checked parameters by name

    def report(self, code: Code, message: str, span, label: str = "", hint: str = "") -> None:
        diagnostic = Diagnostic(code, message, span, label, hint)
        self.diagnostics.append(diagnostic)
        self.errors += diagnostic.is_error
        if self.errors == MAX_ERRORS:
            raise _TooManyErrors

    def run(self, workspace: ast.Workspace) -> model.Ruleset:
        declarations = list(workspace.declarations())
        self.warn_look_alikes(declarations)
        for d in declarations:
            if isinstance(d, ast.FieldsBlock):
                self.declare_fields(d)
        for d in declarations:
            if isinstance(d, ast.RegionDecl):
                self.declare_region(d)
            elif isinstance(d, ast.PersonaTemplate):
                self.declare_template(d)
        for template in self.templates.values():
            # A template's own parameters are checked once, where they are written.
            checked = self.check_params(template.params, "lead", f"persona template `{template.code}`", warn_empty=False)
            self.template_params[template.code] = {p.name: p for p in checked}
        icps, seen = [], {}
        for d in declarations:
            if not isinstance(d, ast.Icp):
                continue
            if d.code in seen:
                self.report(Code.E020, f"ICP `{d.code}` is declared twice", d.span, "second declaration",
                            f"the first is at {seen[d.code]}; ICP codes must be unique in the workspace")
                continue
            seen[d.code] = d.span
            icps.append(self.check_icp(d))
        self.check_compile_limits(icps)
        schema = Schema(tuple(self.fields.values()))
        engagement = self.check_engagement([d for d in declarations if isinstance(d, ast.Engagement)])
        for name in ENGAGEMENT_FIELDS if engagement is not None else ():
            if name in self.fields:
                self.report(Code.E015, f"`{name}` is what engagement scoring writes and cannot be declared",
                            self.fields[name].span, "reserved name", "rename the field; audiences read engagement under this name")
        audiences = self.check_audiences([d for d in declarations if isinstance(d, ast.Audience)], schema, icps,
                                         engagement)
        # The rules as written, printed: layout and comments do not change the content hash.
        written = workspace.files if workspace.as_written is None else workspace.as_written
        source_text = "\n".join(print_file(f) for f in written)
        titles = self.check_titles([d for d in declarations if isinstance(d, ast.TitlesBlock)])
        return model.Ruleset(schema, tuple(icps), audiences, engagement, source_text=source_text, titles=titles)

    def check_titles(self, blocks) -> TitleReader:
        """The ruleset's title reader: the shipped vocabulary plus the `titles` blocks' entries."""
        builder, seen = ExtensionBuilder(), {}
        for entry in (e for block in blocks for e in block.entries):
            words = " ".join(phrase_words(entry.phrase.value))
            if not words:
                self.report(Code.E092, f"{quote(entry.phrase.value)} has no words to read", entry.phrase.span, "no words",
                            "a phrase is words as a title writes them, e.g. `\"revenue architect\": function \"RevOps\"`")
                continue
            if words in seen:
                self.report(Code.E093, f"{quote(entry.phrase.value)} is given twice", entry.phrase.span, "second entry",
                            f"the first is at {seen[words]}; give the phrase one entry with all its meanings")
                continue
            seen[words] = entry.phrase.span
            self.title_entry(builder, entry, words)
        return reader_for(builder.extension)

    def title_entry(self, builder: ExtensionBuilder, entry: ast.TitleEntry, words: str) -> None:
        by_kind: dict[str, ast.TitleMeaning] = {}
        for meaning in entry.meanings:
            if meaning.kind in by_kind:
                self.report(Code.E092, f"`{meaning.kind}` is given twice for {quote(entry.phrase.value)}", meaning.span,
                            "second", f"one `{meaning.kind}` per phrase")
                return
            by_kind[meaning.kind] = meaning
        alone = [kind for kind in ("means", "scope", "changes") if kind in by_kind]
        if alone and len(by_kind) > 1:
            other = next(m for m in entry.meanings if m.kind != alone[0])
            self.report(Code.E092, f"`{alone[0]}` stands alone: it does not go with `{other.kind}`", other.span, "",
                        "a phrase is a function and/or seniority, or an abbreviation (`means`), scope, or a "
                        "function-changing word (`changes`)")
            return
        function, seniority = by_kind.get("function"), by_kind.get("seniority")
        if function is not None and function.value.value not in FUNCTION_NAMES:
            self.report(Code.E090, f"{quote(function.value.value)} is not a function the title vocabulary knows",
                        function.value.span, "unknown function",
                        (did_you_mean(function.value.value, FUNCTION_NAMES) or "functions include " + ", ".join(
                            quote(n) for n in FUNCTION_NAMES[:16]) + ", ...") + " (docs/titles.md lists them all)")
            return
        if seniority is not None and seniority.value.value not in SENIORITY_NAMES:
            self.report(Code.E091, f"{quote(seniority.value.value)} is not a seniority the title vocabulary knows",
                        seniority.value.span, "unknown seniority",
                        did_you_mean(seniority.value.value, SENIORITY_NAMES) or
                        "the ladder is " + ", ".join(quote(n) for n in LADDER) + "; beside it Founder, Owner")
            return
        phrase = entry.phrase.value
        if function is not None and seniority is not None:
            if seniority_rank(seniority.value.value) is None:
                self.report(Code.E092, f"{quote(seniority.value.value)} is beside the ladder and names no function's rung",
                            seniority.value.span, "", f"give {quote(phrase)} its rung, e.g. `seniority \"C-suite\"`, "
                            f"and a separate entry `seniority {quote(seniority.value.value)}` for the founding words")
                return
            builder.title(phrase, function.value.value, seniority.value.value)
        elif function is not None:
            builder.function(phrase, function.value.value)
        elif seniority is not None:
            builder.seniority(phrase, seniority.value.value)
        elif "scope" in by_kind:
            builder.scope(phrase)
        else:
            meaning = by_kind["means"] if "means" in by_kind else by_kind["changes"]
            if " " in words:
                self.report(Code.E092, f"`{meaning.kind}` is for one word; {quote(phrase)} is {len(words.split())}",
                            entry.phrase.span, "several words",
                            "an abbreviation or a function-changing word is one word as titles write it (`ra`, `ops`)")
            elif meaning.kind == "means" and not phrase_words(meaning.value.value):
                self.report(Code.E092, f"{quote(phrase)} means no words", meaning.value.span, "no words",
                            'write what the abbreviation stands for, e.g. `"ra": means "revenue architect"`')
            elif meaning.kind == "means":
                builder.abbreviation(phrase, meaning.value.value)
            elif meaning.value.value not in CHANGER_NAMES:
                self.report(Code.E092, f"{quote(meaning.value.value)} is not a name function-changing words give",
                            meaning.value.span, "unknown name",
                            did_you_mean(meaning.value.value, CHANGER_NAMES) or
                            "the names are " + ", ".join(quote(n) for n in CHANGER_NAMES))
            else:
                builder.changer(phrase, meaning.value.value)

    def check_compile_limits(self, icps: list[model.Icp]) -> None:
        """E070 / E071, reported at the first condition beyond the limit (Personas from a
        template count once per use, as they are compiled)."""
        personas = [p for icp in icps for p in icp.personas]
        for kind, rules in (("ICPs", icps), ("Personas", personas)):
            read: set[str] = set()
            for predicate in _rule_predicates(rules):
                read.add(predicate.field.name)
                if len(read) > MAX_FIELDS_READ:
                    self.report(Code.E070, f"the {kind} read more than {MAX_FIELDS_READ} fields", predicate.field.span,
                                f"field {len(read)}", f"at most {MAX_FIELDS_READ} distinct fields can be read by the "
                                f"{kind}; split the workspace into several")
                    break
        for count, predicate in enumerate(_rule_predicates([*icps, *personas]), 1):
            if count > MAX_CONDITIONS:
                self.report(Code.E071, f"the rules hold more than {MAX_CONDITIONS:,} conditions", predicate.span,
                            f"condition {count:,}", "merge comparisons into lists (`employees in {...}`) or "
                            "split the workspace into several")
                return

    def check_engagement(self, blocks) -> model.Engagement | None:
        if not blocks:
            return None
        for extra in blocks[1:]:
            self.report(Code.E060, "a workspace has one engagement block", extra.span, "second block",
                        f"merge it into the one at {blocks[0].span}")
        block, signals, seen = blocks[0], [], set()
        for signal in block.signals:
            if signal.code in seen:
                self.report(Code.E061, f"signal `{signal.code}` is declared twice", signal.span, "", "signal types are unique")
                continue
            seen.add(signal.code)
            days = {"day": 1, "week": 7}.get(signal.unit)
            if signal.weight <= 0 or signal.amount <= 0 or days is None:
                what = "weight" if signal.weight <= 0 else ("unit" if days is None else signal.decay.replace("_", "-"))
                self.report(Code.E062, f"signal `{signal.code}` has a bad {what}", signal.span, "",
                            "weights and spans are above zero; spans are in days or weeks, "
                            "e.g. `signal email_reply weight 10 half_life 14 days`")
                continue
            signals.append(model.Signal(signal.code, signal.weight, signal.decay, signal.amount * days))
        names = [level.name for level in block.stages]
        bounds = [level.below for level in block.stages]
        if not block.stages:
            self.report(Code.E063, "the engagement block needs its stages", block.span, "",
                        "e.g. `stage cool below 20, warm below 50, in_market below 80, hot`")
            return None
        if len(set(names)) != len(names):
            self.report(Code.E064, "a stage is named twice", block.stages[0].span, "", "stage names are unique")
            return None
        ordered = all(b is not None for b in bounds[:-1]) and bounds[-1] is None and all(
            low < high for low, high in zip(bounds[:-2], bounds[1:-1]))
        if not ordered:
            self.report(Code.E063, "stages go from the lowest up, each `below` a higher threshold, the last open",
                        block.stages[0].span, "", "e.g. `stage cool below 20, warm below 50, in_market below 80, hot`")
            return None
        return model.Engagement(tuple(signals), tuple(names), tuple(bounds[:-1]))

    def check_audiences(self, declared, schema: Schema, icps, engagement) -> tuple[model.Audience, ...]:
        fields = {f.name: f for f in audience_schema(schema, engagement).fields}
        codes = {"icp_code": {i.code for i in icps},
                 "persona_code": {p.code for i in icps for p in i.personas} | {model.NO_PERSONA_FIT}}
        out, seen = [], {}
        for audience in declared:
            if audience.code in seen:
                self.report(Code.E050, f"audience `{audience.code}` is declared twice", audience.span,
                            "second declaration", f"the first is at {seen[audience.code]}; audience names must be unique")
                continue
            seen[audience.code] = audience.span
            checker = _ConditionChecker(self, fields, self.invalid_fields, self.regions, "any", f"audience `{audience.code}`")
            condition = checker.check(audience.condition)
            if condition is None:
                continue
            for predicate in ast.predicates(condition):
                known = codes.get(predicate.field.name)
                values = getattr(predicate, "items", None) or ([predicate.value] if isinstance(predicate, ast.Compare) else [])
                for value in values if known is not None else ():
                    if isinstance(value, ast.StringValue) and value.value not in known:
                        what = "ICP" if predicate.field.name == "icp_code" else "Persona"
                        self.report(Code.E051, f"no {what} is called \"{value.value}\"", value.span, f"unknown {what} code",
                                    did_you_mean(value.value, known) or f"{what} codes are " + ", ".join(sorted(known)))
            out.append(model.Audience(audience.code, audience.display_name or audience.code, condition,
                                      span=audience.span))
        return tuple(out)

    # ---- declarations ---------------------------------------------------------------------------

    def declare_fields(self, block: ast.FieldsBlock) -> None:
        for decl in block.fields:
            if decl.name in KEY_COLUMNS:
                self.report(Code.E015, f"`{decl.name}` is a key column and cannot be declared", decl.span,
                            "always read", "remove this line: account_id and lead_id are read from every table")
                continue
            if decl.name in RESERVED_FIELDS:
                self.report(Code.E015, f"`{decl.name}` is what scoring writes and cannot be declared", decl.span,
                            "reserved name", "rename the field; audiences read scores under this name")
                continue
            if decl.name in self.fields:
                first = self.fields[decl.name]
                self.report(Code.E010, f"field `{decl.name}` is declared twice", decl.span, "second declaration",
                            f"the first is at {first.span} ({first.kind} field); field names are unique across accounts and leads")
                continue
            field_type = self.field_type(decl.type)
            if field_type is None:
                self.invalid_fields.add(decl.name)
            else:
                self.fields[decl.name] = Field(decl.name, block.kind, field_type, span=decl.span)

    def field_type(self, ref: ast.TypeRef) -> FieldType | None:
        if ref.name not in TYPE_NAMES:
            hint = did_you_mean(ref.name, TYPE_NAMES) or "types are " + ", ".join(TYPE_NAMES)
            self.report(Code.E011, f"unknown type `{ref.name}`", ref.span, "not a type", hint)
            return None
        if ref.open and ref.name != "set":
            self.report(Code.E016, f"only a set can be open, not {_a(ref.name)}", ref.span, "",
                        "write `open set` for a set where a missing value means unknown")
            return None
        if ref.name == "ordinal":
            if not ref.levels:
                self.report(Code.E017, "an ordinal needs its levels, lowest first", ref.span, "",
                            'write e.g. ordinal("IC", "Manager", "Director", "VP", "C-suite")')
                return None
            names = [level.value for level in ref.levels]
            listed = set()
            for level in ref.levels:
                if level.value in listed:
                    self.report(Code.E018, f"ordinal level \"{level.value}\" is listed twice", level.span, "repeated level",
                                "each level appears once, lowest first")
                    return None
                listed.add(level.value)
            return FieldType("ordinal", levels=tuple(names))
        if ref.levels is not None:
            self.report(Code.E017, f"only an ordinal has levels, not {_a(ref.name)}", ref.span, "",
                        f"write `{ref.name}` alone, or `ordinal(...)` for ordered levels")
            return None
        return FieldType(ref.name, open=ref.open)

    def declare_region(self, region: ast.RegionDecl) -> None:
        if region.code in self.regions:
            self.report(Code.E026, f"region `{region.code}` is declared twice", region.span, "second declaration",
                        "region names must be unique")
            return
        if region.code.upper() in COUNTRY_CODES and len(region.code) == 2:
            self.report(Code.E026, f"region `{region.code}` has the name of a country code", region.span, "",
                        "give the region a longer name, e.g. `north_america`")
            return
        codes = []
        for country in region.countries:
            if country.code not in COUNTRY_CODES:
                self.report(Code.E036, f"`{country.code}` is not a country code", country.span, "unknown country code",
                            country_hint(country.code))
            elif country.code not in codes:
                codes.append(country.code)
        self.regions[region.code] = tuple(codes)

    def declare_template(self, template: ast.PersonaTemplate) -> None:
        if template.code in self.templates:
            self.report(Code.E025, f"persona template `{template.code}` is declared twice", template.span,
                        "second declaration", "template names must be unique")
            return
        self.templates[template.code] = template

    def warn_look_alikes(self, declarations) -> None:
        """W002: two names spelled differently that read the same (a Cyrillic `ѕ` for an `s`,
        fullwidth letters) make rules that look right and mean something else."""
        first_of: dict[str, tuple[str, str, ast.Span]] = {}  # skeleton → its first declaration
        warned = set()
        for what, name, span in _declared_names(declarations):
            first_what, first, first_span = first_of.setdefault(look_alike_skeleton(name), (what, name, span))
            if first == name or name in warned:
                continue
            warned.add(name)
            self.report(Code.W002, f"{what} `{name}` looks the same as {first_what} `{first}` but is another name", span,
                        "", _look_alike_hint(name, first, first_span))

    # ---- ICPs and Personas ------------------------------------------------------------------------

    def check_icp(self, icp: ast.Icp) -> model.Icp:
        params = self.check_params(icp.params, "account", f"ICP `{icp.code}`", icp.span)
        personas, seen = [], {}
        for persona in icp.personas:
            if persona.code == model.NO_PERSONA_FIT:
                self.report(Code.E027, f"`{model.NO_PERSONA_FIT}` is reserved", persona.span, "reserved code",
                            "it is what a lead gets when no Persona fits; choose another code")
                continue
            if persona.code in seen:
                self.report(Code.E021, f"Persona `{persona.code}` is declared twice in ICP `{icp.code}`", persona.span,
                            "second declaration", "Persona codes must be unique within their ICP")
                continue
            seen[persona.code] = persona.span
            if isinstance(persona, ast.PersonaInstance):
                continue  # its template is unknown: expand_templates reported it
            personas.append(self.check_persona(persona, icp.code))
        return model.Icp(icp.code, icp.display_name or icp.code, icp.status or "live", params, tuple(personas),
                         span=icp.span)

    def check_persona(self, persona: ast.Persona, icp_code: str) -> model.Persona:
        where = f"Persona `{icp_code}.{persona.code}`"
        params = self.check_params(persona.params, "lead", where, persona.span)
        return model.Persona(persona.code, persona.display_name or persona.code, persona.status or "live",
                             params, span=persona.span)

    def check_params(self, params, kind: str, where: str, owner_span=None,
                     warn_empty: bool = True) -> tuple[model.Parameter, ...]:
        """Check the parameters of one ICP, Persona or template. A parameter a Persona inherits
        from a template was checked with the template: it is taken as checked there."""
        checked, seen, first_of = [], {}, {}
        for param in params:
            if isinstance(param, ast.Inherited):
                name = param_name(param.param)
                seen[name] = param.span
                first_of.setdefault(look_alike_skeleton(name), name)
                if name in self.template_params[param.template]:
                    checked.append(self.template_params[param.template][name])
                continue
            name = param_name(param)
            if name in seen:
                self.report(Code.E022, f"two parameters of {where} are called \"{name}\"", param.span,
                            "second parameter with this name", "give each parameter its own name")
                continue
            seen[name] = param.span
            # An override whose name only looks like the template's adds a parameter instead.
            first = first_of.setdefault(look_alike_skeleton(name), name)
            if first != name:
                self.report(Code.W002, f"parameter \"{name}\" of {where} looks the same as \"{first}\" but is another name",
                            param.span, "", _look_alike_hint(name, first, seen[first]))
            ok = _check_mode(self, param)
            condition = _ConditionChecker(self, self.fields, self.invalid_fields, self.regions, kind, where).check(param.condition)
            if ok and condition is not None:
                checked.append(model.Parameter(name, param.mode, param.weight, param.unknown, condition, span=param.span))
        modes = [p.param.mode if isinstance(p, ast.Inherited) else p.mode for p in params]
        if warn_empty and ast.Mode.SCORE not in modes and owner_span is not None:
            self.report(Code.W001, f"{where} has no score parameters", owner_span, "",
                        "every record that qualifies will score 100; add `score WEIGHT: condition` parameters")
        return tuple(checked)


def _check_mode(checker: _Checker, param: ast.Param) -> bool:
    ok = True
    if param.mode == "score":
        if param.weight is None:
            checker.report(Code.E043, "a score parameter needs a weight", param.span, "no weight",
                        'write the weight after `score`, e.g. `score 5 "Uses Snowflake": tech_stack has "Snowflake"`')
            ok = False
        elif param.weight <= 0:
            checker.report(Code.E040, f"weight {param.weight} is not above zero", param.span, "",
                        "a score weight is a positive number; to penalize a trait, use `exclude` or score its absence")
            ok = False
        elif param.weight > MAX_WEIGHT or -param.weight.as_tuple().exponent > MAX_WEIGHT_DECIMALS:
            checker.report(Code.E040, f"weight {param.weight} is out of range", param.span, "",
                        f"weights go up to {MAX_WEIGHT} with at most {MAX_WEIGHT_DECIMALS} decimals")
            ok = False
    elif param.weight is not None:
        checker.report(Code.E042, f"{_a(param.mode)} has no weight", param.span, "",
                    f"only score parameters carry a weight; write `{param.mode} \"Name\": condition`")
        ok = False
    allowed = {"filter": "passes", "exclude": "excludes"}.get(param.mode)
    if param.unknown is not None and param.unknown != allowed:
        hint = (f"{_a(param.mode)} may say `unknown {allowed}`" if allowed
                else "a score parameter earns nothing on unknown; there is nothing to opt into")
        checker.report(Code.E041, f"`unknown {param.unknown}` does not apply to {_a(param.mode)}", param.span, "", hint)
        ok = False
    return ok


@attrs.define
class _ConditionChecker:
    """Checks one condition against the schema; returns it with regions inlined, or None."""

    checker: _Checker  # where problems are reported
    fields: dict[str, Field]
    invalid_fields: set[str]
    regions: dict[str, tuple[str, ...]]
    kind: str  # the record kind this parameter may read
    where: str
    ok: bool = True

    def report(self, *args) -> None:
        self.ok = False
        self.checker.report(*args)

    def check(self, condition):
        result = self.visit(condition)
        return result if self.ok else None

    def visit(self, c):
        if isinstance(c, ast.Not):
            return attrs.evolve(c, operand=self.visit(c.operand))
        if isinstance(c, (ast.And, ast.Or)):
            return attrs.evolve(c, operands=tuple(self.visit(o) for o in c.operands))
        field = self.field(c.field)
        if field is None:
            return c
        method = getattr(self, "visit_" + type(c).__name__)
        return method(c, field.type)

    def field(self, ref: ast.FieldRef) -> Field | None:
        field = self.fields.get(ref.name)
        if field is None and ref.name in self.invalid_fields:
            self.ok = False  # its declaration is reported; "unknown field" here would mislead
            return None
        if field is None:
            candidates = [f.name for f in self.fields.values() if self.kind in (f.kind, "any")]
            hint = did_you_mean(ref.name, candidates)
            if not hint and ref.name in self.regions:
                hint = f"`{ref.name}` is a region; write e.g. `country in {ref.name}`"
            if ref.name in KEY_COLUMNS:  # declaring it would be E015: say what it is instead
                hint = (f"`{ref.name}` is the record's id, which conditions do not read; to target particular "
                        "records, declare a field for what they have in common")
            kind = "" if self.kind == "any" else f" {self.kind}"
            self.report(Code.E012, f"unknown field `{ref.name}`", ref.span, f"not a declared{kind} field",
                        hint or f"declare it in `{'account' if self.kind == 'any' else self.kind} fields {{ ... }}`")
            return None
        if field.kind != self.kind and self.kind != "any":
            if self.kind == "lead":
                self.report(Code.E013, f"a Persona cannot read the account field `{ref.name}`", ref.span,
                            "an account field", "Persona parameters read lead fields; put account conditions on the ICP")
            else:
                self.report(Code.E014, f"an ICP cannot read the lead field `{ref.name}`", ref.span,
                            "a lead field", "ICP parameters read account fields; put lead conditions on a Persona")
            return None
        return field

    # -- values
    def value(self, ref: ast.FieldRef, field_type: FieldType, value: ast.Value) -> ast.Value | None:
        """Check one literal against the field's type."""
        if isinstance(value, ast.NameValue):
            if value.name in self.regions:
                self.report(Code.E035, f"region `{value.name}` can only be used with `in`", value.span, "",
                            f"write `{ref.name} in {value.name}`")
            else:
                self.report(Code.E031, f"`{value.name}` is not a value", value.span, "a bare name",
                            f'put text in double quotes: "{value.name}"')
            return None
        expected = {"category": ast.StringValue, "text": ast.StringValue, "ordinal": ast.StringValue,
                    "set": ast.StringValue, "number": ast.NumberValue, "int": ast.NumberValue,
                    "date": ast.DateValue, "bool": ast.BoolValue}[field_type.name]
        if not isinstance(value, expected):
            example = _EXAMPLE_VALUE.get(field_type.name, '"Series B"')
            if field_type.name == "ordinal":
                example = f'"{field_type.levels[-1]}"'
            self.report(Code.E031, f"`{ref.name}` is {_a(field_type.name)} field, but this is {_LITERAL_KIND[type(value)]}",
                        value.span, f"not {_a(field_type.name)}", f"compare it with {_a(field_type.name)}, e.g. {example}")
            return None
        if field_type.name == "ordinal" and value.value not in field_type.levels:
            hint = did_you_mean(value.value, field_type.levels) or "levels are " + ", ".join(f'"{lv}"' for lv in field_type.levels)
            self.report(Code.E032, f"\"{value.value}\" is not a level of `{ref.name}`", value.span, "undeclared level", hint)
            return None
        if holds_countries(ref.name) and field_type.name in ("category", "text", "set") \
                and not _is_country_code(value.value, field_type):
            self.report(Code.E036, f"\"{value.value}\" is not a country code", value.span,
                        f"never matches: `{ref.name}` holds country codes", country_hint(value.value))
            return None
        return value

    def items(self, ref: ast.FieldRef, field_type: FieldType, items) -> tuple[ast.Value, ...]:
        """Check a `{...}` list, inlining regions as their country codes."""
        out = []
        for item in items:
            if isinstance(item, ast.NameValue):
                countries = self.regions.get(item.name)
                if countries is None:
                    hint = did_you_mean(item.name, self.regions) or f'to mean the text, write "{item.name}"'
                    self.report(Code.E035, f"unknown region `{item.name}`", item.span, "not a declared region", hint)
                    continue
                if field_type.name not in ("category", "text", "set"):
                    self.report(Code.E030, f"a region holds country codes; `{ref.name}` is {_a(field_type.name)} field",
                                item.span, "", "use regions with a category field such as `country`")
                    continue
                out.extend(ast.StringValue(code, span=item.span) for code in countries)
                continue
            checked = self.value(ref, field_type, item)
            if checked is not None:
                out.append(checked)
        return tuple(out)

    def wrong_operator(self, c, field_type: FieldType, what: str, hint: str) -> None:
        self.report(Code.E030, f"{what} does not apply to `{c.field.name}`, {_a(field_type.describe())} field", c.span,
                    "", hint)

    # -- predicates
    def visit_BoolTest(self, c: ast.BoolTest, t: FieldType):
        if t.name != "bool":
            self.wrong_operator(c, t, "a bare field as a condition", f"compare it, e.g. `{c.field.name} == {_EXAMPLE_VALUE.get(t.name, '...')}`"
                                if t.name != "set" else f'use `{c.field.name} has "..."`')
        return c

    def visit_Compare(self, c: ast.Compare, t: FieldType):
        if c.op not in _OPS_BY_TYPE[t.name]:
            if t.name == "set":
                hint = f'use `{c.field.name} has "..."`, `has any {{...}}` or `has all {{...}}`'
            else:
                hint = f"{_a(t.name)} field is compared with `==`, `!=`, `in {{...}}`" + (
                    ", `like` or `resembles`" if t.is_string else "")
            self.wrong_operator(c, t, f"`{c.op}`", hint)
            return c
        value = self.value(c.field, t, c.value)
        return c if value is None else attrs.evolve(c, value=value)

    def visit_In(self, c: ast.In, t: FieldType):
        if t.name == "set":
            self.wrong_operator(c, t, "`in`", f"use `{c.field.name} has any {{...}}`")
            return c
        return attrs.evolve(c, items=self.items(c.field, t, c.items))

    def visit_Between(self, c: ast.Between, t: FieldType):
        if not t.is_ordered:
            self.wrong_operator(c, t, "`between`", "`between` works on numbers, dates and ordinals")
            return c
        low, high = self.value(c.field, t, c.low), self.value(c.field, t, c.high)
        if low is None or high is None:
            return c
        if constant(t, low) > constant(t, high):
            self.report(Code.E034, f"empty range: {_show(low)} is above {_show(high)}", c.span, "nothing is in this range",
                        f"write the lower bound first: `{c.field.name} between {_show(high)} and {_show(low)}`")
        return attrs.evolve(c, low=low, high=high)

    def visit_Has(self, c: ast.Has, t: FieldType):
        if t.name != "set":
            op = "`has`" if c.quantifier == "one" else f"`has {c.quantifier}`"
            self.report(Code.E033, f"{op} needs a set field; `{c.field.name}` is {_a(t.describe())} field", c.span, "",
                        f"use `{c.field.name} in {{...}}` to test one value against a list" if t.name != "bool" else
                        f"use `{c.field.name}` or `not {c.field.name}`")
            return c
        items = self.items(c.field, t, c.items)
        if c.quantifier == "one" and len(items) != 1:  # a region after plain `has`
            return attrs.evolve(c, quantifier="any", items=items)
        return attrs.evolve(c, items=items)

    def visit_Like(self, c: ast.Like, t: FieldType):
        if not t.is_string:
            self.wrong_operator(c, t, "`like`", "wildcards (`*`, `?`) match text and category fields")
        return c

    def visit_Resembles(self, c: ast.Resembles, t: FieldType):
        if not t.is_string:
            self.wrong_operator(c, t, "`resembles`", "semantic matching reads text fields such as titles")
        if c.threshold is not None and not (0 < c.threshold <= 1):
            self.report(Code.E037, f"threshold {c.threshold} is not between 0 and 1", c.span, "",
                        "write e.g. `at 0.8`; 1 accepts only titles that read as the same role (docs/titles.md)")
        return c

    def visit_RoleTest(self, c: ast.RoleTest, t: FieldType):
        if not t.is_string:
            self.wrong_operator(c, t, f"`{c.part}`", "a role is read from a title: use a text field such as `title`")
            return c
        if c.part == "function" and c.op not in ("==", "!=", "in", "not in"):
            self.wrong_operator(c, t, f"`function {c.op}`", f'functions are not ordered: write `{c.field.name} function == "Sales"` '
                                f'or `{c.field.name} function in {{"Sales", "RevOps"}}`')
            return c
        known = FUNCTION_NAMES if c.part == "function" else tuple(SENIORITY_NAMES)
        for item in c.items:
            if not isinstance(item, ast.StringValue):
                what = "a region" if isinstance(item, ast.NameValue) and item.name in self.regions else \
                    _LITERAL_KIND.get(type(item), "a bare name")
                self.report(Code.E031, f"a {c.part} is named in double quotes; this is {what}", item.span,
                            "not a name in quotes", f'e.g. `{c.field.name} {c.part} == "{known[1]}"`')
            elif item.value not in known:
                listing = ", ".join(f'"{n}"' for n in (FUNCTION_NAMES[:16] if c.part == "function" else LADDER))
                hint = did_you_mean(item.value, known) or (
                    f"functions include {listing}, ..." if c.part == "function" else f"the ladder is {listing}; beside it Founder, Owner")
                self.report(Code.E038, f'"{item.value}" is not a {c.part} the title vocabulary knows', item.span,
                            f"unknown {c.part}", hint + " (docs/titles.md lists them all)")
            elif c.part == "seniority" and c.op not in ("==", "!=", "in", "not in") and seniority_rank(item.value) is None:
                self.report(Code.E038, f'"{item.value}" is beside the seniority ladder, not on it', item.span,
                            "not ordered", f'write `{c.field.name} seniority == "{item.value}"`')
        return c

    def visit_Within(self, c: ast.Within, t: FieldType):
        if t.name != "date":
            self.wrong_operator(c, t, "`within`", "`within` counts back from the as-of date and needs a date field")
        return c

    def visit_DateBound(self, c: ast.DateBound, t: FieldType):
        if t.name != "date":
            self.wrong_operator(c, t, f"`{c.side}`", f"`{c.side}` needs a date field; for numbers use `<` or `>`")
        return c

    def visit_IsKnown(self, c: ast.IsKnown, t: FieldType):
        return c


def _is_country_code(value: str, field_type: FieldType) -> bool:
    """Category and set values match exactly; a text field compares case-insensitively."""
    return (value.strip().upper() if field_type.name == "text" else value) in COUNTRY_CODES


def _rule_predicates(rules):
    for rule in rules:
        for param in rule.params:
            yield from ast.predicates(param.condition)


def _show(value: ast.Value) -> str:
    return print_value(value)


def _a(word: str) -> str:
    """The word with its indefinite article: "an int", "a date", "an exclude"."""
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _look_alike_hint(name: str, first: str, first_span) -> str:
    return f"{look_alike_note(name, first)}; `{first}` is at {first_span}. Retype one in the other's letters, or rename it"


def _declared_names(declarations):
    """Every name the workspace declares, as (what it names, the name, where)."""
    for d in declarations:
        if isinstance(d, ast.FieldsBlock):
            yield from ((f"{d.kind} field", f.name, f.span) for f in d.fields)
        elif isinstance(d, ast.RegionDecl):
            yield "region", d.code, d.span
        elif isinstance(d, ast.PersonaTemplate):
            yield "persona template", d.code, d.span
        elif isinstance(d, ast.Icp):
            yield "ICP", d.code, d.span
            yield from (("Persona", p.code, p.span) for p in d.personas)
        elif isinstance(d, ast.Audience):
            yield "audience", d.code, d.span
        elif isinstance(d, ast.Engagement):
            yield from (("signal", s.code, s.span) for s in d.signals)
            yield from (("stage", s.name, s.span) for s in d.stages)
