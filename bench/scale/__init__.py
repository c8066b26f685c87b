"""The service at growing data shapes: `python -m bench.scale`."""
