"""Local HTTP servers that speak each platform's real wire protocol, for tests, the demo and benchmarks.

Every platform the connector talks to has a sandbox. Plugins talk to them over real HTTP with the
same code that talks to the real API. A sandbox that accepts what the real API rejects is a bug.

* :mod:`connector.sandbox.server`: run a Flask app on a local port in a background thread.
* :mod:`connector.sandbox.base`: what every sandbox offers (its control API client, the settings a
  connection needs to reach it).
* :mod:`connector.sandbox.seed`: the deterministic demo catalog every shop sandbox starts with.
* :mod:`connector.sandbox.webhooks`: delivering signed webhooks to the connector, with retries.
"""
