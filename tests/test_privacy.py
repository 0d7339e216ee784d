"""Personal data at rest: encrypted columns (and the migration that encrypts existing rows), key rotation, and an
SQLite file only its owner can read, with erased content overwritten."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select, text

from connector.config import load_config
from connector.db.migrate import downgrade, upgrade
from connector.db.models import Contact, InboundMessage, WebhookEvent
from connector.db.models_conversation import ConversationState
from connector.plugins import Plugins
from connector.privacy.identifiers import terms_in
from connector.privacy.rotate import rotate_personal_data
from connector.runtime import Runtime
from tests.conftest import add_channel, make_config

PHONE = "4915199990000"
SECRET_TEXT = "Bitte an Gartenweg 7 liefern"
BODY = b'{"entry":[{"changes":[{"value":{"contacts":[{"wa_id":"4915199990000","profile":{"name":"Erika Geheim"}}]}}]}]}'


def _seed(rt: Runtime) -> int:
    """A contact with a message (carrying a referral), an address and a stored webhook; returns the contact id."""
    with rt.db.session() as session:
        channel = add_channel(session)
        contact = Contact(channel_connection_id=channel.id, channel_user_id=PHONE, phone="+" + PHONE, name="Erika")
        session.add(contact)
        session.flush()
        session.add(
            InboundMessage(
                channel_connection_id=channel.id,
                contact_id=contact.id,
                message_id="m1",
                type="InboundText",
                data={"body": SECRET_TEXT, "referral": {"source_type": "ad", "source_id": "120"}},
            )
        )
        session.add(ConversationState(contact_id=contact.id, data={}, address={"line1": "Gartenweg 7"}))
        session.add(
            WebhookEvent(
                connection_kind="channel",
                connection_id=channel.id,
                adapter="whatsapp",
                delivery_id="d1",
                topic="messages",
                method="POST",
                url="http://x/webhooks/whatsapp/1",
                headers={},
                body=BODY,
            )
        )
        return contact.id


def _raw(rt: Runtime, sql: str) -> Any:
    """A value as stored, bypassing the column types (what someone reading the database file sees)."""
    with rt.db.engine.connect() as conn:
        return conn.execute(text(sql)).scalar_one()


def _as_text(value: Any) -> str:
    return value.decode("latin-1") if isinstance(value, bytes | memoryview) else str(value)


@pytest.fixture
def rt(database_url: str, plugins: Plugins) -> Iterator[Runtime]:
    runtime = Runtime(make_config(database_url), plugins=plugins)
    upgrade(runtime.db)
    yield runtime
    runtime.close()


def test_messages_addresses_and_payloads_are_stored_encrypted_and_read_back_in_plain(rt: Runtime) -> None:
    _seed(rt)
    for sql in (
        "SELECT body FROM webhook_events",
        "SELECT data FROM inbound_messages",
        "SELECT address FROM conversation_states",
    ):
        stored = _as_text(_raw(rt, sql))
        assert PHONE not in stored and "Gartenweg" not in stored and "Erika" not in stored, sql
    with rt.db.session() as session:
        assert session.scalars(select(WebhookEvent.body)).one() == BODY
        message = session.scalars(select(InboundMessage)).one()
        assert message.data["body"] == SECRET_TEXT and message.has_referral
        assert session.scalars(select(ConversationState.address)).one() == {"line1": "Gartenweg 7"}
        # the payload is found by the person's number in any format, without decrypting anything
        subjects = session.scalars(select(WebhookEvent.subjects)).one()
    assert rt.secrets.blind_index("p:" + PHONE[-9:]) in subjects


def test_the_migration_encrypts_existing_rows_and_its_downgrade_decrypts_them(rt: Runtime) -> None:
    _seed(rt)
    downgrade(rt.db, "0004")
    assert SECRET_TEXT in _as_text(_raw(rt, "SELECT data FROM inbound_messages"))
    assert _as_text(_raw(rt, "SELECT body FROM webhook_events")) == BODY.decode()
    upgrade(rt.db)
    assert SECRET_TEXT not in _as_text(_raw(rt, "SELECT data FROM inbound_messages"))
    assert PHONE not in _as_text(_raw(rt, "SELECT body FROM webhook_events"))
    with rt.db.session() as session:
        message = session.scalars(select(InboundMessage)).one()
        assert message.data["body"] == SECRET_TEXT and message.has_referral
        event = session.scalars(select(WebhookEvent)).one()
    assert event.body == BODY
    assert rt.secrets.blind_index("p:" + PHONE[-9:]) in (event.subjects or "")


def test_rotated_keys_reencrypt_personal_data_so_the_old_key_can_go(
    rt: Runtime, database_url: str, plugins: Plugins
) -> None:
    _seed(rt)
    old_key = rt.config.security.encryption_keys[0]
    new_key = Fernet.generate_key().decode()
    both = Runtime(
        load_config(overrides={**_overrides(rt), "security": {**_security(rt), "encryption_keys": [new_key, old_key]}}),
        plugins=plugins,
    )
    try:
        assert rotate_personal_data(both) >= 4
    finally:
        both.close()
    new_only = Runtime(
        load_config(overrides={**_overrides(rt), "security": {**_security(rt), "encryption_keys": [new_key]}}),
        plugins=plugins,
    )
    try:
        with new_only.db.session() as session:
            assert session.scalars(select(InboundMessage.data)).one()["body"] == SECRET_TEXT
            event = session.scalars(select(WebhookEvent)).one()
        assert event.body == BODY
        assert new_only.secrets.blind_index("p:" + PHONE[-9:]) in (event.subjects or "")
    finally:
        new_only.close()


def _overrides(rt: Runtime) -> dict[str, Any]:
    return {"database": {"url": rt.config.database.url}, "scheduler": {"enabled": False}}


def _security(rt: Runtime) -> dict[str, Any]:
    return {"secret_key": rt.config.security.secret_key}


def test_the_sqlite_file_and_its_log_are_private_and_deleted_content_is_zeroed(
    tmp_path: Path, plugins: Plugins
) -> None:
    path = tmp_path / "connector.db"
    runtime = Runtime(make_config(f"sqlite:///{path}"), plugins=plugins)
    try:
        upgrade(runtime.db)
        contact_id = _seed(runtime)
        with runtime.db.session() as session:  # a neighbour keeps the page in use (an emptied page is reset anyway)
            channel_id = session.get(Contact, contact_id).channel_connection_id
            session.add(
                Contact(channel_connection_id=channel_id, channel_user_id="4930555", phone="+4930555", name="N")
            )
        for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
        with runtime.db.session() as session:
            session.delete(session.get(Contact, contact_id))
        runtime.db.checkpoint()
        assert b"+" + PHONE.encode() not in path.read_bytes()
        with runtime.db.engine.connect() as conn:  # on every SQLite build, not only those that default to it
            assert conn.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
    finally:
        runtime.close()
    # a database created before (world-readable) is made private when opened
    path.chmod(0o644)
    again = Runtime(make_config(f"sqlite:///{path}"), plugins=plugins)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        again.close()


def test_the_migration_encrypts_exactly_the_columns_the_models_encrypt() -> None:
    import importlib

    from connector.privacy.rotate import encrypted_columns

    migration = importlib.import_module("connector.migrations.versions.h15_gdpr")
    assert {(table, column) for table, column, _ in migration.ENCRYPTED} == {
        (table.name, column) for table, column in encrypted_columns()
    }


@pytest.mark.parametrize(
    ("payload", "terms"),
    [
        (b'{"wa_id": "4915112345678", "timestamp": "17"}', {"p:112345678"}),
        (b'{"text": "call +49 (151) 123-456 78 or 0049/151.1234 5678"}', {"p:112345678"}),
        (b"phone=%2B4915112345678&email=Kim%2Bshop%40Example.com", {"p:112345678", "e:kim+shop@example.com"}),
        (b"note=%40123456", {"p:123456"}),  # an encoded "@" ("%40") lends the number after it no digits
        ("Nummer ٠١٥١١٢٣٤٥٦٧٨ und kim@example.com".encode(), {"p:١١٢٣٤٥٦٧٨", "e:kim@example.com"}),
        (b'{"qty": 12, "price": "19.99", "zip": "10115"}', set()),
    ],
)
def test_the_blind_index_finds_numbers_and_addresses_however_they_are_written(payload: bytes, terms: set[str]) -> None:
    assert terms_in(payload) == terms
