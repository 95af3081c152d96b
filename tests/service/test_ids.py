"""service.ids.uuid7_hex: version-7 UUIDs (RFC 9562) as 32 hex digits, unique, ordered by time within a process,
and different across a fork."""
from __future__ import annotations

import os
import time
import uuid

import pytest

from service.ids import uuid7_hex


def test_uuid7_hex_is_a_version_7_uuid_in_hex_carrying_the_time():
    before = time.time_ns() // 1_000_000
    texts = [uuid7_hex() for _ in range(5000)]
    after = time.time_ns() // 1_000_000
    for text in texts:
        parsed = uuid.UUID(text)
        assert len(text) == 32 and text == parsed.hex
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert before <= parsed.int >> 80 <= after
    assert len(set(texts)) == len(texts)


def test_ids_of_one_process_sort_in_creation_order():
    texts = [uuid7_hex() for _ in range(5000)]
    assert texts == sorted(texts)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_makes_ids_the_parent_never_makes():
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:                                   # the child: same counter state as the parent, a new node
        os.close(read)
        os.write(write, "".join(uuid7_hex() for _ in range(200)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        data = pipe.read().decode()
    os.waitpid(pid, 0)
    child = {data[i:i + 32] for i in range(0, len(data), 32)}
    parent = {uuid7_hex() for _ in range(200)}
    assert len(child) == 200 and not child & parent
    assert {t[-8:] for t in child} != {t[-8:] for t in parent}     # the node part differs
