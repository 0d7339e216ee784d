"""The gettext catalogs are complete: every string the code and templates use is translated in every shipped
language (none missing, empty or fuzzy, placeholders intact), the committed ``.mo`` files match their ``.po``,
and money is written one way per locale wherever it appears."""

from __future__ import annotations

import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from connector.i18n import catalogs, formatting

ROOT = Path(__file__).resolve().parent.parent
TRANSLATED = [code for code in catalogs.LANGUAGES if code != catalogs.SOURCE_LANGUAGE]
_BRACES = re.compile(r"\{(\w+)\}")
FIX = "run `scripts/translations update`, translate the new or fuzzy entries in the .po files, run it again, commit"


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """Every translatable string, extracted now with the same command and mapping as scripts/translations."""
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    keywords = ["-k", "_", "-k", "N_", "-k", "gettext", "-k", "ngettext:1,2", "-k", "ConfigField:2"]
    command = [sys.executable, "-m", "babel.messages.frontend", "extract", "-F", "babel.cfg", *keywords]
    done = subprocess.run([*command, "--no-location", "-o", str(pot), "."], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    with pot.open("rb") as handle:
        return read_po(handle)


def _catalog(language: str) -> Catalog:
    with (catalogs.LOCALES_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=language)


def test_the_extraction_finds_the_dashboard_chat_and_notification_texts(extracted: Catalog) -> None:
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in extracted if m.id}
    assert "Overview" in ids  # dashboard
    assert "What can I do for you?" in ids  # chat
    assert "Track parcel" in ids  # notifications
    assert "Phone number ID" in ids  # a built-in plugin's settings label
    assert "Signs webhooks (X-Hub-Signature-256)." in ids  # and its help text (connector/i18n/extract.py)
    assert "delivered" in ids and "Order shipped" in ids  # states and message kinds the dashboard shows


@pytest.mark.parametrize("language", TRANSLATED)
def test_every_string_is_translated(extracted: Catalog, language: str) -> None:
    catalog = _catalog(language)
    missing, empty, fuzzy = [], [], []
    for message in extracted:
        if not message.id:
            continue
        found = catalog.get(message.id)
        if found is None:
            missing.append(message.id)
        elif found.fuzzy:
            fuzzy.append(message.id)
        elif not found.string or (isinstance(found.string, tuple) and not all(found.string)):
            empty.append(message.id)
    assert not missing, f"{language}: {len(missing)} strings missing ({missing[:5]}...): {FIX}"
    assert not fuzzy, f"{language}: {len(fuzzy)} fuzzy entries ({fuzzy[:5]}...): {FIX}"
    assert not empty, f"{language}: {len(empty)} untranslated entries ({empty[:5]}...): {FIX}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_translations_keep_their_placeholders_and_plural_forms(language: str) -> None:
    errors = [(message.id, [str(e) for e in problems]) for message, problems in _catalog(language).check() if problems]
    assert not errors, f"{language}: {errors[:5]}"
    # The dashboard's str.format placeholders ({name}): a translation may drop one, never invent one.
    for message in _catalog(language):
        source = message.id if isinstance(message.id, str) else message.id[-1]
        forms = message.string if isinstance(message.string, tuple) else (message.string,)
        for form in forms:
            invented = set(_BRACES.findall(form)) - set(_BRACES.findall(source))
            assert not invented, f"{language}: {source!r} -> {form!r} uses unknown placeholders {invented}"


def _forms(string: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return (string,) if isinstance(string, str) else tuple(string)


@pytest.mark.parametrize("language", TRANSLATED)
def test_the_committed_mo_file_is_compiled_from_the_po_file(language: str) -> None:
    with (catalogs.LOCALES_DIR / language / "LC_MESSAGES" / "messages.mo").open("rb") as handle:
        compiled = read_mo(handle)
    for message in _catalog(language):
        if message.id:
            found = compiled.get(message.id)
            assert found is not None and _forms(found.string) == _forms(message.string), (
                f"{language}: messages.mo is older than messages.po ({message.id!r}): run `scripts/translations compile`"
            )


def test_every_shipped_language_loads_its_catalog() -> None:
    for language in TRANSLATED:
        assert catalogs.gettext(language, "Overview") != "Overview", language
    assert catalogs.gettext("en", "Overview") == "Overview"
    assert catalogs.gettext("ja", "Overview") == "Overview"  # unknown: English, never a key


@pytest.mark.parametrize(
    ("language", "written"),
    [
        ("en", "€1,234.50"),
        ("de", "1.234,50\xa0€"),
        ("fr", "1\u202f234,50\xa0€"),
        ("es", "1.234,50\xa0€"),
        ("it", "1.234,50\xa0€"),
        ("nl", "€\xa01.234,50"),
        ("pt_BR", "€\xa01.234,50"),
    ],
)
def test_money_has_one_format_per_locale(language: str, written: str) -> None:
    """The same amount reads the same in the dashboard, the chat and the notifications: one Babel format."""
    from connector.model import Money

    assert formatting.money(Decimal("1234.5"), "EUR", language) == written
    assert formatting.money(Money(Decimal("1234.50"), "EUR"), "", language) == written
    assert formatting.money("1234.5", "EUR", language) == written


def test_a_reason_stored_in_english_is_shown_in_the_viewers_language_with_its_values() -> None:
    from connector.i18n.stored import translate

    quiet = "quiet hours of the customer (22:00-08:00 Europe/Berlin): waits until 2026-12-08 08:00"
    assert translate(quiet, "de") == "Ruhezeiten des Kunden (22:00-08:00 Europe/Berlin): wartet bis 2026-12-08 08:00"
    assert translate("the order was paid", "de") == "die Bestellung wurde bezahlt"
    assert translate("opted out", "fr") == "désinscrit"
    paused = "budget cap of 0.3 reached: raise it and resume to reach the rest"
    assert translate(paused, "nl") == "budgetlimiet van 0.3 bereikt: verhoog deze en hervat om de rest te bereiken"
    assert translate(paused, "en") == paused
    # A text no catalog message made (a platform's own error text) stays as it is.
    assert translate("131026: Message undeliverable", "de") == "131026: Message undeliverable"
