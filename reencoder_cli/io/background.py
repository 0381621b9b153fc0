"""Background threads for file I/O, so decoding and writing files overlaps the models.

libsndfile releases the GIL while it decodes or encodes, so a second thread really runs.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import TypeVar, cast

import numpy as np

from reencoder_cli.io.audio_write import AudioWriter

T = TypeVar("T")
_DONE = object()


def prefetched(items: Iterable[T], depth: int = 4) -> Iterator[T]:
    """Iterate ``items`` produced by a background thread, up to ``depth`` ahead; errors are re-raised here."""
    buffer: queue.Queue[object] = queue.Queue(depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(_DONE)
        except BaseException as exc:  # re-raised in the consumer
            buffer.put(exc)

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not _DONE:
            if isinstance(item, BaseException):
                raise item
            yield cast(T, item)  # what ``items`` yielded: neither _DONE nor an error
    finally:
        stop.set()
        thread.join()


def write_behind(writer: AudioWriter, blocks: Iterable[np.ndarray], depth: int = 4) -> None:
    """Write ``blocks`` with ``writer`` from a background thread while the next ones are computed."""
    pending: queue.Queue[np.ndarray | None] = queue.Queue(depth)
    errors: list[BaseException] = []

    def consume() -> None:
        while (block := pending.get()) is not None:
            if not errors:
                try:
                    writer.write(block)
                except BaseException as exc:  # re-raised below
                    errors.append(exc)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    try:
        for block in blocks:
            if errors:
                break
            pending.put(block)
    finally:
        pending.put(None)
        thread.join()
    if errors:
        raise errors[0]
