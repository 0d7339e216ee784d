"""The web dashboard: login, setup wizard, status pages, chat simulator, click-to-chat."""
