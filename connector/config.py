"""Configuration: a TOML file plus ``CONNECTOR_`` environment overrides, validated at start-up.

Layering, later wins: built-in defaults -> the TOML file -> environment variables. Nested keys use a
double underscore: ``CONNECTOR_DATABASE__URL=postgresql+psycopg://...`` overrides ``[database] url``.
An invalid value stops start-up with an error that names the key and the problem, e.g.
``worker.threads: Input should be greater than or equal to 1 (got 0)``.

``config/connector.toml`` in the repository documents every key.
"""

from __future__ import annotations

import ipaddress
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.fernet import Fernet
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from connector.cluster.settings import ClusterSettings
from connector.conversation.settings import ChatSettings
from connector.dashboard.settings import DashboardSettings
from connector.errors import ConfigError
from connector.notify.settings import NotifySettings
from connector.onboarding.settings import OnboardingSettings

ENV_PREFIX = "CONNECTOR_"
ENV_CONFIG_PATH = "CONNECTOR_CONFIG"


def _comma_list(value: Any) -> Any:
    """An environment variable's ``a,b`` as ``["a", "b"]``; anything else unchanged."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    #: 0 picks a free port (tests, `connector demo --once`).
    port: int = Field(8080, ge=0, le=65535)
    #: The URL platforms reach us at (webhooks). Defaults to http://host:port.
    public_url: str | None = None
    #: Offer the dashboard's test pages and sandbox links (set by ``connector demo``).
    demo: bool = False
    #: Addresses or networks (``10.0.0.0/8``) of reverse proxies whose ``X-Forwarded-For/-Proto/-Host/-Port``
    #: headers are believed. Empty: trust none, every client is the direct peer.
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: How many trusted proxies stand in a row in front of the connector (read that many forwarded values).
    proxy_hops: int = Field(1, ge=1, le=10)

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        return _comma_list(value)

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, networks: list[str]) -> list[str]:
        for network in networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is no IP address or network") from None
        return networks

    #: Most open client connections of ``connector serve``; 0 derives it from the process's descriptor limit
    #: (raised to the hard limit at start-up), leaving room for the database, log files and outbound calls.
    connection_limit: int = Field(0, ge=0, le=100_000)
    #: A client connection idle this many seconds (no request, or a request that stopped arriving) is closed.
    idle_timeout_seconds: int = Field(30, ge=1, le=3600)
    #: Largest request body of a webhook delivery (bytes); larger ones are refused with 413 before they are read.
    max_webhook_body_bytes: int = Field(5 * 1024 * 1024, ge=1024)
    #: Largest request body of the admin API (bytes).
    max_api_body_bytes: int = Field(1024 * 1024, ge=1024)
    #: Largest request body of anything else: dashboard forms, the public opt-in endpoint (bytes).
    max_form_body_bytes: int = Field(512 * 1024, ge=1024)
    #: Webhooks whose signed timestamp is older than this (seconds) are refused as replays (Shopify, Shopware).
    #: Shopify and Shopware retry with the original timestamp for hours, so keep it above their retry span; it must
    #: stay below the 30 days deliveries are kept for deduplication.
    webhook_max_age_seconds: int = Field(48 * 3600, ge=60, le=29 * 24 * 3600)
    #: The verify token Meta's ``GET`` check must bring to the app-level endpoint ``/webhooks/meta`` (one callback
    #: URL for every number, Page and Instagram account of a Meta app). Empty: any Meta connection's verify token.
    meta_app_verify_token: str = ""
    #: Webhooks signed this far in the future (seconds, clock skew) are refused too.
    webhook_max_skew_seconds: int = Field(300, ge=0, le=3600)
    #: ``/readyz`` fails when no worker (or no scheduler) has sent a heartbeat for this long (they beat every 10 s).
    ready_heartbeat_max_age_seconds: float = Field(60, ge=15, le=3600)


class DatabaseConfig(_Section):
    #: SQLAlchemy URL. A relative SQLite path is relative to the config file's folder.
    url: str = "sqlite:///connector.db"
    echo: bool = False
    #: SQLite only: ``FULL`` syncs the write-ahead log at every commit, so an acknowledged webhook survives a power
    #: failure; ``NORMAL`` is faster on slow disks but may lose the last commits (already answered 200) on power loss.
    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"


class SecurityConfig(_Section):
    #: Signs dashboard sessions. ``connector init`` generates one.
    secret_key: str = Field("", min_length=0)
    #: Fernet keys, newest first. Secrets are encrypted with the first and decrypted with any (rotation).
    encryption_keys: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("encryption_keys", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("encryption_keys")
    @classmethod
    def _valid_keys(cls, keys: list[str]) -> list[str]:
        for i, key in enumerate(keys):
            try:
                Fernet(key)
            except (ValueError, TypeError):
                raise ValueError(f"key {i + 1} is not a Fernet key (32 url-safe base64 bytes)") from None
        return keys


class WorkerConfig(_Section):
    #: ``embedded``: a thread pool inside ``connector serve`` claims tasks from the database.
    #: ``celery``: tasks go to Celery workers (``connector worker``); see ``[cluster]``.
    backend: Literal["embedded", "celery"] = "embedded"
    threads: int = Field(4, ge=1, le=64)
    #: Seconds between polls when the queue is empty.
    poll_interval: float = Field(0.5, gt=0, le=60)
    #: A claimed task whose worker process stopped renewing its lease (died, froze, lost the database) becomes
    #: claimable again after this many seconds. A live process renews it every ``heartbeat_seconds``, so a slow
    #: task keeps it however long it takes.
    lease_seconds: float = Field(30, ge=1)
    #: How often a worker process renews the leases of the tasks it runs (its heartbeat). At most half of
    #: ``lease_seconds``: a process is judged dead only after missing several heartbeats.
    heartbeat_seconds: float = Field(2.0, gt=0)
    max_attempts: int = Field(8, ge=1)
    #: Seconds of waiting that improve a task's priority by one, so no task starves behind a stream of more
    #: urgent ones (chat work is exempt: it always goes first). See :mod:`connector.work.priorities`.
    priority_aging_seconds: float = Field(3.0, gt=0, le=3600)

    @model_validator(mode="after")
    def _beats_within_lease(self) -> WorkerConfig:
        if self.heartbeat_seconds * 2 > self.lease_seconds:
            raise ValueError(
                f"heartbeat_seconds ({self.heartbeat_seconds:g}) must be at most half of lease_seconds "
                f"({self.lease_seconds:g}): a live worker would lose its tasks after one late heartbeat"
            )
        return self


class SchedulerConfig(_Section):
    enabled: bool = True
    timezone: str = "UTC"
    #: How late a job may start and still run (APScheduler's default of 1 s skips jobs after short stalls).
    misfire_grace_seconds: int = Field(600, ge=1)


class SyncConfig(_Section):
    """Defaults for every shop connection; a connection can override them."""

    #: Incremental sync ("what changed since the last sync"), in minutes.
    delta_interval_minutes: int = Field(60, ge=1)
    #: Daily full reconcile, as HH:MM in the scheduler's timezone.
    full_sync_at: str = "03:00"
    #: How many catalog items one push carries at most (the channel's own limit still applies).
    batch_size: int = Field(5000, ge=1, le=5000)

    @field_validator("full_sync_at")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f"must be HH:MM, got {value!r}")
        return value


class LoggingConfig(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    #: ``json``: one JSON object per line, with every ``extra=`` field of the record; ``text``: one readable line.
    format: Literal["text", "json"] = "text"
    #: Older spelling of ``format = "json"`` (kept working).
    json_format: bool = Field(False, alias="json")

    @property
    def as_json(self) -> bool:
        """Whether log lines are JSON (``format = "json"`` or the older ``json = true``)."""
        return self.format == "json" or self.json_format


class PluginsConfig(BaseModel):
    """``disabled`` lists plugin names not to load; every other key is a plugin's own settings table."""

    model_config = ConfigDict(extra="allow")

    disabled: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("disabled", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [v.strip() for v in value.split(",") if v.strip()]
        return value

    def settings_for(self, plugin: str) -> dict[str, Any]:
        extra = self.model_extra or {}
        value = extra.get(plugin, {})
        return dict(value) if isinstance(value, dict) else {}


class Config(BaseSettings):
    """The whole configuration. Build it with :func:`load_config`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid")

    server: ServerConfig = Field(default_factory=ServerConfig)
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    security: SecurityConfig = Field(default_factory=SecurityConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    scheduler: SchedulerConfig = Field(default_factory=SchedulerConfig)
    sync: SyncConfig = Field(default_factory=SyncConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    plugins: PluginsConfig = Field(default_factory=PluginsConfig)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    chat: ChatSettings = Field(default_factory=ChatSettings)
    dashboard: DashboardSettings = Field(default_factory=DashboardSettings)
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)
    onboarding: OnboardingSettings = Field(default_factory=OnboardingSettings)

    #: Where the file came from (not a setting).
    path: Path | None = Field(None, exclude=True)

    @property
    def public_url(self) -> str:
        return (self.server.public_url or f"http://{self.server.host}:{self.server.port}").rstrip("/")


def _format(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        got = item.get("input")
        # Never echo secrets back into logs or terminals.
        hidden = isinstance(got, dict) or got is None or item["loc"][0] == "security"
        shown = "" if hidden else f" (got {got!r})"
        lines.append(f"{key}: {item['msg']}{shown}")
    return "invalid configuration:\n  " + "\n  ".join(lines)


def load_config(path: str | os.PathLike[str] | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read ``path`` (or ``$CONNECTOR_CONFIG``; no file means defaults), apply the environment, validate.

    :param overrides: values that win over everything (tests, ``connector demo``), as nested dicts.
    :raises ConfigError: naming each bad key and the problem.
    """
    path = path or os.environ.get(ENV_CONFIG_PATH)
    file = Path(path).resolve() if path else None
    if file is not None and not file.is_file():
        raise ConfigError(f"config file not found: {file}")

    class _Sources(Config):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
            if file is not None:
                sources.append(TomlConfigSettingsSource(settings_cls, toml_file=file))
            return tuple(sources)

    try:
        config = _Sources(**(overrides or {}))
    except ValidationError as exc:
        raise ConfigError(_format(exc)) from None
    except ValueError as exc:  # TOML syntax errors and undecodable environment values
        raise ConfigError(f"invalid configuration: {exc}") from None
    result = Config.model_construct(**{name: getattr(config, name) for name in Config.model_fields if name != "path"})
    result.path = file
    result.database.url = _resolve_sqlite(result.database.url, file.parent if file else Path.cwd())
    return result


def _resolve_sqlite(url: str, base: Path) -> str:
    """Make a relative SQLite path relative to the config file's folder, not to wherever the command ran."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != "sqlite:///:memory:":
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url


def generate_secrets() -> dict[str, str]:
    """Fresh values for ``[security]``, used by ``connector init`` and ``connector demo``."""
    return {"secret_key": os.urandom(32).hex(), "encryption_key": Fernet.generate_key().decode()}
