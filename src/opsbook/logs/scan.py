"""Bytes -> whole lines -> the plan's handler. Plain files are memory-mapped and searched in place
(no copy for the prefilter: ``mmap.find``); other streams (gz, a command, stdin) come as chunks
of any size. A line longer than max_line is counted unparsable without being held whole."""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable
from typing import Protocol

from .engine import Acc
from .handler import Handlers, line_handler
from .plan import Plan

BLOCK = 4 * 1024 * 1024  # bytes handed to the handler at a time
SLACK = 300.0  # seconds: a block whose first and last lines are this far inside the window is all inside


class Buffer(Protocol):
    def find(self, sub: bytes, start: int = ..., end: int = ...) -> int: ...
    def rfind(self, sub: bytes, start: int = ..., end: int = ...) -> int: ...
    def __getitem__(self, s: slice) -> bytes: ...


def _inside(buf: Buffer, s: int, e: int, h: Handlers) -> bool:
    """Whether the block's first and last lines are well inside the window (then every line is:
    a log is written in time order, give or take seconds)."""
    if h.since is None and h.until is None:
        return True
    nl = buf.find(b"\n", s, e)
    first = h.ts_of(buf[s: nl if nl >= 0 else e])
    last = h.ts_of(buf[buf.rfind(b"\n", s, e) + 1: e])
    if first is None or last is None:
        return False
    lo, hi = min(first, last), max(first, last)
    return (h.since is None or lo >= h.since + SLACK) and (h.until is None or hi < h.until - SLACK)


def _block(buf: Buffer, s: int, e: int, plan: Plan, h: Handlers, acc: Acc) -> None:
    """The whole lines of ``buf[s:e]`` (e is a newline's offset, or the end of the data)."""
    if e <= s:
        return
    handle = h.inside if _inside(buf, s, e, h) else h.checked
    lits = plan.literals
    if not lits:
        block = buf[s:e]
        acc.lines += block.count(b"\n") + 1
        for line in block.split(b"\n"):
            handle(line)
        return
    # prefilter: only the lines holding the first literal are cut out (lines are not counted)
    first, others = lits[0], lits[1:]
    find, rfind = buf.find, buf.rfind
    i = find(first, s, e)
    while i >= 0:
        ls = rfind(b"\n", s, i)
        ls = s if ls < 0 else ls + 1
        le = find(b"\n", i, e)
        if le < 0:
            le = e
        line = buf[ls:le]
        if all(o in line for o in others):
            handle(line)
        i = find(first, le, e)


def _release(m: mmap.mmap, released: int, pos: int) -> int:
    """Drop the pages before ``pos`` from this process (they stay in the page cache): RSS stays
    a few blocks, not the file's size."""
    upto = pos - pos % mmap.PAGESIZE
    if upto > released and hasattr(mmap, "MADV_DONTNEED"):
        m.madvise(mmap.MADV_DONTNEED, released, upto - released)
        return upto
    return released


def scan_file(path: str, start: int, end: int, plan: Plan, acc: Acc) -> Acc:
    """Lines starting in ``[start, end)`` of a plain file (end: a line's start or the file's end)."""
    h = line_handler(plan, acc)
    if end <= start:
        return acc
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        end = min(end, size)
        if end <= start:
            return acc
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            if hasattr(mmap, "MADV_SEQUENTIAL"):
                m.madvise(mmap.MADV_SEQUENTIAL)
            acc.bytes += end - start
            pos = start
            released = start - start % mmap.PAGESIZE
            while pos < end:
                stop = min(pos + BLOCK, end)
                # the range's last line ends at its newline, if it has one
                last = end - 1 if m[end - 1: end] == b"\n" else end
                nl = m.rfind(b"\n", pos, stop) if stop < end else last
                if nl < pos:  # no newline in a whole block: one very long line
                    nl = m.find(b"\n", stop, end)
                    nl = end if nl < 0 else nl
                    h.checked(m[pos: pos + plan.max_line + 1])
                    acc.lines += 1
                else:
                    _block(m, pos, nl, plan, h, acc)
                pos = nl + 1
                released = _release(m, released, pos)
    h.flush()
    return acc


def scan(chunks: Iterable[bytes], plan: Plan, acc: Acc) -> Acc:
    """Lines of a stream of chunks of any size."""
    h = line_handler(plan, acc)
    max_line = plan.max_line
    carry = b""
    skipping = False
    for chunk in chunks:
        acc.bytes += len(chunk)
        if skipping:
            i = chunk.find(b"\n")
            if i < 0:
                continue
            chunk = chunk[i + 1:]
            skipping = False
        if carry:
            chunk = carry + chunk
            carry = b""
        cut = chunk.rfind(b"\n")
        if cut < 0:
            if len(chunk) > max_line:
                h.checked(chunk[: max_line + 1])
                acc.lines += 1
                skipping = True
            else:
                carry = chunk
            continue
        if len(chunk) - cut - 1 > max_line:
            h.checked(chunk[cut + 1: cut + 2 + max_line])
            acc.lines += 1
            skipping = True
        else:
            carry = chunk[cut + 1:]
        _block(chunk, 0, cut, plan, h, acc)
    if carry:
        _block(carry, 0, len(carry), plan, h, acc)
    h.flush()
    return acc
