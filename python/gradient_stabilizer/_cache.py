"""A bounded least-recently-used map: the in-process caches of compiled steps
and CPU bucket tables keep at most `capacity` entries, so a run whose keys
keep changing (new shapes, new param groups) cannot grow memory without
bound."""

from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Generic, Hashable, TypeVar

V = TypeVar("V")


class LRUCache(Generic[V]):
    def __init__(self, capacity: int):
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._items: "OrderedDict[Hashable, V]" = OrderedDict()

    def get_or_make(self, key: Hashable, make: Callable[[], V]) -> V:
        """The entry of `key`, made by `make()` (and the least recently used
        entry evicted beyond `capacity`) when absent."""
        try:
            self._items.move_to_end(key)
            return self._items[key]
        except KeyError:
            value = make()  # (if it raises, nothing is cached)
            self._items[key] = value
            if len(self._items) > self.capacity:
                self._items.popitem(last=False)
            return value

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def clear(self) -> None:
        self._items.clear()
