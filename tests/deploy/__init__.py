"""Deployment tests: Dockerfiles, the Connect start script and the kustomize manifests."""
