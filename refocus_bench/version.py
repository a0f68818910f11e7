"""The toolkit's version, recorded in every result, dataset card and benchmark manifest (PEP 440)."""

__version__ = "0.1.0"
