"""Desired state: every connector the ConfigMaps declare, rendered, per target.

Each data key of each connector ConfigMap is one connector. A key that does not render, or whose
target cannot be resolved, becomes a `DeclarationError` naming the ConfigMap and key, and its
source goes into `broken_sources` so that nothing it owned is pruned while it is broken. The
other keys go on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from connect_operator.binding import ConfigMapView
from connect_operator.errors import PermanentError
from connect_operator.properties import Variables
from connect_operator.settings import Settings
from connect_operator.targets import Target, target_for
from connect_operator.templating import config_hash, render_connectors

log = logging.getLogger(__name__)

ENABLED_LABEL = "enabled"


@dataclass(frozen=True, order=True)
class Source:
    """Where a connector is declared: a ConfigMap (`namespace/name`) and one of its keys."""

    configmap: str
    key: str


@dataclass(frozen=True)
class DesiredConnector:
    """One rendered connector and what the ConfigMap says about it."""

    target: Target
    name: str
    config: dict[str, str]
    secret_keys: frozenset[str]
    source: Source
    # False when the ConfigMap's `enabled` label is anything but "true": it must not exist.
    enabled: bool

    @property
    def config_hash(self) -> str:
        """Digest of the config, for the ledger."""
        return config_hash(self.config)

    def secret_values(self) -> frozenset[str]:
        """The values that came from variables: scrubbed from anything Connect says back."""
        return frozenset(self.config[key] for key in self.secret_keys)


@dataclass(frozen=True)
class DeclarationError:
    """A ConfigMap key that could not become a connector."""

    source: Source
    message: str


@dataclass(frozen=True)
class DesiredState:
    """Everything the ConfigMaps declare, and what went wrong reading them."""

    connectors: tuple[DesiredConnector, ...] = ()
    errors: tuple[DeclarationError, ...] = ()
    broken_sources: frozenset[Source] = field(default_factory=frozenset)

    def targets(self) -> dict[str, Target]:
        """The targets named by at least one connector, by id."""
        return {c.target.id: c.target for c in self.connectors}


def desired_state(
    configmaps: Sequence[ConfigMapView],
    clusters: Sequence[ConfigMapView],
    variables: Variables,
    settings: Settings,
) -> DesiredState:
    """Render every key of every connector ConfigMap; errors are collected, not raised."""
    connectors: list[DesiredConnector] = []
    errors: list[DeclarationError] = []
    broken: set[Source] = set()
    claimed: dict[tuple[str, str], Source] = {}
    ordered = sorted(configmaps, key=lambda cm: (cm.namespace, cm.name))
    declarations = [(configmap, key) for configmap in ordered for key in sorted(configmap.data)]
    rendered_all = render_connectors(
        [configmap.data[key] for configmap, key in declarations], variables
    )
    targets: dict[str, Target | str] = {}
    for configmap in ordered:
        try:
            targets[configmap.ref] = target_for(configmap, clusters, settings)
        except PermanentError as exc:
            targets[configmap.ref] = str(exc)
        if not configmap.data:
            log.warning(
                "ConfigMap %s has no data keys: it declares no connector",
                configmap.ref,
                extra={"configmap": configmap.ref},
            )
    for (configmap, key), rendered in zip(declarations, rendered_all, strict=True):
        source = Source(configmap.ref, key)
        target = targets[configmap.ref]
        if isinstance(rendered, PermanentError) or isinstance(target, str):
            errors.append(
                DeclarationError(
                    source, str(rendered if isinstance(rendered, PermanentError) else target)
                )
            )
            broken.add(source)
            continue
        first = claimed.setdefault((target.id, rendered.name), source)
        if first != source:
            errors.append(
                DeclarationError(
                    source,
                    f"connector {rendered.name!r} is already declared by ConfigMap "
                    f"{first.configmap} key {first.key}; this declaration is ignored",
                )
            )
            broken.add(source)
            continue
        connectors.append(
            DesiredConnector(
                target=target,
                name=rendered.name,
                config=dict(rendered.config),
                secret_keys=rendered.secret_keys,
                source=source,
                enabled=configmap.labels.get(ENABLED_LABEL) == "true",
            )
        )
    return DesiredState(tuple(connectors), tuple(errors), frozenset(broken))
