"""Aurum external-data control plane."""
