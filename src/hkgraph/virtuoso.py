"""A throwaway Virtuoso (Debian's virtuoso-opensource) on loopback, with its own database folder and ini.

For the test suite, the growth benchmarks and trying `serve --endpoint` on one machine:

    with run_virtuoso(Path("/tmp/vt")) as vt:
        load_endpoint(Store.load(), vt.endpoint, user="dba", password="dba")

A fresh database has the account dba with password dba; the ports are free ones on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests

USER = "dba"
PASSWORD = "dba"  # what a new database starts with; this Virtuoso only ever listens on 127.0.0.1


@dataclass
class Virtuoso:
    """A running Virtuoso: its SPARQL endpoint, folder and process."""

    endpoint: str
    folder: Path
    process: subprocess.Popen

    @property
    def log(self) -> str:
        path = self.folder / "virtuoso.log"
        return path.read_text(errors="replace") if path.exists() else ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ini_text(folder: Path, http_port: int, sql_port: int, buffers: int, query_seconds: int) -> str:
    """virtuoso.ini for one database in folder. ResultSetMaxRows is high so that no result is cut silently
    below hkgraph's own caps; MaxQueryExecutionTime stops what the app's own time limit missed."""
    return f"""[Database]
DatabaseFile = {folder}/virtuoso.db
ErrorLogFile = {folder}/virtuoso.log
LockFile = {folder}/virtuoso.lck
TransactionFile = {folder}/virtuoso.trx
xa_persistent_file = {folder}/virtuoso.pxa
ErrorLogLevel = 7
FileExtend = 200
Striping = 0
TempStorage = TempDatabase

[TempDatabase]
DatabaseFile = {folder}/virtuoso-temp.db
TransactionFile = {folder}/virtuoso-temp.trx
Striping = 0

[Parameters]
ServerPort = 127.0.0.1:{sql_port}
DisableUnixSocket = 1
CheckpointInterval = 60
CaseMode = 2
DirsAllowed = ., {folder}
NumberOfBuffers = {buffers}
MaxDirtyBuffers = {buffers * 3 // 4}
ThreadsPerQuery = 2
MaxQueryMem = 1G

[HTTPServer]
ServerPort = 127.0.0.1:{http_port}
ServerRoot = {folder}/www
ServerThreads = 10
MaxClientConnections = 10
MaxKeepAlives = 10
KeepAliveTimeout = 10
Charset = UTF-8
EnabledDavVSP = 0

[SPARQL]
ResultSetMaxRows = 10000000
MaxQueryCostEstimationTime = 0
MaxQueryExecutionTime = {query_seconds}
"""


@contextlib.contextmanager
def run_virtuoso(folder: Path, buffers: int = 20_000, query_seconds: int = 60) -> Iterator[Virtuoso]:
    """Start Virtuoso with a new database in folder (emptied first), wait until its endpoint answers, and
    stop it when the block ends. buffers: 8 kB pages of cache (20 000 is 160 MB)."""
    binary = shutil.which("virtuoso-t")
    if binary is None:
        raise RuntimeError("virtuoso-t is not installed: `make system` installs Debian's virtuoso-opensource")
    shutil.rmtree(folder, ignore_errors=True)
    (folder / "www").mkdir(parents=True)
    http_port, sql_port = free_port(), free_port()
    ini = folder / "virtuoso.ini"
    ini.write_text(ini_text(folder, http_port, sql_port, buffers, query_seconds), encoding="utf-8")
    with open(folder / "stdout.log", "wb") as out:
        process = subprocess.Popen(
            [binary, "-f", "-c", str(ini)], cwd=folder, stdout=out, stderr=subprocess.STDOUT
        )
    server = Virtuoso(f"http://127.0.0.1:{http_port}/sparql", folder, process)
    try:
        wait_until_ready(server)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_until_ready(server: Virtuoso, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"virtuoso stopped while starting: {server.log[-2000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(server.endpoint, params={"query": "ASK {}"}, timeout=2).ok:
                return
        time.sleep(0.2)
    raise RuntimeError(f"virtuoso did not start within {seconds:g} s: {server.log[-2000:]}")
