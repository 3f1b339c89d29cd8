"""Template expansion, the pass between parsing and checking: every `persona CODE from TEMPLATE
{ overrides }` becomes the Persona it stands for.

The expanded Persona holds the template's parameters in the template's order, each as an
`ast.Inherited`, with an override replacing the parameter of its name in place, a new parameter
going last and a `drop` removing one. Name and status default to the template's. Only what
expansion itself finds is reported here: an unknown template (E023) and a `drop` of a parameter
the template does not have (E024); the checker checks the result.
"""

from __future__ import annotations

import attrs

from . import ast
from .diagnostics import MAX_ERRORS, Code, Diagnostic, did_you_mean
from .model import NO_PERSONA_FIT
from .printer import param_name


def expand_templates(workspace: ast.Workspace) -> tuple[ast.Workspace, list[Diagnostic]]:
    """The workspace with each Persona made from a known template expanded, and the problems.

    A Persona the checker discards by its code (in an ICP declared twice; a Persona code that
    is reserved or repeated in its ICP) is left as written, so nothing about its template is
    reported; so is one whose template is unknown, reported here once. Expansion stops at
    MAX_ERRORS errors, as checking does."""
    templates: dict[str, ast.PersonaTemplate] = {}
    for declaration in workspace.declarations():
        if isinstance(declaration, ast.PersonaTemplate):
            templates.setdefault(declaration.code, declaration)  # a second one is E025, checked later
    diagnostics: list[Diagnostic] = []
    icp_codes: set[str] = set()

    def expand_icp(icp: ast.Icp) -> ast.Icp:
        if icp.code in icp_codes or len(diagnostics) >= MAX_ERRORS:
            return icp
        icp_codes.add(icp.code)
        personas, persona_codes = [], set()
        for persona in icp.personas:
            counted = persona.code != NO_PERSONA_FIT and persona.code not in persona_codes
            if counted:
                persona_codes.add(persona.code)
            if counted and isinstance(persona, ast.PersonaInstance) and len(diagnostics) < MAX_ERRORS:
                persona = _expand(persona, templates, diagnostics)
            personas.append(persona)
        return attrs.evolve(icp, personas=tuple(personas))

    files = tuple(
        attrs.evolve(rule_file, declarations=tuple(expand_icp(d) if isinstance(d, ast.Icp) else d
                                                   for d in rule_file.declarations))
        for rule_file in workspace.files)
    return ast.Workspace(files, as_written=workspace.files, span=workspace.span), diagnostics


def _expand(persona: ast.PersonaInstance, templates: dict[str, ast.PersonaTemplate],
            diagnostics: list[Diagnostic]) -> ast.Persona | ast.PersonaInstance:
    template = templates.get(persona.template)
    if template is None:
        hint = did_you_mean(persona.template, templates) or "declare it with `persona template NAME { ... }`"
        diagnostics.append(Diagnostic(Code.E023, f"unknown persona template `{persona.template}`", persona.span,
                                      "no such template", hint))
        return persona
    # By name, in order: a dict does each override and drop at once, in a template of any size.
    merged: dict[str, ast.Param | ast.Inherited] = {}
    for param in template.params:
        merged.setdefault(param_name(param), ast.Inherited(template.code, param, span=param.span))
    for member in persona.overrides or ():
        if isinstance(member, ast.Param):
            merged[param_name(member)] = member
        elif member.name in merged:
            del merged[member.name]
        else:
            hint = did_you_mean(member.name, merged) or f"template `{template.code}` has: " + ", ".join(f'"{n}"' for n in merged)
            diagnostics.append(Diagnostic(Code.E024, f"template `{template.code}` has no parameter \"{member.name}\"",
                                          member.span, "nothing to drop", hint))
            if len(diagnostics) >= MAX_ERRORS:
                break
    return ast.Persona(persona.code, persona.display_name or template.display_name, persona.status or template.status,
                       tuple(merged.values()), span=persona.span)
