"""Runs SPARQL queries inside a gunicorn sync worker, under a watchdog that ends the worker on an overrun.

pyoxigraph cannot cancel a running query, but it releases the GIL while it evaluates one, so another
thread of the same process can act meanwhile. `hkgraph serve` runs gunicorn sync workers (one request at a
time each) forked from a master that loaded the app, and the master forks a fresh worker for one that
exits. So a query runs in its worker, and a watchdog thread looks at it every TICK seconds:

- past its time limit, the watchdog writes the app's own 503 answer on the client's socket (gunicorn
  gives it in environ["gunicorn.socket"]) and ends the worker;
- past its memory allowance (the worker's resident memory grew by more than query_memory_bytes since the
  query started), the same with a 503 saying so.

While a query runs, the worker can open no file and no socket (RLIMIT_NOFILE is lowered to the lowest
free descriptor), so a SERVICE that got past the guard cannot connect. A worker's address space may grow
by at most four times the memory allowance plus twice its caches (RLIMIT_AS, set when it starts; room for
a vector that doubles at the allowance before the watchdog looks): a query that grows faster than the
watchdog looks is stopped by the allocator, which ends the worker without an answer (its client sees the
connection close).
"""

from __future__ import annotations

import contextvars
import logging
import os
import resource
import socket
import threading
import time
from dataclasses import dataclass

from hkgraph.errors import QueryOverMemory, QueryTimeout

TICK = 0.1  # seconds between the watchdog's looks at the running query
DRAIN_SECONDS = 0.2  # how long a dying worker reads what its client still sends (so it gets no reset)
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
    environ: dict  # the request's WSGI environ
    context: contextvars.Context  # the request's context, to build the answer in
    memory_ceiling: int  # resident bytes beyond which the query is stopped (0: no memory limit)


class Watchdog:
    """One per app: runs a query in this worker under its limits; ends the worker if it overruns them.

    answer(error, seconds, environ), run in the request's context, gives the app's whole HTTP response to the
    error as bytes (the watchdog writes it itself: the worker's own thread is busy inside the query)."""

    def __init__(self, memory_limit: int, answer, files_to_open: int = 0, cache_bytes: int = 0):
        self.memory_limit = memory_limit
        self.answer = answer
        self.files_to_open = files_to_open  # an on-disk store opens files while a query reads it
        self.cache_bytes = cache_bytes  # what the worker's result caches may hold
        self.lock = threading.Lock()
        self.watch: Watch | None = None
        self.pid = 0  # the process whose watchdog thread runs (threads do not survive fork)
        self.files = (0, 0)  # the worker's own RLIMIT_NOFILE, put back after each query
        self.address_space = (0, 0)  # the worker's own RLIMIT_AS, put back when it ends
        self.statm = -1  # /proc/self/statm, kept open: no descriptor is free while a query runs

    def run(self, timeout: float, environ: dict, work):
        """work() under the time limit and the limits on files and memory; its result."""
        if self.pid != os.getpid():
            self.start()
        client = environ["gunicorn.socket"]
        lowest_free = os.dup(client.fileno())
        os.close(lowest_free)
        resource.setrlimit(resource.RLIMIT_NOFILE, (lowest_free + self.files_to_open, self.files[1]))
        ceiling = self.memory()[1] + self.memory_limit if self.memory_limit > 0 else 0
        self.watch = Watch(
            timeout,
            time.monotonic() + timeout,
            time.perf_counter(),
            client,
            environ,
            contextvars.copy_context(),
            ceiling,
        )
        try:
            return work()
        except MemoryError:
            raise QueryOverMemory(MEMORY_MESSAGE) from None
        finally:
            with self.lock:
                self.watch = None
                resource.setrlimit(resource.RLIMIT_NOFILE, self.files)

    def start(self) -> None:
        """Start watching in this process: its watchdog thread, and its address-space backstop."""
        self.pid = os.getpid()
        self.files = resource.getrlimit(resource.RLIMIT_NOFILE)
        self.address_space = resource.getrlimit(resource.RLIMIT_AS)
        self.statm = os.open("/proc/self/statm", os.O_RDONLY)
        if self.memory_limit > 0:
            growth = 4 * self.memory_limit + 2 * self.cache_bytes
            resource.setrlimit(resource.RLIMIT_AS, (self.memory()[0] + growth, self.address_space[1]))
        threading.Thread(target=self.look, name="hkgraph-watchdog", daemon=True).start()

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
        if watch.memory_ceiling and self.memory()[1] > watch.memory_ceiling:
            return QueryOverMemory(MEMORY_MESSAGE)
        return None

    def stop(self, watch: Watch, error) -> None:
        """Answer the client with the app's response to the error, then end this worker; never returns.
        (The lock stays held, so the query's own thread cannot answer too; the limits go back, so the
        query, still running meanwhile, does not make the allocator end the process before the answer.)"""
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, self.files)
            resource.setrlimit(resource.RLIMIT_AS, self.address_space)
            reason = error.message.split(";")[0].split(". ")[0]
            log.warning("%s; this worker ends and gunicorn starts another", reason)
            watch.client.sendall(
                watch.context.run(self.answer, error, time.perf_counter() - watch.started, watch.environ)
            )
            close_gracefully(watch.client)
        except OSError as err:  # the client hung up while its query ran (it was not going to wait)
            log.info("the client of the stopped query had gone: %s", err.strerror or err)
        except Exception:  # whatever happened, the worker must end
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
