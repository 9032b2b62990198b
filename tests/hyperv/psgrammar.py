"""The shipped PowerShell scripts read with a real PowerShell grammar (tree-sitter's, from
tree-sitter-language-pack): syntax errors, the commands each script runs with the parameters
it gives them (splatted hashtables too), the variables it reads before assigning, and the
values its JSON records print.

What a parse cannot prove: that a cmdlet accepts the values given (types, parameter sets,
the host's Hyper-V version), what a cmdlet does, or that a property read from its output
exists (`$vm.ConfigurationLocation` is checked by the recorded-output tests, not here).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache

from tree_sitter import Node, Parser, Tree

# tree-sitter's PowerShell grammar knows the numeric multipliers (1gb) in lower case only;
# PowerShell takes any case, so the scripts write them in lower case.

# Variables PowerShell gives a script without an assignment (about_Automatic_Variables,
# about_Preference_Variables): only those the scripts may read.
AUTOMATIC = frozenset({
    "_", "psitem", "null", "true", "false", "psboundparameters", "psversiontable",
    "erroractionpreference", "progresspreference", "args",
})
# Read-only or automatic: assigning one fails or silently does something else (`$null = x`
# discards x: allowed).
RESERVED = frozenset({
    "_", "psitem", "args", "input", "host", "error", "matches", "myinvocation", "pid",
    "pscmdlet", "psboundparameters", "this", "sender", "event", "eventargs", "home",
    "pshome", "shellid", "true", "false", "executioncontext", "lastexitcode",
    "foreach", "switch", "stacktrace", "profile", "pwd", "ofs",
})


@cache
def parser() -> Parser:
    from tree_sitter_language_pack import get_parser

    return get_parser("powershell")


@cache
def parse(text: str) -> Tree:
    """The syntax tree of `text` (trees are read, never edited: one per text)."""
    return parser().parse(text.encode("utf-8"))


def walk(node: Node) -> Iterator[Node]:
    yield node
    for child in node.children:
        yield from walk(child)


def text(node: Node) -> str:
    return (node.text or b"").decode("utf-8")


def line(node: Node) -> int:
    return node.start_point[0] + 1


def syntax_problems(tree: Tree) -> list[str]:
    """`line N: ...` for every ERROR or MISSING node: what PowerShell's parser refuses."""
    problems = []
    for node in walk(tree.root_node):
        if node.is_error:
            problems.append(f"line {line(node)}: cannot parse {text(node)[:60]!r}")
        elif node.is_missing:
            problems.append(f"line {line(node)}: missing {node.type!r}")
    return problems


def variable_name(node: Node) -> str:
    """`$Name`, `${Name}`, `@Name` (splatting), `$env:X` -> the lower-case name."""
    name = text(node).lstrip("$@").strip("{}")
    return name.lower()


@dataclass
class Argument:
    """One element of a command line: a named parameter (`-Name`, `-Name:value`) with the
    argument it takes, or a positional argument."""

    parameter: str | None
    value: Node | None
    colon: bool = False


@dataclass
class Command:
    name: str
    node: Node
    arguments: list[Argument] = field(default_factory=list)
    splatted: list[str] = field(default_factory=list)  # the @variables, lower-case

    @property
    def line(self) -> int:
        return line(self.node)


def commands(tree: Tree) -> list[Command]:
    found = []
    for node in walk(tree.root_node):
        if node.type != "command":
            continue
        name_node = node.child_by_field_name("command_name")
        if name_node is None:  # `& { ... }`: a script block invoked, not a command name
            continue
        command = Command(text(name_node), node)
        elements = node.child_by_field_name("command_elements")
        pending: Argument | None = None
        for child in elements.children if elements is not None else []:
            if child.type == "command_argument_sep":
                if pending is not None and text(child).strip() == ":":
                    pending.colon = True
                continue
            if child.type == "command_parameter":
                written = text(child).lstrip("`\r\n\t ")  # after a line continuation
                pending = Argument(written.lstrip("-").rstrip(":"), None, written.endswith(":"))
                command.arguments.append(pending)
                continue
            splat = [v for v in walk(child) if v.type == "variable" and text(v).startswith("@")]
            if splat and text(child) == text(splat[0]):
                command.splatted.append(variable_name(splat[0]))
                pending = None
                continue
            if pending is not None and pending.value is None:
                pending.value = child
                if pending.colon:
                    pending = None
                continue
            command.arguments.append(Argument(None, child))
        found.append(command)
    return found


def bind(command: Command, switches: set[str]) -> tuple[list[str], int]:
    """The named parameters and the number of positional arguments of `command`, given which
    of its parameters are switches (a switch takes no argument unless written `-S:$x`)."""
    named, positional = [], 0
    for argument in command.arguments:
        if argument.parameter is None:
            positional += 1
            continue
        named.append(argument.parameter)
        if argument.value is not None and argument.parameter.lower() in switches and not (
            argument.colon
        ):
            positional += 1  # `-AsJob $x`: $x is positional, not the switch's value
    return named, positional


def hashtable_keys(node: Node) -> list[str]:
    return [text(key) for key in walk(node) if key.type == "key_expression"
            and key.parent is not None and key.parent.parent is not None
            and key.parent.parent.parent == node]


def splatted_keys(scope: Node, variable: str) -> list[str]:
    """The keys a splatted hashtable gets in `scope`: `$v = @{ K = ... }` and `$v.K = ...`."""
    keys: list[str] = []
    for node in walk(scope):
        if node.type != "assignment_expression":
            continue
        targets = [n for n in walk(node.children[0]) if n.type in ("variable", "member_access")]
        if not targets:
            continue
        first = targets[0]
        if first.type == "variable" and variable_name(first) == variable:
            tables = [t for t in walk(node.children[-1]) if t.type == "hash_literal_expression"]
            keys += hashtable_keys(tables[0]) if tables else []
        elif first.type == "member_access":
            owner, member = first.children[0], first.children[-1]
            if owner.type == "variable" and variable_name(owner) == variable:
                keys.append(text(member))
    return keys


@dataclass
class Scope:
    """A script's or a function's own variables: parameters, assignments, loop variables,
    each with where it first gets a value."""

    node: Node
    name: str
    parameters: list[str] = field(default_factory=list)
    assigned: dict[str, int] = field(default_factory=dict)  # name -> first byte it is set
    reads: list[tuple[str, Node]] = field(default_factory=list)


def _nested_function(node: Node, scope: Node) -> bool:
    parent = node.parent
    while parent is not None and parent != scope:
        if parent.type == "function_statement":
            return True
        parent = parent.parent
    return False


def scopes(tree: Tree, name: str) -> list[Scope]:
    """The script's own scope and one per function it defines."""
    roots = [(tree.root_node, name)] + [
        (node, text(node.child_by_field_name("function_name") or node.children[1]))
        for node in walk(tree.root_node) if node.type == "function_statement"
    ]
    found = []
    for root, label in roots:
        scope = Scope(root, label)
        for node in walk(root):
            if node == root or _nested_function(node, root) or node.type == "function_statement":
                continue
            if node.type == "script_parameter":
                variable = next(v for v in node.children if v.type == "variable")
                scope.parameters.append(variable_name(variable))
            elif node.type == "assignment_expression":
                target = node.children[0]
                variables = [n for n in walk(target) if n.type in ("variable", "member_access")]
                if variables and variables[0].type == "variable":
                    scope.assigned.setdefault(variable_name(variables[0]), node.start_byte)
            elif node.type == "foreach_statement":
                variable = next(v for v in node.children if v.type == "variable")
                scope.assigned.setdefault(variable_name(variable), node.start_byte)
            elif node.type == "variable" and not _is_assignment_target(node) and not (
                node.parent is not None and node.parent.type in (
                    "script_parameter", "foreach_statement")
            ):
                scope.reads.append((variable_name(node), node))
        found.append(scope)
    return found


def _is_assignment_target(node: Node) -> bool:
    parent = node.parent
    while parent is not None and parent.type not in ("assignment_expression", "pipeline",
                                                      "statement_list"):
        if parent.type == "left_assignment_expression":
            return True
        parent = parent.parent
    return False


WRAPPERS = frozenset({
    "pipeline", "logical_expression", "bitwise_expression", "comparison_expression",
    "additive_expression", "multiplicative_expression", "format_expression", "range_expression",
    "array_literal_expression", "unary_expression", "expression_with_unary_operator",
    "parenthesized_expression",
})


def unwrap(node: Node) -> Node:
    """The expression a chain of one-child grammar levels stands for (`pipeline` ...
    `unary_expression` around one `$vm.State`)."""
    while node.type in WRAPPERS:
        named = [c for c in node.children if c.is_named]
        if len(named) != 1:
            break
        node = named[0]
    return node


def hash_entries(tree: Tree) -> Iterator[tuple[str, Node]]:
    """Every `Key = value` of every hashtable literal (a record the script prints, or a
    cmdlet's splatted arguments), the value unwrapped."""
    for node in walk(tree.root_node):
        if node.type == "hash_entry":
            key, value = [c for c in node.children if c.is_named][:2]
            yield text(key), unwrap(value)


def outputs(value: Node) -> list[Node]:
    """What a value can be: `$(if (...) { a } else { b })` is a or b."""
    if value.type != "sub_expression":
        return [value]
    found = []
    for node in walk(value):
        if node.type == "statement_block":
            statements = next((c for c in node.children if c.type == "statement_list"), None)
            for pipeline in statements.children if statements is not None else []:
                if pipeline.type == "pipeline":
                    found += outputs(unwrap(pipeline))
    return found or [value]
