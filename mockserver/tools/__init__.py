"""Tools for CI: ``mockserver lint`` and ``mockserver fuzz``."""
