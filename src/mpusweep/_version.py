"""mpusweep's one version number: ``mpusweep.__version__`` and the build's (pyproject.toml)
read it here, so modules below the package root need not import the root for it."""

__version__ = "0.2.0"
