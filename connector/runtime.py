"""The runtime: everything a process of the connector needs, built once from the configuration.

The web app, the CLI, the worker and the scheduler all work through one :class:`Runtime`:
configuration, database, plugins, secrets, the task queue and its handlers, scheduled jobs, and the
connection service. Building one has no side effects beyond opening a database engine, so tests can
build many.
"""

from __future__ import annotations

import logging
from typing import Any

from connector.adapters import validate_settings
from connector.config import Config
from connector.connections import ConnectionService
from connector.db import Database
from connector.errors import ConfigError, SettingsError
from connector.plugins import Plugins
from connector.secrets import SecretBox
from connector.work.queue import TaskQueue
from connector.work.registry import TaskRegistry
from connector.work.scheduler import Job, JobRegistry

log = logging.getLogger(__name__)


class Runtime:
    """Services shared by the web app, CLI, worker and scheduler of one process."""

    def __init__(self, config: Config, *, plugins: Plugins | None = None):
        self.config = config
        self.plugins = plugins or Plugins(disabled=config.plugins.disabled)
        self.plugin_settings = self._validate_plugin_settings()
        self.secrets = SecretBox(config.security.encryption_keys)
        self.db = Database(
            config.database.url,
            echo=config.database.echo,
            secrets=self.secrets,
            sqlite_synchronous=config.database.sqlite_synchronous,
        )
        self.queue = TaskQueue(
            self.db,
            lease_seconds=config.worker.lease_seconds,
            max_attempts=config.worker.max_attempts,
            aging_seconds=config.worker.priority_aging_seconds,
            heartbeat_seconds=config.worker.heartbeat_seconds,
        )
        self.tasks = TaskRegistry()
        self.jobs = JobRegistry(self.tasks)
        self.connections = ConnectionService(self)
        self._static_jobs: dict[str, Job] = {}
        self._register_core()
        self.plugins.register_jobs(self.jobs, self)
        self._static_jobs = dict(self.jobs.jobs)

    def _validate_plugin_settings(self) -> dict[str, dict[str, Any]]:
        """Check each plugin's ``[plugins.<name>]`` table against its declared fields, at start-up."""
        result: dict[str, dict[str, Any]] = {}
        for plugin, fields in self.plugins.config_fields().items():
            try:
                result[plugin] = validate_settings(fields, self.config.plugins.settings_for(plugin))
            except SettingsError as exc:
                problems = "; ".join(f"plugins.{plugin}.{key}: {msg}" for key, msg in exc.errors.items())
                raise ConfigError(f"invalid configuration: {problems}") from None
        return result

    def plugin_config(self, plugin: str) -> dict[str, Any]:
        """A plugin's settings as they apply now: the config file's ``[plugins.<name>]`` values, overlaid with
        those saved in the dashboard (``plugin_settings`` table, secrets decrypted)."""
        from sqlalchemy import select

        from connector.db.models import PluginSetting

        values = dict(self.plugin_settings.get(plugin, {}))
        with self.db.session() as session:
            for row in session.scalars(select(PluginSetting).where(PluginSetting.plugin == plugin)):
                if row.secret:
                    values[row.key] = self.secrets.decrypt(row.secret)
                elif row.value is not None:
                    values[row.key] = row.value.get("value")
        return values

    def _register_core(self) -> None:
        # Imported here: these modules register their task handlers and need the runtime's registries.
        from connector.chat import messages
        from connector.sync import catalog
        from connector.webhooks import processing

        processing.register(self.tasks)
        catalog.register(self.tasks)
        messages.register(self.tasks)

    def refresh_jobs(self) -> None:
        """Rebuild the per-connection jobs (delta and full sync of each enabled shop) next to the static ones."""
        sync = self.config.sync
        jobs = dict(self._static_jobs)
        for shop in self.connections.shops():
            if not shop.enabled:
                continue
            minutes = shop.delta_interval_minutes or sync.delta_interval_minutes
            hour, minute = (int(x) for x in (shop.full_sync_at or sync.full_sync_at).split(":"))
            jobs[f"sync.delta.{shop.id}"] = Job(
                id=f"sync.delta.{shop.id}",
                task="catalog.sync",
                trigger="interval",
                seconds=minutes * 60,
                args={"shop_connection_id": shop.id, "mode": "delta", "trigger": "schedule"},
                description=f"Incremental catalog sync of {shop.name}",
            )
            jobs[f"sync.full.{shop.id}"] = Job(
                id=f"sync.full.{shop.id}",
                task="catalog.sync",
                trigger="cron",
                hour=hour,
                minute=minute,
                args={"shop_connection_id": shop.id, "mode": "full", "trigger": "schedule"},
                description=f"Daily full reconcile of {shop.name}",
            )
        self.jobs.jobs = jobs

    def close(self) -> None:
        self.queue.close()
        self.db.dispose()
