"""Runs SPARQL queries inside a gunicorn sync worker, under a watchdog that ends the worker on an overrun.

pyoxigraph cannot cancel a running query, but it releases the GIL while it evaluates one, so another
thread of the same process can act meanwhile. `hkgraph serve` runs gunicorn sync workers (one request at a
time each) forked from a master that loaded the app, and the master forks a fresh worker for one that
exits. So a query runs in its worker, and a watchdog thread looks at it every TICK seconds:

- past its time limit, the watchdog writes the app's own 503 answer on the client's socket (gunicorn
  gives it in environ["gunicorn.socket"]) and ends the worker;
- past its memory allowance (the worker's resident memory grew by more than query_memory_bytes since the
  watchdog first saw the query), the same with a 503 saying so.

While the query runs, the worker can open no file and no socket (RLIMIT_NOFILE is lowered to the lowest
free descriptor), so a SERVICE that got past the guard cannot connect, and its address space may grow by at
most twice the memory allowance (RLIMIT_AS): a query that grows faster than the watchdog looks is then
stopped by the allocator, which ends the worker without an answer (its client sees the connection close).
"""

from __future__ import annotations

import contextvars
import logging
import os
import resource
import socket
import threading
import time
from dataclasses import dataclass, field

from hkgraph.errors import QueryOverMemory, QueryTimeout

TICK = 0.1  # seconds between the watchdog's looks at the running query
DRAIN_SECONDS = 1.0  # how long a dying worker waits for its client to read the answer and close
MEMORY_MESSAGE = "the query was stopped: it needed more memory than a query may use; make it more selective"
PAGE = resource.getpagesize()
log = logging.getLogger("gunicorn.error")


def timeout_message(seconds: float) -> str:
    return (
        f"the query ran longer than its time limit of {seconds:g} s and was stopped. "
        "Make it more selective (fewer cross joins, a LIMIT), or give a larger timeout= "
        "if the server's limit allows."
    )


@dataclass
class Watch:
    """The query being run, as the watchdog sees it."""

    timeout: float
    deadline: float  # time.monotonic()
    started: float  # time.perf_counter()
    client: socket.socket
    context: contextvars.Context  # the request's context, to build the answer in
    memory_ceiling: int | None = field(default=None)  # resident bytes; set when the watchdog first sees it


class Watchdog:
    """One per app: runs a query in this worker under its limits; ends the worker if it overruns them.

    answer(error, seconds), run in the request's context, gives the app's whole HTTP response to the error
    as bytes (the watchdog writes it itself: the worker's own thread is busy inside the query)."""

    def __init__(self, memory_limit: int, answer, files_to_open: int = 0):
        self.memory_limit = memory_limit
        self.answer = answer
        self.files_to_open = files_to_open  # an on-disk store opens files while a query reads it
        self.lock = threading.Lock()
        self.watch: Watch | None = None
        self.pid = 0  # the process whose watchdog thread runs (threads do not survive fork)
        self.limits: dict[int, tuple[int, int]] = {}  # the worker's own RLIMIT_NOFILE and RLIMIT_AS
        self.statm = -1  # /proc/self/statm, kept open: no descriptor is free while a query runs

    def run(self, timeout: float, environ: dict, work):
        """work() under the time limit and the limits on files and memory; its result."""
        if self.pid != os.getpid():
            self.start()
        client = environ["gunicorn.socket"]
        self.lower_limits(client)
        self.watch = Watch(
            timeout, time.monotonic() + timeout, time.perf_counter(), client, contextvars.copy_context()
        )
        try:
            return work()
        except MemoryError:
            raise QueryOverMemory(MEMORY_MESSAGE) from None
        finally:
            with self.lock:
                self.watch = None
                self.restore_limits()

    def start(self) -> None:
        self.pid = os.getpid()
        self.limits = {
            kind: resource.getrlimit(kind) for kind in (resource.RLIMIT_NOFILE, resource.RLIMIT_AS)
        }
        self.statm = os.open("/proc/self/statm", os.O_RDONLY)
        threading.Thread(target=self.look, name="hkgraph-watchdog", daemon=True).start()

    def lower_limits(self, client: socket.socket) -> None:
        """No new descriptor while the query runs (beyond an on-disk store's files); its memory capped."""
        lowest_free = os.dup(client.fileno())
        os.close(lowest_free)
        hard = self.limits[resource.RLIMIT_NOFILE][1]
        resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free + self.files_to_open, hard))
        if self.memory_limit > 0:
            hard = self.limits[resource.RLIMIT_AS][1]
            resource.setrlimit(resource.RLIMIT_AS, (self.memory()[0] + 2 * self.memory_limit, hard))

    def restore_limits(self) -> None:
        for kind, limit in self.limits.items():
            resource.setrlimit(kind, limit)

    def memory(self) -> tuple[int, int]:
        """This process's mapped and resident bytes."""
        size, resident = os.pread(self.statm, 64, 0).split()[:2]
        return int(size) * PAGE, int(resident) * PAGE

    def look(self) -> None:
        """The watchdog thread: every TICK, stop the running query if it is over a limit."""
        while True:
            time.sleep(TICK)
            with self.lock:
                watch = self.watch
                try:
                    error = self.overrun(watch) if watch is not None else None
                except MemoryError:  # the query holds all the address space it may: the allocator stops it
                    continue
                if error is not None:
                    self.stop(watch, error)

    def overrun(self, watch: Watch):
        """The error for a query over its time or memory limit, else None."""
        if time.monotonic() > watch.deadline:
            return QueryTimeout(timeout_message(watch.timeout))
        if self.memory_limit > 0:
            resident = self.memory()[1]
            if watch.memory_ceiling is None:
                watch.memory_ceiling = resident + self.memory_limit
            elif resident > watch.memory_ceiling:
                return QueryOverMemory(MEMORY_MESSAGE)
        return None

    def stop(self, watch: Watch, error) -> None:
        """Answer the client with the app's response to the error, then end this worker; never returns.
        (The lock stays held, so the query's own thread cannot answer too.)"""
        try:
            self.restore_limits()
            reason = error.message.split(";")[0].split(". ")[0]
            log.warning("%s; this worker ends and gunicorn starts another", reason)
            watch.client.sendall(watch.context.run(self.answer, error, time.perf_counter() - watch.started))
            close_gracefully(watch.client)
        except Exception:  # noqa: BLE001 - whatever happened, the worker must end
            log.exception("the watchdog could not answer the client")
        finally:
            os._exit(0)


def close_gracefully(client: socket.socket) -> None:
    """Send FIN after the answer and let the client read it before the socket closes (no reset)."""
    client.shutdown(socket.SHUT_WR)
    client.settimeout(DRAIN_SECONDS)
    try:
        while client.recv(4096):
            pass
    except OSError:
        pass
