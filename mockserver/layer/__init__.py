"""Layer's own rules and data, bound by operationId on top of the engine."""
