"""Static analysis of a query before it runs: rate-limit cost, node count, page limits.

GitHub prices a query from its text alone, before executing it: every connection is
requested once per parent object, every ``first``/``last`` is assumed to be reached (so
nested connections multiply), ``nodes(ids:)`` multiplies what is below it by the number
of ids, and the sum of requests is divided by 100 and rounded (minimum 1).  The same
walk finds the limits that make GitHub reject a whole query up front: ``first``/``last``
above 100, a connection asked for ``nodes`` without either, more than 100 node ids, or
more than 500,000 possible nodes.

The walk follows GraphQL's own field collection (aliases, merged fields, inline
fragments, named fragments, ``@skip``/``@include``, variables).  Under an abstract type
(``node(id:)``'s ``Node``) it costs each possible concrete type and takes the maximum,
because only one of them can be executed for a given object.  The module only needs a
schema whose connection types are named ``...Connection``, so tests can check the
formula on a synthetic schema too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLCompositeType,
    GraphQLError,
    GraphQLField,
    GraphQLIncludeDirective,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    get_named_type,
    get_nullable_type,
    is_abstract_type,
    is_composite_type,
)
from graphql.execution.values import VariableValues, get_argument_values, get_directive_values

from .errors import github_error

MAX_PAGE_SIZE = 100
MAX_NODE_IDS = 100
MAX_NODES = 500_000


def points(requests: int) -> int:
    """GitHub's price of ``requests`` connection requests: /100, rounded half up, >= 1."""
    return max(1, (requests + 50) // 100)


@dataclass(frozen=True)
class Tally:
    """Requests and possible nodes below some point of the query."""

    requests: int = 0
    nodes: int = 0

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.requests + other.requests, self.nodes + other.nodes)


@dataclass
class Analysis:
    """What GitHub knows about a query before executing it."""

    requests: int
    node_count: int
    dry_run: bool
    errors: list[GraphQLError] = field(default_factory=list)

    @property
    def cost(self) -> int:
        """Points this query is charged."""
        return points(self.requests)


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: VariableValues | None,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.errors: dict[tuple[str, str], GraphQLError] = {}

    def error(self, message: str, error_type: str, node: FieldNode, path: list[str]) -> None:
        loc = node.loc
        key = (message, f"{loc.start}" if loc else "")
        self.errors.setdefault(key, github_error(message, error_type, node, path))

    def selections(
        self,
        sets: Sequence[SelectionSetNode],
        parent: GraphQLCompositeType,
        multiplier: int,
        path: list[str],
    ) -> Tally:
        if is_abstract_type(parent):
            best = Tally()
            for concrete in self.schema.get_possible_types(parent):
                t = self.concrete(sets, concrete, multiplier, path)
                best = Tally(max(best.requests, t.requests), max(best.nodes, t.nodes))
            return best
        assert isinstance(parent, GraphQLObjectType)
        return self.concrete(sets, parent, multiplier, path)

    def concrete(
        self,
        sets: Sequence[SelectionSetNode],
        obj: GraphQLObjectType,
        multiplier: int,
        path: list[str],
    ) -> Tally:
        groups: dict[str, list[FieldNode]] = {}
        for selection_set in sets:
            self.collect(selection_set, obj, groups, set())
        total = Tally()
        for key, nodes in groups.items():
            name = nodes[0].name.value
            field_def = obj.fields.get(name)
            if field_def is None or name.startswith("__"):
                continue
            total += self.field(field_def, nodes, multiplier, [*path, key])
        return total

    def included(self, node: SelectionNode) -> bool:
        skip = get_directive_values(GraphQLSkipDirective, node, self.variables)
        if skip and skip.get("if") is True:
            return False
        include = get_directive_values(GraphQLIncludeDirective, node, self.variables)
        return not (include and include.get("if") is False)

    def applies(self, type_name: str | None, obj: GraphQLObjectType) -> bool:
        if type_name is None or type_name == obj.name:
            return True
        condition = self.schema.get_type(type_name)
        if isinstance(condition, GraphQLInterfaceType) or is_abstract_type(condition):
            return self.schema.is_sub_type(condition, obj)
        return False

    def collect(
        self,
        selection_set: SelectionSetNode,
        obj: GraphQLObjectType,
        groups: dict[str, list[FieldNode]],
        visited: set[str],
    ) -> None:
        for selection in selection_set.selections:
            if not self.included(selection):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                groups.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                if self.applies(condition.name.value if condition else None, obj):
                    self.collect(selection.selection_set, obj, groups, visited)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if name in visited or fragment is None:
                    continue
                visited.add(name)
                if self.applies(fragment.type_condition.name.value, obj):
                    self.collect(fragment.selection_set, obj, groups, visited)

    def field(
        self,
        field_def: GraphQLField,
        nodes: list[FieldNode],
        multiplier: int,
        path: list[str],
    ) -> Tally:
        named = get_named_type(field_def.type)
        sets = [n.selection_set for n in nodes if n.selection_set]
        if not sets or not is_composite_type(named):
            return Tally()
        node = nodes[0]
        args = get_argument_values(field_def, node, self.variables)
        here = Tally()
        child_multiplier = multiplier
        if named.name.endswith("Connection"):
            page = self.page_size(args, node, path, sets)
            here = Tally(multiplier, multiplier * (page or 0))
            child_multiplier = multiplier * (page if page is not None else 1)
        elif isinstance(get_nullable_type(field_def.type), GraphQLList) and "ids" in args:
            ids = args["ids"] or []
            if len(ids) > MAX_NODE_IDS:
                self.error(
                    f"You may not provide more than {MAX_NODE_IDS} node ids; "
                    f"you provided {len(ids)}.",
                    "ARGUMENT_LIMIT",
                    node,
                    path,
                )
            here = Tally(0, multiplier * len(ids))
            child_multiplier = multiplier * len(ids)
        return here + self.selections(sets, named, child_multiplier, path)

    def page_size(
        self,
        args: dict[str, object],
        node: FieldNode,
        path: list[str],
        sets: Sequence[SelectionSetNode],
    ) -> int | None:
        name = node.name.value
        first, last = args.get("first"), args.get("last")
        for arg, value in (("first", first), ("last", last)):
            if not isinstance(value, int):
                continue
            if value < 0:
                self.error(
                    f"`{arg}` on the `{name}` connection cannot be less than zero.",
                    "EXCESSIVE_PAGINATION",
                    node,
                    path,
                )
            elif value > MAX_PAGE_SIZE:
                self.error(
                    f"Requesting {value} records on the `{name}` connection exceeds the "
                    f"`{arg}` limit of {MAX_PAGE_SIZE} records.",
                    "EXCESSIVE_PAGINATION",
                    node,
                    path,
                )
        page = first if isinstance(first, int) else last if isinstance(last, int) else None
        if page is None and self.selects_items(sets):
            self.error(
                f"You must provide a `first` or `last` value to properly paginate the "
                f"`{name}` connection.",
                "MISSING_PAGINATION_BOUNDARIES",
                node,
                path,
            )
        return max(0, min(page, MAX_PAGE_SIZE)) if page is not None else None

    def selects_items(self, sets: Sequence[SelectionSetNode]) -> bool:
        """Whether a connection's selection asks for ``nodes``/``edges`` (not just counts)."""
        stack = list(sets)
        seen: set[str] = set()
        while stack:
            for selection in stack.pop().selections:
                if isinstance(selection, FieldNode):
                    if selection.name.value in ("nodes", "edges"):
                        return True
                elif isinstance(selection, InlineFragmentNode):
                    stack.append(selection.selection_set)
                elif isinstance(selection, FragmentSpreadNode):
                    fragment = self.fragments.get(selection.name.value)
                    if fragment and selection.name.value not in seen:
                        seen.add(selection.name.value)
                        stack.append(fragment.selection_set)
        return False


def analyze(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    variables: VariableValues | None = None,
) -> Analysis:
    """Cost, node count, dry-run flag and up-front errors of one (validated) operation."""
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    walker = _Walker(schema, fragments, variables)
    root = schema.get_root_type(operation.operation)
    assert root is not None
    tally = walker.selections([operation.selection_set], root, 1, [])
    errors = list(walker.errors.values())
    if tally.nodes > MAX_NODES and not errors:
        errors.append(
            github_error(
                f"This query requests up to {tally.nodes:,} possible nodes which exceeds "
                f"the maximum limit of {MAX_NODES:,}.",
                "MAX_NODE_LIMIT_EXCEEDED",
            )
        )
    return Analysis(tally.requests, tally.nodes, _is_dry_run(walker, operation, root), errors)


def _is_dry_run(
    walker: _Walker, operation: OperationDefinitionNode, root: GraphQLObjectType
) -> bool:
    groups: dict[str, list[FieldNode]] = {}
    walker.collect(operation.selection_set, root, groups, set())
    rate_limit = root.fields.get("rateLimit")
    for nodes in groups.values():
        if rate_limit is None or nodes[0].name.value != "rateLimit":
            continue
        if get_argument_values(rate_limit, nodes[0], walker.variables).get("dryRun"):
            return True
    return False
