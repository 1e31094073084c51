"""Desired state: every connector the ConfigMaps declare, rendered, per target.

Each data key of each connector ConfigMap is one connector. A key that does not render, whose
target cannot be resolved, whose connector name cannot be one URL path segment, or whose
ConfigMap's `enabled` label is neither "true" nor "false", becomes a `DeclarationError` naming the
ConfigMap and key, and its source goes into `broken_sources` so that nothing it owned is pruned
(or deleted) while it is broken. The other keys go on.

When two ConfigMaps declare one connector name on one target, the ConfigMap that the ledger
says owns it keeps it and the other is a declaration error; when neither owns it, both are
errors and the name is `contested`, so that no third owner's entry prunes it either. Namespaces
therefore cannot take each other's connectors.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from connect_operator.binding import ConfigMapView
from connect_operator.errors import PermanentError
from connect_operator.properties import Variables
from connect_operator.sandbox import Limits
from connect_operator.settings import Settings
from connect_operator.targets import Target, TargetKind, check_path_segment, target_for
from connect_operator.templating import RemainingTime, config_hash, render_connectors

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
    # False when the ConfigMap's `enabled` label is "false" (or absent): it must not exist.
    enabled: bool
    # A digest of the template's inputs, recorded in the ledger for a render cache ("" = none).
    inputs: str = ""
    # The declared desired state: running, paused or stopped (templating.STATES).
    state: str = "running"

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
    # target id -> connector names that several ConfigMaps declare, none of them the owner
    contested: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def targets(self) -> dict[str, Target]:
        """The targets named by at least one connector, by id."""
        return {c.target.id: c.target for c in self.connectors}


def desired_state(
    configmaps: Sequence[ConfigMapView],
    clusters: Sequence[ConfigMapView],
    variables: Variables,
    settings: Settings,
    *,
    owners: Mapping[tuple[str, str], str] | None = None,
    deadline: RemainingTime | None = None,
) -> DesiredState:
    """Render every key of every connector ConfigMap; errors are collected, not raised.

    `owners` maps (target id, connector name) to the ConfigMap the ledger records as its owner.
    """
    owners = owners or {}
    errors: list[DeclarationError] = []
    broken: set[Source] = set()
    ordered = sorted(configmaps, key=lambda cm: (cm.namespace, cm.name))
    declarations = [(configmap, key) for configmap in ordered for key in sorted(configmap.data)]
    rendered_all = render_connectors(
        [configmap.data[key] for configmap, key in declarations],
        variables,
        limits=Limits(settings.template_cpu_seconds, settings.template_memory_mb),
        deadline=deadline,
    )
    targets: dict[str, Target | str] = {}
    for configmap in ordered:
        try:
            targets[configmap.ref] = target_for(configmap, clusters, settings)
        except PermanentError as exc:
            targets[configmap.ref] = str(exc)
        enabled = configmap.labels.get(ENABLED_LABEL)
        if enabled is not None and enabled not in ("true", "false"):
            targets[configmap.ref] = (
                f'label {ENABLED_LABEL}={enabled!r} must be exactly "true" or "false";'
                " nothing is created or deleted for this ConfigMap"
            )
        if not configmap.data:
            log.warning(
                "ConfigMap %s has no data keys: it declares no connector",
                configmap.ref,
                extra={"configmap": configmap.ref},
            )
    candidates: dict[tuple[str, str], list[DesiredConnector]] = {}
    for (configmap, key), rendered in zip(declarations, rendered_all, strict=True):
        source = Source(configmap.ref, key)
        target = targets[configmap.ref]
        problem: str | None = None
        if isinstance(rendered, PermanentError):
            problem = str(rendered)
        elif isinstance(target, str):
            problem = target
        else:
            try:
                check_path_segment("connector name", rendered.name)
            except PermanentError as exc:
                problem = str(exc)
            if rendered.state == "stopped" and target.kind is TargetKind.CONFLUENT_CLOUD:
                problem = (
                    'state "stopped" is not supported on Confluent Cloud: its connect/v1 API'
                    ' can only pause and resume a connector; declare "paused" instead'
                )
        if problem is not None or isinstance(rendered, PermanentError) or isinstance(target, str):
            errors.append(DeclarationError(source, problem or "not a connector"))
            broken.add(source)
            continue
        candidates.setdefault((target.id, rendered.name), []).append(
            DesiredConnector(
                target=target,
                name=rendered.name,
                config=dict(rendered.config),
                secret_keys=rendered.secret_keys,
                source=source,
                enabled=configmap.labels.get(ENABLED_LABEL) == "true",
                state=rendered.state,
            )
        )
    connectors: list[DesiredConnector] = []
    contested: dict[str, set[str]] = {}
    for (target_id, name), claims in candidates.items():
        if len(claims) == 1:
            connectors.append(claims[0])
            continue
        owner = owners.get((target_id, name))
        keepers = [c for c in claims if c.source.configmap == owner][:1]
        if not keepers:
            contested.setdefault(target_id, set()).add(name)
        for claim in claims:
            if claim in keepers:
                connectors.append(claim)
                continue
            others = ", ".join(
                f"{c.source.configmap} key {c.source.key}" for c in claims if c is not claim
            )
            why = (
                f"the ledger records ConfigMap {owner} as its owner"
                if keepers
                else "none of them owns it, so none of them gets it"
            )
            errors.append(
                DeclarationError(
                    claim.source,
                    f"connector {name!r} on {target_id} is also declared by {others}; {why}."
                    " This declaration is ignored",
                )
            )
            broken.add(claim.source)
    connectors.sort(key=lambda c: (c.source, c.name))
    return DesiredState(
        tuple(connectors),
        tuple(errors),
        frozenset(broken),
        {target_id: frozenset(names) for target_id, names in contested.items()},
    )
