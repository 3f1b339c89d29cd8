"""A workspace's own title words (`titles { ... }`, issue 20): read by that ruleset only, in the
reference and the kernel alike, shown in the drawer, checked, printed, and part of the content hash.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from unstuck_dsl import api, reference, titles
from unstuck_dsl.diagnostics import Code
from unstuck_dsl.fmt import format_text
from unstuck_dsl.lookup import lookup_table
from unstuck_dsl.parser import parse_text
from unstuck_dsl.pipeline import check_sources
from unstuck_dsl.printer import print_file
from unstuck_dsl.source import Source

AS_OF = dt.date(2026, 11, 26)

RULES = """
account fields { industry: category }
lead fields { title: text }

{titles}

icp saas {{
  filter "Software": industry == "software"
  persona buyer {{
    score 5 "Sales leader": title resembles "VP Sales"
    score 3 "RevOps": title function == "RevOps"
  }}
}}
"""

AS_REVOPS = '''titles {
  "Revenue Architect": function "RevOps" seniority "VP"  # our name for the head of RevOps
  "RA": means "revenue architect"
}'''
AS_SALES = '''titles {
  "Revenue Architect": function "Sales" seniority "VP"
  "RA": means "revenue architect"
}'''

TITLES = ["Revenue Architect", "RA EMEA", "VP Sales", "Head of RevOps", "Ninja", None]


def rules(block: str = "") -> str:
    return RULES.replace("{{", "{").replace("}}", "}").replace("{titles}", block)


def compiled(block: str = "") -> api.CompiledRules:
    return api.compile(rules(block))


def data():
    leads = pa.table({"lead_id": [f"l{i}" for i in range(len(TITLES))], "account_id": ["a1"] * len(TITLES),
                      "title": TITLES})
    accounts = pa.table({"account_id": ["a1"], "industry": ["software"]})
    return accounts, leads


def kernel_scores(rules_: api.CompiledRules, dataset) -> dict:
    result = rules_.score_dataset(dataset, AS_OF, outcomes=True)
    return dict(zip(TITLES, result.leads.column("persona_score").to_pylist()))


def reference_scores(rules_: api.CompiledRules) -> dict:
    ruleset = rules_.model
    persona = ruleset.icps[0].personas[0]
    ctx = reference.Context(ruleset.schema, AS_OF, ruleset.titles)
    return {title: reference.evaluate_rule(persona, {"title": title}, ctx).score for title in TITLES}


# What each vocabulary means for the persona (5 for a sales leader, 3 for RevOps, of 8).
EXPECTED = {
    "shipped": {"Revenue Architect": 0, "RA EMEA": 0, "VP Sales": 63, "Head of RevOps": 38, "Ninja": 0, None: 0},
    "revops": {"Revenue Architect": 38, "RA EMEA": 38, "VP Sales": 63, "Head of RevOps": 38, "Ninja": 0, None: 0},
    "sales": {"Revenue Architect": 63, "RA EMEA": 63, "VP Sales": 63, "Head of RevOps": 38, "Ninja": 0, None: 0},
}


def test_the_block_changes_how_titles_read():
    shipped, revops, sales = compiled().model.titles, compiled(AS_REVOPS).model.titles, compiled(AS_SALES).model.titles
    assert shipped is titles.SHIPPED
    assert shipped.read("Revenue Architect").describe() == "Sales · IC"  # "revenue" is a sales word
    assert revops.read("Revenue Architect").describe() == "RevOps · VP"
    assert revops.read("RA EMEA").describe() == "RevOps · VP · scope EMEA"  # the abbreviation expands
    assert sales.read("Revenue Architect").describe() == "Sales · VP"
    assert revops.similarity("Revenue Architect", "VP Sales") == 0.0
    assert sales.similarity("Revenue Architect", "VP Sales") == 1.0
    # Every shipped reading stays as it was.
    for title in ("VP Sales EMEA", "Vertriebsleiter", "Co-Founder & CEO", "VP Sales Operations"):
        assert revops.read(title).describe() == shipped.read(title).describe()


@pytest.mark.parametrize("order", [("revops", "sales", "shipped"), ("sales", "shipped", "revops"),
                                   ("shipped", "revops", "sales")])
def test_rulesets_with_other_words_never_share_readings(order):
    """One process, one dataset (so one dictionary and its cached lookup tables), three
    vocabularies scored in turn: each gets its own answers, in the kernel and the reference."""
    blocks = {"shipped": "", "revops": AS_REVOPS, "sales": AS_SALES}
    all_rules = {name: compiled(blocks[name]) for name in order}
    dataset = all_rules[order[0]].load(*data())
    for _ in range(2):
        for name in order:
            assert kernel_scores(all_rules[name], dataset) == EXPECTED[name], name
            assert reference_scores(all_rules[name]) == EXPECTED[name], name
            assert titles.title_similarity("Revenue Architect", "VP Sales") == 0.0  # the shipped reading


def test_lookup_tables_are_kept_per_vocabulary():
    revops, sales = compiled(AS_REVOPS), compiled(AS_SALES)
    dataset = revops.load(*data())
    dictionary = dataset.leads.columns["title"].dictionary
    spec = next(s for s in revops.program.luts if s.field == "title")
    tables = [lookup_table(spec, dictionary, reference.Context(r.model.schema, AS_OF, r.model.titles))
              for r in (revops, sales, revops)]
    assert list(tables[0]) != list(tables[1])
    assert list(tables[0]) == list(tables[2])


def test_the_content_hash_follows_the_words():
    hashes = {block: compiled(block).model.content_hash for block in ("", AS_REVOPS, AS_SALES)}
    assert len(set(hashes.values())) == 3
    assert compiled(AS_REVOPS).model.content_hash == hashes[AS_REVOPS]
    # Layout and comments are not content.
    relaid = AS_REVOPS.replace("  #", "      #").replace('"RA":', '"RA"  :')
    assert compiled(relaid).model.content_hash == hashes[AS_REVOPS]
    # Rulesets with the same words share one reader (and its caches).
    assert compiled(AS_REVOPS).model.titles is compiled(AS_REVOPS).model.titles
    assert compiled(AS_REVOPS).model.titles != compiled(AS_SALES).model.titles


def test_the_drawer_reads_with_the_workspace_words():
    rules_ = compiled(AS_REVOPS)
    result = rules_.score(*data(), as_of=AS_OF)
    rows = {row.name: row.value for row in result.explain(lead_id="l0").personas[0].rows}
    assert rows["Sales leader"] == 'Revenue Architect → RevOps · VP ≉ "VP Sales" 0.00'
    assert rows["RevOps"] == "Revenue Architect → RevOps · VP"


def test_the_block_prints_and_formats_back():
    text = rules(AS_REVOPS)
    parsed = parse_text(text)
    assert parse_text(print_file(parsed)) == parsed
    formatted = format_text(text)
    assert "# our name for the head of RevOps" in formatted
    assert format_text(formatted) == formatted
    assert parse_text(formatted) == parsed


def test_every_meaning_is_accepted():
    block = '''titles {
  "Revenue Architect": function "RevOps" seniority "IC"
  "Chief Revenue Architect": function "RevOps" seniority "C-suite"
  "Deal Desk": function "Sales Operations"
  "Bereichsleiter": seniority "Head"
  "Gründerin": seniority "Founder"
  "Inhaberin": seniority "Owner"
  "Nordics": scope
  "RA": means "revenue architect"
  "ops": changes "Operations"
}'''
    reader = compiled(block).model.titles
    assert reader.read("Chief Revenue Architect").describe() == "RevOps · C-suite"
    assert reader.read("Chief Revenue Architect").office  # a C-level phrase means that office
    assert reader.read("Head of Deal Desk").describe() == "Sales Operations · Head of"
    assert reader.read("Bereichsleiter Marketing").describe() == "Marketing · Head of"
    assert reader.read("Gründerin").founder and reader.read("Inhaberin").owner
    assert reader.read("VP Sales Nordics").describe() == "Sales · VP · scope Nordics"
    assert reader.read("Marketing Ops Manager").describe() == "Marketing Operations · Manager"


@pytest.mark.parametrize("entry,code", [
    ('"x": function "Salez"', Code.E090),
    ('"x": function "Sales" seniority "Boss"', Code.E091),
    ('"...": scope', Code.E092),
    ('"two words": means "x"', Code.E092),
    ('"ra": means "!!"', Code.E092),
    ('"ops": changes "Ops"', Code.E092),
    ('"x": scope seniority "VP"', Code.E092),
    ('"x": seniority "VP" seniority "IC"', Code.E092),
    ('"x": function "Sales" seniority "Owner"', Code.E092),
    ('"x": scope\n  "X": function "Sales"', Code.E093),
])
def test_a_bad_entry_is_one_diagnostic_at_its_place(entry, code):
    text = rules("titles {\n  " + entry + "\n}")
    ruleset, diagnostics = check_sources([Source("t.ust", text)])
    assert ruleset is None
    assert [d.code for d in diagnostics if d.is_error] == [code]
    (d,) = [d for d in diagnostics if d.is_error]
    assert d.span.file == "t.ust" and d.span.line >= 5 and d.hint


def test_the_documented_example_reads_as_documented():
    """docs/titles.md, "Extending the vocabulary": its block checks and its readings are these."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "titles.md").read_text("utf-8")
    section = doc[doc.index("### Extending the vocabulary"):]
    block = section[section.index("titles {"):section.index("\n}\n") + 2]
    reader = compiled(block).model.titles
    assert reader.describe_resemblance("Revenue Architect", ("Head of RevOps",), 0.8) == \
        'Revenue Architect → RevOps · VP ≈ "Head of RevOps" 1.00'
    assert reader.describe_resemblance("RA EMEA", ("Head of RevOps",), 0.8) == \
        'RA EMEA → RevOps · VP · scope EMEA ≈ "Head of RevOps" 1.00'
    assert reader.similarity("Revenue Architect", "VP Sales") == 0.0
    assert reader.similarity("Direttore commerciale", "VP Sales") == 1.0
    assert titles.SHIPPED.read("Revenue Architect").describe() == "Sales · IC"
    for line in ("Revenue Architect  → RevOps · VP ", "RA EMEA            → RevOps · VP · scope EMEA "):
        assert line in section
