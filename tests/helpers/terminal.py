"""Run a command the way a person does: its output on a terminal (a pseudo-terminal), so progress bars draw."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import termios
import time
from pathlib import Path


def run_in_terminal(command: list[str], cwd: Path, timeout: float) -> tuple[int, str]:
    """``(exit status, everything the command wrote to its terminal)``; killed and failed after ``timeout`` s."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))  # 120 columns, like a window
    process = subprocess.Popen(
        command, cwd=cwd, stdin=follower, stdout=follower, stderr=follower, start_new_session=True
    )
    os.close(follower)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: every process holding the terminal has ended
                break
            if not data:
                break
            chunks.append(data)
        else:
            os.killpg(process.pid, 9)
            raise TimeoutError(f"{command} still running after {timeout} s")
        return process.wait(timeout=30), b"".join(chunks).decode(errors="replace").replace("\r\n", "\n")
    finally:
        os.close(leader)
