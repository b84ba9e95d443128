"""The package's version, in a module of its own.

Any room may import it without importing the package root (and what that imports); the build
reads it from here too (`[tool.hatch.version]` in pyproject.toml).
"""

__version__ = "0.1.0"
