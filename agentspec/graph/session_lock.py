"""One process per saved session: an exclusive lock on its folder while a process has it open.

Contract: ``SessionLock(directory, name)`` takes ``directory/session.lock`` with ``flock`` (exclusive,
non-blocking) and writes the holder's pid into it; a second opener, in this process or another, gets
an ``AgentSpecError`` (code ``session_busy``) naming the holder. ``release()`` frees it; the OS frees
it when the holder dies, kill -9 included, so a crash never leaves a session locked.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from agentspec.errors import AgentSpecError

__all__ = ["SessionLock"]


class SessionLock:
    """The lock of one saved session's folder (module docstring)."""

    def __init__(self, directory: Path, name: str):
        self.path = Path(directory) / "session.lock"
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            raise AgentSpecError(
                f"session {name!r} is open in another process" + (f" (pid {holder})" if holder else ""),
                hint="One process at a time may hold a conversation: close the other chat, or use another "
                "--session name.", code="session_busy") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        """Free the lock (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = None
