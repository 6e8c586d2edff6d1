"""The buffer spool's background appender: order, bounded queue, errors surfaced to the caller."""

import os
import threading

import pytest

from flowcept_core.appender import Appender


def test_blocks_are_written_in_order_and_sync_waits_for_all(tmp_path):
    path = tmp_path / "out.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    writer = Appender(fd, depth=2)
    blocks = [(b"%06d\n" % i) * (1 + i % 7) * 1000 for i in range(60)]
    for i, block in enumerate(blocks):
        writer.append(block if i % 2 else bytearray(block))
    writer.sync()
    assert path.read_bytes() == b"".join(blocks)
    os.close(fd)


def test_at_most_depth_blocks_wait(tmp_path):
    read_end, write_end = os.pipe()  # nobody reads yet: the writer thread blocks on the first write
    writer = Appender(write_end, depth=2)
    block = b"x" * (1 << 20)  # larger than the pipe's buffer
    queued = threading.Event()

    def producer():
        for _ in range(4):
            writer.append(block)
        queued.set()

    t = threading.Thread(target=producer, daemon=True)
    t.start()
    assert not queued.wait(0.5), "the appender took more blocks than its depth while the first was not written"
    got = 0
    while got < 4 * len(block):
        got += len(os.read(read_end, 1 << 20))
    assert queued.wait(5)
    writer.sync()
    os.close(read_end)
    os.close(write_end)


def test_a_failed_write_is_raised_by_the_next_call(tmp_path):
    path = tmp_path / "ro.jsonl"
    path.write_bytes(b"")
    fd = os.open(path, os.O_RDONLY)  # writing fails with EBADF, like a disk that refuses the write
    writer = Appender(fd)
    writer.append(b"lost\n")
    with pytest.raises(OSError):
        writer.sync()
    writer.sync()  # reported once
    os.close(fd)


def test_a_forked_child_writes_its_own_blocks_without_the_parents_thread(tmp_path):
    path = tmp_path / "fork.jsonl"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    writer = Appender(fd)
    writer.append(b"parent\n")
    writer.sync()
    with writer._cond:  # held at the fork, as when the parent's thread is mid-queue
        pid = os.fork()
        if pid == 0:  # the child: must not wait on the parent's lock or thread
            try:
                writer.append(b"child\n")
                writer.sync()
            finally:
                os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    writer.sync()
    assert path.read_bytes() == b"parent\nchild\n"
    os.close(fd)
