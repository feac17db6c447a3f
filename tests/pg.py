"""A real, throwaway PostgreSQL cluster for tests: initdb in a temp dir, a free port, gone after.

    with postgres_cluster() as url:   # postgresql+psycopg://shopwright@127.0.0.1:PORT/shopwright
        ...

Run as root (CI, these machines), initdb refuses to run, so the cluster belongs to the
`postgres` system user that the Debian package creates and every server command runs through
runuser (or su). Anything missing (initdb, psycopg, the postgres user) or a server that does not
start raises PostgresUnavailable with the reason, so callers can skip and say why.
"""

from __future__ import annotations

import glob
import os
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

USER = "shopwright"
DATABASE = "shopwright"
SYSTEM_USER = "postgres"  # who owns the cluster when we run as root


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def find_binaries() -> tuple[str, str]:
    """(initdb, pg_ctl): from PATH, else the newest /usr/lib/postgresql/*/bin (Debian)."""
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb and pg_ctl:
        return initdb, pg_ctl

    def version(directory: str) -> tuple:
        name = Path(directory).parent.name
        return tuple(int(part) for part in name.split(".") if part.isdigit())

    for directory in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True):
        initdb, pg_ctl = Path(directory, "initdb"), Path(directory, "pg_ctl")
        if os.access(initdb, os.X_OK) and os.access(pg_ctl, os.X_OK):
            return str(initdb), str(pg_ctl)
    raise PostgresUnavailable("initdb/pg_ctl not found in PATH or /usr/lib/postgresql/*/bin "
                              "(scripts/test.sh installs the Debian package `postgresql` as root)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_owner_prefix() -> tuple[list[str] | None, tuple[int, int] | None]:
    """How to run a server command: as the `postgres` user when we are root, else directly.

    Returns (runuser prefix or None for su/direct, (uid, gid) to chown the temp dir to)."""
    if os.geteuid() != 0:
        return [], None
    import pwd

    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise PostgresUnavailable(f"running as root and there is no {SYSTEM_USER!r} system user "
                                  "for initdb to run as") from None
    runuser = shutil.which("runuser") or ("/usr/sbin/runuser" if os.path.exists("/usr/sbin/runuser")
                                          else None)
    if runuser:
        return [runuser, "-u", SYSTEM_USER, "--"], (entry.pw_uid, entry.pw_gid)
    if shutil.which("su"):
        return None, (entry.pw_uid, entry.pw_gid)  # None: wrap in `su postgres -s /bin/sh -c`
    raise PostgresUnavailable("running as root without runuser or su to switch to "
                              f"the {SYSTEM_USER!r} user")


def _runner(prefix: list[str] | None, cwd: str):
    def run(argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        if prefix is None:
            argv = ["su", SYSTEM_USER, "-s", "/bin/sh", "-c", shlex.join(argv)]
        else:
            argv = prefix + argv
        return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                              check=False)
    return run


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _connect(host: str, port: int, dbname: str):
    import psycopg

    return psycopg.connect(host=host, port=port, user=USER, dbname=dbname, autocommit=True,
                           connect_timeout=10)


def url_for(port: int, database: str, host: str = "127.0.0.1") -> str:
    return f"postgresql+psycopg://{USER}@{host}:{port}/{database}"


def create_database(url: str, name: str) -> str:
    """CREATE DATABASE `name` on the server of `url`; return the URL pointing at it."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    with _connect(parsed.host, parsed.port, parsed.database) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    return str(parsed.set(database=name).render_as_string(hide_password=False))


def drop_database(url: str) -> None:
    """DROP DATABASE, closing whatever connections are still open to it (pooled engines)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    with _connect(parsed.host, parsed.port, "postgres") as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


@contextmanager
def postgres_cluster(start_timeout: float = 60) -> Iterator[str]:
    """Start a private PostgreSQL server; yield a SQLAlchemy URL to a fresh database on it."""
    try:
        import psycopg  # noqa: F401
    except ImportError as error:
        raise PostgresUnavailable(f"psycopg is not importable ({error}); "
                                  "install shopwright[postgres]") from None
    initdb, pg_ctl = find_binaries()
    prefix, owner = _as_owner_prefix()

    root = tempfile.mkdtemp(prefix="shopwright-pg-")
    data, log = os.path.join(root, "data"), os.path.join(root, "server.log")
    started = False
    run = _runner(prefix, root)
    try:
        os.chmod(root, 0o700)
        if owner:
            os.chown(root, *owner)
        result = run([initdb, "-D", data, "-A", "trust", "-U", USER, "-E", "UTF8", "--no-locale",
                      "--no-sync", "--no-instructions"])
        if result.returncode != 0:
            raise PostgresUnavailable(f"initdb failed ({result.returncode}): "
                                      f"{_tail(result.stderr or result.stdout)}")
        for attempt in range(3):  # another process may grab the free port before the server
            port = free_port()
            options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off "
                       "-c full_page_writes=off -c synchronous_commit=off "
                       "-c max_connections=100")
            result = run([pg_ctl, "-D", data, "-l", log, "-o", options, "-w",
                          "-t", str(int(start_timeout)), "start"], timeout=start_timeout + 30)
            if result.returncode == 0:
                started = True
                break
        if not started:
            server_log = Path(log).read_text(errors="replace") if os.path.exists(log) else ""
            raise PostgresUnavailable(f"pg_ctl start failed ({result.returncode}): "
                                      f"{_tail(result.stderr or result.stdout, 5)}\n"
                                      f"{_tail(server_log)}")
        try:
            url = create_database(url_for(port, "postgres"), DATABASE)
        except Exception as error:  # noqa: BLE001 - psycopg.OperationalError and friends
            raise PostgresUnavailable(f"server started but cannot be reached on port {port}: "
                                      f"{error}") from None
        yield url
    finally:
        if started:
            run([pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"], timeout=60)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":  # python tests/pg.py: how long a cluster takes to come up
    began = time.perf_counter()
    with postgres_cluster() as url:
        up = time.perf_counter() - began
        print(f"{url} up in {up:.2f}s")
    print(f"stopped and removed after {time.perf_counter() - began:.2f}s")
