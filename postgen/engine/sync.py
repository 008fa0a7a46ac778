"""Run a coroutine from synchronous code, also where an event loop is already running."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def run_sync(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion, also from a thread whose event loop is running."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    # A loop already runs here (a notebook, an async app): run ours on a helper thread.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="postgen-run") as pool:
        return pool.submit(lambda: asyncio.run(make())).result()
