"""Jupyter kernel managers that connect over Unix sockets (ZeroMQ's ``ipc`` transport) instead of TCP ports.

Why: with TCP, jupyter_client picks five free ports by binding and releasing them, and the kernel binds them
a moment later. Between the two any other process on the machine may take one, for instance the client end of
another kernel's connection, and the kernel then dies at start with ``ZMQError: Address already in use``. The
client waits out its whole start-up timeout (120 s) and fails, not naming the cause. Several kernels started
at once (the book's parallel executor, ``make test``'s two workers, a grading run) make the race likely; it
failed a CI run. Socket files in a folder of their own cannot be taken by anyone else.

Every kernel this project starts (the book's executor, the grading course, the claims study and the tests that
run notebooks) uses these classes: pass ``kernel_manager_class=IpcKernelManager`` to nbclient's
``NotebookClient`` (or nbgrader's ``Execute``), or use :class:`BlockingIpcKernelManager` with jupyter_client's
blocking client. Where ZeroMQ has no ``ipc`` transport (Windows) they fall back to TCP.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import zmq
from jupyter_client import AsyncKernelManager, KernelManager
from jupyter_client.localinterfaces import localhost
from traitlets import default

IPC = zmq.has("ipc")
"""Whether this ZeroMQ has the ``ipc`` transport (Unix sockets): not on Windows."""


class _OwnSocketFolder:
    """A kernel manager whose kernel's connection file and sockets lie in a new private folder (``mkdtemp``, so
    mode 0700), removed when the kernel is shut down. The folder is short (``TMPDIR``/aecore-kernel-XXXXXXXX):
    a Unix socket's path may hold at most about 100 characters."""

    transport: str
    _folder: Path | None = None

    def _socket_folder(self) -> Path:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="aecore-kernel-"))
        return self._folder

    @default("transport")
    def _transport_default(self) -> str:
        return "ipc" if IPC else "tcp"

    @default("connection_file")
    def _connection_file_default(self) -> str:
        return str(self._socket_folder() / "kernel.json")

    @default("ip")
    def _ip_default(self) -> str:
        # with ipc, jupyter_client's "ip" is the sockets' path prefix: sockets <prefix>-1 ... <prefix>-5
        return str(self._socket_folder() / "socket") if self.transport == "ipc" else localhost()

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)  # type: ignore[misc]
        if not restart and self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


class IpcKernelManager(_OwnSocketFolder, AsyncKernelManager):
    """nbclient's (and nbgrader's) kernel manager over Unix sockets: ``NotebookClient(...,
    kernel_manager_class=IpcKernelManager)``."""


class BlockingIpcKernelManager(_OwnSocketFolder, KernelManager):
    """jupyter_client's blocking ``KernelManager`` over Unix sockets (``manager.client()`` gives a blocking
    client)."""
