"""The scenario harness: the real service, the provider sandbox and the embedded servers as
separate processes, with the faults a scenario needs (sandbox faults, signals). See
tests/scenarios/README.md."""
