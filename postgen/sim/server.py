"""`SimServer`: the simulator on its own thread and event loop, for synchronous callers."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from .app import SimApp, serve
from .config import SimConfig

__all__ = ["SimServer"]

_T = TypeVar("_T")


class SimServer:
    """Runs a simulator in a daemon thread, so that a busy client loop never starves it."""

    def __init__(self, config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0):
        self.config = config or SimConfig()
        self.host = host
        self.port = port
        self._app: SimApp | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._final_stats: dict[str, Any] = {}

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT/v1`, what an OpenAI client takes as its base URL."""
        return f"http://{self.host}:{self.port}/v1"

    @property
    def root_url(self) -> str:
        """`http://HOST:PORT`, where `/stats` lives."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> str:
        """Start serving and return the base URL (`http://127.0.0.1:PORT/v1`)."""
        if self._thread is not None:
            return self.base_url
        self._ready.clear()
        self._thread = threading.Thread(target=self._run, name="postgen-sim", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            self._thread = None
            raise self._error
        return self.base_url

    def stop(self) -> None:
        """Stop serving (hung requests are cancelled) and wait for the thread to finish."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        if self._app is not None:
            self._final_stats = self._call(self._app.stats)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        self._thread = None

    def stats(self) -> dict[str, Any]:
        """The `/stats` document; after `stop`, the last one."""
        app = self._app
        if self._thread is None or app is None:
            return dict(self._final_stats)
        return self._call(app.stats)

    def reset_stats(self) -> None:
        if self._thread is not None and self._app is not None:
            self._call(self._app.reset_stats)

    def __enter__(self) -> SimServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _call(self, fn: Callable[[], _T]) -> _T:
        loop = self._loop
        assert loop is not None
        future: concurrent.futures.Future[_T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result(timeout=10)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            try:
                app = loop.run_until_complete(serve(self.config, self.host, self.port))
                self._app, self.port = app, app.port
            except BaseException as exc:
                self._error = exc
                return
            finally:
                self._ready.set()
            loop.run_forever()
            loop.run_until_complete(app.aclose())
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()
