"""German for the onboarding pages, added to the dashboard's catalog (:mod:`connector.dashboard.i18n`)."""

from __future__ import annotations

from connector.dashboard import i18n

GERMAN: dict[str, str] = {
    "Connect by approving at Meta": "Bei Meta freigeben und verbinden",
    "Log in to Facebook, pick or create your business, WhatsApp number and Page, approve: the connector does the "
    "rest (token, ids, webhooks, number registration, catalog).": (
        "Bei Facebook anmelden, Unternehmen, WhatsApp-Nummer und Seite wählen oder anlegen, freigeben: den Rest "
        "erledigt der Connector (Token, IDs, Webhooks, Registrierung der Nummer, Katalog)."
    ),
    "Connect WhatsApp": "WhatsApp verbinden",
    "Connect WhatsApp and keep the WhatsApp Business app": "WhatsApp verbinden und die WhatsApp-Business-App behalten",
    "Connect Facebook and Instagram": "Facebook und Instagram verbinden",
    "Needs a Meta app with Tech Provider status and a public HTTPS address:": (
        "Braucht eine Meta-App mit Tech-Provider-Status und eine öffentliche HTTPS-Adresse:"
    ),
    "prerequisites": "Voraussetzungen",
    "Prerequisites": "Voraussetzungen",
    "Without them, use the fields below (advanced).": "Ohne sie: die Felder unten (erweitert).",
    "Before you start (once)": "Bevor es losgeht (einmalig)",
    "These steps happen at Meta and at your hosting; no approval flow can do them. Everything after them is a few "
    "clicks.": (
        "Diese Schritte passieren bei Meta und beim Hosting; keine Freigabe kann sie erledigen. Danach sind es "
        "wenige Klicks."
    ),
    "Check": "Prüfen",
    "A Meta app (its id and secret in [plugins.meta])": "Eine Meta-App (ID und Secret in [plugins.meta])",
    "Tech Provider status and an Embedded Signup configuration (v4)": (
        "Tech-Provider-Status und eine Embedded-Signup-Konfiguration (v4)"
    ),
    "Business verification of the app's business portfolio": "Unternehmensverifizierung des Business-Portfolios der App",
    "An HTTPS address Meta and the shop can reach": "Eine HTTPS-Adresse, die Meta und der Shop erreichen",
    "Connect at Meta": "Bei Meta verbinden",
    "Connected:": "Verbunden:",
    "Back to the setup": "Zurück zur Einrichtung",
    "Back to the setup, try again": "Zurück zur Einrichtung, noch einmal versuchen",
    "Back to the prerequisites": "Zurück zu den Voraussetzungen",
    "Your WhatsApp Business app keeps working; its contacts and chat history are being shared with the connector.": (
        "Ihre WhatsApp-Business-App funktioniert weiter; ihre Kontakte und der Chatverlauf werden mit dem Connector "
        "geteilt."
    ),
    "One thing remains at Meta: add a payment method in WhatsApp Manager before sending templates.": (
        "Eines bleibt bei Meta: im WhatsApp Manager eine Zahlungsmethode hinterlegen, bevor Vorlagen verschickt werden."
    ),
    "Connecting by approval needs a Meta app: set [plugins.meta] app_id, app_secret and the configuration ids (or "
    "use the manual fields under 'Advanced').": (
        "Verbinden per Freigabe braucht eine Meta-App: [plugins.meta] app_id, app_secret und die Konfigurations-IDs "
        "setzen (oder die Felder unter „Erweitert“ nutzen)."
    ),
    "A public HTTPS address": "Eine öffentliche HTTPS-Adresse",
    "Meta sends messages and checks callback addresses over HTTPS only, and WooCommerce will not post its keys to a "
    "private address. This connector's address is:": (
        "Meta schickt Nachrichten und prüft Rückrufadressen nur über HTTPS, und WooCommerce schickt seine Schlüssel "
        "an keine private Adresse. Die Adresse dieses Connectors ist:"
    ),
    "Two ways to get one": "Zwei Wege dorthin",
    "{name}: nothing to paste at Meta, its webhooks were subscribed when you connected it. The check below turns "
    "green with the first message.": (
        "{name}: bei Meta ist nichts einzufügen, die Webhooks wurden beim Verbinden abonniert. Die Prüfung unten "
        "wird mit der ersten Nachricht grün."
    ),
    "A reverse proxy with a certificate in front of this server: Caddy (automatic Let's Encrypt), nginx or Traefik, "
    "on a domain pointing at a public IP.": (
        "Ein Reverse Proxy mit Zertifikat vor diesem Server: Caddy (Let's Encrypt automatisch), nginx oder Traefik, "
        "auf einer Domain, die auf eine öffentliche IP zeigt."
    ),
    "A tunnel when the server has no public IP (home, office, laptop): Cloudflare Tunnel, ngrok or Tailscale Funnel.": (
        "Ein Tunnel, wenn der Server keine öffentliche IP hat (Zuhause, Büro, Laptop): Cloudflare Tunnel, ngrok oder "
        "Tailscale Funnel."
    ),
    "Then set [server] public_url to the https:// address and restart. Until then the demo mode shows the whole "
    "setup with the sandboxes on this machine.": (
        "Dann [server] public_url auf die https://-Adresse setzen und neu starten. Bis dahin zeigt der Demo-Modus die "
        "ganze Einrichtung mit den Sandboxes auf diesem Rechner."
    ),
}


def install() -> None:
    """Add these texts to the dashboard's German catalog (the core's own entries win)."""
    for english, german in GERMAN.items():
        i18n.GERMAN.setdefault(english, german)
