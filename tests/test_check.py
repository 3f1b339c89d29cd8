"""The checker's output: the model a ruleset is scored with (templates expanded, regions
inlined, names and statuses defaulted), and every problem of a workspace reported at once."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from unstuck_dsl import ast
from unstuck_dsl.pipeline import check_sources, load_ruleset
from unstuck_dsl.source import Source, read_sources

REPO = Path(__file__).resolve().parent.parent

FIELDS = """account fields {
  industry: category
  employees: int
  country: category
  tech_stack: open set
  offices: set
  funding_stage: ordinal("Seed", "Series A", "Series B")
}
lead fields {
  title: text
  seniority: ordinal("IC", "Manager", "VP")
  years_in_role: number
}
"""


def check(text: str):
    """(ruleset or None, diagnostics) for one rule file that starts with FIELDS."""
    return check_sources([Source("t.ust", FIELDS + text)])


def checked(text: str):
    ruleset, diagnostics = check(text)
    assert ruleset is not None, [(d.code, d.message) for d in diagnostics]
    return ruleset


def codes(text: str) -> list[str]:
    return [d.code for d in check(text)[1]]


def names(params) -> list[str]:
    return [p.name for p in params]


@pytest.fixture(scope="module")
def example():
    return load_ruleset(REPO / "rules")


# ---- templates ---------------------------------------------------------------------------------


def test_instance_copies_the_template(example):
    founder = example.icp("mm_saas").persona("founder")
    assert names(founder.params) == ["Founder title", "C-suite", "Still in the seat", "Experienced operator"]
    assert [p.weight for p in founder.params] == [None, Decimal(5), Decimal(3), Decimal(2)]
    assert (founder.name, founder.status) == ("Founder", "live")


def test_override_replaces_in_place(example):
    founder = example.icp("smb_saas").persona("founder")
    assert names(founder.params) == ["Founder title", "C-suite", "Still in the seat", "Experienced operator"]
    seat = founder.params[2]
    assert seat.weight == Decimal(4)
    assert seat.condition == ast.Compare(ast.FieldRef("years_in_role"), "<=", ast.NumberValue(Decimal(6)))


def test_instances_are_independent(example):
    """Overriding in smb_saas changes nothing in mm_saas."""
    assert example.icp("mm_saas").persona("founder").params[2].weight == Decimal(3)
    assert names(example.icp("mm_saas").persona("vp_sales").params)[-1] == "Experience"


def test_drop_removes(example):
    vp_sales = example.icp("smb_saas").persona("vp_sales")
    assert names(vp_sales.params) == ["Sales function", "Title", "Seniority", "New in role"]
    assert vp_sales.possible == Decimal(11)


TEMPLATE = """
persona template t "Template" {
  score 1 "A": seniority == "VP"
  score 2 "B": years_in_role <= 2
  score 3: title == "CEO"
}
"""


def test_override_with_a_new_name_is_appended():
    ruleset = checked(TEMPLATE + 'icp i { score 1: employees > 1\n persona p from t { filter "New": title like "*sales*" } }')
    assert names(ruleset.icp("i").persona("p").params) == ["A", "B", 'title == "CEO"', "New"]


def test_override_drop_and_append_together_keep_template_order():
    ruleset = checked(TEMPLATE + """icp i { score 1: employees > 1
      persona p from t {
        score 9 "B": years_in_role <= 1
        drop "A"
        score 1 "C": seniority == "IC"
      }
    }""")
    params = ruleset.icp("i").persona("p").params
    assert [(p.name, p.weight) for p in params] == [("B", 9), ('title == "CEO"', 3), ("C", 1)]


def test_unnamed_template_parameter_is_dropped_and_overridden_by_its_condition():
    ruleset = checked(TEMPLATE + """icp i { score 1: employees > 1
      persona dropped from t { drop "title == \\"CEO\\"" }
      persona reweighted from t { score 7: title == "CEO" }
    }""")
    icp = ruleset.icp("i")
    assert names(icp.persona("dropped").params) == ["A", "B"]
    assert [p.weight for p in icp.persona("reweighted").params] == [1, 2, 7]


@pytest.mark.parametrize(("template_header", "instance_header", "name", "status"), [
    ("t", "p", "p", "live"),
    ('t "Template" draft', "p", "Template", "draft"),
    ('t "Template" draft', 'p "Mine" live', "Mine", "live"),
    ("t live", "p draft", "p", "draft"),
])
def test_instance_name_and_status_default_to_the_template_then_code_and_live(template_header, instance_header, name, status):
    ruleset = checked(f'persona template {template_header} {{ score 1: title == "x" }}\n'
                      f"icp i {{ score 1: employees > 1\n persona {instance_header} from t }}")
    persona = ruleset.icp("i").personas[0]
    assert (persona.name, persona.status) == (name, status)


def test_template_errors_are_reported_once_not_per_instance():
    ruleset, diagnostics = check("""
      persona template t { score 1 "A": employees > 1  score 1 "B": title == "x"  score 2 "B": title == "y" }
      icp i { score 1: employees > 1
        persona p from t
        persona q from t
      }""")
    assert ruleset is None
    assert sorted(d.code for d in diagnostics) == ["E013", "E022"]


def test_an_override_is_checked_where_it_is_written():
    text = FIELDS + TEMPLATE + 'icp i { score 1: employees > 1\n persona p from t { score 2 "B": industry == "x" } }'
    ruleset, diagnostics = check_sources([Source("t.ust", text)])
    (diagnostic,) = diagnostics
    assert diagnostic.code == "E013"
    assert diagnostic.message == "a Persona cannot read the account field `industry`"
    assert (diagnostic.span.line, diagnostic.span.column) == (text.count("\n") + 1, 34)


# ---- regions -----------------------------------------------------------------------------------

REGIONS = 'region europe { GB, DE, "FR", GB }\nregion north_america { US, CA }\n'


def codes_of(items) -> list[str]:
    return [item.value for item in items]


def test_region_is_inlined_as_its_countries_in_order_without_repeats():
    ruleset = checked(REGIONS + "icp i { score 1: country in europe }")
    condition = ruleset.icp("i").params[0].condition
    assert isinstance(condition, ast.In) and not condition.negated
    assert codes_of(condition.items) == ["GB", "DE", "FR"]


def test_regions_mix_with_values_and_negation():
    ruleset = checked(REGIONS + 'icp i { score 1: country not in {north_america, "MX", europe} }')
    condition = ruleset.icp("i").params[0].condition
    assert condition.negated
    assert codes_of(condition.items) == ["US", "CA", "MX", "GB", "DE", "FR"]


def test_has_a_region_means_has_any_of_its_countries():
    ruleset = checked(REGIONS + "icp i { score 1: offices has europe\n score 1: offices has all north_america }")
    one, every = (p.condition for p in ruleset.icp("i").params)
    assert (one.quantifier, codes_of(one.items)) == ("any", ["GB", "DE", "FR"])
    assert (every.quantifier, codes_of(every.items)) == ("all", ["US", "CA"])


def test_region_inlining_reaches_inside_and_or_not():
    ruleset = checked(REGIONS + 'icp i { score 1: not (country in north_america or industry == "x") }')
    condition = ruleset.icp("i").params[0].condition
    assert codes_of(condition.operand.operands[0].items) == ["US", "CA"]


# ---- names, statuses, modes --------------------------------------------------------------------


def test_defaults_for_icps_and_personas():
    ruleset = checked('icp a { score 1: employees > 1\n persona p { score 1: title == "x" } }\n'
                      'icp b "Bee" draft { score 1: employees > 1 }')
    a, b = ruleset.icps
    assert (a.code, a.name, a.status) == ("a", "a", "live")
    assert (b.code, b.name, b.status) == ("b", "Bee", "draft")
    assert (a.personas[0].name, a.personas[0].status) == ("p", "live")
    assert ruleset.live_icps() == (a,)


def test_unnamed_parameters_are_named_by_their_condition():
    ruleset = checked('icp a { score 2: tech_stack has any {"a", "b"}\n filter: not (employees < 5 or industry == "x") }')
    assert names(ruleset.icp("a").params) == ['tech_stack has any {"a", "b"}', 'not (employees < 5 or industry == "x")']


def test_parameters_keep_mode_weight_unknown_rule_and_order():
    ruleset = checked('icp a { exclude "X" unknown excludes: industry == "x"\n score 2.5 "S": employees > 1\n'
                      ' filter "F" unknown passes: employees > 0 }')
    assert [(p.name, p.mode, p.weight, p.unknown) for p in ruleset.icp("a").params] == [
        ("X", "exclude", None, "excludes"),
        ("S", "score", Decimal("2.5"), None),
        ("F", "filter", None, "passes"),
    ]
    assert ruleset.icp("a").possible == Decimal("2.5")


def test_schema_holds_the_declared_fields():
    ruleset = checked("icp a { score 1: employees > 1 }")
    field = ruleset.schema.get("funding_stage")
    assert (field.kind, field.type.name, field.type.levels) == ("account", "ordinal", ("Seed", "Series A", "Series B"))
    assert ruleset.schema.get("tech_stack").type.open and not ruleset.schema.get("offices").type.open
    assert [f.name for f in ruleset.schema.of_kind("lead")] == ["title", "seniority", "years_in_role"]


# ---- warnings ----------------------------------------------------------------------------------


def test_no_score_parameters_warns_but_the_ruleset_is_usable():
    ruleset, diagnostics = check('icp a { filter: employees > 1\n persona p { filter: title == "x" } }')
    assert ruleset is not None
    assert [(d.code, d.severity, d.message) for d in diagnostics] == [
        ("W001", "warning", "ICP `a` has no score parameters"),
        ("W001", "warning", "Persona `a.p` has no score parameters"),
    ]


def test_template_without_scores_warns_on_each_instance_not_on_the_template():
    _, diagnostics = check('persona template t { filter: title == "x" }\n'
                           "icp a { score 1: employees > 1\n persona p from t\n persona q from t { score 1: title == \"y\" } }")
    assert [d.message for d in diagnostics] == ["Persona `a.p` has no score parameters"]


def test_a_scoring_icp_has_no_warning():
    assert codes("icp a { score 1: employees > 1 }") == []


# ---- every error at once -------------------------------------------------------------------------


def test_every_error_of_a_file_is_reported():
    found = codes("""
      icp a {
        score 0: employees > 1
        score 1: employes > 1
        score 1: industry has "x"
        score 1: employees between 10 and 5
        score 1: title == "x"
        persona p { score 1: industry == "x" }
        persona q from nope
      }
      icp a { score 1: employees > 1 }
    """)
    assert sorted(found) == ["E012", "E013", "E014", "E020", "E023", "E033", "E034", "E040"]


def test_a_bad_type_does_not_also_make_every_use_an_unknown_field():
    ruleset, diagnostics = check_sources([Source("t.ust", "account fields { size: integer }\n"
                                                          "icp a { score 1: size > 1\n score 1: sise > 1 }")])
    assert [(d.code, d.span.line) for d in diagnostics] == [("E011", 1), ("E012", 3)]
    assert ruleset is None


def test_did_you_mean_prefers_a_difference_in_case():
    (diagnostic,) = check('icp a { score 1: employees > 1\n persona p { score 1: seniority == "vp" } }')[1]
    assert diagnostic.code == "E032" and diagnostic.hint == "did you mean `VP`?"


@pytest.fixture
def workspace(tmp_path):
    """A directory of rule files, as an author keeps them."""
    (tmp_path / "fields.ust").write_text(FIELDS + "region europe { GB, DE }\n")
    (tmp_path / "personas.ust").write_text('persona template t "T" {\n  score 1 "A": seniority == "VP"\n}\n')
    sub = tmp_path / "icps"
    sub.mkdir()
    (sub / "a.ust").write_text('icp a {\n  score 1: country in europe\n  persona p from t\n}\n')
    (sub / "b.ust").write_text('icp b {\n  score 1: employees > 1\n}\n')
    return tmp_path


def test_a_directory_is_one_workspace(workspace):
    ruleset, diagnostics = check_sources(read_sources(workspace))
    assert diagnostics == []
    # Files are read in sorted path order, which is the declaration order used to break ties.
    assert [i.code for i in ruleset.icps] == ["a", "b"]
    assert codes_of(ruleset.icp("a").params[0].condition.items) == ["GB", "DE"]
    assert ruleset.icp("a").persona("p").name == "T"


def test_errors_in_several_files_are_reported_together(workspace):
    (workspace / "icps" / "a.ust").write_text('icp a {\n  score 1: country in europa\n  persona p from tt\n}\n')
    (workspace / "icps" / "b.ust").write_text('icp b {\n  score 1: employes > 1\n}\n')
    (workspace / "personas.ust").write_text('persona template t {\n  score 0 "A": seniority == "CEO"\n}\n')
    ruleset, diagnostics = check_sources(read_sources(workspace))
    assert ruleset is None
    where = [(Path(d.span.file).relative_to(workspace).as_posix(), d.span.line, d.code) for d in diagnostics]
    assert sorted(where) == [
        ("icps/a.ust", 2, "E035"),
        ("icps/a.ust", 3, "E023"),
        ("icps/b.ust", 2, "E012"),
        ("personas.ust", 2, "E032"),
        ("personas.ust", 2, "E040"),
    ]


def test_syntax_errors_of_every_file_are_reported_and_hold_back_checking(workspace):
    (workspace / "icps" / "a.ust").write_text("icp a {\n  score 1: country in\n}\n")
    (workspace / "icps" / "b.ust").write_text('icp b {\n  score 1 "x" employees > 1\n}\n')
    (workspace / "personas.ust").write_text('persona template t {\n  score 1: nope == "x"\n}\n')
    ruleset, diagnostics = check_sources(read_sources(workspace))
    assert ruleset is None
    assert sorted((Path(d.span.file).name, d.code) for d in diagnostics) == [("a.ust", "E001"), ("b.ust", "E001")]


def test_layout_and_comments_do_not_change_the_ruleset_hash():
    base = "icp a {\n  score 1: employees > 1\n}\n"
    relaid = "# comment\nicp a { score 1:\n    employees>1 }"
    assert checked(base).content_hash == checked(relaid).content_hash
    assert checked(base).content_hash != checked(base.replace("> 1", "> 2")).content_hash
