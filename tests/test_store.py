"""The store: timestamps it writes and its outbox of change events."""

from datetime import UTC, datetime

import pytest

from mockserver.engine.store import Store, format_time


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2024, 6, 1, 12, 0, tzinfo=UTC), "2024-06-01T12:00:00Z"),
        (datetime(2024, 6, 1, 12, 0, 0, 250000, tzinfo=UTC), "2024-06-01T12:00:00.250000Z"),
        # Years below 1000 keep four digits, or the value is no RFC 3339 date-time.
        (datetime(122, 7, 25, 0, 4, 58, 300000, tzinfo=UTC), "0122-07-25T00:04:58.300000Z"),
        (datetime(5, 1, 1, tzinfo=UTC), "0005-01-01T00:00:00Z"),
    ],
)
def test_format_time_writes_rfc_3339_for_every_year(moment: datetime, text: str) -> None:
    assert format_time(moment) == text


def test_reset_and_restore_drop_unannounced_events() -> None:
    store = Store()
    store.add_business({"id": "b1", "legal_name": "B"})
    store.mark_pristine()
    snapshot = store.snapshot()
    store.emit("CustomerCredit", "created", "b1", "c1", None)
    store.reset()
    assert store.take_events() == []
    store.emit("CustomerCredit", "updated", "b1", "c1", "x")
    store.restore(snapshot)
    assert store.take_events() == []
    store.emit("CustomerCredit", "archived", "b1", "c1", "x")
    (event,) = store.take_events()
    assert (event.type, event.entity_id, event.entity_external_id) == (
        "CustomerCredit.archived",
        "c1",
        "x",
    )
    assert store.take_events() == []


def test_random_ids_are_version_4_uuids_that_seeding_random_or_forking_never_repeats() -> None:
    import os
    import random
    import uuid

    from mockserver.engine.store import random_uuid

    ids = set()
    for _ in range(2):
        random.seed(7)  # as pytest-randomly does before every test
        for _ in range(1000):
            made = random_uuid()
            parsed = uuid.UUID(made)
            assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, made)
            ids.add(made)
    assert len(ids) == 2000
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through the pipe
        os.write(write, random_uuid().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    from_child = os.read(read, 64).decode()
    os.close(read)
    assert uuid.UUID(from_child).version == 4
    assert from_child != random_uuid()
