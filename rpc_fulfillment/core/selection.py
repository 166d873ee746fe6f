"""Which properties a ``fields`` argument asks for (order.info, order.search, shipment.info...):
``null`` the base ones, ``'*'``, ``[]`` or a list holding ``'*'`` every scalar one, a list the
base ones plus those named; expansions (items, packages...) only when named."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from rpc_fulfillment.core.faults import Fault


@dataclass(frozen=True)
class Selection:
    scalars: tuple[str, ...]
    expansions: frozenset[str]

    def wants(self, name: str) -> bool:
        return name in self.expansions


@dataclass(frozen=True)
class Properties:
    """One resource's properties: ``noun`` names it in the fault for an unknown one."""

    noun: str
    base: tuple[str, ...]
    scalars: tuple[str, ...]
    expandable: tuple[str, ...]

    def select(self, fields: Any, fault: str) -> Selection:
        if fields is None:
            return Selection(self.base, frozenset())
        if isinstance(fields, str):
            fields = [fields]
        elif isinstance(fields, dict):
            # The docs call it an "object": a PHP array, which may arrive as {"0": "status", ...}.
            fields = list(fields.values())
        if not isinstance(fields, list) or not all(isinstance(name, str) for name in fields):
            raise Fault(fault, "fields must be null, '*' or an array of property names")
        scalars = list(self.scalars) if not fields or "*" in fields else list(self.base)
        expansions = set()
        for name in fields:
            if name == "*":
                continue
            if name in self.expandable:
                expansions.add(name)
            elif name not in self.scalars:
                raise Fault(fault, f"fields: unknown {self.noun} property '{name}'")
            elif name not in scalars:
                scalars.append(name)
        return Selection(tuple(scalars), frozenset(expansions))


def projected(selection: Selection, scalars: Mapping[str, Any], expansions: Mapping[str, Callable[[], Any]],
              order: Sequence[str]) -> dict[str, Any]:
    """The selected scalar properties, then the selected expansions in ``order``, each built
    only when asked for (an expansion may need rows fetched for it)."""
    result = {name: scalars[name] for name in selection.scalars}
    for name in order:
        if selection.wants(name):
            result[name] = expansions[name]()
    return result
