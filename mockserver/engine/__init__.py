"""The generic engine: any OpenAPI document loaded, compiled, routed, validated, served."""
