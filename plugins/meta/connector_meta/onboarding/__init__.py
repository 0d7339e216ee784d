"""Connecting WhatsApp, Messenger and Instagram by approving in Meta's window instead of copying ids and tokens.

* :mod:`.app`: the Meta app behind it (``[plugins.meta]`` settings, or the Graph sandbox in demo mode);
* :mod:`.states`: the ``state`` of each click, used once;
* :mod:`.whatsapp`: Embedded Signup v4 (code exchange, discovery, subscription, registration, coexistence, catalog);
* :mod:`.pages`: Facebook Login for Business for Pages and Instagram accounts;
* :mod:`.prerequisites`: the one-time steps nobody can automate, each with a check;
* :mod:`.web`: the dashboard routes and the wizard's "Connect" buttons.
"""
