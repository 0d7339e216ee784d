"""The inbox: people (owners and agents) read conversations and answer customers, take over from the bot and hand
back (:mod:`.conversations` reads, :mod:`.actions` acts). The dashboard pages and the ``/api/v1/inbox`` operations
both go through these modules, inside the request's workspace (:mod:`connector.api.scope`)."""
