"""Service settings: flags or `DATALEDGER_*` environment variables, with embedded defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

DEFAULT_DATA_DIR = Path("data")

# Rate limits in the `limits` library's notation ("N/second", "N/minute;M/hour"), by class;
# each becomes DATALEDGER_RATE_<CLASS> (dots as underscores), "" for no limit of that class.
_RATE_ENV = {
    "client.writes": "DATALEDGER_RATE_CLIENT_WRITES",
    "client.registrations": "DATALEDGER_RATE_CLIENT_REGISTRATIONS",
    "client.logins": "DATALEDGER_RATE_CLIENT_LOGINS",
    "client.quotes": "DATALEDGER_RATE_CLIENT_QUOTES",
    "client.reads": "DATALEDGER_RATE_CLIENT_READS",
    "party.writes": "DATALEDGER_RATE_PARTY_WRITES",
    "party.quotes": "DATALEDGER_RATE_PARTY_QUOTES",
}


@dataclass(frozen=True)
class RateLimits:
    """What one client address or one party may cost (api/throttle.py counts it)."""

    enabled: bool = True
    redis_url: str = ""  # shared store of the counts; "" = this process's memory
    client_writes: str = "1000/second"  # statement submissions from one address
    client_registrations: str = "100/hour"  # new parties from one address (sybils)
    client_logins: str = "60/minute"
    client_quotes: str = "10/second"
    client_reads: str = "20/second"  # the expensive reads: histories, entries, search, export
    party_writes: str = "100/second"
    party_quotes: str = "30/minute;500/day"  # each quote is an entry signed by the log
    party_entries_per_day: int = 20_000
    party_bytes_per_day: int = 64 * 1024 * 1024

    def rates(self) -> dict[str, str]:
        return {name: getattr(self, name.replace(".", "_")) for name in _RATE_ENV}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> RateLimits:
        limits = cls(
            enabled=env.get("DATALEDGER_RATE_LIMITS", "on").lower() not in {"off", "0", "no"},
            redis_url=env.get("DATALEDGER_REDIS_URL", ""),
        )
        changes: dict[str, object] = {
            name.replace(".", "_"): env[var] for name, var in _RATE_ENV.items() if var in env
        }
        if env.get("DATALEDGER_QUOTA_ENTRIES_PER_DAY"):
            changes["party_entries_per_day"] = int(env["DATALEDGER_QUOTA_ENTRIES_PER_DAY"])
        if env.get("DATALEDGER_QUOTA_BYTES_PER_DAY"):
            changes["party_bytes_per_day"] = int(env["DATALEDGER_QUOTA_BYTES_PER_DAY"])
        return replace(limits, **changes)  # type: ignore[arg-type]

    def to_env(self) -> dict[str, str]:
        env = {var: self.rates()[name] for name, var in _RATE_ENV.items()}
        env["DATALEDGER_RATE_LIMITS"] = "on" if self.enabled else "off"
        env["DATALEDGER_QUOTA_ENTRIES_PER_DAY"] = str(self.party_entries_per_day)
        env["DATALEDGER_QUOTA_BYTES_PER_DAY"] = str(self.party_bytes_per_day)
        if self.redis_url:
            env["DATALEDGER_REDIS_URL"] = self.redis_url
        return env


@dataclass(frozen=True)
class Settings:
    """Everything `create_app` needs; built from the environment or directly in tests."""

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""  # default: SQLite file under data_dir
    log_key_file: Path | None = None  # default: data_dir / "log-key.json" (made on first start)
    origin: str = ""  # default: derived from the log key, see ledger.logsigner.default_origin
    max_clock_skew_seconds: int = 300
    max_body_bytes: int = 1_048_576  # 1 MiB: enough for any statement, small enough to refuse abuse
    max_batch: int = 1000
    notice_period_seconds: int = 10 * 24 * 3600  # public notice of a new registration: 10 days
    certify_interval_seconds: float = 5.0  # how often the ledger looks for notices that ended
    auto_migrate: bool = True
    # Set by `serve` for its workers: the socket of the sequencing process (api/sequencing).
    # Empty: the sequencer runs in this process, on a thread.
    sequencer_socket: str = ""
    metrics_token: str = ""  # if set, /metrics needs `Authorization: Bearer <token>`
    rate_limits: RateLimits = field(default_factory=RateLimits)
    # A C2SP tlog-policy file: the log pushes its checkpoints to the witnesses it lists.
    witness_policy: Path | None = None
    witness_min_interval_seconds: float = 1.0  # per witness, so a daily budget can be kept

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'dataledger.db').as_posix()}"

    @property
    def resolved_log_key_file(self) -> Path:
        return self.log_key_file or self.data_dir / "log-key.json"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        settings = cls(rate_limits=RateLimits.from_env(env))
        if "DATALEDGER_DATA_DIR" in env:
            settings = replace(settings, data_dir=Path(env["DATALEDGER_DATA_DIR"]))
        if env.get("DATALEDGER_DATABASE_URL"):
            settings = replace(settings, database_url=env["DATALEDGER_DATABASE_URL"])
        if env.get("DATALEDGER_LOG_KEY_FILE"):
            settings = replace(settings, log_key_file=Path(env["DATALEDGER_LOG_KEY_FILE"]))
        if env.get("DATALEDGER_ORIGIN"):
            settings = replace(settings, origin=env["DATALEDGER_ORIGIN"])
        if env.get("DATALEDGER_MAX_CLOCK_SKEW"):
            settings = replace(
                settings, max_clock_skew_seconds=int(env["DATALEDGER_MAX_CLOCK_SKEW"])
            )
        if env.get("DATALEDGER_MAX_BODY_BYTES"):
            settings = replace(settings, max_body_bytes=int(env["DATALEDGER_MAX_BODY_BYTES"]))
        if env.get("DATALEDGER_NOTICE_PERIOD"):
            settings = replace(settings, notice_period_seconds=int(env["DATALEDGER_NOTICE_PERIOD"]))
        if env.get("DATALEDGER_CERTIFY_INTERVAL"):
            settings = replace(
                settings, certify_interval_seconds=float(env["DATALEDGER_CERTIFY_INTERVAL"])
            )
        if env.get("DATALEDGER_METRICS_TOKEN"):
            settings = replace(settings, metrics_token=env["DATALEDGER_METRICS_TOKEN"])
        if env.get("DATALEDGER_SEQUENCER_SOCKET"):
            settings = replace(settings, sequencer_socket=env["DATALEDGER_SEQUENCER_SOCKET"])
        if env.get("DATALEDGER_WITNESS_POLICY"):
            settings = replace(settings, witness_policy=Path(env["DATALEDGER_WITNESS_POLICY"]))
        if env.get("DATALEDGER_WITNESS_MIN_INTERVAL"):
            settings = replace(
                settings,
                witness_min_interval_seconds=float(env["DATALEDGER_WITNESS_MIN_INTERVAL"]),
            )
        return settings

    def to_env(self) -> dict[str, str]:
        """The environment that makes `from_env` rebuild these settings (for worker processes)."""
        env = {
            "DATALEDGER_DATA_DIR": str(self.data_dir),
            "DATALEDGER_DATABASE_URL": self.resolved_database_url,
            "DATALEDGER_LOG_KEY_FILE": str(self.resolved_log_key_file),
            "DATALEDGER_MAX_CLOCK_SKEW": str(self.max_clock_skew_seconds),
            "DATALEDGER_MAX_BODY_BYTES": str(self.max_body_bytes),
            "DATALEDGER_NOTICE_PERIOD": str(self.notice_period_seconds),
            "DATALEDGER_CERTIFY_INTERVAL": str(self.certify_interval_seconds),
        }
        env.update(self.rate_limits.to_env())
        if self.origin:
            env["DATALEDGER_ORIGIN"] = self.origin
        if self.sequencer_socket:
            env["DATALEDGER_SEQUENCER_SOCKET"] = self.sequencer_socket
        if self.metrics_token:
            env["DATALEDGER_METRICS_TOKEN"] = self.metrics_token
        if self.witness_policy is not None:
            env["DATALEDGER_WITNESS_POLICY"] = str(self.witness_policy)
        env["DATALEDGER_WITNESS_MIN_INTERVAL"] = str(self.witness_min_interval_seconds)
        return env
