"""`unstuck lsp`: a language server for rule files (pygls, JSON-RPC over stdio).

What an editor gets, all from the project's own passes (no second parser):
- diagnostics as you type: `pipeline.check_sources` with lint, the codes, places and messages
  of `unstuck check`, over every `.ust` file of the workspace folder, open documents read from
  the editor (unsaved text) and the rest from disk; a hint comes as the diagnostic's related
  information;
- hover: a field's type and where it is declared; a parameter's mode, weight and share of the
  points its ICP, Persona or template can earn;
- go to definition, find references and rename for fields, regions and persona templates,
  definition and references for ICPs (named in audiences and tests);
- completion: keywords, field names, declared regions and templates, an ordinal's levels and,
  from an optional sample file (`unstuck lsp --sample accounts.csv`), a category's values;
- formatting: `fmt`.

`Index` is the analysis (plain Python, tested directly and through the server); `serve` wires
it to pygls. Places inside the server are 0-based lines and UTF-16 columns, as LSP counts;
spans from the parser are 1-based code points, converted at the edge (`_position`).
"""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import attrs
from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from . import ast, pipeline
from .diagnostics import Diagnostic
from .fmt import format_source
from .model import NO_PERSONA_FIT, possible_weight
from .parser import parse_source
from .printer import param_name, quote
from .schema import Field, FieldType, Schema
from .source import RULE_SUFFIX, Source, SourceError, read_sources

KEYWORDS = ("account", "lead", "fields", "region", "icp", "persona", "template", "from", "drop", "audience",
            "engagement", "signal", "stage", "below", "weight", "half_life", "window", "live", "draft", "score",
            "filter", "exclude", "unknown", "passes", "excludes", "and", "or", "not", "in", "between", "has",
            "any", "all", "like", "resembles", "at", "within", "next", "before", "after", "ago", "is", "known",
            "true", "false", "open", "category", "text", "number", "int", "bool", "date", "ordinal", "set",
            "test", "as_of", "expect", "no", "titles", "means", "scope", "changes")
# Symbols an author names and uses elsewhere: what go-to-definition, references and rename follow.
FIELD, REGION, TEMPLATE, ICP = "field", "region", "template", "icp"
RENAMEABLE = (FIELD, REGION, TEMPLATE)
_NAME = re.compile(r"[^\W\d]\w*")
MAX_SAMPLE_VALUES = 200  # per category field


@attrs.frozen(slots=True)
class Occurrence:
    """A name in a file: 1-based line, code-point columns [column, end_column)."""

    kind: str  # FIELD, REGION, TEMPLATE, ICP
    name: str
    file: str
    line: int
    column: int
    end_column: int
    definition: bool = False

    def contains(self, file: str, line: int, column: int) -> bool:
        return file == self.file and line == self.line and self.column <= column <= self.end_column


@attrs.frozen(slots=True)
class ParamHover:
    """A parameter and the ICP, Persona or template it belongs to."""

    param: ast.Param
    owner: str  # "ICP mm_saas", "Persona mm_saas.founder", "persona template founder"
    possible: object  # Decimal: the points its owner can earn; None when not known (rules with errors)


class Index:
    """One analysis of a workspace folder: the sources (open documents over the files on disk),
    their diagnostics, and every occurrence of a name."""

    def __init__(self, root: str | Path, open_documents: dict[str, str], sample: dict[str, list[str]] | None = None):
        self.root = Path(root)
        self.sources = _sources(self.root, open_documents)
        self.ruleset, self.diagnostics = pipeline.check_sources(self.sources, lint=True)
        self.sample = sample or {}
        self.files: dict[str, ast.RuleFile] = {}
        for source in self.sources:
            parsed, _ = parse_source(source)
            if parsed is not None:
                self.files[source.name] = parsed
        # The fields as declared in the files that parse: a document being typed seldom checks.
        self.schema = self.ruleset.schema if self.ruleset is not None else Schema(tuple(
            Field(f.name, block.kind, FieldType(f.type.name, f.type.open, tuple(v.value for v in f.type.levels or ())))
            for rule_file in self.files.values() for block in rule_file.declarations
            if isinstance(block, ast.FieldsBlock) for f in block.fields))
        self.text = {s.name: s.text for s in self.sources}
        self.occurrences: list[Occurrence] = []
        self.params: list[tuple[str, ParamHover]] = []  # (file, the parameter)
        for name, rule_file in self.files.items():
            _Collector(self, name, self.text[name]).walk(rule_file)

    # -- questions an editor asks
    def diagnostics_by_file(self) -> dict[str, list[Diagnostic]]:
        out: dict[str, list[Diagnostic]] = {s.name: [] for s in self.sources}
        for d in self.diagnostics:
            if d.span is not None:
                out.setdefault(d.span.file, []).append(d)
        return out

    def at(self, file: str, line: int, column: int) -> Occurrence | None:
        return next((o for o in self.occurrences if o.contains(file, line, column)), None)

    def definition(self, occurrence: Occurrence) -> Occurrence | None:
        return next((o for o in self.occurrences if o.definition and (o.kind, o.name) == (occurrence.kind, occurrence.name)),
                    None)

    def references(self, occurrence: Occurrence, include_declaration: bool = True) -> list[Occurrence]:
        return [o for o in self.occurrences if (o.kind, o.name) == (occurrence.kind, occurrence.name)
                and (include_declaration or not o.definition)]

    def hover(self, file: str, line: int, column: int) -> str | None:
        found = self.at(file, line, column)
        if found is not None and found.kind == FIELD:
            return self.field_hover(found.name)
        if found is not None:
            where = self.definition(found)
            kind = {REGION: "region", TEMPLATE: "persona template", ICP: "ICP"}[found.kind]
            return f"{kind} `{found.name}`" + (f", declared at {_place(where, self.root)}" if where else " (not declared)")
        param = self.param_at(file, line, column)
        return None if param is None else _param_hover(param)

    def field_hover(self, name: str) -> str:
        field = self.schema.get(name)
        declared = next((o for o in self.occurrences if o.definition and (o.kind, o.name) == (FIELD, name)), None)
        if field is None:
            return f"field `{name}`" + (f", declared at {_place(declared, self.root)}" if declared else ": not declared")
        text = f"{field.kind} field `{name}`: {field.type.describe()}"
        return text + (f"\n\ndeclared at {_place(declared, self.root)}" if declared else "")

    def param_at(self, file: str, line: int, column: int) -> ParamHover | None:
        """The parameter whose text holds the place (the innermost, as parameters do not nest)."""
        for name, hover in self.params:
            span = hover.param.span
            if name == file and (span.line, span.column) <= (line, column) <= (span.end_line, span.end_column):
                return hover
        return None

    def by_file(self, occurrence: Occurrence) -> dict[str, list[Occurrence]]:
        """Every occurrence of the name (its declaration too), by file: what a rename edits."""
        by_file: dict[str, list[Occurrence]] = {}
        for o in self.references(occurrence):
            by_file.setdefault(o.file, []).append(o)
        return by_file

    def completions(self, file: str, line: int, column: int) -> list[tuple[str, str, str]]:
        """(label, kind, detail) for the place: a field's values after a comparison or `in {`,
        a template after `from`, else keywords, fields and regions."""
        before = self.text.get(file, "").split("\n")[line - 1][:column - 1] if file in self.text else ""
        value_of = re.search(r"([^\W\d]\w*)\s*(?:==|!=|<=|>=|<|>|in\s*\{[^}]*|between|has(?:\s+any|\s+all)?\s*\{?[^}]*)\s*\"?[^\"]*$",
                             before)
        if re.search(r"\bfrom\s+\w*$", before):
            return [(o.name, "template", "persona template") for o in self.occurrences if o.definition and o.kind == TEMPLATE]
        named = re.search(r"\bexpect\s+(?:not\s+)?(icp|persona|audience)\s+\w*$", before)
        if named:
            return [(code, "value", named.group(1)) for code in self.codes(named.group(1))]
        if value_of and self.schema.get(value_of.group(1)) is not None:
            field = self.schema.get(value_of.group(1))
            values = [(quote(level), "value", f"level of {field.name}") for level in field.type.levels]
            values += [(quote(v), "value", f"a value of {field.name} in the sample") for v in self.sample.get(field.name, ())]
            if field.type.name in ("category", "text", "set"):
                values += [(o.name, "region", "region") for o in self.occurrences if o.definition and o.kind == REGION]
            return values
        fields = [(f.name, "field", f"{f.kind} field: {f.type.describe()}") for f in self.schema.fields]
        regions = [(o.name, "region", "region") for o in self.occurrences if o.definition and o.kind == REGION]
        return [(word, "keyword", "keyword") for word in KEYWORDS] + fields + regions


    def codes(self, kind: str) -> list[str]:
        """The declared ICP, Persona (with `no_persona_fit`) or audience codes, for a test's `expect`."""
        declarations = [d for f in self.files.values() for d in f.declarations]
        if kind == "icp":
            return [d.code for d in declarations if isinstance(d, ast.Icp)]
        if kind == "audience":
            return [d.code for d in declarations if isinstance(d, ast.Audience)]
        personas = {p.code for d in declarations if isinstance(d, ast.Icp) for p in d.personas}
        return sorted(personas) + [NO_PERSONA_FIT]


def _sources(root: Path, open_documents: dict[str, str]) -> list[Source]:
    """Every rule file below `root`, the text of an open one as the editor has it."""
    try:
        on_disk = read_sources(root)
    except SourceError:
        on_disk = []
    names = {s.name: s for s in on_disk}
    for path, text in open_documents.items():
        if path.endswith(RULE_SUFFIX):
            names[path] = Source(path, text)
    return [names[name] for name in sorted(names)]


def _place(o: Occurrence, root: Path) -> str:
    try:
        shown = Path(o.file).relative_to(root)
    except ValueError:
        shown = Path(o.file)
    return f"{shown}:{o.line}:{o.column}"


def _param_hover(hover: ParamHover) -> str:
    p = hover.param
    name = param_name(p)
    if p.mode != "score":
        effect = {"filter": "must hold to qualify", "exclude": "disqualifies when it holds"}[str(p.mode)]
        unknown = f"; unknown {p.unknown}" if p.unknown else ""
        return f"{p.mode} {quote(name)} of {hover.owner}: {effect}{unknown}"
    if not hover.possible:
        return f"score {quote(name)} of {hover.owner}: weight {p.weight}"
    return (f"score {quote(name)} of {hover.owner}: weight {p.weight} of {hover.possible} possible points "
            f"({100 * p.weight / hover.possible:.0f}% of the score)")


_OWN = object()  # a parameter's share is of the points of the parameters beside it


class _Collector:
    """Finds every occurrence of a name, and every parameter, in one parsed file."""

    def __init__(self, index: Index, file: str, text: str):
        self.index, self.file = index, file
        self.lines = text.split("\n")

    def add(self, kind: str, name: str, span: ast.Span | None, definition: bool = False, after: str = "") -> None:
        """The name inside `span`, found as a whole word (after the words `after`, when given)."""
        if span is None:
            return
        line = span.line
        text = self.lines[line - 1] if line <= len(self.lines) else ""
        start = span.column - 1
        if after:
            keyword = re.compile(after).search(text, start)
            start = keyword.end() if keyword else start
        match = re.compile(rf"(?<!\w){re.escape(name)}(?!\w)").search(text, start)
        if match is None:
            return
        self.index.occurrences.append(Occurrence(kind, name, self.file, line, match.start() + 1, match.end() + 1,
                                                 definition))

    def walk(self, rule_file: ast.RuleFile) -> None:
        for d in rule_file.declarations:
            getattr(self, "declaration_" + type(d).__name__)(d)

    def declaration_FieldsBlock(self, d: ast.FieldsBlock) -> None:
        for f in d.fields:
            self.add(FIELD, f.name, f.span, definition=True)

    def declaration_RegionDecl(self, d: ast.RegionDecl) -> None:
        self.add(REGION, d.code, d.span, definition=True, after=r"region\s+")

    def declaration_PersonaTemplate(self, d: ast.PersonaTemplate) -> None:
        self.add(TEMPLATE, d.code, d.span, definition=True, after=r"template\s+")
        self.params(d.params, f"persona template {d.code}")

    def declaration_Icp(self, d: ast.Icp) -> None:
        self.add(ICP, d.code, d.span, definition=True, after=r"icp\s+")
        self.params(d.params, f"ICP {d.code}")
        for persona in d.personas:
            if isinstance(persona, ast.PersonaInstance):
                self.add(TEMPLATE, persona.template, persona.span, after=r"\bfrom\s+")
                # An override's share is of the Persona the template makes, known once the rules check.
                overrides = [o for o in persona.overrides or () if isinstance(o, ast.Param)]
                icp = self.index.ruleset.icp(d.code) if self.index.ruleset is not None else None
                made = icp.persona(persona.code) if icp is not None else None
                self.params(overrides, f"Persona {d.code}.{persona.code}", made.possible if made else None)
            else:
                self.params(persona.params, f"Persona {d.code}.{persona.code}")

    def declaration_Audience(self, d: ast.Audience) -> None:
        self.condition(d.condition)
        for predicate in ast.predicates(d.condition):
            if predicate.field.name != "icp_code":
                continue
            values = predicate.items if isinstance(predicate, ast.In) else \
                (predicate.value,) if isinstance(predicate, ast.Compare) else ()
            for value in values:
                if isinstance(value, ast.StringValue):
                    self.add(ICP, value.value, value.span)

    def declaration_Engagement(self, d: ast.Engagement) -> None:
        pass

    def declaration_TitlesBlock(self, d: ast.TitlesBlock) -> None:
        pass

    def declaration_RuleTest(self, d: ast.RuleTest) -> None:
        for record in d.records:
            for f in record.fields:
                self.add(FIELD, f.name, f.span)
        for e in d.expectations:
            if isinstance(e, ast.ExpectIcp) and e.code is not None:
                self.add(ICP, e.code, e.span, after=r"\bicp\s+")
            elif isinstance(e, ast.ExpectParam) and e.owner:
                self.add(ICP, e.owner[0], e.span, after=r"expect\s+")

    def params(self, params, owner: str, possible=_OWN) -> None:
        """The parameters of an ICP, Persona or template; `possible`: the points they share,
        their own weights' sum by default, None when unknown."""
        points = possible_weight(params) if possible is _OWN else possible
        for p in params:
            self.condition(p.condition)
            self.index.params.append((self.file, ParamHover(p, owner, points)))

    def condition(self, condition) -> None:
        for predicate in ast.predicates(condition):
            self.add(FIELD, predicate.field.name, predicate.field.span)
            for item in getattr(predicate, "items", ()):
                if isinstance(item, ast.NameValue):
                    self.add(REGION, item.name, item.span)


# ---- the server ------------------------------------------------------------------------------------


def read_sample(path: str | Path) -> dict[str, list[str]]:
    """The distinct values of every text column of a sample file (.csv, .parquet, .jsonl), most
    frequent first, for completing category values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from .data import read_table

    table = read_table(str(path))
    values = {}
    for name in table.column_names:
        column = table.column(name)
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        counts = pc.value_counts(column.drop_null()).to_pylist()
        counts.sort(key=lambda c: (-c["counts"], c["values"]))
        values[name] = [c["values"] for c in counts[:MAX_SAMPLE_VALUES]]
    return values


def _utf16(text: str, column: int) -> int:
    """A 1-based code-point column of `text` as a 0-based UTF-16 offset (what LSP counts)."""
    return len(text[:column - 1].encode("utf-16-le")) // 2


def _code_points(text: str, character: int) -> int:
    """A 0-based UTF-16 offset of `text` as a 1-based code-point column."""
    units = 0
    for k, char in enumerate(text):
        if units >= character:
            return k + 1
        units += 2 if ord(char) > 0xFFFF else 1
    return len(text) + 1


def serve(sample_path: str | None = None) -> None:
    """Run the language server on stdin / stdout until the editor says exit."""
    server = LanguageServer("unstuck", version("unstuck_dsl"), text_document_sync_kind=types.TextDocumentSyncKind.Full)
    sample = read_sample(sample_path) if sample_path else {}
    published: set[str] = set()

    def root_of(path: str) -> Path:
        folder = server.workspace.root_path
        return Path(folder) if folder else Path(path).parent

    last: dict = {}  # the last index and what it was built from: requests between edits reuse it

    def index_for(uri: str) -> tuple[Index, str]:
        path = to_fs_path(uri)
        root = root_of(path)
        documents = {to_fs_path(doc.uri): doc.source for doc in server.workspace.text_documents.values()}
        on_disk = sorted((str(p), p.stat().st_mtime_ns) for p in root.rglob(f"*{RULE_SUFFIX}") if p.is_file())
        key = (str(root), tuple(sorted(documents.items())), tuple(on_disk))
        if last.get("key") != key:
            last.update(key=key, index=Index(root, documents, sample))
        return last["index"], path

    def line_text(index: Index, file: str, line: int) -> str:
        lines = index.text.get(file, "").split("\n")
        return lines[line - 1] if 0 < line <= len(lines) else ""

    def position(index: Index, file: str, line: int, column: int) -> types.Position:
        return types.Position(line=line - 1, character=_utf16(line_text(index, file, line), column))

    def span_range(index: Index, span: ast.Span) -> types.Range:
        return types.Range(start=position(index, span.file, span.line, span.column),
                           end=position(index, span.file, span.end_line, span.end_column))

    def occurrence_range(index: Index, o: Occurrence) -> types.Range:
        return types.Range(start=position(index, o.file, o.line, o.column),
                           end=position(index, o.file, o.line, o.end_column))

    def place(index: Index, path: str, at: types.Position) -> tuple[int, int]:
        line = at.line + 1
        return line, _code_points(line_text(index, path, line), at.character)

    def publish(uri: str) -> None:
        index, _ = index_for(uri)
        severity = {"error": types.DiagnosticSeverity.Error, "warning": types.DiagnosticSeverity.Warning}
        now = set()
        for file, found in index.diagnostics_by_file().items():
            file_uri = from_fs_path(file)
            now.add(file_uri)
            items = []
            for d in found:
                where = span_range(index, d.span)
                related = [types.DiagnosticRelatedInformation(types.Location(file_uri, where), f"hint: {d.hint}")] \
                    if d.hint else None
                items.append(types.Diagnostic(range=where, message=d.message, severity=severity[str(d.severity)],
                                              code=str(d.code), source="unstuck", related_information=related,
                                              data={"label": d.label, "hint": d.hint}))
            server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=file_uri, diagnostics=items))
        for stale in published - now:  # a file that is gone: clear what was shown for it
            server.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=stale, diagnostics=[]))
        published.clear()
        published.update(now)

    def document_changed(ls, params) -> None:
        """Opened, edited, saved or closed: the workspace is checked again (a closed document is
        read from disk again)."""
        publish(params.text_document.uri)

    for event in (types.TEXT_DOCUMENT_DID_OPEN, types.TEXT_DOCUMENT_DID_CHANGE, types.TEXT_DOCUMENT_DID_SAVE,
                  types.TEXT_DOCUMENT_DID_CLOSE):
        server.feature(event)(document_changed)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls, params: types.HoverParams) -> types.Hover | None:
        index, path = index_for(params.text_document.uri)
        text = index.hover(path, *place(index, path, params.position))
        if text is None:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition(ls, params: types.DefinitionParams) -> types.Location | None:
        index, path = index_for(params.text_document.uri)
        found = index.at(path, *place(index, path, params.position))
        target = index.definition(found) if found is not None else None
        if target is None:
            return None
        return types.Location(uri=from_fs_path(target.file), range=occurrence_range(index, target))

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    def references(ls, params: types.ReferenceParams) -> list[types.Location]:
        index, path = index_for(params.text_document.uri)
        found = index.at(path, *place(index, path, params.position))
        if found is None:
            return []
        return [types.Location(uri=from_fs_path(o.file), range=occurrence_range(index, o))
                for o in index.references(found, params.context.include_declaration)]

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=['"', " ", "{"]))
    def completion(ls, params: types.CompletionParams) -> types.CompletionList:
        index, path = index_for(params.text_document.uri)
        kinds = {"keyword": types.CompletionItemKind.Keyword, "field": types.CompletionItemKind.Field,
                 "region": types.CompletionItemKind.Constant, "template": types.CompletionItemKind.Class,
                 "value": types.CompletionItemKind.Value}
        items = [types.CompletionItem(label=label, kind=kinds[kind], detail=detail)
                 for label, kind, detail in index.completions(path, *place(index, path, params.position))]
        return types.CompletionList(is_incomplete=False, items=items)

    @server.feature(types.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls, params: types.DocumentFormattingParams) -> list[types.TextEdit]:
        document = server.workspace.get_text_document(params.text_document.uri)
        source = Source(to_fs_path(params.text_document.uri), document.source)
        formatted, errors = format_source(source)
        if formatted is None or formatted == source.text:
            return []
        lines = source.text.split("\n")
        end = types.Position(line=len(lines) - 1, character=_utf16(lines[-1], len(lines[-1]) + 1))
        return [types.TextEdit(range=types.Range(start=types.Position(line=0, character=0), end=end), new_text=formatted)]

    @server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
    def prepare_rename(ls, params: types.PrepareRenameParams):
        index, path = index_for(params.text_document.uri)
        found = index.at(path, *place(index, path, params.position))
        if found is None or found.kind not in RENAMEABLE:
            return None
        return occurrence_range(index, found)

    @server.feature(types.TEXT_DOCUMENT_RENAME)
    def rename(ls, params: types.RenameParams) -> types.WorkspaceEdit | None:
        index, path = index_for(params.text_document.uri)
        found = index.at(path, *place(index, path, params.position))
        if found is None or found.kind not in RENAMEABLE:
            return None
        if not _NAME.fullmatch(params.new_name) or params.new_name in KEYWORDS:
            raise ValueError(f"`{params.new_name}` is not a name: letters, digits and `_`, not starting with a digit, "
                             "not a keyword")
        changes = {from_fs_path(file): [types.TextEdit(range=occurrence_range(index, o), new_text=params.new_name)
                                        for o in found_in_file]
                   for file, found_in_file in index.by_file(found).items()}
        return types.WorkspaceEdit(changes=changes)

    server.start_io()
