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

Rendering is skipped where nothing that feeds a program changed. Each ledger entry records an
`inputs` digest (the program text and every variable and environment value it can read, see
`templating.inputs_digest`) beside the hash of the config last applied. When a key's digest
equals its entry's and the live connector's normalised config still hashes to the entry's hash,
rendering would give exactly that config: the live one is used, and the key is not rendered. A
changed variable or environment value changes the digest of every program that can read it (a
program that reads `env` as a whole reads every environment value), a program using `now` or
`$__loc__` is never cached, and a target that masks values always renders, so a stale render is
never used.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, cast

from connect_operator.binding import ConfigMapView
from connect_operator.errors import PermanentError, RenderError
from connect_operator.ledger import LedgerEntry
from connect_operator.properties import Variables
from connect_operator.settings import Settings
from connect_operator.targets import Target, TargetKind, check_path_segment, target_for
from connect_operator.templating import (
    RemainingTime,
    RenderedConnector,
    SecretKeysOf,
    config_hash,
    inputs_digests,
    render_connectors,
)

if TYPE_CHECKING:
    from connect_operator.connect_client import ObservedConnector

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
    secret_keys: AbstractSet[str]
    source: Source
    # False when the ConfigMap's `enabled` label is "false" (or absent): it must not exist.
    enabled: bool
    # A digest of the template's inputs, recorded in the ledger for a render cache ("" = none).
    inputs: str = ""
    # The declared desired state: running, paused or stopped (templating.STATES).
    state: str = "running"

    @cached_property
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
    ledger: Sequence[LedgerEntry] = (),
    observe: Observe | None = None,
) -> DesiredState:
    """Render every key of every connector ConfigMap; errors are collected, not raised.

    `owners` maps (target id, connector name) to the ConfigMap the ledger records as its owner.
    With `ledger` and `observe` (a target's listing, or None when it cannot be had), a key whose
    inputs did not change since its ledger entry, and whose live connector still has the config
    that entry recorded, is not rendered again (see the module docstring).
    """
    owners = owners or {}
    errors: list[DeclarationError] = []
    broken: set[Source] = set()
    ordered = sorted(configmaps, key=lambda cm: (cm.namespace, cm.name))
    declarations: list[tuple[ConfigMapView, str, str]] = []  # ConfigMap, its ref, a key
    for configmap in ordered:
        ref = configmap.ref
        declarations += [(configmap, ref, key) for key in sorted(configmap.data)]
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
    programs = [configmap.data[key] for configmap, _, key in declarations]
    digests = inputs_digests(programs, variables)
    rendered_all: list[RenderedConnector | RenderError | None] = [None] * len(declarations)
    if observe is not None:
        for index, connector in _unchanged_since_last_run(
            declarations, digests, targets, ledger, variables, observe
        ):
            rendered_all[index] = connector
    to_render = [index for index, known in enumerate(rendered_all) if known is None]
    if to_render:
        from connect_operator.sandbox import Limits  # the renderer: imported when it is needed

        fresh = render_connectors(
            [programs[index] for index in to_render],
            variables,
            limits=Limits(settings.template_cpu_seconds, settings.template_memory_mb),
            deadline=deadline,
        )
        for index, result in zip(to_render, fresh, strict=True):
            rendered_all[index] = result
    candidates: dict[tuple[str, str], list[DesiredConnector]] = {}
    for (configmap, ref, key), maybe_rendered, digest in zip(
        declarations, rendered_all, digests, strict=True
    ):
        rendered = maybe_rendered if maybe_rendered is not None else RenderError("not rendered")
        source = Source(ref, key)
        target = targets[ref]
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
        cached = isinstance(rendered, _CachedRender)
        declared = DesiredConnector(
            target=target,
            name=rendered.name,
            # A cached render's config is a fresh dict of its own (the live one, normalised).
            config=rendered.config
            if isinstance(rendered, _CachedRender)
            else dict(rendered.config),
            secret_keys=rendered.secret_keys,
            source=source,
            enabled=configmap.labels.get(ENABLED_LABEL) == "true",
            state=rendered.state,
            inputs=inputs_key(digest, rendered.state),
        )
        if cached:
            # Known: the live config hashed to it. Saves hashing the config again.
            declared.__dict__["config_hash"] = cast(_CachedRender, rendered).config_hash
        candidates.setdefault((target.id, rendered.name), []).append(declared)
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
    connectors.sort(key=lambda c: (c.source.configmap, c.source.key, c.name))
    return DesiredState(
        tuple(connectors),
        tuple(errors),
        frozenset(broken),
        {target_id: frozenset(names) for target_id, names in contested.items()},
    )


_STATE = " state="


def inputs_key(digest: str | None, state: str) -> str:
    """The ledger's `inputs` value: the digest, and the declared state when it is not running
    (the state is part of what a program yields, but not of the config hash)."""
    if digest is None:
        return ""
    return digest if state == "running" else f"{digest}{_STATE}{state}"


Observe = Callable[[Target], "Mapping[str, ObservedConnector] | None"]


def _unchanged_since_last_run(
    declarations: Sequence[tuple[ConfigMapView, str, str]],
    digests: Sequence[str | None],
    targets: Mapping[str, Target | str],
    ledger: Sequence[LedgerEntry],
    variables: Variables,
    observe: Observe,
) -> Iterator[tuple[int, RenderedConnector]]:
    """The keys whose render would give what is live and recorded: their connectors, unrendered.

    A key qualifies when its ledger entry (same ConfigMap and key, same target) records the same
    inputs digest (program text, and every variable and environment value it can read), and the
    live connector's normalised config hashes to the entry's last-applied hash. Then rendering
    would yield that very config. Targets that mask or add values (Confluent Cloud) always render.
    """
    entries = {(entry.configmap, entry.key): entry for entry in ledger if entry.inputs}
    listings: dict[str, Mapping[str, ObservedConnector] | None] = {}
    for index, ((configmap, ref, key), digest) in enumerate(
        zip(declarations, digests, strict=True)
    ):
        entry = entries.get((ref, key)) if digest is not None else None
        if entry is None:
            continue
        recorded, _, state = entry.inputs.partition(_STATE)
        target = targets[ref]
        if (
            recorded != digest
            or isinstance(target, str)
            or target.id != entry.target
            or target.server_rewrites_config
            or configmap.labels.get(ENABLED_LABEL) != "true"
        ):
            continue
        if target.id not in listings:
            listings[target.id] = observe(target)
        listing = listings[target.id]
        live = listing.get(entry.connector) if listing is not None else None
        if live is None or live.config is None:
            continue
        config = live.normalised_config
        if config is None or config_hash(config) != entry.hash:
            continue
        yield (
            index,
            _CachedRender(
                name=entry.connector,
                config=config,
                secret_keys=SecretKeysOf(configmap.data[key], variables, config),
                state=state or "running",
                config_hash=entry.hash,
            ),
        )


@dataclass(frozen=True)
class _CachedRender(RenderedConnector):
    """What the render would give, taken from the live connector, with its known hash."""

    config: dict[str, str]
    config_hash: str = ""
