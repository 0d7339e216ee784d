"""German and English for the dashboard: a small catalog keyed by the English text.

The language comes from the user's switch (stored in the session), else the browser's
``Accept-Language``, else ``[dashboard] default_language``. Templates call ``_("English text")``; a
text missing from the German catalog shows in English, never as a key.
"""

from __future__ import annotations

from flask import request, session

LANGUAGES = {"en": "English", "de": "Deutsch"}

GERMAN: dict[str, str] = {
    "Checkout recovery": "Warenkorb-Erinnerungen",
    "One reminder {delay} minutes after the checkout was left ({reminders} at most, {spacing} hours apart), only with "
    "marketing consent, outside the customer's quiet hours ({start}-{end}), within the frequency cap of {cap} "
    "marketing messages per {days} days.": (
        "Eine Erinnerung {delay} Minuten nach dem verlassenen Checkout (höchstens {reminders}, {spacing} Stunden "
        "Abstand), nur mit Werbe-Einwilligung, außerhalb der Ruhezeiten des Kunden ({start}-{end}), innerhalb der "
        "Obergrenze von {cap} Werbenachrichten pro {days} Tage."
    ),
    "Recovery is switched off.": "Die Erinnerungen sind ausgeschaltet.",
    "Recovered revenue": "Zurückgewonnener Umsatz",
    "Checkout": "Checkout",
    "Reminders": "Erinnerungen",
    "Recovered": "Zurückgewonnen",
    "next": "nächste",
    "waiting": "wartet",
    "reminded": "erinnert",
    "recovered": "zurückgewonnen",
    "paid": "bezahlt",
    "skipped": "übersprungen",
    "Overview": "Übersicht",
    "Catalog": "Katalog",
    "Contacts": "Kontakte",
    "Notifications": "Benachrichtigungen",
    "Orders from chat": "Bestellungen aus dem Chat",
    "Plugins": "Plugins",
    "Jobs": "Aufgaben",
    "Setup": "Einrichtung",
    "Chat simulator": "Chat-Simulator",
    "Click-to-chat": "Click-to-Chat",
    "Log out": "Abmelden",
    "Plugin settings are shared by the whole deployment: its operator changes them.": (
        "Plugin-Einstellungen gelten für die ganze Installation: ihr Betreiber ändert sie."
    ),
    "Log in": "Anmelden",
    "E-mail": "E-Mail",
    "Password": "Passwort",
    "Skip to content": "Zum Inhalt springen",
    "Language": "Sprache",
    "Menu": "Menü",
    "Wrong e-mail or password.": "E-Mail oder Passwort ist falsch.",
    "Too many failed logins. Try again in {seconds} seconds.": (
        "Zu viele fehlgeschlagene Anmeldungen. Versuchen Sie es in {seconds} Sekunden erneut."
    ),
    "Your form expired or came from another site. Reload the page and try again.": (
        "Das Formular ist abgelaufen oder kam von einer anderen Seite. Laden Sie die Seite neu und versuchen Sie es erneut."
    ),
    "Create the first account": "Erstes Konto anlegen",
    "No dashboard user exists yet. Create one to continue.": (
        "Es gibt noch kein Dashboard-Konto. Legen Sie eines an, um fortzufahren."
    ),
    "Create account": "Konto anlegen",
    "at least 10 characters": "mindestens 10 Zeichen",
    "Sync health": "Sync-Zustand",
    "Last errors": "Letzte Fehler",
    "Messages today": "Nachrichten heute",
    "Estimated cost today": "Geschätzte Kosten heute",
    "No errors.": "Keine Fehler.",
    "Shop": "Shop",
    "Channel": "Kanal",
    "Status": "Status",
    "Started": "Gestartet",
    "Finished": "Beendet",
    "Last sync": "Letzter Sync",
    "Never synced.": "Noch nie synchronisiert.",
    "Items": "Artikel",
    "Synced": "Synchronisiert",
    "Not synced": "Nicht synchronisiert",
    "Why not synced": "Warum nicht synchronisiert",
    "Title": "Titel",
    "Stock": "Bestand",
    "Price": "Preis",
    "All": "Alle",
    "Filter": "Filtern",
    "Name": "Name",
    "Phone": "Telefon",
    "Consent": "Einwilligung",
    "Window": "Servicefenster",
    "open until {time}": "offen bis {time}",
    "closed": "geschlossen",
    "unreachable": "nicht erreichbar",
    "no marketing until {time}": "keine Werbung bis {time}",
    "Subscriptions": "Abonnements",
    "Export (JSON)": "Export (JSON)",
    "Erase": "Löschen",
    "Erase this contact and their messages? This cannot be undone.": (
        "Diesen Kontakt und seine Nachrichten löschen? Das kann nicht rückgängig gemacht werden."
    ),
    "Contact erased.": "Kontakt gelöscht.",
    "No consent recorded.": "Keine Einwilligung erfasst.",
    "Kind": "Art",
    "Recipient": "Empfänger",
    "Cost": "Kosten",
    "Billed by Meta": "Von Meta berechnet",
    "Cost per day": "Kosten pro Tag",
    "Day": "Tag",
    "Messages": "Nachrichten",
    "Our estimate": "Unsere Schätzung",
    "Reported by Meta": "Von Meta gemeldet",
    "Difference": "Differenz",
    "Other category": "Andere Kategorie",
    "free": "kostenlos",
    "Timeline": "Verlauf",
    "Created": "Erstellt",
    "Sent": "Gesendet",
    "Updated": "Aktualisiert",
    "Total": "Summe",
    "Received": "Empfangen",
    "Customer": "Kunde",
    "Nothing yet.": "Noch nichts.",
    "Installed plugins": "Installierte Plugins",
    "Version": "Version",
    "Source": "Quelle",
    "Connections": "Verbindungen",
    "Enabled": "Aktiv",
    "Settings": "Einstellungen",
    "Save": "Speichern",
    "Saved.": "Gespeichert.",
    "This plugin has no settings.": "Dieses Plugin hat keine Einstellungen.",
    "leave empty to keep the stored value": "leer lassen, um den gespeicherten Wert zu behalten",
    "Schedule": "Zeitplan",
    "Next run": "Nächster Lauf",
    "Last runs": "Letzte Läufe",
    "Run now": "Jetzt ausführen",
    "Queued.": "Eingereiht.",
    "every {n} minutes": "alle {n} Minuten",
    "daily at {time}": "täglich um {time}",
    "Step {n} of 5": "Schritt {n} von 5",
    "Connect your shop": "Shop verbinden",
    "Connect a chat channel": "Chat-Kanal verbinden",
    "Webhooks": "Webhooks",
    "First sync": "Erster Sync",
    "Test message": "Testnachricht",
    "Platform": "Plattform",
    "Test and continue": "Testen und weiter",
    "Fill in from the sandbox": "Aus der Sandbox ausfüllen",
    "Connected to {name}.": "Verbunden mit {name}.",
    "Connection test failed: {reason}": "Verbindungstest fehlgeschlagen: {reason}",
    "Fix the marked fields.": "Korrigieren Sie die markierten Felder.",
    "Continue": "Weiter",
    "Back": "Zurück",
    "Done": "Fertig",
    "Paste these into the platforms' webhook settings.": "Tragen Sie diese in die Webhook-Einstellungen der Plattformen ein.",
    "Webhook URL": "Webhook-URL",
    "Verify token": "Verify-Token",
    "Or one callback URL for the whole Meta app (every number, Page and Instagram account)": (
        "Oder eine Callback-URL für die ganze Meta-App (alle Nummern, Seiten und Instagram-Konten)"
    ),
    "Number hidden (WhatsApp username)": "Nummer verborgen (WhatsApp-Nutzername)",
    "Register automatically": "Automatisch registrieren",
    "Have the sandbox send a test webhook": "Testwebhook von der Sandbox senden lassen",
    "Waiting for a test webhook…": "Warte auf einen Testwebhook …",
    "Received a test webhook.": "Testwebhook empfangen.",
    "Start the first sync": "Ersten Sync starten",
    "Sync finished: {created} created, {updated} updated, {failed} failed.": (
        "Sync fertig: {created} angelegt, {updated} aktualisiert, {failed} fehlgeschlagen."
    ),
    "Syncing…": "Synchronisiere …",
    "Sync failed: {reason}": "Sync fehlgeschlagen: {reason}",
    "Your phone number": "Ihre Telefonnummer",
    "in international format, e.g. +49 151 12345678": "im internationalen Format, z. B. +49 151 12345678",
    "Send test message": "Testnachricht senden",
    "Template": "Vorlage",
    "Message status: {status}": "Nachrichtenstatus: {status}",
    "You are set up.": "Alles eingerichtet.",
    "Copy": "Kopieren",
    "Send": "Senden",
    "Type a message": "Nachricht eingeben",
    "Send cart": "Warenkorb senden",
    "Add to cart": "In den Warenkorb",
    "Cart": "Warenkorb",
    "You are the customer": "Sie sind der Kunde",
    "The chat simulator needs demo mode and a channel connection on a sandbox.": (
        "Der Chat-Simulator braucht den Demo-Modus und eine Kanalverbindung zu einer Sandbox."
    ),
    "Link": "Link",
    "QR code": "QR-Code",
    "Website widget": "Website-Widget",
    "Chat with us on WhatsApp": "Schreiben Sie uns auf WhatsApp",
    "Paste this into your website.": "Fügen Sie das in Ihre Website ein.",
    "Ticking the box only asks for consent: the widget opens WhatsApp with a confirmation message prefilled, and "
    "messages are allowed once the customer sends it from their own number (double opt-in).": "Das Häkchen bittet "
    "nur um Einwilligung: Das Widget öffnet WhatsApp mit einer vorausgefüllten Bestätigung, und Nachrichten sind erst "
    "erlaubt, wenn die Kundin oder der Kunde sie von der eigenen Nummer sendet (Double-Opt-in).",
    "No WhatsApp number connected yet.": "Noch keine WhatsApp-Nummer verbunden.",
    "Start setup": "Einrichtung starten",
    "Nothing is connected yet.": "Noch ist nichts verbunden.",
    "Page not found.": "Seite nicht gefunden.",
    "Request refused: {reason}": "Anfrage abgelehnt: {reason}",
    "Product": "Produkt",
    "Quantity": "Menge",
    "Reason": "Grund",
    "Order": "Bestellung",
    "Tasks in the queue": "Aufgaben in der Warteschlange",
    "Webhooks today": "Webhooks heute",
    "Active connections": "Aktive Verbindungen",
    "Came from": "Herkunft",
    "Ad": "Anzeige",
    "Post": "Beitrag",
    "Other": "Sonstiges",
    "on {date}": "am {date}",
    "last touch, 7 days": "letzter Kontakt, 7 Tage",
    # approval flows (setup wizard, shop step)
    "Connect by approving": "Per Freigabe verbinden",
    "Your shop's address": "Adresse Ihres Shops",
    "Your store's address": "Adresse Ihres Shops",
    "Connect with Shopify": "Mit Shopify verbinden",
    "Connect with WooCommerce": "Mit WooCommerce verbinden",
    "Advanced: enter API credentials by hand": "Erweitert: API-Zugangsdaten von Hand eingeben",
    "API credentials": "API-Zugangsdaten",
    "Connect": "Verbinden",
    "Client ID": "Client-ID",
    "Client secret": "Client-Secret",
    "Shop systems": "Shopsysteme",
}


def select_language(default: str) -> str:
    """The UI language for this request: the user's switch, else Accept-Language, else ``default``."""
    chosen = session.get("lang")
    if chosen in LANGUAGES:
        return chosen
    best = request.accept_languages.best_match(list(LANGUAGES))
    return best or default


def translate(text: str, language: str, **values: object) -> str:
    """``text`` in ``language``, with ``{name}`` placeholders filled from ``values``."""
    result = GERMAN.get(text, text) if language == "de" else text
    return result.format(**values) if values else result
