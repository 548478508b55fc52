"""The per-process read cache: values by key, each owned by what must forget it on a change.

A plain data structure: app/worker.py decides when it is used (only while the change
listener is connected) and the listener's callbacks tell it what to forget.

A read that misses notes the cache's generation before it asks the database and keeps what
it read only if no change was forgotten meanwhile: an answer read before a change can never
be stored after the change was forgotten. Hits take no lock; stores and forgets do.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Any

ENTRY_OVERHEAD = 200  # bytes per entry besides its value (dict slots, key, tuple)
FOLLOW_SECONDS = 10.0  # longest wait for another thread's load of the same key
Load = Callable[[], Any]
Owners = Callable[[Any], Iterable[str]]


class ReadCache:
    """Values by key, each owned by the things whose change must forget it."""

    def __init__(self, max_bytes: int):
        self.max_bytes = max_bytes
        self.size = 0
        self.generation = 0  # moves on every forget: stores begun before it are dropped
        self._entries: dict[Hashable, tuple[Any, tuple[str, ...], int]] = {}
        self._keys_of: dict[str, set[Hashable]] = {}
        self._loading: dict[Hashable, threading.Event] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: Hashable) -> Any:
        entry = self._entries.get(key)
        return None if entry is None else entry[0]

    def put(self, key: Hashable, value: Any, owners: Iterable[str], size: int, generation: int):
        """Store a value read at `generation`, unless something was forgotten since."""
        size += ENTRY_OVERHEAD
        with self._lock:
            if generation != self.generation or size > self.max_bytes:
                return
            self._drop(key)
            while self._entries and self.size + size > self.max_bytes:
                self._drop(next(iter(self._entries)))  # the oldest store goes first
            owners = tuple(owners)
            self._entries[key] = (value, owners, size)
            self.size += size
            for owner in owners:
                self._keys_of.setdefault(owner, set()).add(key)

    def fill(self, key: Hashable, load: Load, owners: Owners, size: Callable[[Any], int]) -> Any:
        """Load a missing value and store it; threads missing the same key meanwhile wait
        for that one load (a change wakes a thousand watchers: one database read each
        worker, not a thousand). A waiter that finds nothing stored loads for itself."""
        with self._lock:
            generation = self.generation
            loading = self._loading.get(key)
            if loading is None:
                loading = self._loading[key] = threading.Event()
                leader = True
            else:
                leader = False
        if not leader:
            loading.wait(FOLLOW_SECONDS)
            value = self.get(key)
            return value if value is not None else self.load(key, load, owners, size)
        try:
            return self.load(key, load, owners, size, generation)
        finally:
            with self._lock:
                del self._loading[key]
            loading.set()

    def load(
        self, key: Hashable, load: Load, owners: Owners, size: Callable[[Any], int],
        generation: int | None = None,
    ) -> Any:  # fmt: skip
        """Load a value and store it unless something was forgotten since `generation`
        (by default: now, before loading)."""
        generation = self.generation if generation is None else generation
        value = load()
        if value is not None:
            self.put(key, value, owners(value), size(value), generation)
        return value

    def forget(self, owner: str) -> None:
        """Drop every value the owner's change may have made stale."""
        with self._lock:
            self.generation += 1
            for key in list(self._keys_of.get(owner, ())):
                self._drop(key)

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()
            self._keys_of.clear()
            self.size = 0

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        _, owners, size = entry
        self.size -= size
        for owner in owners:
            keys = self._keys_of.get(owner)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._keys_of[owner]
