"""Keep credentials out of everything seqlab logs or writes.

A run's config, hyperparameters and command line end up in ``config.yaml``, ``metrics.csv``'s
``hparams.yaml``, the W&B run file and, once synced, on a server. :func:`scrub` replaces
what looks like a credential with ``"***"`` before any of that happens:

- the value of any mapping key named like a credential (``api_key``, ``password``,
  ``token``, ``secret``, ``*_key``, ``*_token``, ``*_secret``, ``credentials``...);
- any string equal to, or containing, the value of an environment variable named like one
  (``WANDB_API_KEY``, ``HF_TOKEN``, ``AWS_SECRET_ACCESS_KEY``, ``DB_PASSWORD``...);
- strings shaped like well-known token formats (GitHub, Hugging Face, OpenAI, Slack, AWS
  access key ids).

:func:`scrub_argv` does the same for a command line, and :func:`scrubbed_argv` swaps
``sys.argv`` for its scrubbed copy while a library records it (``wandb.init`` stores the
program's arguments).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

MASK = "***"

# A key is secret when one of its words (split on _ . - and camelCase) says so.
_SECRET_WORDS = {
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "apikey",
    "credential",
    "credentials",
    "auth",
}
_SECRET_SUFFIXES = ("_key", "_token", "_secret", "_password", "_pass", "_pwd")
_ENV_NAME = re.compile(r"(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|(^|_)KEY$|(^|_)PASS$)")
_ENV_NAME_EXCLUDE = re.compile(r"_(FILE|PATH|DIR|URL|HOST|USER|NAME|ID)$")
_KNOWN_TOKENS = re.compile(
    r"(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|hf_[A-Za-z0-9]{20,}"
    r"|sk-[A-Za-z0-9_\-]{20,}|xox[abprs]-[A-Za-z0-9\-]{10,}|AKIA[0-9A-Z]{16})"
)
# Shorter environment values are too likely to be ordinary words or numbers ("1", "true").
_MIN_SECRET_LEN = 6


def is_secret_key(key: str) -> bool:
    """Whether a config key or flag name names a credential (``wandb.api_key``, ``--hf-token``)."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", str(key).lstrip("-")).lower().replace("-", "_")
    last = name.rsplit(".", 1)[-1]
    if last.endswith(_SECRET_SUFFIXES) or last in ("key", "pass", "pwd"):
        return True
    words = set(re.split(r"[_.]", last))
    return bool(words & _SECRET_WORDS) or "api_key" in last


def secret_env_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of environment variables named like credentials, longest first."""
    env = os.environ if environ is None else environ
    values = {
        v
        for k, v in env.items()
        if v
        and len(v) >= _MIN_SECRET_LEN
        and _ENV_NAME.search(k.upper())
        and not _ENV_NAME_EXCLUDE.search(k.upper())
    }
    return sorted(values, key=len, reverse=True)


def _scrub_text(text: str, secrets: Sequence[str]) -> str:
    for value in secrets:
        if value in text:
            text = text.replace(value, MASK)
    return _KNOWN_TOKENS.sub(MASK, text)


def scrub(obj: Any, *, environ: Mapping[str, str] | None = None) -> Any:
    """A copy of ``obj`` (nested dicts, lists, tuples, scalars) with credentials masked.

    Other objects are returned as they are; dict keys are kept, only values change.
    """
    secrets = secret_env_values(environ)

    def walk(value: Any, secret: bool) -> Any:
        if isinstance(value, Mapping):
            return {
                k: walk(v, secret or (isinstance(k, str) and is_secret_key(k)))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            items = [walk(v, secret) for v in value]
            return items if isinstance(value, list) else tuple(items)
        if secret and value not in (None, "") and not isinstance(value, bool):
            return MASK
        if isinstance(value, str):
            return _scrub_text(value, secrets)
        return value

    return walk(obj, False)


def scrub_argv(argv: Sequence[str], *, environ: Mapping[str, str] | None = None) -> list[str]:
    """A command line with credentials masked: ``key=value`` and ``--flag value`` forms."""
    secrets = secret_env_values(environ)
    out: list[str] = []
    mask_next = False
    for arg in argv:
        if mask_next:
            out.append(MASK)
            mask_next = False
            continue
        key, sep, _ = arg.partition("=")
        if sep and is_secret_key(key):
            out.append(f"{key}={MASK}")
            continue
        if arg.startswith("--") and not sep and is_secret_key(arg):
            mask_next = True
        out.append(_scrub_text(arg, secrets))
    return out


@contextmanager
def scrubbed_argv() -> Iterator[None]:
    """Replace ``sys.argv[1:]`` with its scrubbed copy for the duration of the block."""
    saved = sys.argv
    sys.argv = [saved[0], *scrub_argv(saved[1:])] if saved else saved
    try:
        yield
    finally:
        sys.argv = saved


__all__ = ["MASK", "is_secret_key", "scrub", "scrub_argv", "scrubbed_argv", "secret_env_values"]
