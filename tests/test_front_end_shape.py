"""The front end's shape: the grammar ships inside the package, and template expansion is its own
pass between parsing and checking (expand.expand_templates)."""

from __future__ import annotations

import ast as python_ast
from importlib import resources
from pathlib import Path

import unstuck_dsl
from unstuck_dsl import ast, parser
from unstuck_dsl.check import check_workspace
from unstuck_dsl.expand import expand_templates
from unstuck_dsl.parser import parse_text

PACKAGE = Path(unstuck_dsl.__file__).parent

TEMPLATE = """
lead fields {
  title: text
  seniority: ordinal("IC", "Manager", "VP")
}
persona template t "Template" draft {
  score 1 "A": seniority == "VP"
  score 2 "B": title == "x"
}
"""


def expanded(text: str):
    return expand_templates(ast.Workspace((parse_text(text, "t.ust"),)))


def test_the_grammar_is_loaded_from_inside_the_package():
    grammar = resources.files("unstuck_dsl.grammar").joinpath("unstuck.lark")
    assert Path(str(grammar)).parent == PACKAGE / "grammar"
    assert not (PACKAGE.parent / "grammar").exists()


def test_the_parser_has_no_holder_classes_for_optional_parts():
    tree = python_ast.parse(Path(parser.__file__).read_text(encoding="utf-8"))
    classes = [node.name for node in tree.body if isinstance(node, python_ast.ClassDef)]
    assert classes == ["_Invalid", "_ToAst"]


def test_expansion_makes_the_persona_an_instance_stands_for():
    workspace, diagnostics = expanded(TEMPLATE + 'icp i {\n  persona p from t { score 5 "B": title == "y"\n drop "A"\n score 1 "C": title == "z" }\n}\n')
    assert diagnostics == []
    icp = [d for d in workspace.declarations() if isinstance(d, ast.Icp)][0]
    (persona,) = icp.personas
    assert isinstance(persona, ast.Persona)
    assert (persona.code, persona.display_name, persona.status) == ("p", "Template", "draft")
    b, c = persona.params
    assert isinstance(b, ast.Param) and (b.display_name, b.weight) == ("B", 5)
    assert isinstance(c, ast.Param) and c.display_name == "C"


def test_inherited_parameters_stay_the_templates_own():
    workspace, _ = expanded(TEMPLATE + "icp i {\n  persona p from t\n}\n")
    icp = [d for d in workspace.declarations() if isinstance(d, ast.Icp)][0]
    params = icp.personas[0].params
    assert all(isinstance(p, ast.Inherited) and p.template == "t" for p in params)
    assert [p.param.display_name for p in params] == ["A", "B"]


def test_expansion_reports_unknown_templates_and_drops_and_leaves_the_rest_to_the_checker():
    text = TEMPLATE + 'icp i {\n  persona p from nope\n  persona q from t { drop "Z"\n score 1 "D": nope == 1 }\n}\n'
    workspace, diagnostics = expanded(text)
    assert [(d.code, d.span.line) for d in diagnostics] == [("E023", 11), ("E024", 12)]
    _, checked = check_workspace(workspace)
    assert [(d.code, d.span.line) for d in checked] == [("W001", 10), ("E012", 13)]


def test_a_persona_the_checker_discards_is_not_expanded():
    text = TEMPLATE + 'icp i {\n  persona p from t\n  persona p from nope\n  persona no_persona_fit from t { drop "Z" }\n}\n'
    workspace, diagnostics = expanded(text)
    assert diagnostics == []
    icp = [d for d in workspace.declarations() if isinstance(d, ast.Icp)][0]
    assert [type(p) for p in icp.personas] == [ast.Persona, ast.PersonaInstance, ast.PersonaInstance]


def test_the_pipeline_states_the_front_end_order():
    from unstuck_dsl import pipeline

    assert "read → parse → expand templates → check" in pipeline.__doc__
