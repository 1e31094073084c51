"""connect-operator: GitOps for Kafka Connect.

A shell-operator hook renders connector ConfigMaps through jq and makes Kafka Connect clusters
match them over their REST API. The flow, one straight line:

    settings (env) -> binding contexts -> desired connectors -> per target:
    observe (one GET) -> plan (pure) -> apply -> report (ledger patch, metrics, logs) -> exit code
"""

__version__ = "0.1.0"
