"""Log lines: JSON objects on stdout that shell-operator re-emits with their level and fields.

Each line has `level` and `msg`, plus whichever of `configmap`, `key`, `connector`, `target` and
`action` the call site passed with `extra=`, and `traceback` when an exception is logged. A
`Redactor` scrubs every known secret from the final text, traceback included, as a last line of
defence: call sites never pass rendered values in the first place.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import TextIO

from connect_operator.redaction import Redactor

CONTEXT_FIELDS = ("configmap", "key", "connector", "target", "action")
_LEVELS = {"WARNING": "warn", "CRITICAL": "fatal"}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per line: level, msg and the context fields."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            message = f"{message}: {type(record.exc_info[1]).__name__}"
        line: dict[str, object] = {
            "level": _LEVELS.get(record.levelname, record.levelname.lower()),
            "msg": self.redactor(message),
            "logger": record.name,
        }
        for field in CONTEXT_FIELDS:
            value = getattr(record, field, None)
            if value is not None:
                line[field] = self.redactor(str(value))
        if record.exc_info and record.exc_info[1] is not None:
            line["traceback"] = self.redactor(self.formatException(record.exc_info))
        return json.dumps(line, sort_keys=False)


class TextFormatter(logging.Formatter):
    """For people at a terminal: `level msg [field=value ...]`, still scrubbed."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        fields = " ".join(
            f"{field}={getattr(record, field)}"
            for field in CONTEXT_FIELDS
            if getattr(record, field, None) is not None
        )
        text = f"{record.levelname.lower():5} {record.getMessage()}" + (
            f" [{fields}]" if fields else ""
        )
        if record.exc_info and record.exc_info[1] is not None:
            text = f"{text}\n{self.formatException(record.exc_info)}"
        return self.redactor(text)


def configure_logging(
    redactor: Redactor,
    *,
    json_lines: bool = True,
    stream: TextIO | None = None,
    level: int = logging.INFO,
) -> None:
    """Send the package's logs to one stream, in JSON lines or text, scrubbed by the redactor."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonLineFormatter(redactor) if json_lines else TextFormatter(redactor))
    root = logging.getLogger("connect_operator")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    # urllib3 logs URLs with query strings at DEBUG; keep it quiet.
    logging.getLogger("urllib3").setLevel(logging.WARNING)


def set_level(level: str) -> None:
    """Set the package's log level by name (`debug`, `info`, `warning`, `error`)."""
    logging.getLogger("connect_operator").setLevel(level.upper())


def set_redactor(redactor: Redactor) -> None:
    """Swap the redactor once the variables (and so the secrets) are known."""
    for handler in logging.getLogger("connect_operator").handlers:
        formatter = handler.formatter
        if isinstance(formatter, JsonLineFormatter | TextFormatter):
            formatter.redactor = redactor
