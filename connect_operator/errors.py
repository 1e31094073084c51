"""The one exception tree of connect-operator.

::

    ConnectOperatorError
    ├── TemporaryError            may pass: retried in the run, then by the `retry` schedule
    │   ├── ConnectUnavailable    connection refused, DNS failure, timeout, no whole answer in time
    │   ├── ConnectServerError    5xx, 409 during a rebalance, or 429, after in-run retries
    │   └── DeadlineExceeded      the run's overall deadline passed
    └── PermanentError            scoped to one connector or input; retrying cannot help
        ├── SettingsError         an environment variable has a bad value
        ├── BindingContextError   the binding-context file is missing or malformed
        ├── VariablesError        a variables file is malformed (an invalid \\u escape)
        ├── ManifestError         a manifest file (for `plan`) is missing or not YAML
        ├── RenderError           a ConfigMap key does not render to a connector
        ├── TargetError           a ConfigMap names a Confluent Cloud cluster that is not there
        └── ConnectRejected       Connect answered 4xx (400 invalid config, 404, ...)
            ├── CredentialsRejected   401/403: the target refuses our credentials
            ├── UnsafeResponse        a redirect (not followed) or a body over the size cap
            └── ConfigInvalid         Connect's config validation found errors (nothing written)

`ConnectServerError` and `ConnectRejected` share `ConnectHTTPError`'s fields: the method, the
path, the status and Connect's own message. They never carry a request body, because a body
holds rendered secrets. `classify_http_error` is the one place that maps a status to a class.
"""

from __future__ import annotations


class ConnectOperatorError(Exception):
    """Root of every error this package raises on purpose."""


class TemporaryError(ConnectOperatorError):
    """Something that may work on the next run: shell-operator should retry the hook."""


class PermanentError(ConnectOperatorError):
    """Something that will fail the same way until a person changes the input."""


class SettingsError(PermanentError):
    """An environment variable holds a value we cannot use."""


class BindingContextError(PermanentError):
    """The binding-context file is missing, not JSON, or not in shell-operator's shape."""


class VariablesError(PermanentError):
    """A `.properties` variables file cannot be read as Java would (it names file and line)."""


class ManifestError(PermanentError):
    """A manifest given to `connect-operator plan` cannot be read: missing, not YAML, or a
    ConfigMap Kubernetes would refuse. The message names the file and line."""


class RenderError(PermanentError):
    """A ConfigMap key does not render to `{"name": ..., "config": {...}}`."""


class TargetError(PermanentError):
    """A connector's destination cannot be resolved (e.g. a missing Confluent Cloud cluster)."""


class ConnectUnavailable(TemporaryError):
    """Connect could not be reached: connection refused, DNS failure or timeout."""


class DeadlineExceeded(TemporaryError):
    """The run's overall deadline passed before the work was done."""


class ConnectHTTPError(ConnectOperatorError):
    """Connect answered with an error status. Carries no request body, only what is safe."""

    def __init__(self, method: str, path: str, status: int, message: str) -> None:
        self.method = method
        self.path = path
        self.status = status
        self.connect_message = message
        super().__init__(f"{method} {path} -> {status}: {message}")


class ConnectServerError(ConnectHTTPError, TemporaryError):
    """Connect answered 5xx, 409 (rebalance, stale config) or 429 (rate limited) and kept doing
    so, or the wait it asked for did not fit in the run deadline."""


class ConnectRejected(ConnectHTTPError, PermanentError):
    """Connect rejected the request for good: 4xx other than 409, or a missing plugin."""


class UnsafeResponse(ConnectRejected):
    """An answer we refuse to act on: a redirect (following it would re-send a rendered config,
    passwords included, to wherever it points) or a body larger than the cap (a gzip bomb)."""


class ConfigInvalid(ConnectRejected):
    """`PUT /connector-plugins/{class}/config/validate` found errors in a config, so it was not
    written. The message names each field and Connect's message, values masked."""


class CredentialsRejected(ConnectRejected):
    """401/403: the target refuses our credentials. Retrying cannot help until a person fixes
    them, so stop talking to that target for this run (and never hammer it)."""


# Connect answers 500 for a connector class it does not have (KIP-891 may make it a 400).
# Retrying cannot make the plugin appear, so it is permanent and scoped to that connector.
_PERMANENT_SERVER_MESSAGES = ("Failed to find any class that implements Connector",)


def classify_http_error(
    method: str, path: str, status: int, message: str, *, from_connect: bool = True
) -> ConnectHTTPError:
    """Map an error status from Connect to the class that says whether to retry.

    `from_connect=False` marks an answer without Connect's JSON error body: a 404 then comes
    from a worker whose REST resources are not up yet, which is temporary.
    """
    if status == 404 and not from_connect:
        return ConnectServerError(method, path, status, f"worker is still starting: {message}")
    if status in (401, 403):
        return CredentialsRejected(method, path, status, message)
    if status in (409, 429) or status >= 500:
        if any(marker in message for marker in _PERMANENT_SERVER_MESSAGES):
            return ConnectRejected(method, path, status, message)
        return ConnectServerError(method, path, status, message)
    return ConnectRejected(method, path, status, message)
