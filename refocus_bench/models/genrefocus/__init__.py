"""GenRefocus reference models: ``genrefocus.flux`` (released architecture) and ``genrefocus.tiny``."""
