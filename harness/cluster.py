"""How the simulated cluster is described: per-agent templates for hostnames, resources, attributes.

`--agent-attributes "rack:r{i%3};zone:z{i//4}"` and `--hostname-template "agent{i}.example"` are
templates over the agent index `i` (0-based). The expressions inside braces may use `i`, integer
literals, + - * // % and parentheses; nothing else is evaluated. `{{` and `}}` stand for literal
braces, as in str.format (a set attribute: `disks:{{a,b}}`). Attribute values follow the Mesos
agent's `--attributes` syntax: `[a-b,...]` ranges, `{x,y}` sets, numbers are scalars, the rest text.

Pure parsing; errors raise ClusterSpecError with a message that names the offending part (the
CLI prints it and exits 2).
"""

from __future__ import annotations

import ast
import operator
import re
from collections.abc import Callable

from harness.model import Attribute
from harness.resources import ResourceSpecError, normalize_ranges, parse_resources

# `{{` and `}}` are literal braces (set attributes: "disks:{{a,b}}"); `{expr}` is evaluated.
_TEMPLATE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
_OPS: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


class ClusterSpecError(ValueError):
    """A template, resource or attribute description is malformed."""


def _evaluate(node: ast.expr, i: int, source: str) -> int:
    if isinstance(node, ast.Name) and node.id == "i":
        return i
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _evaluate(node.left, i, source), _evaluate(node.right, i, source)
        if isinstance(node.op, ast.FloorDiv | ast.Mod) and right == 0:
            raise ClusterSpecError(f"template expression {{{source}}} divides by zero")
        return _OPS[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand, i, source)
    raise ClusterSpecError(
        f"template expression {{{source}}}: only i, integers, + - * // % and () are allowed"
    )


def check_template(template: str) -> None:
    """Raise ClusterSpecError now if `template` cannot be expanded (so the CLI fails early)."""
    expand(template, 0)


def expand(template: str, i: int) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group(1) is None:
            return match.group(0)[0]
        source = match.group(1).strip()
        try:
            tree = ast.parse(source, mode="eval")
        except SyntaxError:
            raise ClusterSpecError(f"template expression {{{source}}} is not valid") from None
        return str(_evaluate(tree.body, i, source))

    return _TEMPLATE.sub(replace, template)


def parse_attributes(text: str) -> list[Attribute]:
    """`rack:r1;level:10;keys:[1000-1500];disks:{a,b}` -> attributes (TEXT, SCALAR, RANGES, SET)."""
    out: list[Attribute] = []
    for raw in text.split(";"):
        item = raw.strip()
        if not item:
            continue
        name, sep, value = item.partition(":")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise ClusterSpecError(f"attribute {item!r}: expected name:value")
        if any(a.name == name for a in out):
            raise ClusterSpecError(f"attribute {name!r} given twice")
        out.append(Attribute(name, _attribute_value(name, value)))
    return out


def _attribute_value(name: str, value: str) -> str | float | tuple[tuple[int, int], ...] | frozenset[str]:
    if value.startswith("["):
        try:
            parsed = parse_resources(f"{name}:{value}")
        except ResourceSpecError as error:
            raise ClusterSpecError(f"attribute {name!r}: {error}") from None
        return normalize_ranges(parsed.ranges.get(name, ()))
    if value.startswith("{"):
        if not value.endswith("}"):
            raise ClusterSpecError(f"attribute {name!r}: set must end with '}}'")
        return frozenset(v.strip() for v in value[1:-1].split(",") if v.strip())
    try:
        return float(value)
    except ValueError:
        return value
