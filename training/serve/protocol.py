"""uvicorn's h11 protocol with a deadline for each request's headers.

uvicorn closes a connection that is idle after a response (its keep-alive timeout), but a client
that sends its headers a byte at a time (slowloris) resets that timer with every byte and holds
the connection as long as it likes; enough of them use up the connections. Here a connection
must deliver a whole request head within `header_timeout_s` of connecting (or of the previous
response); otherwise it is closed. The body has its own limit and deadline (training/serve/app.py).
"""
from __future__ import annotations

import asyncio

from uvicorn.protocols.http.h11_impl import H11Protocol


def guarded_h11(header_timeout_s: float) -> type[H11Protocol]:
    class GuardedH11Protocol(H11Protocol):
        _head_deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def handle_events(self) -> None:
            before = self.cycle
            super().handle_events()
            if self.cycle is not before:  # a request's head arrived: its body is the app's business
                self._disarm()

        def on_response_complete(self) -> None:
            self._arm()  # before the next request (a pipelined one disarms it at once, inside)
            super().on_response_complete()

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._head_deadline = self.loop.call_later(header_timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._head_deadline is not None:
                self._head_deadline.cancel()
                self._head_deadline = None

        def _too_slow(self) -> None:
            self._head_deadline = None
            if not self.transport.is_closing():
                self.logger.info("closed a connection whose request headers took over %g s", header_timeout_s)
                self.transport.close()

    return GuardedH11Protocol
