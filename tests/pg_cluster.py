"""A throwaway PostgreSQL cluster for tests, from Debian's server binaries (``apt-get install postgresql``).

Contract:
- ``start_postgres(tmp_dir) -> Cluster`` runs ``initdb`` into ``tmp_dir/data`` (trust auth, superuser
  ``postgres``) and starts the server on a free TCP port of 127.0.0.1, its unix socket in ``tmp_dir``.
  ``Cluster.dsn`` is the DSN of its ``postgres`` database, ``Cluster.create_database()`` makes a fresh,
  empty database and returns its DSN, ``Cluster.stop()`` stops the server (``pg_ctl stop -m immediate``).
  Durability is off (fsync, synchronous_commit): the cluster is for tests only.
- Run as root (here and in CI), the binaries run as the ``postgres`` system user (``runuser``) since
  ``initdb`` refuses root; ``tmp_dir`` is then chowned to it, and every folder above it must be
  traversable by that user (pytest's own ``tmp_path`` is not: the fixture uses a folder under /tmp).
- The fixture ``postgres_dsn`` gives each test its own database on one cluster per test session (started
  on first use, stopped when the session ends). A test module uses it with
  ``from pg_cluster import postgres_dsn  # noqa: F401`` (tests/ is on ``sys.path``).
- Missing binaries FAIL the test with the command that installs them; nothing here skips.

Not done: a server left behind by a killed pytest process is not reaped (it dies with the machine).
"""
from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["Cluster", "PostgresUnavailable", "postgres_dsn", "start_postgres"]

INSTALL_HINT = "apt-get install postgresql  (Debian/Ubuntu: the server binaries initdb and pg_ctl)"


class PostgresUnavailable(RuntimeError):
    """The server binaries are missing or the cluster did not start; the message says what to do."""


def _bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` that has initdb and pg_ctl."""
    found = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    found = [d for d in found if (d / "pg_ctl").exists()]
    if not found:
        raise PostgresUnavailable(f"PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb); "
                                  f"install them: {INSTALL_HINT}")
    return max(found, key=lambda d: float(d.parent.name) if d.parent.name.replace(".", "").isdigit() else 0.0)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    root: Path
    port: int
    bin_dir: Path
    as_postgres: bool  # the binaries run as the postgres system user (we are root)
    _names = itertools.count()

    @property
    def dsn(self) -> str:
        return self.dsn_of("postgres")

    def dsn_of(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A new empty database (a few ms: copied from template1); its DSN."""
        import psycopg

        name = f"test_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn_of(name)

    def stop(self) -> None:
        _run(self, "pg_ctl", "stop", "-D", str(self.root / "data"), "-m", "immediate", "-w", check=False)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.root / "server.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"


def _run(cluster: Cluster, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [str(cluster.bin_dir / tool), *args]
    if cluster.as_postgres:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=cluster.root)
    if check and out.returncode != 0:
        raise PostgresUnavailable(f"{tool} failed ({out.returncode}): {out.stderr.strip() or out.stdout.strip()}\n"
                                  f"{cluster.log_tail()}")
    return out


def start_postgres(tmp_dir: str | os.PathLike[str]) -> Cluster:
    """initdb into ``tmp_dir`` and start the server; raises ``PostgresUnavailable`` with the fix."""
    root = Path(tmp_dir)
    root.mkdir(parents=True, exist_ok=True)
    as_postgres = os.geteuid() == 0
    if as_postgres:
        if shutil.which("runuser") is None:
            raise PostgresUnavailable("running as root, but runuser (util-linux) is missing to run initdb as "
                                      "the postgres user; install it: apt-get install util-linux")
        try:
            import pwd

            user = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresUnavailable(f"running as root, but there is no postgres system user to run initdb "
                                      f"as; it comes with the server package: {INSTALL_HINT}") from None
        os.chown(root, user.pw_uid, user.pw_gid)
    cluster = Cluster(root=root, port=0, bin_dir=_bin_dir(), as_postgres=as_postgres)
    _run(cluster, "initdb", "-D", str(root / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8",
         "--no-sync", "--locale=C")
    for attempt in range(3):  # a free port may be taken between choosing it and the server binding it
        cluster.port = _free_port()
        options = (f"-p {cluster.port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   f"-c synchronous_commit=off -c full_page_writes=off")
        out = _run(cluster, "pg_ctl", "start", "-D", str(root / "data"), "-l", str(root / "server.log"),
                   "-w", "-t", "30", "-o", options, check=False)
        if out.returncode == 0:
            return cluster
    raise PostgresUnavailable(f"the PostgreSQL test server did not start: {out.stderr.strip()}\n"
                              f"{cluster.log_tail()}")


_CLUSTER: Cluster | PostgresUnavailable | None = None  # one per test session, started on first use


@pytest.fixture
def postgres_dsn(request) -> str:
    """The DSN of a fresh database of its own on the session's throwaway PostgreSQL cluster."""
    global _CLUSTER
    if _CLUSTER is None:
        # Not pytest's tmp_path: as root, the postgres user must reach the folder, and the unix socket's
        # path must stay under ~100 bytes.
        root = Path(tempfile.mkdtemp(prefix="agentspec-pg-"))
        try:
            cluster = start_postgres(root)
        except PostgresUnavailable as exc:
            shutil.rmtree(root, ignore_errors=True)
            _CLUSTER = exc
        else:
            _CLUSTER = cluster

            def stop() -> None:
                cluster.stop()
                shutil.rmtree(root, ignore_errors=True)

            request.config.add_cleanup(stop)
    if isinstance(_CLUSTER, PostgresUnavailable):
        pytest.fail(str(_CLUSTER), pytrace=False)
    return _CLUSTER.create_database()
