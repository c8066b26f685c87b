"""Typed runtime feature flags: registry, store, expiry (propagation to replicas: issue 8)."""
