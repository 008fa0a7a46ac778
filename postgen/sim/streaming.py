"""The bodies of streamed answers: a paced generation, and llama-cpp-python's empty stream.

`aclose` always runs (the HTTP layer calls it however the stream ended): it frees the slot and
counts the request once, as streamed, preempted or abandoned.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable

from .http import StreamAborted, StreamBody
from .job import ABANDONED, Job, count_completion
from .pacing import Pacer
from .state import State
from .stream import ChunkWriter, sse_done, tokens_of

__all__ = ["AbortedBody", "SseBody"]

_STREAM_QUANTUM_S = 0.01  # tokens of a stream are written at most this late


class SseBody(StreamBody):
    """One streamed generation: role chunk, TTFT, a content chunk per token, finish, usage."""

    def __init__(self, state: State, job: Job) -> None:
        self._state = state
        self._job = job
        self._gen: AsyncGenerator[bytes, None] | None = None
        self._finished = False
        self._preempted = False
        self._closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        self._gen = self._events()
        return self._gen

    async def _events(self) -> AsyncGenerator[bytes, None]:
        s, job = self._state, self._job
        profile = s.profile
        writer = ChunkWriter(
            job.completion_id,
            job.model,
            int(time.time()),
            profile.sse_separators,
            profile.null_usage_in_chunks and job.include_usage,
        )
        yield writer.role()
        pacer = Pacer(job.request.gone, _STREAM_QUANTUM_S)
        scale = s.config.time_scale * job.slowness
        if not await pacer.wait(s.config.ttft_s * scale * s.slowdown_factor()):
            return
        for i, piece in enumerate(_chunks(tokens_of(job.content), s.config.chunk_tokens)):
            # the first token comes at TTFT; each later chunk its tokens' time after the last
            per_token = s.config.per_token_s * scale * s.slowdown_factor()
            if i and not await pacer.wait(per_token * s.config.chunk_tokens):
                return
            if i == 0 and not await pacer.flush():
                return
            yield writer.content(piece)
            if i == 0 and job.stall_s and not await _silence(job):
                return
            if s.interrupt_streams and s.gate.waiting:
                self._preempted = True  # llama-cpp-python's interrupt_requests: [DONE], no finish
                yield sse_done()
                return
        if not await pacer.flush():
            return
        yield writer.finish(job.reply.finish_reason)
        if job.include_usage:
            yield writer.usage(job.prompt_tokens, job.completion_tokens)
        self._finished = True
        yield sse_done()

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._gen is not None:
            await self._gen.aclose()
        stats = self._state.stats
        stats.stop_processing()
        self._state.gate.release()
        stats.leave()
        if self._finished:
            stats.by_status[200] += 1
            stats.streamed += 1
            count_completion(stats, self._job)
        elif self._preempted:
            stats.by_status[200] += 1
            stats.preempted += 1
        else:
            stats.by_status[ABANDONED] += 1
            stats.abandoned += 1  # the client left mid-stream (or the server is stopping)


class AbortedBody(StreamBody):
    def __init__(self, state: State, status: int) -> None:
        self._state = state
        self._status = status
        self._closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._events()

    async def _events(self) -> AsyncIterator[bytes]:
        raise StreamAborted
        yield b""  # pragma: no cover - makes this an async generator

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            self._state.stats.leave()
            self._state.stats.by_status[self._status] += 1


def _chunks(tokens: Iterable[str], size: int) -> list[str]:
    """The first token alone (time to first token is its arrival), then `size` per chunk."""
    pieces = list(tokens)
    if size <= 1 or len(pieces) <= 1:
        return pieces
    rest = pieces[1:]
    return [pieces[0], *("".join(rest[k : k + size]) for k in range(0, len(rest), size))]


async def _silence(job: Job) -> bool:
    """The stall fault: nothing for `stall_s` real seconds; False if the client left meanwhile."""
    return await Pacer(job.request.gone, 0.0).wait(job.stall_s)
