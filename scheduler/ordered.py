"""Run many items concurrently, keep results in input order, never lose an error."""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from scheduler.retry import RetriesExhausted

__all__ = ["OrderedResult", "run_ordered"]

I = TypeVar("I")  # noqa: E741
T = TypeVar("T")

OnDone = Callable[[int, T | None, BaseException | None], None]


@dataclass
class OrderedResult(Generic[T]):
    """Results in input order (None where failed) and the error of every failed index."""

    results: list[T | None]
    errors: dict[int, BaseException] = field(default_factory=dict)

    @property
    def succeeded(self) -> list[T]:
        """Results of the items that succeeded, in input order."""
        return [r for i, r in enumerate(self.results) if i not in self.errors]  # type: ignore[misc]

    @property
    def failed(self) -> list[int]:
        """Indexes of the items that failed, ascending."""
        return sorted(self.errors)


async def run_ordered(
    items: Sequence[I],
    fn: Callable[[I], Awaitable[T]],
    *,
    concurrency: int | None = None,
    on_done: OnDone[T] | None = None,
    second_pass: bool = True,
    fatal: tuple[type[BaseException], ...] = (),
) -> OrderedResult[T]:
    """Run `fn` on every item; retry exhausted items once more, one at a time, in order."""
    out: OrderedResult[T] = OrderedResult([None] * len(items))
    later: list[int] = []
    gate = asyncio.Semaphore(concurrency) if concurrency else None

    def settle(i: int, result: T | None, error: BaseException | None) -> None:
        if error is not None:
            out.errors[i] = error
        else:
            out.results[i] = result
        if on_done is not None:
            on_done(i, result, error)

    async def one(i: int) -> None:
        try:
            if gate is None:
                result = await fn(items[i])
            else:
                async with gate:
                    result = await fn(items[i])
        except fatal:
            raise
        except RetriesExhausted as exc:
            later.append(i) if second_pass else settle(i, None, exc)
        except Exception as exc:
            settle(i, None, exc)
        else:
            settle(i, result, None)

    try:
        async with asyncio.TaskGroup() as tg:
            for i in range(len(items)):
                tg.create_task(one(i))
    except BaseExceptionGroup as group:
        raise group.exceptions[0] from None
    for i in sorted(later):
        await _last_pass(i, items[i], fn, fatal, settle)
    return out


async def _last_pass(
    i: int,
    item: I,
    fn: Callable[[I], Awaitable[T]],
    fatal: tuple[type[BaseException], ...],
    settle: OnDone[T],
) -> None:
    try:
        result = await fn(item)
    except fatal:
        raise
    except Exception as exc:
        settle(i, None, exc)
    else:
        settle(i, result, None)
