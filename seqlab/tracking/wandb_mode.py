"""Choose the W&B mode before ``wandb.init`` can prompt or hang.

Measured with wandb 0.31: with no mode set and no API key, ``wandb.init`` shows a login
menu and waits forever on a terminal (and raises ``UsageError`` without one); with a key but
no network it blocks about 100 s before failing. seqlab therefore decides the mode itself:

1. an explicit ``--wandb-mode online|offline|disabled`` wins;
2. else ``WANDB_DISABLED=true`` means disabled, and ``WANDB_MODE`` (``online``, ``offline``,
   ``disabled``, and the old spellings ``run``/``dryrun``) is respected;
3. else online if credentials are configured, offline if not.

"Online" is only ever returned when credentials exist — ``WANDB_API_KEY``,
``WANDB_IDENTITY_TOKEN_FILE``, an ``api_key`` in W&B's settings file, or a netrc entry for
the configured server (``WANDB_BASE_URL`` or the settings file's ``base_url``; for the
default server both api.wandb.ai and CoreWeave's api.forge.coreweave.com count) — and the
server answers a TCP connection within a couple of seconds. These checks read files and
the environment only; nothing here can prompt. Every fallback comes with the reason, which
the caller prints.
"""

from __future__ import annotations

import configparser
import netrc
import os
import socket
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from seqlab.errors import ConfigError, did_you_mean

WANDB_MODES = ("online", "offline", "disabled")
_FALLBACK_BASE_URL = "https://api.wandb.ai"
# wandb >= 0.31 defaults to CoreWeave's host and falls back to api.wandb.ai for netrc lookups.
_DEFAULT_HOSTS = ("api.wandb.ai", "api.forge.coreweave.com", "forge.coreweave.com")
_ENV_SPELLINGS = {
    "online": "online",
    "run": "online",
    "offline": "offline",
    "dryrun": "offline",
    "disabled": "disabled",
}
_TRUE = ("1", "true", "yes", "on")

Probe = Callable[[str, float], bool]
"""``probe(base_url, timeout_s) -> bool``: whether the W&B server can be reached."""


def _settings_file(env: Mapping[str, str]) -> Path:
    config_dir = env.get("WANDB_CONFIG_DIR") or str(
        Path(env.get("HOME", "~")).expanduser() / ".config" / "wandb"
    )
    return Path(config_dir).expanduser() / "settings"


def _settings_values(env: Mapping[str, str]) -> dict[str, str]:
    """The ``[default]`` section of W&B's global settings file (empty when absent or unreadable)."""
    parser = configparser.ConfigParser()
    try:
        parser.read(_settings_file(env), encoding="utf-8")
    except (configparser.Error, OSError, UnicodeDecodeError):
        return {}
    return dict(parser["default"]) if parser.has_section("default") else {}


def _default_base_url() -> str:
    """The server the installed wandb talks to by default (it changed in wandb 0.31)."""
    try:
        from wandb.sdk.lib.urls import DEFAULT_BASE_URL
    except ImportError:
        return _FALLBACK_BASE_URL
    return str(DEFAULT_BASE_URL)


def wandb_base_url(environ: Mapping[str, str] | None = None) -> str:
    """The W&B server seqlab would talk to: ``WANDB_BASE_URL``, the settings file, or the default."""
    env = os.environ if environ is None else environ
    url = env.get("WANDB_BASE_URL") or _settings_values(env).get("base_url") or _default_base_url()
    return url.rstrip("/")


def _netrc_path(env: Mapping[str, str]) -> Path:
    if env.get("NETRC"):
        return Path(env["NETRC"]).expanduser()
    home = Path(env.get("HOME", "~")).expanduser()
    unix = home / ".netrc"
    return unix if unix.exists() or not (home / "_netrc").exists() else home / "_netrc"


def _netrc_has_key(env: Mapping[str, str], base_url: str) -> bool:
    path = _netrc_path(env)
    try:
        entries = netrc.netrc(str(path))
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False
    host = urlsplit(base_url).netloc
    hosts = [host]
    if urlsplit(base_url).hostname in _DEFAULT_HOSTS:
        hosts += list(_DEFAULT_HOSTS)
    for h in hosts:
        creds = entries.authenticators(h)
        if creds and creds[2]:
            return True
    return False


def credentials_source(environ: Mapping[str, str] | None = None) -> str | None:
    """Where W&B credentials would come from (``"WANDB_API_KEY"``, a netrc path...), or None.

    Reads the environment and local files only: no network, no prompt.
    """
    env = os.environ if environ is None else environ
    if env.get("WANDB_API_KEY"):
        return "WANDB_API_KEY"
    if env.get("WANDB_IDENTITY_TOKEN_FILE"):
        return "WANDB_IDENTITY_TOKEN_FILE"
    base_url = wandb_base_url(env)
    if _netrc_has_key(env, base_url):
        return str(_netrc_path(env))
    settings = _settings_values(env)
    if settings.get("api_key"):
        return str(_settings_file(env))
    return None


def server_reachable(base_url: str, timeout_s: float = 3.0) -> bool:
    """Whether a TCP connection to the W&B server opens within ``timeout_s`` seconds."""
    parts = urlsplit(base_url)
    if not parts.hostname:
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def resolve_wandb_mode(
    requested: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    probe: Probe | None = server_reachable,
    probe_timeout_s: float = 3.0,
) -> tuple[str, str]:
    """``(mode, reason)``: the W&B mode to run in and why, one of :data:`WANDB_MODES`.

    Args:
        requested: ``--wandb-mode`` (``None``: decide from the environment).
        environ: the environment to read (default ``os.environ``).
        probe: checks that the server answers before choosing online (``None``: skip the
            check; tests pass a fake).
        probe_timeout_s: how long the probe may wait.
    """
    env = os.environ if environ is None else environ
    if requested is not None:
        mode = str(requested).strip().lower()
        if mode not in WANDB_MODES:
            raise ConfigError(
                f"--wandb-mode {requested!r} is not a W&B mode.{did_you_mean(mode, WANDB_MODES)} "
                f"Choose one of: {', '.join(WANDB_MODES)}."
            )
        wanted, why = mode, f"--wandb-mode {mode}"
    elif env.get("WANDB_DISABLED", "").strip().lower() in _TRUE:
        return "disabled", "WANDB_DISABLED is set: W&B is off, metrics go to metrics.csv only"
    elif env.get("WANDB_MODE"):
        raw = env["WANDB_MODE"].strip().lower()
        if raw not in _ENV_SPELLINGS:
            raise ConfigError(
                f"WANDB_MODE={env['WANDB_MODE']!r} is not a W&B mode."
                f"{did_you_mean(raw, list(_ENV_SPELLINGS))} Set it to online, offline or disabled, "
                f"or unset it and pass --wandb-mode."
            )
        wanted, why = _ENV_SPELLINGS[raw], f"WANDB_MODE={env['WANDB_MODE']}"
    else:
        wanted, why = "online", ""

    if wanted == "disabled":
        return "disabled", f"{why}: W&B is off, metrics go to metrics.csv only"
    if wanted == "offline":
        return "offline", f"{why}: W&B runs offline; upload later with `wandb sync`"
    base_url = wandb_base_url(env)
    source = credentials_source(env)
    asked = f"{why} asks for online, but " if why else ""
    if source is None:
        return "offline", (
            f"{asked}no W&B credentials are configured (no WANDB_API_KEY, no netrc entry for "
            f"{urlsplit(base_url).netloc}): running W&B offline. Run `wandb login`, then upload "
            f"this run with the `wandb sync` command printed at the end."
        )
    if probe is not None and not probe(base_url, probe_timeout_s):
        return "offline", (
            f"{asked}the W&B server {base_url} cannot be reached: running W&B offline. Upload "
            f"this run later with the `wandb sync` command printed at the end."
        )
    return "online", f"W&B online at {base_url} (credentials from {source})"


__all__ = [
    "WANDB_MODES",
    "credentials_source",
    "resolve_wandb_mode",
    "server_reachable",
    "wandb_base_url",
]
