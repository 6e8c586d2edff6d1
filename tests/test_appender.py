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
    _append_in_a_child(writer, b"child\n", hold=writer._cond)  # held at the fork, as when the thread is mid-queue
    writer.sync()
    assert path.read_bytes() == b"parent\nchild\n"
    os.close(fd)


def _append_in_a_child(writer, block: bytes, hold=None) -> None:
    """Fork (holding hold, if given); the child appends block and syncs, and must not wait on the parent's lock or
    thread; the parent waits for it to exit cleanly."""
    import contextlib

    with hold if hold is not None else contextlib.nullcontext():
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                writer.append(block)
                writer.sync()
                code = 0
            finally:
                os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert status == 0, "the child failed to append"


def _direct_writes_work(directory) -> bool:
    """Whether this file system takes O_DIRECT writes (tmpfs does not)."""
    import mmap

    probe = os.path.join(directory, "probe")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o600)
    except (OSError, AttributeError):
        return False
    try:
        os.write(fd, mmap.mmap(-1, 4096))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
        os.remove(probe)


def _blocks(seed: int, count: int) -> list[bytes]:
    import random

    rnd = random.Random(seed)
    sizes = [1, 4095, 4096, 4097, 100, (4 << 20) + 3, 9 << 20, 12345, 8192, 7]
    return [bytes([65 + i % 26]) * rnd.choice(sizes) for i in range(count)]


def test_direct_writes_keep_every_byte_in_order_and_the_file_whole_after_each_block(tmp_path):
    path = tmp_path / "direct.jsonl"
    path.write_bytes(b"x" * 5000)  # an existing file whose end is not on a page boundary: appended after it
    fd = os.open(path, os.O_RDWR)
    writer = Appender(fd, direct=True)
    expected = b"x" * 5000
    for i, block in enumerate(_blocks(1, 24)):
        writer.append(block if i % 2 else bytearray(block))
        expected += block
        if i % 5 == 0:
            writer.sync()
            assert path.stat().st_size == len(expected)
            assert os.pread(fd, len(expected), 0) == expected
    writer.sync()
    assert path.read_bytes() == expected
    if _direct_writes_work(tmp_path):
        assert writer._direct is not None and writer._direct.dfd is not None, "direct writes were not used"
    os.close(fd)


def test_direct_writes_keep_bytes_written_over_in_place(tmp_path):
    path = tmp_path / "pinned.jsonl"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    writer = Appender(fd, direct=True)
    writer.append(b"a" * 10000)
    writer.write_at(b"PIN", 9000)  # in the last, partial page, which the next block writes again
    writer.write_at(b"OLD", 10)  # in a page already written past the page cache
    writer.append(b"b" * (5 << 20))
    writer.sync()
    expected = bytearray(b"a" * 10000 + b"b" * (5 << 20))
    expected[9000:9003], expected[10:13] = b"PIN", b"OLD"
    assert path.read_bytes() == bytes(expected)
    os.close(fd)


def test_a_fork_turns_direct_writes_into_appends_in_both_processes(tmp_path):
    path = tmp_path / "forked.jsonl"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    writer = Appender(fd, direct=True)
    writer.append(b"p" * 6000 + b"\n")
    writer.sync()
    _append_in_a_child(writer, b"child\n")
    writer.append(b"parent\n")
    writer.sync()
    assert path.read_bytes() == b"p" * 6000 + b"\nchild\nparent\n"
    os.close(fd)


def test_the_writer_thread_ends_when_idle_and_starts_again(tmp_path):
    import time

    path = tmp_path / "idle.jsonl"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    writer = Appender(fd, direct=True)
    writer.append(b"one\n")
    writer.sync()
    deadline = time.monotonic() + 10
    while writer._thread is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert writer._thread is None, "an idle writer thread kept running"
    writer.append(b"two\n")
    writer.sync()
    assert path.read_bytes() == b"one\ntwo\n"
    os.close(fd)


def test_direct_writes_the_kernel_refuses_fall_back_to_plain_writes(tmp_path, monkeypatch):
    import flowcept_core.appender as appender

    if not _direct_writes_work(tmp_path):
        pytest.skip("this file system takes no direct writes at all (the plain path is the only one)")
    monkeypatch.setattr(appender, "_ALIGN", 1000)  # not a multiple of the block size: the kernel says EINVAL
    path = tmp_path / "refused.jsonl"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    writer = Appender(fd, direct=True)
    blocks = _blocks(2, 12)
    for block in blocks:
        writer.append(block)
    writer.write_at(b"XY", 3)
    writer.append(b"tail\n")
    writer.sync()
    expected = bytearray(b"".join(blocks) + b"tail\n")
    expected[3:5] = b"XY"
    assert path.read_bytes() == bytes(expected)
    assert writer._direct is not None and writer._direct.dfd is None  # refused once: plain writes since
    os.close(fd)
