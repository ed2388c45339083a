"""A bounded output sink: the first HEAD and the last TAIL bytes of a step's output and its size.

The middle is dropped as it arrives, so a step writing a gigabyte costs no more memory than one
writing 128 KiB. Text leaves the sink only through the process-wide redactor (``text()``).
"""

from __future__ import annotations

from collections.abc import Callable

from ...config.secrets import redactor
from .base import HEAD, TAIL


class Sink:
    def __init__(self, head: int = HEAD, tail: int = TAIL) -> None:
        self._head_max, self._tail_max = head, tail
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self._head_max - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk and self._tail_max:
            self.tail += chunk[-self._tail_max:]
            if len(self.tail) > self._tail_max:
                del self.tail[:-self._tail_max]

    @property
    def kept(self) -> int:
        return len(self.head) + len(self.tail)

    @property
    def truncated(self) -> bool:
        return self.total > self.kept

    def raw(self) -> bytes:
        """Everything written, when nothing was dropped (for JSON parsing); else b""."""
        return b"" if self.truncated else bytes(self.head + self.tail)

    def text(self) -> str:
        """The kept output as text, secrets redacted, with a marker where the middle was cut."""
        if not self.truncated:
            out = bytes(self.head + self.tail).decode("utf-8", "replace")
        else:
            omitted = self.total - self.kept
            out = (self.head.decode("utf-8", "replace") + f"\n[... {omitted} bytes omitted ...]\n"
                   + self.tail.decode("utf-8", "replace"))
        return redactor.text(out)


class LineEmitter:
    """Hands output to a live view (``StepContext.emit``) a line at a time, redacted: a secret is
    only recognisable whole, so text is held until its line ends (or MAX bytes pile up)."""

    MAX = 64 * 1024

    def __init__(self, emit: Callable[[bytes], None] | None) -> None:
        self._emit = emit
        self._buf = bytearray()

    def feed(self, chunk: bytes) -> None:
        if self._emit is None:
            return
        self._buf += chunk
        cut = max(self._buf.rfind(b"\n"), self._buf.rfind(b"\r")) + 1  # \r: a progress line redrawn
        if cut == 0 and len(self._buf) < self.MAX:
            return
        if cut == 0:
            cut = len(self._buf)
        self._send(bytes(self._buf[:cut]))
        del self._buf[:cut]

    def close(self) -> None:
        if self._emit is not None and self._buf:
            self._send(bytes(self._buf))
            self._buf.clear()

    def _send(self, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        if self._emit is not None:
            self._emit(redactor.text(text).encode())
